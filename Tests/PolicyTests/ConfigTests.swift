import Policy
import Testing

struct ConfigTests {
    let minimal = ["AUTOSPAWN_BOT_COMMAND": "bot {room_url}"]

    @Test func defaultsFollowTheDesign() throws {
        let config = try Config.parse(minimal)
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 8080)
        #expect(config.database == .sqlite(path: "autospawn.sqlite"))
        #expect(config.webhookEnabled)
        #expect(config.webhookSecrets.isEmpty)
        #expect(!config.requireSignature)
        #expect(config.signatureToleranceSeconds == 300)
        #expect(config.maxConcurrency == 5)
        #expect(config.botName == "Pipecat Bot")
        #expect(config.launcher == .process(arguments: ["bot", "{room_url}"]))
        #expect(config.botLogDirectory == "bot-logs")
        #expect(config.startTimeoutSeconds == 60)
        #expect(config.emptyGraceSeconds == 20)
        #expect(config.restartBackoff == RestartBackoff(baseSeconds: 2, maxSeconds: 300))
        #expect(config.requestTimeoutSeconds == 30)
        #expect(config.stopGraceSeconds == 10)
        #expect(config.reaperIntervalSeconds == 15)
        #expect(config.maxSessionSeconds == 14_400)
        #expect(config.orphanAfterSeconds == 60)
        #expect(config.adminToken == nil)
        #expect(config.dailyAPIURL == "https://api.daily.co/v1")
        #expect(config.dailyDomain == nil)
        #expect(config.logLevel == .info)
        #expect(config.logFormat == .text)
        #expect(config.botLogMaxBytes == 10 * 1024 * 1024)
        #expect(config.retentionSeconds == 7 * 86_400)
        #expect(config.maxStreams == 1000)
        #expect(config.maxPublicStreams == 100)
        #expect(config.knockWaitSeconds == 120)
        #expect(config.webhookCheckSeconds == 60)
        #expect(config.shutdownMode == .auto)
        #expect(config.drainTimeoutSeconds == 900)
        #expect(config.maxLocalBots == config.maxConcurrency)
        #expect(config.advertiseURL == nil)
        #expect(config.leaseSeconds == 10)
        #expect(config.hostID == nil)
        #expect(config.handoverWaitSeconds == 120)
        #expect(config.dialinSecrets.isEmpty)
        #expect(config.dialinWaitSeconds == 20)
        #expect(config.spawnOn == .join)
        #expect(config.botEnvironment.keys.allSatisfy { Config.botBaseVariables.contains($0) })
    }

    /// A configured secret was not enforced: unsigned events were accepted unless AUTOSPAWN_REQUIRE_SIGNATURE=1.
    @Test func aConfiguredSecretIsEnforcedUnlessExplicitlyRelaxed() throws {
        let secret = ["AUTOSPAWN_WEBHOOK_SECRET": "YWJj"]
        let enforced = try Config.parse(minimal.merging(secret) { $1 })
        #expect(enforced.requireSignature)
        #expect(!enforced.warnings.contains { $0.contains("AUTOSPAWN_REQUIRE_SIGNATURE") })
        let relaxed = try Config.parse(minimal.merging(secret) { $1 }.merging(["AUTOSPAWN_REQUIRE_SIGNATURE": "0"]) { $1 })
        #expect(!relaxed.requireSignature)
        #expect(relaxed.warnings.contains { $0.hasPrefix("AUTOSPAWN_REQUIRE_SIGNATURE=0") })
        let open = try Config.parse(minimal)
        #expect(!open.requireSignature)
        #expect(open.warnings.contains { $0.hasPrefix("AUTOSPAWN_WEBHOOK_SECRET is not set") })
        #expect(open.warnings.contains { $0.hasPrefix("AUTOSPAWN_ADMIN_TOKEN is not set") })
    }

    /// Every bot got the whole environment of the service, its webhook secret, admin token and API key included.
    @Test func aBotGetsTheAllowListAndTheNamesOfBotEnvOnly() throws {
        let config = try Config.parse(
            minimal.merging([
                "PATH": "/usr/bin", "HOME": "/home/a", "LANG": "C.UTF-8", "SHELL": "/bin/bash",
                "AUTOSPAWN_WEBHOOK_SECRET": "YWJj", "AUTOSPAWN_ADMIN_TOKEN": "admin-token-123", "DAILY_API_KEY": "key",
                "OPENAI_API_KEY": "sk-1", "OTHER_KEY": "x", "AUTOSPAWN_BOT_ENV": "OPENAI_API_KEY, UNSET_ONE",
            ]) { $1 }
        )
        #expect(config.botEnvironment == ["PATH": "/usr/bin", "HOME": "/home/a", "LANG": "C.UTF-8", "OPENAI_API_KEY": "sk-1"])
        let withKey = try Config.parse(minimal.merging(["DAILY_API_KEY": "key", "AUTOSPAWN_BOT_ENV": "DAILY_API_KEY"]) { $1 })
        #expect(withKey.botEnvironment == ["DAILY_API_KEY": "key"])
    }

    @Test(arguments: [
        "AUTOSPAWN_WEBHOOK_SECRET", "AUTOSPAWN_DIALIN_SECRET", "AUTOSPAWN_DIALIN_SECRET_FILE", "AUTOSPAWN_ADMIN_TOKEN",
        "AUTOSPAWN_ADMIN_TOKEN_FILE", "OPENAI KEY", "1ABC",
    ])
    func botEnvRefusesTheServicesSecretsAndBadNames(name: String) {
        #expect(throws: ConfigError.self) { try Config.parse(minimal.merging(["AUTOSPAWN_BOT_ENV": "PATH,\(name)"]) { $1 }) }
        do {
            _ = try Config.parse(minimal.merging(["AUTOSPAWN_BOT_ENV": "PATH,\(name)"]) { $1 })
        } catch {
            #expect(error.variable == "AUTOSPAWN_BOT_ENV")
        }
    }

    @Test func secretsMayComeFromFiles() throws {
        let files = ["/run/secrets/hmac": "YWJj\n", "/run/secrets/admin": "admin-token-123", "/run/secrets/key": "key\r\n"]
        let read: (String) throws -> String = { path in
            guard let content = files[path] else { throw ConfigError("test", "no file") }
            return content
        }
        let environment = try Config.resolvingSecretFiles(
            minimal.merging([
                "AUTOSPAWN_WEBHOOK_SECRET_FILE": "/run/secrets/hmac", "AUTOSPAWN_ADMIN_TOKEN_FILE": "/run/secrets/admin",
                "DAILY_API_KEY_FILE": "/run/secrets/key",
            ]) { $1 },
            read: read
        )
        let config = try Config.parse(environment)
        #expect(config.webhookSecrets == [Array("abc".utf8)])
        #expect(config.adminToken == "admin-token-123")
        #expect(config.dailyAPIKey == "key")
        #expect(environment["AUTOSPAWN_WEBHOOK_SECRET_FILE"] == nil)
        for (variables, named) in [
            (["AUTOSPAWN_ADMIN_TOKEN": "a", "AUTOSPAWN_ADMIN_TOKEN_FILE": "/run/secrets/admin"], "AUTOSPAWN_ADMIN_TOKEN_FILE"),
            (["DAILY_API_KEY_FILE": "/missing"], "DAILY_API_KEY_FILE"),
        ] {
            do {
                _ = try Config.resolvingSecretFiles(minimal.merging(variables) { $1 }, read: read)
                Issue.record("\(variables) was accepted")
            } catch {
                #expect(error.variable == named)
            }
        }
    }

    @Test func dialinTakesARotatableSecretThatIsRedactedAndNeedsDailysKey() throws {
        let config = try Config.parse(
            minimal.merging([
                "AUTOSPAWN_DIALIN_SECRET": "YWJj, ZGVm", "DAILY_API_KEY": "key", "AUTOSPAWN_DIALIN_WAIT_S": "45",
                "AUTOSPAWN_SPAWN_ON": "Knock",
            ]) { $1 }
        )
        #expect(config.dialinSecrets == [Array("abc".utf8), Array("def".utf8)])
        #expect(config.dialinWaitSeconds == 45)
        #expect(config.spawnOn == .knock)
        #expect(config.policySettings.spawnOn == .knock)
        #expect(config.secretTexts.contains("YWJj"))
        #expect(config.secretTexts.contains("ZGVm"))
        let fromFile = try Config.resolvingSecretFiles(["AUTOSPAWN_DIALIN_SECRET_FILE": "/run/secrets/dialin"]) { _ in "YWJj\n" }
        #expect(fromFile["AUTOSPAWN_DIALIN_SECRET"] == "YWJj")
    }

    @Test func botLogDirectoryDefaultsBesideTheDatabase() throws {
        let config = try Config.parse(minimal.merging(["AUTOSPAWN_DB": "/var/lib/autospawn/db.sqlite"]) { $1 })
        #expect(config.botLogDirectory == "/var/lib/autospawn/bot-logs")
    }

    @Test func secretsAreACommaSeparatedListOfBase64Keys() throws {
        let config = try Config.parse(minimal.merging(["AUTOSPAWN_WEBHOOK_SECRET": "YWJj, ZGVm"]) { $1 })
        #expect(config.webhookSecrets == [Array("abc".utf8), Array("def".utf8)])
    }

    @Test(arguments: [
        ("AUTOSPAWN_PORT", "http", "AUTOSPAWN_PORT"),
        ("AUTOSPAWN_PORT", "70000", "AUTOSPAWN_PORT"),
        ("AUTOSPAWN_WEBHOOK", "maybe", "AUTOSPAWN_WEBHOOK"),
        ("AUTOSPAWN_WEBHOOK_SECRET", "%%%", "AUTOSPAWN_WEBHOOK_SECRET"),
        ("AUTOSPAWN_WEBHOOK_SECRET", "YWJj,", "AUTOSPAWN_WEBHOOK_SECRET"),
        ("AUTOSPAWN_REQUIRE_SIGNATURE", "1", "AUTOSPAWN_WEBHOOK_SECRET"),
        ("AUTOSPAWN_SIGNATURE_TOLERANCE_S", "0", "AUTOSPAWN_SIGNATURE_TOLERANCE_S"),
        ("AUTOSPAWN_MAX_CONCURRENCY", "0", "AUTOSPAWN_MAX_CONCURRENCY"),
        ("AUTOSPAWN_MAX_CONCURRENCY", "2.5", "AUTOSPAWN_MAX_CONCURRENCY"),
        ("AUTOSPAWN_ALLOWED_ROOM_REGEX", "(unclosed", "AUTOSPAWN_ALLOWED_ROOM_REGEX"),
        ("AUTOSPAWN_BOT_NAME", "   ", "AUTOSPAWN_BOT_NAME"),
        ("AUTOSPAWN_BOT_COMMAND", "bot 'unterminated", "AUTOSPAWN_BOT_COMMAND"),
        ("AUTOSPAWN_AGENT_URL", "http://agent:8080", "AUTOSPAWN_AGENT_URL"),
        ("AUTOSPAWN_START_TIMEOUT_S", "-1", "AUTOSPAWN_START_TIMEOUT_S"),
        ("AUTOSPAWN_EMPTY_GRACE_S", "soon", "AUTOSPAWN_EMPTY_GRACE_S"),
        ("AUTOSPAWN_STOP_GRACE_S", "nan", "AUTOSPAWN_STOP_GRACE_S"),
        ("AUTOSPAWN_REAPER_INTERVAL_S", "0", "AUTOSPAWN_REAPER_INTERVAL_S"),
        ("AUTOSPAWN_MAX_SESSION_S", "inf", "AUTOSPAWN_MAX_SESSION_S"),
        ("AUTOSPAWN_ORPHAN_AFTER_S", "x", "AUTOSPAWN_ORPHAN_AFTER_S"),
        ("AUTOSPAWN_RESTART_BACKOFF_S", "0", "AUTOSPAWN_RESTART_BACKOFF_S"),
        ("AUTOSPAWN_REQUEST_TIMEOUT_S", "0", "AUTOSPAWN_REQUEST_TIMEOUT_S"),
        ("AUTOSPAWN_RESTART_BACKOFF_MAX_S", "1", "AUTOSPAWN_RESTART_BACKOFF_MAX_S"),
        ("DAILY_API_URL", "api.daily.co", "DAILY_API_URL"),
        ("AUTOSPAWN_DAILY_DOMAIN", "acme.daily.co", "AUTOSPAWN_DAILY_DOMAIN"),
        ("AUTOSPAWN_BOT_LOG_MAX_BYTES", "10", "AUTOSPAWN_BOT_LOG_MAX_BYTES"),
        ("AUTOSPAWN_RETENTION_DAYS", "0", "AUTOSPAWN_RETENTION_DAYS"),
        ("AUTOSPAWN_MAX_STREAMS", "none", "AUTOSPAWN_MAX_STREAMS"),
        ("AUTOSPAWN_MAX_PUBLIC_STREAMS", "0", "AUTOSPAWN_MAX_PUBLIC_STREAMS"),
        ("AUTOSPAWN_WEBHOOK_CHECK_S", "-5", "AUTOSPAWN_WEBHOOK_CHECK_S"),
        ("AUTOSPAWN_SHUTDOWN", "later", "AUTOSPAWN_SHUTDOWN"),
        ("AUTOSPAWN_MAX_LOCAL_BOTS", "0", "AUTOSPAWN_MAX_LOCAL_BOTS"),
        ("AUTOSPAWN_DRAIN_TIMEOUT_S", "-1", "AUTOSPAWN_DRAIN_TIMEOUT_S"),
        ("AUTOSPAWN_ADVERTISE_URL", "replica-2:8080", "AUTOSPAWN_ADVERTISE_URL"),
        ("AUTOSPAWN_LEASE_S", "0", "AUTOSPAWN_LEASE_S"),
        ("AUTOSPAWN_HOST_ID", "  ", "AUTOSPAWN_HOST_ID"),
        ("AUTOSPAWN_HANDOVER_WAIT_S", "-1", "AUTOSPAWN_HANDOVER_WAIT_S"),
        ("AUTOSPAWN_WARM_BOTS", "-1", "AUTOSPAWN_WARM_BOTS"),
        ("AUTOSPAWN_WARM_BOTS", "1001", "AUTOSPAWN_WARM_BOTS"),
        ("AUTOSPAWN_DIALIN_SECRET", "YWJj", "AUTOSPAWN_DIALIN_SECRET"),  // without DAILY_API_KEY
        ("AUTOSPAWN_DIALIN_SECRET", "%%%", "AUTOSPAWN_DIALIN_SECRET"),
        ("AUTOSPAWN_DIALIN_WAIT_S", "-1", "AUTOSPAWN_DIALIN_WAIT_S"),
        ("AUTOSPAWN_SPAWN_ON", "admit", "AUTOSPAWN_SPAWN_ON"),
        ("AUTOSPAWN_KNOCK_WAIT_S", "0", "AUTOSPAWN_KNOCK_WAIT_S"),
    ])
    func badValueNamesItsVariable(variable: String, value: String, named: String) {
        #expect(throws: ConfigError.self) { try Config.parse(minimal.merging([variable: value]) { $1 }) }
        do {
            _ = try Config.parse(minimal.merging([variable: value]) { $1 })
        } catch {
            #expect(error.variable == named)
            #expect(error.description.hasPrefix("\(named): "))
        }
    }

    @Test func logLevelAndFormatAreNamedChoicesIgnoringCase() throws {
        let config = try Config.parse(minimal.merging(["AUTOSPAWN_LOG_LEVEL": "Debug", "AUTOSPAWN_LOG_FORMAT": "JSON"]) { $1 })
        #expect(config.logLevel == .debug)
        #expect(config.logFormat == .json)
        for (variable, value) in [("AUTOSPAWN_LOG_LEVEL", "loud"), ("AUTOSPAWN_LOG_FORMAT", "xml")] {
            #expect(throws: ConfigError.self) { try Config.parse(minimal.merging([variable: value]) { $1 }) }
            do {
                _ = try Config.parse(minimal.merging([variable: value]) { $1 })
            } catch {
                #expect(error.description.hasPrefix(variable + ":"))
            }
        }
    }

    @Test func neitherLauncherIsAnError() {
        #expect(throws: ConfigError("AUTOSPAWN_BOT_COMMAND", "set it (or AUTOSPAWN_AGENT_URL, or AUTOSPAWN_PROFILES) to say how a bot is started")) {
            try Config.parse([:])
        }
    }

    @Test func agentLauncherAloneIsAccepted() throws {
        let config = try Config.parse(["AUTOSPAWN_AGENT_URL": "http://agent:8080/", "DAILY_API_KEY": "k"])
        #expect(config.launcher == .agent(baseURL: "http://agent:8080"))
        #expect(config.launcherKind == .agent)
        #expect(throws: ConfigError.self) { try Config.parse(["AUTOSPAWN_AGENT_URL": "http://agent:8080/"]) }
    }

    @Test func warmBotsNeedACommandThatNamesNoRoom() throws {
        let command = ["AUTOSPAWN_BOT_COMMAND": "python bot.py --name 'Pipecat Bot'", "AUTOSPAWN_WARM_BOTS": "3"]
        #expect(try Config.parse(command).warmBots == 3)
        #expect(try Config.parse(minimal).warmBots == 0)
        for placeholder in Config.botCommandPlaceholders {
            let error = #expect(throws: ConfigError.self) {
                try Config.parse(command.merging(["AUTOSPAWN_BOT_COMMAND": "python bot.py --room=\(placeholder)"]) { $1 })
            }
            #expect(error?.variable == "AUTOSPAWN_WARM_BOTS")
            #expect(error?.description.contains(placeholder) == true)
        }
        let agent = #expect(throws: ConfigError.self) {
            try Config.parse(["AUTOSPAWN_AGENT_URL": "http://agent:8080", "DAILY_API_KEY": "k", "AUTOSPAWN_WARM_BOTS": "1"])
        }
        #expect(agent?.variable == "AUTOSPAWN_WARM_BOTS")
        // More idle bots than the instance ever runs is allowed, and said.
        let large = try Config.parse(command.merging(["AUTOSPAWN_WARM_BOTS": "9", "AUTOSPAWN_MAX_CONCURRENCY": "4"]) { $1 })
        #expect(large.warnings.contains { $0.hasPrefix("AUTOSPAWN_WARM_BOTS=9") })
    }

    @Test func secretValueNeverAppearsInItsError() {
        do {
            _ = try Config.parse(minimal.merging(["AUTOSPAWN_WEBHOOK_SECRET": "c2VjcmV0,top-secret!"]) { $1 })
            Issue.record("accepted a bad secret")
        } catch {
            #expect(!error.description.contains("top-secret"))
            #expect(error.description.contains("entry 2"))
        }
    }
}

struct CommandLineSplitterTests {
    @Test(arguments: [
        ("bot {room_url}", ["bot", "{room_url}"]),
        ("  python3   -m  bot  ", ["python3", "-m", "bot"]),
        ("bot 'a b' \"c d\"", ["bot", "a b", "c d"]),
        (#"bot "say \"hi\"" it\'s"#, ["bot", #"say "hi""#, "it's"]),
        ("bot '$HOME' *", ["bot", "$HOME", "*"]),
        ("bot ''", ["bot", ""]),
        ("a'b'\"c\"d", ["abcd"]),
    ])
    func splitsLikeAShellWithoutExpanding(line: String, words: [String]) throws {
        #expect(try CommandLineSplitter.split(line) == words)
    }

    @Test func unterminatedQuotesAreErrors() {
        #expect(throws: CommandLineSplitter.SplitError.unterminatedQuote("'")) { try CommandLineSplitter.split("bot 'x") }
        #expect(throws: CommandLineSplitter.SplitError.unterminatedQuote("\"")) { try CommandLineSplitter.split("bot \"x") }
        #expect(throws: CommandLineSplitter.SplitError.trailingBackslash) { try CommandLineSplitter.split("bot \\") }
    }
}

struct Base64Tests {
    @Test(arguments: ["", "f", "fo", "foo", "foob", "fooba", "foobar"])
    func roundTripsRFC4648Vectors(text: String) {
        let encoded = Base64.encode(Array(text.utf8))
        #expect(Base64.decode(encoded) == Array(text.utf8))
    }

    @Test func matchesRFC4648() {
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.encode(Array("fooba".utf8)) == "Zm9vYmE=")
        #expect(Base64.decode("Zm9vYg") == Array("foob".utf8))
        #expect(Base64.decode("Zm9v!mFy") == nil)
        #expect(Base64.decode("Z") == nil)
    }
}

struct DatabaseLocationTests {
    let minimal = ["AUTOSPAWN_BOT_COMMAND": "bot {room_url}"]

    @Test func aPathIsSQLiteAndAPostgresURLIsPostgreSQL() throws {
        #expect(try DatabaseLocation.parse("/var/lib/autospawn/db.sqlite") == .sqlite(path: "/var/lib/autospawn/db.sqlite"))
        let location = PostgresLocation(
            host: "db.internal",
            port: 6432,
            user: "spawn",
            password: "p@ss:w/rd",
            database: "autospawn",
            sslMode: .require
        )
        #expect(try DatabaseLocation.parse("postgres://spawn:p%40ss%3Aw%2Frd@db.internal:6432/autospawn?sslmode=require") == .postgres(location))
        #expect(try DatabaseLocation.parse("postgresql://spawn:p%40ss%3Aw%2Frd@db.internal:6432/autospawn?sslmode=require") == .postgres(location))
    }

    @Test func libpqDefaultsFillWhatTheURLLeavesOut() throws {
        let location = PostgresLocation(host: "localhost", port: 5432, user: "postgres", database: "postgres", sslMode: .prefer)
        #expect(try DatabaseLocation.parse("postgres://") == .postgres(location))
        guard case .postgres(let ipv6) = try DatabaseLocation.parse("postgres://u@[::1]:5433/d?sslmode=verify-full&sslrootcert=/ca.pem")
        else {
            Issue.record("not PostgreSQL")
            return
        }
        #expect(ipv6.host == "::1" && ipv6.port == 5433 && ipv6.sslMode == .verifyFull && ipv6.sslRootCertificate == "/ca.pem")
        guard case .postgres(let socket) = try DatabaseLocation.parse("postgres://u@/d?host=/var/run/postgresql") else {
            Issue.record("not PostgreSQL")
            return
        }
        #expect(socket.unixSocketPath == "/var/run/postgresql/.s.PGSQL.5432")
    }

    @Test(arguments: [
        "postgres://u@h:99999/d", "postgres://u@h/d?sslmode=sometimes", "postgres://u@h/d?pool=3", "mysql://u@h/d",
        "postgres://u:%zz@h/d",
    ])
    func aBadDatabaseURLNamesTheVariable(url: String) {
        #expect(throws: ConfigError.self) { try Config.parse(minimal.merging(["AUTOSPAWN_DB": url]) { $1 }) }
        do {
            _ = try Config.parse(minimal.merging(["AUTOSPAWN_DB": url]) { $1 })
        } catch {
            #expect(error.description.hasPrefix("AUTOSPAWN_DB"))
        }
    }

    @Test func thePasswordIsASecretThatNoBotAndNoLogLineGets() throws {
        let config = try Config.parse(minimal.merging(["AUTOSPAWN_DB": "postgres://spawn:hunter2hunter2@db/autospawn"]) { $1 })
        #expect(config.secretTexts.contains("hunter2hunter2"))
        #expect(!config.database.description.contains("hunter2"))
        #expect(config.botLogDirectory == "bot-logs")
        #expect(throws: ConfigError.self) {
            try Config.parse(minimal.merging(["AUTOSPAWN_BOT_ENV": "AUTOSPAWN_DB"]) { $1 })
        }
        let fromFile = try Config.resolvingSecretFiles(["AUTOSPAWN_DB_FILE": "/run/secrets/db"]) { _ in "postgres://u:pw@h/d\n" }
        #expect(fromFile == ["AUTOSPAWN_DB": "postgres://u:pw@h/d"])
    }

    @Test(arguments: [
        // configured, interrupted (SIGINT first), another live instance: what the shutdown does
        (Config.ShutdownMode.auto, false, false, Config.ShutdownMode.handover),
        (.auto, false, true, .drain),
        (.auto, true, true, .stop),
        (.drain, false, false, .drain),
        (.handover, false, true, .handover),
        (.handover, true, false, .stop),
    ])
    func theShutdownFollowsTheSignalTheSettingAndTheOtherInstances(
        configured: Config.ShutdownMode,
        interrupted: Bool,
        othersAlive: Bool,
        expected: Config.ShutdownMode
    ) {
        #expect(Config.shutdownMode(configured: configured, interrupted: interrupted, othersAlive: othersAlive) == expected)
    }
}
