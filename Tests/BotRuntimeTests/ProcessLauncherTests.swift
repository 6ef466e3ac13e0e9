import BotRuntime
import Foundation
import Policy
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

func temporaryLog() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("bot-\(UUID().uuidString).log").path
}

struct ProcessLauncherTests {
    @Test func botRunsInItsOwnSessionWithItsOutputInItsLogFile() async throws {
        let log = temporaryLog()
        let pid = try ProcessLauncher.spawn(
            arguments: ["sh", "-c", "echo out; echo err >&2; echo \"$MARK\"; cut -d' ' -f6 /proc/$$/stat"],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "MARK": "marked"],
            logPath: log
        )
        #expect(await ProcessLauncher.waitForExit(pid: pid) == .exited(0))
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(Array(lines.prefix(3)) == ["out", "err", "marked"])
        #expect(lines.last == String(pid))  // session id == its own pid: setsid
    }

    @Test func logIsAppendedAcrossRuns() async throws {
        let log = temporaryLog()
        for word in ["first", "second"] {
            let pid = try ProcessLauncher.spawn(arguments: ["echo", word], environment: ["PATH": "/usr/bin:/bin"], logPath: log)
            _ = await ProcessLauncher.waitForExit(pid: pid)
        }
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "first\nsecond\n")
    }

    @Test func ignoredSignalsOfTheServiceAreNotInherited() async throws {
        // The service ignores SIGPIPE (and may ignore SIGTERM); a bot must start with default dispositions.
        let previous = signal(SIGTERM, SIG_IGN)
        defer { signal(SIGTERM, previous) }
        let pid = try ProcessLauncher.spawn(arguments: ["sleep", "30"], environment: ["PATH": "/usr/bin:/bin"], logPath: temporaryLog())
        ProcessLauncher.signalGroup(pid, SIGTERM)
        #expect(await ProcessLauncher.waitForExit(pid: pid) == .signaled(SIGTERM))
    }

    @Test func exitStatusesAreReported() async throws {
        let failing = try ProcessLauncher.spawn(arguments: ["sh", "-c", "exit 7"], environment: ["PATH": "/usr/bin:/bin"], logPath: temporaryLog())
        let status = await ProcessLauncher.waitForExit(pid: failing)
        #expect(status == .exited(7))
        #expect(status.exitCode == 7)
        #expect(Policy.ExitStatus.signaled(9).exitCode == 137)
        #expect(Policy.ExitStatus.vanished.exitCode == nil)
    }

    @Test func missingExecutableIsALaunchError() {
        #expect(throws: LaunchError.self) {
            try ProcessLauncher.spawn(arguments: ["/nonexistent/bot"], environment: [:], logPath: temporaryLog())
        }
    }

    @Test func processTableTellsAProcessFromOneThatReusedItsPid() async throws {
        let pid = try ProcessLauncher.spawn(
            arguments: ["sleep", "30"],
            environment: ["PATH": "/usr/bin:/bin", "AUTOSPAWN_SESSION_ID": "find-me-\(getpid())"],
            logPath: temporaryLog()
        )
        let entry = try #require(ProcessTable.entry(pid: pid))
        #expect(entry.processGroup == pid)
        #expect(ProcessTable.isAlive(pid: pid, startTime: entry.startTime))
        #expect(!ProcessTable.isAlive(pid: pid, startTime: entry.startTime + 1))
        // Until the child has exec'd, /proc shows the environment it inherited: wait for the bot's own.
        #expect(
            try await eventually {
                ProcessTable.groupLeaders(withEnvironment: "AUTOSPAWN_SESSION_ID", equalTo: "find-me-\(getpid())").map(\.pid) == [pid]
            }
        )
        ProcessLauncher.signalGroup(pid, SIGKILL)
        _ = await ProcessLauncher.waitForExit(pid: pid)
        #expect(!ProcessTable.isAlive(pid: pid, startTime: entry.startTime))
        #expect(ProcessTable.groupLeaders(withEnvironment: "AUTOSPAWN_SESSION_ID", equalTo: "find-me-\(getpid())").isEmpty)
    }

    @Test func anAdoptedProcessesEndIsHeardThoughItsStatusIsNot() async throws {
        let pid = try ProcessLauncher.spawn(arguments: ["sleep", "0.3"], environment: ["PATH": "/usr/bin:/bin"], logPath: temporaryLog())
        let start = try #require(ProcessTable.startTime(pid: pid))
        // Reap it elsewhere, as a process that is not our child would be.
        let reaped = Task { await ProcessLauncher.waitForExit(pid: pid) }
        let exit = ChildReaper().exit(of: pid, adoptedWithStartTime: start)
        #expect(await exit.wait() == .vanished)
        _ = await reaped.value
    }

    @Test func aCancelledWaitForABotsEndReturnsAndTheBotRunsOn() async throws {
        let pid = try ProcessLauncher.spawn(arguments: ["sleep", "30"], environment: ["PATH": "/usr/bin:/bin"], logPath: temporaryLog())
        let reaper = ChildReaper()
        let exit = reaper.exit(of: pid)
        let waiting = Task { await exit.wait() }
        waiting.cancel()
        #expect(await waiting.value == nil)
        #expect(exit.value == nil)
        ProcessLauncher.signalGroup(pid, SIGKILL)
        #expect(await exit.wait() == .signaled(SIGKILL))
    }
}

struct BotCommandTests {
    let session = Session(
        id: "0b7e4f1a-7c2d-4e5f-8a9b-0c1d2e3f4a5b",
        roomName: "demo-room",
        roomURL: "https://d.daily.co/demo-room",
        state: .starting,
        launcher: .process,
        createdAt: 0,
        updatedAt: 0,
        ownerInstance: "i",
        body: #"{"lang":"en"}"#
    )

    @Test func placeholdersAreReplacedWithinWordsAndNeverSplit() {
        let command = BotCommand(
            template: ["python3", "bot.py", "--url={room_url}", "{room_name}", "{session_id}", "{token}", "--x", "{room_url} {room_name}"],
            session: session,
            access: BotAccess(),
            botName: "Bot",
            bodyFile: "/logs/b.body.json"
        )
        #expect(
            command.arguments == [
                "python3", "bot.py", "--url=https://d.daily.co/demo-room", "demo-room", "0b7e4f1a-7c2d-4e5f-8a9b-0c1d2e3f4a5b", "",
                "--x", "https://d.daily.co/demo-room demo-room",
            ]
        )
    }

    @Test func environmentFollowsTheBotContract() {
        let command = BotCommand(template: ["bot"], session: session, access: BotAccess(token: "tok"), botName: "Bot", bodyFile: "/logs/b.body.json")
        #expect(
            command.environment == [
                "DAILY_ROOM_URL": "https://d.daily.co/demo-room", "DAILY_ROOM_TOKEN": "tok",
                "AUTOSPAWN_SESSION_ID": "0b7e4f1a-7c2d-4e5f-8a9b-0c1d2e3f4a5b", "AUTOSPAWN_ROOM_NAME": "demo-room",
                "AUTOSPAWN_BODY": #"{"lang":"en"}"#, "AUTOSPAWN_BODY_FILE": "/logs/b.body.json", "AUTOSPAWN_BOT_NAME": "Bot",
            ]
        )
        let tokenless = BotCommand(template: ["bot"], session: session, access: BotAccess(), botName: "Bot", bodyFile: "/b")
        #expect(tokenless.environment["DAILY_ROOM_TOKEN"] == nil)
    }

    /// A `/start` body over 128 KiB in AUTOSPAWN_BODY made the spawn fail (E2BIG) after the caller was answered 200.
    @Test func aBodyTooLargeForTheEnvironmentIsGivenOnlyInItsFile() {
        var large = session
        large.body = #"{"text":""# + String(repeating: "x", count: 200 * 1024) + #""}"#
        let command = BotCommand(template: ["bot"], session: large, access: BotAccess(), botName: "Bot", bodyFile: "/logs/b.body.json")
        #expect(command.environment["AUTOSPAWN_BODY"] == nil)
        #expect(command.environment["AUTOSPAWN_BODY_FILE"] == "/logs/b.body.json")
    }
}
