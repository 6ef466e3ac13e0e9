import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// "Bots are untrusted" (issue 21, item 1): a bot, whatever user it runs as, reaches nothing of the service but its own
/// call. The nosy bot tries the service's /proc files, the database, the log folder and a secret file, and reports.
@Suite(.serialized)
struct UntrustedBotTests {
    /// `nobody`, a user every Debian machine has.
    static let nobody: UInt32 = 65534
    /// Runs the rest of a command line as `nobody`.
    static let asNobody = ["/usr/bin/setpriv", "--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups", "--"]

    /// Switching users needs root, as CI has it; elsewhere the test says why it did not run.
    func runsAsRoot() -> Bool {
        if geteuid() == 0 { return true }
        if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("run the suite as root: these tests switch users") }
        return false
    }

    /// A test folder that `nobody` can enter, with the nosy bot in it (the checkout may be in a folder only root opens).
    func folderWithNosyBot() throws -> (directory: URL, bot: String) {
        let directory = try ServiceProcess.makeDirectory()
        chmod(directory.path, 0o755)
        let bot = directory.appendingPathComponent("nosy-bot.sh").path
        try FileManager.default.copyItem(atPath: Fixtures.path("bots/nosy-bot.sh"), toPath: bot)
        chmod(bot, 0o755)
        return (directory, bot)
    }

    /// The service's executable where `nobody` can run it: where it is, or a copy in `directory`.
    func executable(runnableByNobodyIn directory: URL) throws -> String {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: Self.asNobody[0])
        check.arguments = Array(Self.asNobody.dropFirst()) + ["/usr/bin/test", "-x", ServiceProcess.executable]
        try check.run()
        check.waitUntilExit()
        if check.terminationStatus == 0 { return ServiceProcess.executable }
        let copy = directory.appendingPathComponent("autospawn").path
        try FileManager.default.copyItem(atPath: ServiceProcess.executable, toPath: copy)
        chmod(copy, 0o755)
        return copy
    }

    /// The bot's log once it has tried everything, read through the log API.
    func nosyReport(_ service: ServiceProcess, headers: [(String, String)] = []) async throws -> String {
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        var log = ""
        #expect(
            try await eventually {
                log = try await service.request(.GET, "/sessions/\(id)/log?tail=1000", headers: headers).text
                return log.contains("ready")
            },
            "\(log)"
        )
        return log
    }

    /// Each "nosy …" line of the report that read something.
    func readLines(_ log: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter { $0.hasPrefix("nosy ") && $0.contains(": read ") }
    }

    /// Bots ran as the service's user and read everything: the service's environment (every secret), the database,
    /// the log folder, the secret files.
    @Test func aBotRunAsTheBotUserReadsNothingOfTheServiceButItsOwnBody() async throws {
        guard runsAsRoot() else { return }
        let (directory, bot) = try folderWithNosyBot()
        let adminToken = "admin-\(UUID().uuidString)"
        let tokenFile = directory.appendingPathComponent("admin-token").path
        try adminToken.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o600)
        let database = directory.appendingPathComponent("autospawn.sqlite").path
        let logs = directory.appendingPathComponent("bot-logs").path
        let service = try await ServiceProcess.start(
            in: directory,
            [
                "AUTOSPAWN_BOT_USER": "nobody", "AUTOSPAWN_BOT_COMMAND": "\(bot) \(database) \(logs) \(tokenFile)",
                "AUTOSPAWN_ADMIN_TOKEN_FILE": tokenFile,
            ]
        )
        let log = try await nosyReport(service, headers: [("Authorization", "Bearer \(adminToken)")])
        #expect(log.contains("nosy uid: \(Self.nobody)"))
        for attempt in [
            "service environ", "service memory map", "service descriptors", "file \(database)", "folder \(logs)",
            "file \(tokenFile)",
        ] {
            #expect(log.contains("nosy \(attempt): denied"), "\(attempt): \(log)")
        }
        #expect(readLines(log).count == 1, "\(readLines(log))")
        #expect(log.contains("nosy own body: read {"))
        for secret in [adminToken, ServiceProcess.secret] { #expect(!log.contains(secret)) }
        await service.shutdown()
    }

    /// Bots of the service's own user read `/proc/<service>/environ`: every secret of the service.
    @Test func aBotOfTheServicesOwnUserCannotReadTheServicesEnvironmentMemoryOrDescriptors() async throws {
        guard runsAsRoot() else { return }
        let (directory, bot) = try folderWithNosyBot()
        chown(directory.path, Self.nobody, Self.nobody)
        let adminToken = "admin-\(UUID().uuidString)"
        let service = try await ServiceProcess.start(
            in: directory,
            ["AUTOSPAWN_BOT_COMMAND": bot, "AUTOSPAWN_ADMIN_TOKEN": adminToken],
            through: Self.asNobody,
            executable: try executable(runnableByNobodyIn: directory)
        )
        let log = try await nosyReport(service, headers: [("Authorization", "Bearer \(adminToken)")])
        #expect(log.contains("nosy uid: \(Self.nobody)"))
        for attempt in ["service environ", "service memory map", "service descriptors"] {
            #expect(log.contains("nosy \(attempt): denied"), "\(attempt): \(log)")
        }
        for secret in [adminToken, ServiceProcess.secret] { #expect(!log.contains(secret)) }
        await service.shutdown()
    }

    @Test func startingBotsAsAnotherUserWithoutThePrivilegeToSwitchStopsStartUp() async throws {
        guard runsAsRoot() else { return }
        let (directory, _) = try folderWithNosyBot()
        chown(directory.path, Self.nobody, Self.nobody)
        let error = await #expect(throws: HarnessError.self) {
            _ = try await ServiceProcess.start(
                in: directory,
                ["AUTOSPAWN_BOT_USER": "daemon"],
                through: Self.asNobody,
                executable: try executable(runnableByNobodyIn: directory)
            )
        }
        #expect(error?.description.contains("exited with 2") == true)
        #expect(error?.description.contains("autospawn: AUTOSPAWN_BOT_USER: starting bots as 'daemon' needs root or CAP_SETUID") == true)
    }

    /// Started with umask 000, the service made its database and logs readable (and writable) by every user.
    @Test func everyFileTheServiceMakesIsItsOwnWhateverTheUmask() async throws {
        let service = try await ServiceProcess.start(through: ["/bin/sh", "-c", #"umask 000 && exec "$0" "$@""#])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "running" })
        let database = service.directory.appendingPathComponent("autospawn.sqlite").path
        func mode(_ path: String) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int) ?? -1
        }
        #expect(mode(database) == 0o600)
        #expect(mode(database + "-wal") == 0o600)
        #expect(mode(service.botLogDirectory) == 0o700)
        #expect(mode(service.botLogDirectory + "/\(id).log") == 0o600)
        await service.shutdown()
    }

    /// `ps` shows every process's command line to every user.
    @Test func aSecretGivenAsAFlagIsWarnedAboutNamingItsFileForm() async throws {
        let token = "admin-\(UUID().uuidString)"
        let service = try await ServiceProcess.start(flags: ["--admin-token", token])
        await service.shutdown()
        let errors = try String(contentsOfFile: service.directory.appendingPathComponent("service.err").path, encoding: .utf8)
        #expect(
            errors.contains(
                "--admin-token puts AUTOSPAWN_ADMIN_TOKEN on the command line, which every user of this machine sees (ps): use AUTOSPAWN_ADMIN_TOKEN_FILE"
            )
        )
        #expect(!errors.contains(token))
    }
}
