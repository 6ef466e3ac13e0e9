/// Every `AUTOSPAWN_*` (and `DAILY_*`) setting, parsed and validated once at start-up.
///
/// Parsing is pure: it takes the environment as a dictionary, so command-line flags are merged in by the
/// caller and every rule is testable without touching the process environment.
package struct Config: Sendable {
    /// How bots are started.
    package enum Launcher: Sendable, Equatable {
        /// `AUTOSPAWN_BOT_COMMAND`, already split into words (placeholders not yet replaced).
        case process(arguments: [String])
        /// `AUTOSPAWN_AGENT_URL`: a Pipecat-Cloud-style agent.
        case agent(baseURL: String)

        /// The sessions' `launcher`: which kind of launcher this is, without its settings.
        package var kind: LauncherKind {
            switch self {
            case .process: .process
            case .agent: .agent
            }
        }
    }

    /// `AUTOSPAWN_LOG_LEVEL`: swift-log's levels, by their names.
    package enum LogLevel: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    /// `AUTOSPAWN_SHUTDOWN`: what SIGTERM does with the bots of this instance.
    package enum ShutdownMode: String, Sendable, CaseIterable {
        /// `handover` when no other live instance shares the store (nobody else would serve its rooms), `drain` when
        /// one does: a lone instance's restart leaves no room without its bot.
        case auto
        /// Stop every bot now (`shutdown`); rooms with humans wait for the next instance.
        case stop
        /// Stop placing bots here and let this instance's calls end by themselves (up to `AUTOSPAWN_DRAIN_TIMEOUT_S`),
        /// then stop what is left (other instances serve those rooms) and exit: a rolling deploy that hangs up no call.
        case drain
        /// Exit at once and leave the bots running: the next instance on this host adopts them, so an upgrade
        /// restarts no bot (systemd with `KillMode=process`; not in a container, whose processes die with it).
        case handover
    }

    /// What this shutdown does: a SIGINT (Ctrl+C) stops the bots, as Pipecat's runner does; a SIGTERM the configured
    /// mode, `auto` decided by whether another live instance shares the store.
    package static func shutdownMode(configured: ShutdownMode, interrupted: Bool, othersAlive: Bool) -> ShutdownMode {
        if interrupted { return .stop }
        guard configured == .auto else { return configured }
        return othersAlive ? .drain : .handover
    }

    /// `AUTOSPAWN_SPAWN_ON`: what brings a room its bot.
    package enum SpawnOn: String, Sendable, CaseIterable {
        /// A human in the room (`participant.joined`).
        case join
        /// Also someone knocking at a private room (`waiting-participant.joined`): the bot is loaded when they are let in.
        case knock
    }

    /// `AUTOSPAWN_LOG_FORMAT`: `text` for people, `json` for one JSON object a line.
    package enum LogFormat: String, Sendable, CaseIterable {
        case text, json
    }

    package var host: String
    package var port: Int
    /// `AUTOSPAWN_DB`: SQLite's file or PostgreSQL's URL.
    package var database: DatabaseLocation
    package var webhookEnabled: Bool
    /// Decoded `hmac` keys, newest first as configured; any of them may sign a request.
    package var webhookSecrets: [[UInt8]]
    package var requireSignature: Bool
    package var signatureToleranceSeconds: Double
    package var maxConcurrency: Int
    package var allowedRoomPattern: String
    package var botName: String
    /// The default profile's launcher (`AUTOSPAWN_BOT_COMMAND` or `AUTOSPAWN_AGENT_URL`); nil when only a profiles
    /// file says how bots start.
    package var launcher: Launcher?
    package var botLogDirectory: String
    package var startTimeoutSeconds: Double
    package var emptyGraceSeconds: Double
    package var stopGraceSeconds: Double
    package var reaperIntervalSeconds: Double
    package var maxSessionSeconds: Double
    package var orphanAfterSeconds: Double
    /// A room whose bot keeps failing waits this long before its next bot, doubled at each failure in a row.
    package var restartBackoff: RestartBackoff
    /// A request must arrive whole within this, and an idle connection is closed after it (slow clients).
    package var requestTimeoutSeconds: Double
    package var adminToken: String?
    package var dailyAPIKey: String?
    package var dailyAPIURL: String
    package var dailyDomain: String?
    package var logLevel: LogLevel = .info
    package var logFormat: LogFormat = .text
    /// What a bot's environment holds besides its own variables: the allow-listed names that are set here
    /// (`Config.botBaseVariables` and `AUTOSPAWN_BOT_ENV`), never the service's whole environment.
    package var botEnvironment: [String: String] = [:]
    /// `AUTOSPAWN_BOT_LOG_MAX_BYTES`: a bot's log past this is rotated to `<id>.log.1`.
    package var botLogMaxBytes: Int = 10 * 1024 * 1024
    /// `AUTOSPAWN_RETENTION_DAYS`, in seconds: ended sessions, their logs and what no longer matters are deleted after it.
    package var retentionSeconds: Double = 7 * 86_400
    /// `AUTOSPAWN_MAX_STREAMS`: the operator's open event streams (`/sessions/stream`) at once.
    package var maxStreams: Int = 1000
    /// `AUTOSPAWN_MAX_PUBLIC_STREAMS`: open anonymous `/bot/status/stream`s at once, counted apart from the operator's.
    package var maxPublicStreams: Int = 100
    /// `AUTOSPAWN_WEBHOOK_CHECK_S`: with a key, how often Daily's webhooks are checked (a `FAILED` one of ours is re-activated).
    package var webhookCheckSeconds: Double = 60
    /// Secrets as configured (text), so that every form of them can be kept out of what the service writes.
    package var secretTexts: [String] = []
    /// `AUTOSPAWN_SHUTDOWN`.
    package var shutdownMode: ShutdownMode = .auto
    /// `AUTOSPAWN_LEASE_S`: an instance that has not renewed its lease for this long is dead to other hosts.
    package var leaseSeconds: Double = 10
    /// `AUTOSPAWN_HOST_ID`: names the machine whose processes this instance sees; nil: its host name and boot id.
    package var hostID: String?
    /// `AUTOSPAWN_HANDOVER_WAIT_S`: how long a handed-over instance's bots wait for the next instance on its host.
    package var handoverWaitSeconds: Double = 120
    /// `AUTOSPAWN_MAX_LOCAL_BOTS`: the bots this instance runs at most; the cluster's cap by default.
    package var maxLocalBots: Int = 5
    /// `AUTOSPAWN_DRAIN_TIMEOUT_S`: the longest a draining instance keeps its bots.
    package var drainTimeoutSeconds: Double = 900
    /// `AUTOSPAWN_ADVERTISE_URL`: how other instances reach this one (a bot's log); nil: `http://<host>:<port>`.
    package var advertiseURL: String?
    /// `AUTOSPAWN_WARM_BOTS`: idle processes of the bot command kept ready for the next rooms (0: none).
    package var warmBots: Int = 0
    /// Every kind of bot: the profiles file's, and the default one the settings above form.
    package var profiles = BotProfiles.none
    /// `AUTOSPAWN_DIALIN_SECRET`: decoded keys of the pinless dial-in config's `hmac`; empty: no `/daily/dialin`.
    package var dialinSecrets: [[UInt8]] = []
    /// `AUTOSPAWN_DIALIN_WAIT_S`: how long a call at capacity waits for a place (the caller hears hold music).
    package var dialinWaitSeconds: Double = 20
    /// The phone carriers' settings (`AUTOSPAWN_PUBLIC_URL`, their secrets).
    package var telephony = TelephonySettings()
    /// Browser calls: ICE servers and public keys.
    package var browser = BrowserSettings()
    /// `AUTOSPAWN_SPAWN_ON`.
    package var spawnOn: SpawnOn = .join
    /// `AUTOSPAWN_KNOCK_WAIT_S`: with `knock`, how long a bot waits in a room without a human before it ends `knock_timeout`.
    package var knockWaitSeconds: Double = 120
    /// `AUTOSPAWN_BOT_USER`/`AUTOSPAWN_BOT_GROUP`: the user process bots run as; nil: the service's own.
    package var botAccount: BotAccount?
    /// Lines start-up logs as warnings: settings that work but are not what production wants.
    package var warnings: [String] = []

    /// What `AUTOSPAWN_BOT_COMMAND` may name of the room; a command that does cannot be started before its room
    /// (`AUTOSPAWN_WARM_BOTS`).
    package static let botCommandPlaceholders = ["{room_url}", "{room_name}", "{token}", "{session_id}", "{ws_url}"]

    /// Variables every bot gets when the service has them: what a program needs to run, nothing of the service's.
    package static let botBaseVariables = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"]
    /// Secrets of the service itself, which no bot may be given.
    package static let serviceOnlySecrets =
        [
            "AUTOSPAWN_WEBHOOK_SECRET", "AUTOSPAWN_DIALIN_SECRET", "AUTOSPAWN_ADMIN_TOKEN", "AUTOSPAWN_DB",
        ] + TelephonySettings.secretVariables

    /// The room-eligibility rule derived from `allowedRoomPattern`.
    package var roomFilter: RoomFilter

    /// Parses and validates the settings; the first bad one throws, naming its variable.
    /// - Parameter readProfiles: reads the file `AUTOSPAWN_PROFILES` names (YAML) into a document; the caller's, so
    ///   that this stays free of I/O.
    /// - Parameter accounts: this machine's users and this process's privileges (`AUTOSPAWN_BOT_USER`).
    package static func parse(
        _ environment: [String: String],
        readProfiles: (String) throws -> JSONValue = Config.noProfileFiles,
        accounts: SystemAccounts = .unprivileged
    ) throws(ConfigError) -> Config {
        let reader = Reader(environment)
        let host = reader.string("AUTOSPAWN_HOST") ?? "127.0.0.1"
        let port = try reader.integer("AUTOSPAWN_PORT", default: 8080, range: 0...65535)
        let database = try DatabaseLocation.parse(try reader.nonEmpty("AUTOSPAWN_DB") ?? "autospawn.sqlite")
        let webhookEnabled = try reader.flag("AUTOSPAWN_WEBHOOK", default: true)
        var warnings: [String] = []
        let (secrets, requireSignature) = try webhookSignatures(reader, warnings: &warnings)
        let tolerance = try reader.seconds("AUTOSPAWN_SIGNATURE_TOLERANCE_S", default: 300, allowZero: false)
        let maxConcurrency = try reader.integer("AUTOSPAWN_MAX_CONCURRENCY", default: 5, range: 1...100_000)
        let pattern = reader.string("AUTOSPAWN_ALLOWED_ROOM_REGEX") ?? ".*"
        let roomFilter: RoomFilter
        do {
            roomFilter = try RoomFilter(pattern: pattern)
        } catch {
            throw ConfigError("AUTOSPAWN_ALLOWED_ROOM_REGEX", "'\(pattern)' \(error)")
        }
        let botName = try reader.nonEmpty("AUTOSPAWN_BOT_NAME") ?? "Pipecat Bot"
        let profilesPath = try reader.nonEmpty("AUTOSPAWN_PROFILES")
        let command = try reader.nonEmpty("AUTOSPAWN_BOT_COMMAND")
        let agentURL = try reader.nonEmpty("AUTOSPAWN_AGENT_URL")
        let launcher = try defaultLauncher(command: command, agentURL: agentURL, hasProfiles: profilesPath != nil)
        let botLogDirectory: String
        switch database {
        case .sqlite(let path):
            botLogDirectory = try reader.nonEmpty("AUTOSPAWN_BOT_LOG_DIR") ?? Self.siblingPath(of: path, named: "bot-logs")
        case .postgres:
            // Each replica keeps its own bots' logs; the working folder is the one place every deployment has.
            botLogDirectory = try reader.nonEmpty("AUTOSPAWN_BOT_LOG_DIR") ?? "bot-logs"
        }
        let startTimeout = try reader.seconds("AUTOSPAWN_START_TIMEOUT_S", default: 60, allowZero: false)
        let emptyGrace = try reader.seconds("AUTOSPAWN_EMPTY_GRACE_S", default: 20, allowZero: true)
        let stopGrace = try reader.seconds("AUTOSPAWN_STOP_GRACE_S", default: 10, allowZero: true)
        let reaperInterval = try reader.seconds("AUTOSPAWN_REAPER_INTERVAL_S", default: 15, allowZero: false)
        let maxSession = try reader.seconds("AUTOSPAWN_MAX_SESSION_S", default: 14_400, allowZero: false)
        let orphanAfter = try reader.seconds("AUTOSPAWN_ORPHAN_AFTER_S", default: 60, allowZero: false)
        let backoffBase = try reader.seconds("AUTOSPAWN_RESTART_BACKOFF_S", default: 2, allowZero: false)
        let backoffMax = try reader.seconds("AUTOSPAWN_RESTART_BACKOFF_MAX_S", default: 300, allowZero: false)
        guard backoffMax >= backoffBase else {
            throw ConfigError("AUTOSPAWN_RESTART_BACKOFF_MAX_S", "must not be less than AUTOSPAWN_RESTART_BACKOFF_S (\(backoffBase))")
        }
        let requestTimeout = try reader.seconds("AUTOSPAWN_REQUEST_TIMEOUT_S", default: 30, allowZero: false)
        let adminToken = try reader.nonEmpty("AUTOSPAWN_ADMIN_TOKEN")
        let apiKey = try reader.nonEmpty("DAILY_API_KEY")
        let apiURL = try reader.nonEmpty("DAILY_API_URL") ?? "https://api.daily.co/v1"
        guard Self.isHTTPURL(apiURL) else {
            throw ConfigError("DAILY_API_URL", "'\(apiURL)' is not an http:// or https:// URL")
        }
        if case .agent? = launcher, apiKey == nil {
            throw ConfigError("DAILY_API_KEY", "the agent launcher (AUTOSPAWN_AGENT_URL) needs it: to give the agent a token and to eject it")
        }
        let domain = try reader.nonEmpty("AUTOSPAWN_DAILY_DOMAIN")
        if let domain, !Self.isDomainLabel(domain) {
            throw ConfigError(
                "AUTOSPAWN_DAILY_DOMAIN",
                "'\(domain)' is not a Daily domain: give only <domain> of https://<domain>.daily.co (letters, digits, '-')"
            )
        }
        let logLevel = try reader.choice("AUTOSPAWN_LOG_LEVEL", default: LogLevel.info)
        let logFormat = try reader.choice("AUTOSPAWN_LOG_FORMAT", default: LogFormat.text)
        let (botEnvironment, botAccount) = try botEnvironmentAndAccount(
            reader,
            environment: environment,
            apiKey: apiKey,
            accounts: accounts,
            warnings: &warnings
        )
        var profiles: [BotProfile] = []
        if let path = profilesPath {
            var lookup = environment
            lookup["DAILY_API_KEY"] = apiKey
            profiles = try fileProfiles(
                path: path,
                readProfiles: readProfiles,
                besideDefault: launcher != nil,
                inherited: .init(
                    botName: botName,
                    botEnvironment: botEnvironment,
                    environment: lookup,
                    hasDailyAPIKey: apiKey != nil,
                    maxConcurrency: maxConcurrency
                ),
                warnings: &warnings
            )
        }
        let botLogMaxBytes = try reader.integer("AUTOSPAWN_BOT_LOG_MAX_BYTES", default: 10 * 1024 * 1024, range: 4096...(1 << 40))
        let retentionDays = try reader.days("AUTOSPAWN_RETENTION_DAYS", default: 7)
        let maxStreams = try reader.integer("AUTOSPAWN_MAX_STREAMS", default: 1000, range: 1...1_000_000)
        let maxPublicStreams = try reader.integer("AUTOSPAWN_MAX_PUBLIC_STREAMS", default: 100, range: 1...1_000_000)
        let webhookCheck = try reader.seconds("AUTOSPAWN_WEBHOOK_CHECK_S", default: 60, allowZero: false)
        let shutdownMode = try reader.choice("AUTOSPAWN_SHUTDOWN", default: ShutdownMode.auto)
        let maxLocalBots = try reader.integer("AUTOSPAWN_MAX_LOCAL_BOTS", default: maxConcurrency, range: 1...100_000)
        // Most calls end within a quarter of an hour; the rest get a new bot on another instance after it.
        let drainTimeout = try reader.seconds("AUTOSPAWN_DRAIN_TIMEOUT_S", default: 900, allowZero: true)
        let advertiseURL = try reader.nonEmpty("AUTOSPAWN_ADVERTISE_URL").map(Self.trimmingTrailingSlashes)
        if let advertiseURL, !Self.isHTTPURL(advertiseURL) {
            throw ConfigError("AUTOSPAWN_ADVERTISE_URL", "'\(advertiseURL)' is not an http:// or https:// URL")
        }
        let warmBots = try reader.integer("AUTOSPAWN_WARM_BOTS", default: 0, range: 0...1000)
        try checkWarmBots(warmBots, launcher: launcher, maxLocalBots: maxLocalBots, warnings: &warnings)
        if let launcher {
            profiles.append(
                BotProfile(
                    name: BotProfile.defaultName,
                    launcher: launcher,
                    botName: botName,
                    environment: botEnvironment,
                    warmBots: warmBots
                )
            )
        }
        warnings += tokenOnCommandLineWarnings(profiles)
        let leaseSeconds = try reader.seconds("AUTOSPAWN_LEASE_S", default: 10, allowZero: false)
        let hostID = try reader.nonEmpty("AUTOSPAWN_HOST_ID")
        let handoverWait = try reader.seconds("AUTOSPAWN_HANDOVER_WAIT_S", default: 120, allowZero: true)
        let dialinSecrets = try reader.secrets("AUTOSPAWN_DIALIN_SECRET")
        if !dialinSecrets.isEmpty, apiKey == nil {
            throw ConfigError("AUTOSPAWN_DIALIN_SECRET", "dial-in needs DAILY_API_KEY: each call's room is made through Daily's API")
        }
        let dialinWait = try reader.seconds("AUTOSPAWN_DIALIN_WAIT_S", default: 20, allowZero: true)
        let (telephony, telephonySecrets) = try TelephonySettings.parse(reader)
        let browser = try BrowserSettings.parse(reader, adminToken: adminToken)
        let spawnOn = try reader.choice("AUTOSPAWN_SPAWN_ON", default: SpawnOn.join)
        let knockWait = try reader.seconds("AUTOSPAWN_KNOCK_WAIT_S", default: 120, allowZero: false)
        if adminToken == nil {
            warnings.append(
                "AUTOSPAWN_ADMIN_TOKEN is not set: /sessions, /start, /daily, /metrics and the dashboard are open to anyone who reaches this port"
            )
        }
        var secretTexts = [adminToken, apiKey].compactMap { $0 } + telephonySecrets
        if case .postgres(let location) = database, let password = location.password { secretTexts.append(password) }
        for name in ["AUTOSPAWN_WEBHOOK_SECRET", "AUTOSPAWN_DIALIN_SECRET"] {
            secretTexts += (reader.string(name) ?? "").split(separator: ",").map { String($0).trimmingBlanks() }
        }
        var config = Config(
            host: host,
            port: port,
            database: database,
            webhookEnabled: webhookEnabled,
            webhookSecrets: secrets,
            requireSignature: requireSignature,
            signatureToleranceSeconds: tolerance,
            maxConcurrency: maxConcurrency,
            allowedRoomPattern: pattern,
            botName: botName,
            launcher: launcher,
            botLogDirectory: botLogDirectory,
            startTimeoutSeconds: startTimeout,
            emptyGraceSeconds: emptyGrace,
            stopGraceSeconds: stopGrace,
            reaperIntervalSeconds: reaperInterval,
            maxSessionSeconds: maxSession,
            orphanAfterSeconds: orphanAfter,
            restartBackoff: RestartBackoff(baseSeconds: backoffBase, maxSeconds: backoffMax),
            requestTimeoutSeconds: requestTimeout,
            adminToken: adminToken,
            dailyAPIKey: apiKey,
            dailyAPIURL: Self.trimmingTrailingSlashes(apiURL),
            dailyDomain: domain,
            logLevel: logLevel,
            logFormat: logFormat,
            roomFilter: roomFilter
        )
        config.botEnvironment = botEnvironment
        config.botLogMaxBytes = botLogMaxBytes
        config.retentionSeconds = retentionDays * 86_400
        config.maxStreams = maxStreams
        config.maxPublicStreams = maxPublicStreams
        config.webhookCheckSeconds = webhookCheck
        config.shutdownMode = shutdownMode
        config.leaseSeconds = leaseSeconds
        config.hostID = hostID
        config.handoverWaitSeconds = handoverWait
        config.maxLocalBots = maxLocalBots
        config.drainTimeoutSeconds = drainTimeout
        config.advertiseURL = advertiseURL
        config.warmBots = warmBots
        config.profiles = BotProfiles(profiles, fromFile: profilesPath != nil)
        config.dialinSecrets = dialinSecrets
        config.dialinWaitSeconds = dialinWait
        config.telephony = telephony
        config.browser = browser
        config.spawnOn = spawnOn
        config.knockWaitSeconds = knockWait
        config.botAccount = botAccount
        config.secretTexts = secretTexts.filter { !$0.isEmpty }
        config.warnings = warnings
        return config
    }

    /// `AUTOSPAWN_WEBHOOK_SECRET` and `AUTOSPAWN_REQUIRE_SIGNATURE`: a secret that is set is enforced, and only an
    /// explicit `AUTOSPAWN_REQUIRE_SIGNATURE=0` lets unsigned events in.
    private static func webhookSignatures(_ reader: Reader, warnings: inout [String]) throws(ConfigError) -> ([[UInt8]], Bool) {
        let secrets = try reader.secrets("AUTOSPAWN_WEBHOOK_SECRET")
        let requireSignature = try reader.flag("AUTOSPAWN_REQUIRE_SIGNATURE", default: !secrets.isEmpty)
        if requireSignature && secrets.isEmpty {
            throw ConfigError("AUTOSPAWN_WEBHOOK_SECRET", "must be set when AUTOSPAWN_REQUIRE_SIGNATURE=1")
        }
        if secrets.isEmpty {
            warnings.append(
                "AUTOSPAWN_WEBHOOK_SECRET is not set: unsigned webhooks are accepted, so anyone who reaches this port can start and stop bots"
            )
        } else if !requireSignature {
            warnings.append("AUTOSPAWN_REQUIRE_SIGNATURE=0: unsigned webhooks are accepted although a secret is set")
        }
        return (secrets, requireSignature)
    }

    /// `AUTOSPAWN_BOT_COMMAND` or `AUTOSPAWN_AGENT_URL`: the default profile's launcher. With a profiles file both are
    /// optional (nil: no default profile of their making).
    private static func defaultLauncher(command: String?, agentURL: String?, hasProfiles: Bool) throws(ConfigError) -> Launcher? {
        switch (command, agentURL) {
        case (nil, nil):
            if !hasProfiles {
                throw ConfigError("AUTOSPAWN_BOT_COMMAND", "set it (or AUTOSPAWN_AGENT_URL, or AUTOSPAWN_PROFILES) to say how a bot is started")
            }
            return nil
        case (.some, .some):
            throw ConfigError("AUTOSPAWN_AGENT_URL", "set either AUTOSPAWN_BOT_COMMAND or AUTOSPAWN_AGENT_URL, not both")
        case (let command?, nil):
            return .process(arguments: try commandWords(command))
        case (nil, let url?):
            guard isHTTPURL(url) else {
                throw ConfigError("AUTOSPAWN_AGENT_URL", "'\(url)' is not an http:// or https:// URL")
            }
            return .agent(baseURL: trimmingTrailingSlashes(url))
        }
    }

    /// The bots' allow-listed variables (`AUTOSPAWN_BOT_ENV`) and the user they run as (`AUTOSPAWN_BOT_USER`).
    private static func botEnvironmentAndAccount(
        _ reader: Reader,
        environment: [String: String],
        apiKey: String?,
        accounts: SystemAccounts,
        warnings: inout [String]
    ) throws(ConfigError) -> ([String: String], BotAccount?) {
        let botEnvironmentNames = try reader.botEnvironmentNames("AUTOSPAWN_BOT_ENV")
        var botEnvironment: [String: String] = [:]
        for name in botBaseVariables + botEnvironmentNames {
            if let value = environment[name] { botEnvironment[name] = value }
        }
        // A key read from DAILY_API_KEY_FILE is not in the environment: a bot that is to have it gets the value read.
        if botEnvironmentNames.contains("DAILY_API_KEY"), let apiKey { botEnvironment["DAILY_API_KEY"] = apiKey }
        let botAccount = try accounts.botAccount(
            user: try reader.nonEmpty("AUTOSPAWN_BOT_USER"),
            group: try reader.nonEmpty("AUTOSPAWN_BOT_GROUP")
        )
        // A bot's HOME is its own user's, which it can write; the service's is not.
        if let home = botAccount?.home { botEnvironment["HOME"] = home }
        if botAccount == nil, accounts.currentUID == 0 {
            warnings.append(
                "AUTOSPAWN_BOT_USER is not set: bots run as root, and a bot can read everything of the service (its secrets, database and other bots' files)"
            )
        }
        return (botEnvironment, botAccount)
    }

    /// The profiles of the file `AUTOSPAWN_PROFILES` names. One named `default` may not stand beside the default profile
    /// that `AUTOSPAWN_BOT_COMMAND` or `AUTOSPAWN_AGENT_URL` forms.
    private static func fileProfiles(
        path: String,
        readProfiles: (String) throws -> JSONValue,
        besideDefault: Bool,
        inherited: ProfileFile.Inherited,
        warnings: inout [String]
    ) throws(ConfigError) -> [BotProfile] {
        let document: JSONValue
        do {
            document = try readProfiles(path)
        } catch {
            throw ConfigError("AUTOSPAWN_PROFILES", "\(path): \(error)")
        }
        let (listed, profileWarnings) = try ProfileFile(path: path, inherited: inherited).profiles(document)
        if besideDefault, listed.contains(where: { $0.name == BotProfile.defaultName }) {
            throw ConfigError(
                "AUTOSPAWN_PROFILES",
                "\(path): profile 'default', field 'name' is the profile AUTOSPAWN_BOT_COMMAND or AUTOSPAWN_AGENT_URL forms: rename one of them"
            )
        }
        warnings += profileWarnings
        return listed
    }

    /// `AUTOSPAWN_WARM_BOTS` needs a command that waits for its room on its standard input.
    private static func checkWarmBots(_ warmBots: Int, launcher: Launcher?, maxLocalBots: Int, warnings: inout [String]) throws(ConfigError) {
        guard warmBots > 0 else { return }
        guard case .process(let words)? = launcher else {
            throw ConfigError(
                "AUTOSPAWN_WARM_BOTS",
                "needs AUTOSPAWN_BOT_COMMAND: an agent (AUTOSPAWN_AGENT_URL) cannot be prewarmed (a profile has warm_bots of its own)"
            )
        }
        if let placeholder = placeholder(in: words) {
            throw ConfigError(
                "AUTOSPAWN_WARM_BOTS",
                "AUTOSPAWN_BOT_COMMAND uses \(placeholder), but a warm bot starts before its room: let it read the room from its standard input (README, Warm bots)"
            )
        }
        if warmBots > maxLocalBots {
            warnings.append(
                "AUTOSPAWN_WARM_BOTS=\(warmBots) keeps more idle bots than this instance ever runs at once (AUTOSPAWN_MAX_LOCAL_BOTS=\(maxLocalBots))"
            )
        }
    }

    /// The meeting token is a secret: on a command line every user of the machine sees it (ps).
    private static func tokenOnCommandLineWarnings(_ profiles: [BotProfile]) -> [String] {
        profiles.compactMap { profile in
            guard case .process(let words) = profile.launcher, words.contains(where: { $0.contains("{token}") }) else { return nil }
            let source = profile.name == BotProfile.defaultName ? "AUTOSPAWN_BOT_COMMAND" : "AUTOSPAWN_PROFILES: profile '\(profile.name)'"
            return
                "\(source) puts {token}, the bot's meeting token, on its command line, which every user of this machine sees (ps): read DAILY_ROOM_TOKEN instead"
        }
    }

    /// Secrets that can be given as a `serve` flag, and so be seen by every user of the machine (`ps`).
    package static let secretVariables = [
        "AUTOSPAWN_WEBHOOK_SECRET", "AUTOSPAWN_DIALIN_SECRET", "AUTOSPAWN_ADMIN_TOKEN", "DAILY_API_KEY", "AUTOSPAWN_TWILIO_AUTH_TOKEN",
        "AUTOSPAWN_PLIVO_AUTH_TOKEN", "AUTOSPAWN_EXOTEL_TOKEN",
    ]

    /// A warning for each secret among the `serve` flags given (named by their variables), naming its `_FILE` form.
    package static func secretFlagWarnings(_ flags: some Sequence<String>) -> [String] {
        secretVariables.filter(Set(flags).contains).map { variable in
            let name = variable.hasPrefix("AUTOSPAWN_") ? variable.dropFirst(10) : Substring(variable)
            let flag = "--" + String(name.lowercased().map { $0 == "_" ? "-" : $0 })
            return "\(flag) puts \(variable) on the command line, which every user of this machine sees (ps): use \(variable)_FILE"
        }
    }

    /// The webhook event types the service needs: who is in the rooms, and with `knock` who knocks.
    package var requiredEventTypes: [String] {
        var types = [RoomEvent.Kind.participantJoined, .participantLeft]
        if spawnOn == .knock { types += [.waitingParticipantJoined, .waitingParticipantLeft] }
        return types.map(\.rawValue)
    }

    /// How the default profile's bots are started.
    package var launcherKind: LauncherKind { launcher?.kind ?? .process }

    /// The reader `parse` uses unless given one: there is no file to read.
    package static func noProfileFiles(_ path: String) throws -> JSONValue {
        throw ConfigError("AUTOSPAWN_PROFILES", "no file reader given")
    }

    /// `AUTOSPAWN_BOT_COMMAND` (or a profile's `command`) split into words like a shell, never run through one.
    static func commandWords(_ command: String) throws(ConfigError) -> [String] {
        let words: [String]
        do {
            words = try CommandLineSplitter.split(command)
        } catch {
            throw ConfigError("AUTOSPAWN_BOT_COMMAND", "cannot be split into words (\(error))")
        }
        guard !words.isEmpty else { throw ConfigError("AUTOSPAWN_BOT_COMMAND", "is empty") }
        return words
    }

    /// The first room placeholder a command uses: such a command cannot be started before its room.
    static func placeholder(in words: [String]) -> String? {
        botCommandPlaceholders.first { name in words.contains { $0.contains(name) } }
    }

    /// A name a bot may be given (`AUTOSPAWN_BOT_ENV`, a profile's `env`): a variable name, not one of the service's
    /// own secrets.
    static func checkBotVariable(_ variable: String) throws(ConfigError) {
        guard variable.first.map({ $0 == "_" || ($0.isASCII && $0.isLetter) }) == true,
            variable.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) })
        else {
            throw ConfigError("AUTOSPAWN_BOT_ENV", "'\(variable)' is not a variable name (letters, digits and '_')")
        }
        let base = variable.hasSuffix("_FILE") ? String(variable.dropLast(5)) : variable
        if serviceOnlySecrets.contains(base) {
            throw ConfigError("AUTOSPAWN_BOT_ENV", "\(variable) is the service's own secret and is never given to a bot")
        }
    }

    /// The policy's share of the settings.
    package var policySettings: PolicySettings {
        PolicySettings(
            maxConcurrency: maxConcurrency,
            botName: botName,
            roomFilter: roomFilter,
            emptyGraceSeconds: emptyGraceSeconds,
            restartBackoff: restartBackoff,
            maxLocalBots: maxLocalBots,
            profiles: profiles,
            spawnOn: spawnOn
        )
    }

    static func isHTTPURL(_ value: String) -> Bool {
        for scheme in ["http://", "https://"] where value.lowercased().hasPrefix(scheme) {
            return value.count > scheme.count && !value.contains(where: { $0 == " " || $0 == "\n" })
        }
        return false
    }

    package static func isDomainLabel(_ value: String) -> Bool {
        value.count <= 63 && value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
    }

    static func trimmingTrailingSlashes(_ value: String) -> String {
        var value = value
        while value.hasSuffix("/") { value.removeLast() }
        return value
    }

    static func siblingPath(of file: String, named name: String) -> String {
        guard let slash = file.lastIndex(of: "/") else { return name }
        return String(file[...slash]) + name
    }
}
