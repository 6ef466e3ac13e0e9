import DailyDouble
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `AUTOSPAWN_WARM_BOTS`: idle bot processes that get their room on standard input, with the real service and the
/// test bot started warm (it reads its room as the README's "Warm bots" says).
@Suite(.serialized)
struct WarmBotTests {
    /// The test bot without room placeholders, which a warm pool needs.
    static func settings(warm: Int, mode: String = "run", _ more: [String: String] = [:]) -> [String: String] {
        ["AUTOSPAWN_BOT_COMMAND": "\(Fixtures.path("bots/test-bot.sh")) \(mode)", "AUTOSPAWN_WARM_BOTS": "\(warm)"]
            .merging(more) { $1 }
    }

    /// Waits until the pool has `count` idle processes, and returns them.
    static func idle(_ service: ServiceProcess, count: Int) async throws -> [Int32] {
        #expect(await eventually { service.idleWarmBots().count == count }, "idle: \(service.idleWarmBots())")
        // Each has printed its first line (its shell runs): it waits for its room.
        #expect(
            await eventually {
                service.idleWarmBots().allSatisfy { pid in
                    let path = LiveProcesses.standardOutput(of: pid) ?? ""
                    return ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").contains("warm: waiting")
                }
            }
        )
        return service.idleWarmBots()
    }

    static func metrics(_ service: ServiceProcess) async throws -> [String: Double] {
        PrometheusText.series(try await service.request(.GET, "/metrics").text)
    }

    @Test func aJoinGetsAnIdleProcessWhichReadsItsRoomAndThePoolIsRefilled() async throws {
        let service = try await ServiceProcess.start(Self.settings(warm: 2))
        let idle = try await Self.idle(service, count: 2)

        let joined = try await service.webhook(fixture: "daily/participant-joined.json")
        #expect(joined.string("action") == "spawned")
        let id = try #require(joined.string("session_id"))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "running" })
        let session = try await service.session(id)
        let pid = try #require(session["pid"] as? Int)
        // The oldest idle process, now the session's bot: its output is the session's log.
        #expect(pid == Int(idle[0]))
        #expect(service.assignedWarmBots()[id] == idle[0])
        #expect(
            try await eventually {
                try await service.request(.GET, "/sessions/\(id)/log").text.contains("ready")
            }
        )
        let log = try await service.request(.GET, "/sessions/\(id)/log").text
        #expect(log.contains("warm: waiting for a room (pid \(pid))"))
        #expect(log.contains("warm: room received"))
        #expect(log.contains("env DAILY_ROOM_URL=https://test.daily.co/demo-room"))
        #expect(log.contains("env AUTOSPAWN_ROOM_NAME=demo-room"))
        #expect(log.contains("env AUTOSPAWN_SESSION_ID=\(id)"))
        #expect(log.contains("env AUTOSPAWN_BODY={}"))
        #expect(log.contains("body file bytes: 2"))
        // No token without DAILY_API_KEY: the line leaves it out.
        #expect(log.contains("env DAILY_ROOM_TOKEN=<unset>"))

        // A new idle process takes its place.
        #expect(await eventually { Set(service.idleWarmBots()).subtracting(idle).count == 1 && service.idleWarmBots().count == 2 })
        let metrics = try await Self.metrics(service)
        #expect(metrics[#"autospawn_warm_bots_idle{pool="default"}"#] == 2)
        #expect(metrics[#"autospawn_warm_bots_started_total{pool="default"}"#] == 3)
        #expect(metrics[#"autospawn_warm_bots_assigned_total{pool="default"}"#] == 1)
        #expect(metrics[#"autospawn_warm_bots_died_idle_total{pool="default"}"#] == nil)

        // It is a bot like any other: the call's end stops it.
        #expect(try await service.webhook(fixture: "daily/meeting-ended.json").string("action") == "stopping")
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        #expect(try await eventually { !LiveProcesses.isAlive(Int32(pid)) })
        #expect(try await service.request(.GET, "/sessions/\(id)/log").text.contains("got SIGTERM"))
        await service.shutdown()
    }

    @Test func aWarmBotGetsItsOwnTokenInItsLineAndNowhereElse() async throws {
        let double = try await DailyDouble.start(apiKey: "test-key", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start(
            Self.settings(warm: 1, ["DAILY_API_KEY": "test-key", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_DAILY_DOMAIN": ""])
        )
        let idle = try await Self.idle(service, count: 1)
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)/log").text.contains("ready") })
        #expect(service.assignedWarmBots()[id] == idle[0])
        let onDisk = try String(contentsOfFile: service.botLogDirectory + "/\(id).log", encoding: .utf8)
        let token = try #require(onDisk.split(separator: "\n").first { $0.hasPrefix("env DAILY_ROOM_TOKEN=eyJ") }?.dropFirst(21))
        #expect(onDisk.contains("env DAILY_ROOM_URL=https://acme.daily.co/demo-room"))
        // Not in its environment (it was started before the token existed), the log API, or the service's log.
        #expect(!LiveProcesses.environment(of: idle[0]).contains { $0.contains(token) })
        #expect(try await service.request(.GET, "/sessions/\(id)/log").text.contains("env DAILY_ROOM_TOKEN=[redacted]"))
        #expect(!service.log.contains(String(token)))
        await service.shutdown()
    }

    @Test func idleProcessesAreNeitherSessionsNorCountedAgainstTheCap() async throws {
        let service = try await ServiceProcess.start(Self.settings(warm: 1, ["AUTOSPAWN_MAX_CONCURRENCY": "2"]))
        _ = try await Self.idle(service, count: 1)
        #expect(try await service.sessions().isEmpty)
        #expect(try await service.request(.GET, "/sessions").json["active"] as? Int == 0)

        // Two rooms: the first takes the idle process, the second its replacement or a cold start.
        let first = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        let second = try #require(try await service.webhook(fixture: "daily/participant-joined-other-room.json").string("session_id"))
        #expect(await eventually { service.assignedWarmBots()[first] != nil })
        #expect(
            try await eventually {
                service.assignedWarmBots()[second] != nil || service.liveBotSessions().map(\.sessionID) == [second]
            }
        )
        #expect(try await eventually { try await service.sessions("state=active").filter { $0["state"] as? String == "running" }.count == 2 })

        // The cap of 2 is reached by the two sessions; the refilled idle process counts for nothing.
        _ = try await Self.idle(service, count: 1)
        let third = try await service.webhook(Fixtures.variant("daily/participant-joined.json", id: "third", room: "third-room"))
        #expect(third.string("action") == "rejected")
        #expect(third.string("reason") == "capacity")
        #expect(try await service.sessions().count == 2)
        await service.shutdown()
    }

    @Test func anIdleProcessHasTheAllowListedEnvironmentAndNoRoom() async throws {
        let service = try await ServiceProcess.start(
            Self.settings(
                warm: 1,
                ["AUTOSPAWN_ADMIN_TOKEN": "admin-secret-token", "AUTOSPAWN_BOT_ENV": "WARM_TEST_ALLOWED"]
                    .merging(["WARM_TEST_ALLOWED": "yes", "WARM_TEST_NOT_ALLOWED": "no"]) { $1 }
            )
        )
        let pid = try #require(try await Self.idle(service, count: 1).first)
        let environment = Set(LiveProcesses.environment(of: pid))
        #expect(environment.contains("AUTOSPAWN_WARM=1"))
        #expect(environment.contains("AUTOSPAWN_BOT_NAME=Pipecat Bot"))
        #expect(environment.contains("WARM_TEST_ALLOWED=yes"))
        let names = Set(environment.map { String($0.prefix { $0 != "=" }) })
        for name in [
            "WARM_TEST_NOT_ALLOWED", "DAILY_ROOM_URL", "DAILY_ROOM_TOKEN", "AUTOSPAWN_SESSION_ID", "AUTOSPAWN_ROOM_NAME",
            "AUTOSPAWN_BODY", "AUTOSPAWN_BODY_FILE", "AUTOSPAWN_ADMIN_TOKEN", "AUTOSPAWN_WEBHOOK_SECRET", "AUTOSPAWN_DB",
        ] {
            #expect(!names.contains(name), "\(name) is in a warm bot's environment")
        }
        // In a process group of its own.
        #expect(getpgid(pid) == pid)
        await service.shutdown()
    }

    @Test(arguments: ["stop", "drain", "handover"])
    func shutdownStopsIdleProcessesInEveryMode(mode: String) async throws {
        // Bots that never read their input: only the service's signal ends them, not the end of their input.
        let service = try await ServiceProcess.start(Self.settings(warm: 2, mode: "deaf", ["AUTOSPAWN_SHUTDOWN": mode]))
        let idle = try await Self.idle(service, count: 2)
        service.signal(SIGTERM)
        #expect(await service.waitForExit() == 0)
        #expect(idle.allSatisfy { !LiveProcesses.isAlive($0) })
        // Their files go with them.
        let pool = URL(fileURLWithPath: service.botLogDirectory).appendingPathComponent("warm").path
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: pool)) ?? []).isEmpty)
    }

    /// An idle process that ignores the end of its input survived `kill -9` of the service and was never stopped
    /// after the restart.
    @Test func idleProcessesThatOutliveAKillNineAreStoppedByTheNextInstance() async throws {
        let service = try await ServiceProcess.start(Self.settings(warm: 2, mode: "deaf"))
        let deaf = try await Self.idle(service, count: 2)
        service.signal(SIGKILL)
        _ = await service.waitForExit()
        try await Task.sleep(for: .milliseconds(500))
        #expect(deaf.allSatisfy { LiveProcesses.isAlive($0) })
        let next = try await ServiceProcess.start(in: service.directory, Self.settings(warm: 1))
        #expect(await eventually { deaf.allSatisfy { !LiveProcesses.isAlive($0) } })
        #expect(next.log.contains("stopping an idle warm bot an earlier instance left running"))
        _ = try await Self.idle(next, count: 1)
        await next.shutdown()
    }

    @Test func afterAKillNineIdleProcessesExitAndAnAssignedOneIsAdopted() async throws {
        let service = try await ServiceProcess.start(Self.settings(warm: 2))
        _ = try await Self.idle(service, count: 2)
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)/log").text.contains("ready") })
        let bot = try #require(service.assignedWarmBots()[id])
        let idle = try await Self.idle(service, count: 2)

        service.signal(SIGKILL)
        _ = await service.waitForExit()
        // Their input reached its end: they exit by themselves. The bot in its call runs on.
        #expect(await eventually { idle.allSatisfy { !LiveProcesses.isAlive($0) } })
        #expect(LiveProcesses.isAlive(bot))

        let next = try await ServiceProcess.start(in: service.directory, Self.settings(warm: 1))
        #expect(try await eventually { next.log.contains("adopted bot of an earlier instance") })
        #expect(try await next.session(id)["state"] as? String == "running")
        #expect(try await next.session(id)["pid"] as? Int == Int(bot))
        // The dead processes' files are cleared; the new pool fills.
        let fresh = try await Self.idle(next, count: 1)
        let pool = URL(fileURLWithPath: next.botLogDirectory).appendingPathComponent("warm").path
        #expect(await eventually { ((try? FileManager.default.contentsOfDirectory(atPath: pool)) ?? []).count == fresh.count })

        #expect(try await next.webhook(fixture: "daily/meeting-ended.json").string("action") == "stopping")
        #expect(await eventually { !LiveProcesses.isAlive(bot) })
        await next.shutdown()
    }

    /// A warm bot's stray has no session id to be judged by: it was never stopped.
    @Test func aStrayOfAWarmBotStaysWhileItsBotRunsAndIsStoppedAfter() async throws {
        let service = try await ServiceProcess.start(Self.settings(warm: 1, mode: "stray"))
        _ = try await Self.idle(service, count: 1)
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)/log").text.contains("ready") })
        let bot = try #require(service.assignedWarmBots()[id])
        let mark = try #require(LiveProcesses.environment(of: bot).first { $0.hasPrefix("AUTOSPAWN_WARM_ID=") })
        let strays = {
            LiveProcesses.all().filter { LiveProcesses.isAlive($0) && getpgid($0) != bot && LiveProcesses.environment(of: $0).contains(mark) }
        }
        #expect(await eventually { strays().count == 1 }, "\(strays())")
        #expect(!LiveProcesses.environment(of: strays()[0]).contains { $0.hasPrefix("AUTOSPAWN_SESSION_ID=") })
        // Reaper passes (every second here) leave it while its bot runs.
        try await Task.sleep(for: .seconds(2.5))
        #expect(strays().count == 1)

        #expect(try await service.webhook(fixture: "daily/meeting-ended.json").string("action") == "stopping")
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        #expect(await eventually(timeout: 10) { strays().isEmpty }, "left: \(strays())")
        await service.shutdown()
    }

    @Test func processesThatDieIdleAreReplacedAfterTheBackoffAndJoinsMeanwhileStartCold() async throws {
        let service = try await ServiceProcess.start(
            Self.settings(warm: 1, mode: "die-idle", ["AUTOSPAWN_RESTART_BACKOFF_S": "1", "AUTOSPAWN_RESTART_BACKOFF_MAX_S": "4"])
        )
        let died = #"autospawn_warm_bots_died_idle_total{pool="default"}"#
        #expect(try await eventually { (try await Self.metrics(service))[died] ?? 0 >= 2 })

        // The pool now waits 2 s before its next start: a join meanwhile gets a bot started cold, with its room in
        // its environment (and the mode only dies while warm).
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { service.liveBotSessions().map(\.sessionID) == [id] })
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)/log").text.contains("ready") })
        #expect(try await service.session(id)["state"] as? String == "running")

        // Not a hot loop: after 1 s, then 2 s, then 4 s of waiting.
        try await Task.sleep(for: .seconds(2))
        let started = try await Self.metrics(service)[#"autospawn_warm_bots_started_total{pool="default"}"#] ?? 0
        #expect(started <= 4, "\(started) warm bots started within about 3 s")
        #expect(service.log.contains("a warm bot died while idle"))
        let kept = URL(fileURLWithPath: service.botLogDirectory).appendingPathComponent("warm/default.died.log").path
        #expect(((try? String(contentsOfFile: kept, encoding: .utf8)) ?? "").contains("warm: waiting for a room"))
        await service.shutdown()
    }
}
