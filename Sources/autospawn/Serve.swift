import ArgumentParser
import BotRuntime
import Foundation
import Logging
import Policy
import SessionStore
import WebhookService

/// `autospawn serve`: every setting is an environment variable and a flag; a flag wins.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the service (settings: see README, Configuration).")

    @Option(help: "AUTOSPAWN_HOST") var host: String?
    @Option(help: "AUTOSPAWN_PORT (0: any free port)") var port: String?
    @Option(help: "AUTOSPAWN_DB") var db: String?
    @Option(help: "AUTOSPAWN_WEBHOOK (1 or 0)") var webhook: String?
    @Option(help: "AUTOSPAWN_WEBHOOK_SECRET (base64, comma-separated)") var webhookSecret: String?
    @Option(help: "AUTOSPAWN_REQUIRE_SIGNATURE (1 or 0)") var requireSignature: String?
    @Option(name: .customLong("signature-tolerance-s"), help: "AUTOSPAWN_SIGNATURE_TOLERANCE_S") var signatureTolerance: String?
    @Option(help: "AUTOSPAWN_MAX_CONCURRENCY") var maxConcurrency: String?
    @Option(help: "AUTOSPAWN_ALLOWED_ROOM_REGEX") var allowedRoomRegex: String?
    @Option(help: "AUTOSPAWN_BOT_NAME") var botName: String?
    @Option(help: "AUTOSPAWN_BOT_COMMAND") var botCommand: String?
    @Option(help: "AUTOSPAWN_BOT_LOG_DIR") var botLogDir: String?
    @Option(name: .customLong("start-timeout-s"), help: "AUTOSPAWN_START_TIMEOUT_S") var startTimeout: String?
    @Option(help: "AUTOSPAWN_AGENT_URL") var agentUrl: String?
    @Option(name: .customLong("empty-grace-s"), help: "AUTOSPAWN_EMPTY_GRACE_S") var emptyGrace: String?
    @Option(name: .customLong("stop-grace-s"), help: "AUTOSPAWN_STOP_GRACE_S") var stopGrace: String?
    @Option(name: .customLong("reaper-interval-s"), help: "AUTOSPAWN_REAPER_INTERVAL_S") var reaperInterval: String?
    @Option(name: .customLong("max-session-s"), help: "AUTOSPAWN_MAX_SESSION_S") var maxSession: String?
    @Option(name: .customLong("orphan-after-s"), help: "AUTOSPAWN_ORPHAN_AFTER_S") var orphanAfter: String?
    @Option(name: .customLong("restart-backoff-s"), help: "AUTOSPAWN_RESTART_BACKOFF_S") var restartBackoff: String?
    @Option(name: .customLong("restart-backoff-max-s"), help: "AUTOSPAWN_RESTART_BACKOFF_MAX_S") var restartBackoffMax: String?
    @Option(name: .customLong("request-timeout-s"), help: "AUTOSPAWN_REQUEST_TIMEOUT_S") var requestTimeout: String?
    @Option(help: "AUTOSPAWN_ADMIN_TOKEN") var adminToken: String?
    @Option(help: "DAILY_API_KEY") var dailyApiKey: String?
    @Option(help: "DAILY_API_URL") var dailyApiUrl: String?
    @Option(help: "AUTOSPAWN_DAILY_DOMAIN") var dailyDomain: String?
    @Option(help: "AUTOSPAWN_WEBHOOK_SECRET_FILE (a file holding the secret)") var webhookSecretFile: String?
    @Option(help: "AUTOSPAWN_ADMIN_TOKEN_FILE (a file holding the token)") var adminTokenFile: String?
    @Option(help: "DAILY_API_KEY_FILE (a file holding the key)") var dailyApiKeyFile: String?
    @Option(help: "AUTOSPAWN_DB_FILE (a file holding AUTOSPAWN_DB, which may carry a password)") var dbFile: String?
    @Option(help: "AUTOSPAWN_BOT_ENV (comma-separated names bots also get)") var botEnv: String?
    @Option(help: "AUTOSPAWN_BOT_LOG_MAX_BYTES") var botLogMaxBytes: String?
    @Option(help: "AUTOSPAWN_RETENTION_DAYS") var retentionDays: String?
    @Option(help: "AUTOSPAWN_MAX_STREAMS") var maxStreams: String?
    @Option(help: "AUTOSPAWN_MAX_PUBLIC_STREAMS") var maxPublicStreams: String?
    @Option(name: .customLong("webhook-check-s"), help: "AUTOSPAWN_WEBHOOK_CHECK_S") var webhookCheck: String?
    @Option(help: "AUTOSPAWN_SHUTDOWN (drain, handover or stop)") var shutdown: String?
    @Option(name: .customLong("lease-s"), help: "AUTOSPAWN_LEASE_S") var lease: String?
    @Option(help: "AUTOSPAWN_HOST_ID") var hostId: String?
    @Option(name: .customLong("handover-wait-s"), help: "AUTOSPAWN_HANDOVER_WAIT_S") var handoverWait: String?
    @Option(name: .customLong("drain-timeout-s"), help: "AUTOSPAWN_DRAIN_TIMEOUT_S") var drainTimeout: String?
    @Option(help: "AUTOSPAWN_MAX_LOCAL_BOTS") var maxLocalBots: String?
    @Option(help: "AUTOSPAWN_ADVERTISE_URL") var advertiseUrl: String?
    @Option(help: "AUTOSPAWN_LOG_LEVEL") var logLevel: String?
    @Option(help: "AUTOSPAWN_LOG_FORMAT (text or json)") var logFormat: String?
    @Option(help: "AUTOSPAWN_WARM_BOTS") var warmBots: String?
    @Option(help: "AUTOSPAWN_PROFILES (a YAML file of bot profiles)") var profiles: String?
    @Option(help: "AUTOSPAWN_DIALIN_SECRET (base64, comma-separated)") var dialinSecret: String?
    @Option(help: "AUTOSPAWN_PUBLIC_URL (the base URL phone carriers reach)") var publicUrl: String?
    @Option(help: "AUTOSPAWN_TWILIO_AUTH_TOKEN (comma-separated; prefer the _FILE form)") var twilioAuthToken: String?
    @Option(help: "AUTOSPAWN_TWILIO_AUTH_TOKEN_FILE (a file holding Twilio's auth tokens)") var twilioAuthTokenFile: String?
    @Option(help: "AUTOSPAWN_TWILIO_ACCOUNT_SID") var twilioAccountSid: String?
    @Option(help: "AUTOSPAWN_TWILIO_API_URL") var twilioApiUrl: String?
    @Option(help: "AUTOSPAWN_TELNYX_PUBLIC_KEY (base64 Ed25519 keys, comma-separated)") var telnyxPublicKey: String?
    @Option(help: "AUTOSPAWN_PLIVO_AUTH_TOKEN (comma-separated; prefer the _FILE form)") var plivoAuthToken: String?
    @Option(help: "AUTOSPAWN_PLIVO_AUTH_TOKEN_FILE (a file holding Plivo's auth tokens)") var plivoAuthTokenFile: String?
    @Option(help: "AUTOSPAWN_EXOTEL_TOKEN (prefer the _FILE form)") var exotelToken: String?
    @Option(help: "AUTOSPAWN_EXOTEL_TOKEN_FILE (a file holding the Exotel stream token)") var exotelTokenFile: String?
    @Option(name: .customLong("stream-buffer-s"), help: "AUTOSPAWN_STREAM_BUFFER_S") var streamBuffer: String?
    @Option(help: "AUTOSPAWN_ICE_SERVERS (STUN/TURN servers for browser calls)") var iceServers: String?
    @Option(help: "AUTOSPAWN_PUBLIC_KEYS (keys a browser page may start sessions and signal with)") var publicKeys: String?
    @Option(help: "AUTOSPAWN_DIALIN_SECRET_FILE (a file holding the secret)") var dialinSecretFile: String?
    @Option(name: .customLong("dialin-wait-s"), help: "AUTOSPAWN_DIALIN_WAIT_S") var dialinWait: String?
    @Option(help: "AUTOSPAWN_SPAWN_ON (join or knock)") var spawnOn: String?
    @Option(name: .customLong("knock-wait-s"), help: "AUTOSPAWN_KNOCK_WAIT_S") var knockWait: String?
    @Option(help: "AUTOSPAWN_BOT_USER (the user bots run as)") var botUser: String?
    @Option(help: "AUTOSPAWN_BOT_GROUP (the group bots run as)") var botGroup: String?

    /// The flags given, by the variable they override.
    var flagValues: [String: String?] {
        [
            "AUTOSPAWN_HOST": host, "AUTOSPAWN_PORT": port, "AUTOSPAWN_DB": db, "AUTOSPAWN_WEBHOOK": webhook,
            "AUTOSPAWN_WEBHOOK_SECRET": webhookSecret, "AUTOSPAWN_REQUIRE_SIGNATURE": requireSignature,
            "AUTOSPAWN_SIGNATURE_TOLERANCE_S": signatureTolerance, "AUTOSPAWN_MAX_CONCURRENCY": maxConcurrency,
            "AUTOSPAWN_ALLOWED_ROOM_REGEX": allowedRoomRegex, "AUTOSPAWN_BOT_NAME": botName,
            "AUTOSPAWN_BOT_COMMAND": botCommand, "AUTOSPAWN_BOT_LOG_DIR": botLogDir,
            "AUTOSPAWN_START_TIMEOUT_S": startTimeout, "AUTOSPAWN_AGENT_URL": agentUrl,
            "AUTOSPAWN_EMPTY_GRACE_S": emptyGrace, "AUTOSPAWN_STOP_GRACE_S": stopGrace,
            "AUTOSPAWN_REAPER_INTERVAL_S": reaperInterval, "AUTOSPAWN_MAX_SESSION_S": maxSession,
            "AUTOSPAWN_ORPHAN_AFTER_S": orphanAfter, "AUTOSPAWN_RESTART_BACKOFF_S": restartBackoff,
            "AUTOSPAWN_RESTART_BACKOFF_MAX_S": restartBackoffMax, "AUTOSPAWN_REQUEST_TIMEOUT_S": requestTimeout,
            "AUTOSPAWN_ADMIN_TOKEN": adminToken, "DAILY_API_KEY": dailyApiKey,
            "DAILY_API_URL": dailyApiUrl, "AUTOSPAWN_DAILY_DOMAIN": dailyDomain,
            "AUTOSPAWN_WEBHOOK_SECRET_FILE": webhookSecretFile, "AUTOSPAWN_ADMIN_TOKEN_FILE": adminTokenFile,
            "DAILY_API_KEY_FILE": dailyApiKeyFile, "AUTOSPAWN_DB_FILE": dbFile, "AUTOSPAWN_BOT_ENV": botEnv,
            "AUTOSPAWN_BOT_LOG_MAX_BYTES": botLogMaxBytes,
            "AUTOSPAWN_RETENTION_DAYS": retentionDays, "AUTOSPAWN_MAX_STREAMS": maxStreams,
            "AUTOSPAWN_MAX_PUBLIC_STREAMS": maxPublicStreams,
            "AUTOSPAWN_WEBHOOK_CHECK_S": webhookCheck, "AUTOSPAWN_SHUTDOWN": shutdown,
            "AUTOSPAWN_LEASE_S": lease, "AUTOSPAWN_HOST_ID": hostId, "AUTOSPAWN_HANDOVER_WAIT_S": handoverWait,
            "AUTOSPAWN_DRAIN_TIMEOUT_S": drainTimeout, "AUTOSPAWN_MAX_LOCAL_BOTS": maxLocalBots,
            "AUTOSPAWN_ADVERTISE_URL": advertiseUrl, "AUTOSPAWN_LOG_LEVEL": logLevel, "AUTOSPAWN_LOG_FORMAT": logFormat,
            "AUTOSPAWN_WARM_BOTS": warmBots, "AUTOSPAWN_PROFILES": profiles, "AUTOSPAWN_DIALIN_SECRET": dialinSecret,
            "AUTOSPAWN_DIALIN_SECRET_FILE": dialinSecretFile, "AUTOSPAWN_DIALIN_WAIT_S": dialinWait,
            "AUTOSPAWN_SPAWN_ON": spawnOn, "AUTOSPAWN_KNOCK_WAIT_S": knockWait,
            "AUTOSPAWN_BOT_USER": botUser, "AUTOSPAWN_BOT_GROUP": botGroup,
            "AUTOSPAWN_PUBLIC_URL": publicUrl, "AUTOSPAWN_TWILIO_AUTH_TOKEN_FILE": twilioAuthTokenFile,
            "AUTOSPAWN_TWILIO_ACCOUNT_SID": twilioAccountSid, "AUTOSPAWN_TWILIO_API_URL": twilioApiUrl,
            "AUTOSPAWN_TELNYX_PUBLIC_KEY": telnyxPublicKey, "AUTOSPAWN_PLIVO_AUTH_TOKEN_FILE": plivoAuthTokenFile,
            "AUTOSPAWN_EXOTEL_TOKEN_FILE": exotelTokenFile, "AUTOSPAWN_STREAM_BUFFER_S": streamBuffer,
            "AUTOSPAWN_TWILIO_AUTH_TOKEN": twilioAuthToken, "AUTOSPAWN_PLIVO_AUTH_TOKEN": plivoAuthToken,
            "AUTOSPAWN_EXOTEL_TOKEN": exotelToken, "AUTOSPAWN_ICE_SERVERS": iceServers, "AUTOSPAWN_PUBLIC_KEYS": publicKeys,
        ]
    }

    func run() async throws {
        // Before a secret is read: no process of this user, a bot among them, may read this one's memory, environment
        // or descriptors (/proc/<pid>/...).
        let undumpable = ProcessLauncher.makeUndumpable()
        // Every file and folder the service makes (database, logs, warm files) is its own only, whatever the umask.
        umask(0o077)
        var environment = ProcessInfo.processInfo.environment
        for (variable, value) in flagValues {
            if let value { environment[variable] = value }
        }
        do {
            environment = try Config.resolvingSecretFiles(environment) { path in
                try String(contentsOfFile: path, encoding: .utf8)
            }
            let config = try Config.parse(environment, readProfiles: YAMLDocument.read(path:), accounts: .thisMachine())
            let registry = bootstrapProcessObservability(config)
            let logger = Logger(label: "autospawn")
            let flagsGiven = flagValues.filter { $0.value != nil }.keys
            for warning in config.warnings + Config.secretFlagWarnings(flagsGiven) { logger.warning("\(warning)") }
            if !undumpable {
                logger.warning("could not make the service non-dumpable: a process of its user may read its secrets in /proc")
            }
            do {
                try BotFiles.makePrivateDirectory(config.botLogDirectory)
            } catch {
                throw ConfigError("AUTOSPAWN_BOT_LOG_DIR", "\(config.botLogDirectory) cannot be made a folder of the service's own (\(error))")
            }
            if let db, case .postgres(let location) = config.database, location.password != nil, db.contains("@") {
                logger.warning("--db carries a password, which every user of this machine sees (ps): use AUTOSPAWN_DB_FILE")
            }
            if !ProcessLauncher.becomeSubreaper() {
                logger.warning("could not become the bots' subreaper: what their children leave behind goes to init")
            }
            try await withSessionStore(
                config.database,
                settings: config.policySettings,
                launcher: config.launcherKind,
                instanceID: UUID().uuidString.lowercased(),
                logger: logger
            ) { store in
                let (app, parts) = try await buildApplication(config, store: store, logger: logger, registry: registry) { port in
                    // One line on stdout, for people and for scripts that started the service on port 0.
                    FileHandle.standardOutput.write(Data("autospawn listening on http://\(config.host):\(port)\n".utf8))
                }
                try await runService(app, parts, logger: logger)
            }
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("autospawn: \(error.description)\n".utf8))
            throw ExitCode(2)
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("autospawn: \(error.description)\n".utf8))
            throw ExitCode(1)
        } catch let error as SessionStoreError {
            FileHandle.standardError.write(Data("autospawn: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }
}
