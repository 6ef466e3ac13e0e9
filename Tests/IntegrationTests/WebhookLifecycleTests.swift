import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real service on a loopback port, the real test bot as a child process, a real SQLite file.
@Suite(.serialized)
struct WebhookLifecycleTests {
    @Test func joinStartsTheBotWithItsArgumentsAndEnvironment() async throws {
        let service = try await ServiceProcess.start()
        defer { Task { await service.shutdown() } }
        let answer = try await service.webhook(fixture: "daily/participant-joined.json")
        #expect(answer.status == 200)
        #expect(answer.string("action") == "spawned")
        let id = try #require(answer.string("session_id"))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "running" })
        #expect(
            try await eventually {
                try await service.request(.GET, "/sessions/\(id)/log").text.contains("ready")
            }
        )
        let log = try await service.request(.GET, "/sessions/\(id)/log?tail=50").text
        #expect(log.contains("argv: run https://test.daily.co/demo-room demo-room \(id) "))
        #expect(log.contains("env DAILY_ROOM_URL=https://test.daily.co/demo-room"))
        #expect(log.contains("env AUTOSPAWN_SESSION_ID=\(id)"))
        #expect(log.contains("env AUTOSPAWN_ROOM_NAME=demo-room"))
        #expect(log.contains("env AUTOSPAWN_BODY={}"))
        #expect(log.contains("env DAILY_ROOM_TOKEN=<unset>"))
        let session = try await service.session(id)
        let pid = try #require(session["pid"] as? Int)
        #expect(service.liveBots(room: "demo-room") == [Int32(pid)])
        // The bot leads a process group of its own, so the service's terminal signals do not reach it.
        #expect(getpgid(Int32(pid)) == Int32(pid))
        let status = try await service.request(.GET, "/bot/status?room=https://test.daily.co/demo-room").json
        #expect(status["status"] as? String == "running")
        #expect(status["session_id"] as? String == id)
        #expect(status["participants"] as? Int == 1)
        await service.shutdown()
    }

    @Test func duplicateAndConcurrentJoinsGiveOneBot() async throws {
        let service = try await ServiceProcess.start()
        let answers = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<60 {
                // Every third request redelivers an earlier event id, as Daily's retries do.
                let id = "join-\(index - index % 3)"
                let body = Fixtures.variant("daily/participant-joined.json", id: id, participant: "p-\(index - index % 3)")
                group.addTask { try await service.webhook(body).string("action") ?? "none" }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(answers.filter { $0 == "spawned" }.count == 1)
        #expect(answers.filter { $0 == "duplicate" }.count == 40)
        #expect(answers.filter { $0 == "recorded" }.count == 19)
        #expect(try await eventually { service.liveBots(room: "demo-room").count == 1 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(service.liveBots(room: "demo-room").count == 1)
        let active = try await service.sessions("state=active")
        #expect(active.count == 1)
        #expect(active.first?["participants"] as? Int == 20)
        await service.shutdown()
    }

    @Test func atCapacityJoinsAreRejected() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_MAX_CONCURRENCY": "2"])
        var actions: [String] = []
        for room in ["room-a", "room-b", "room-c", "room-d"] {
            let body = Fixtures.variant("daily/participant-joined.json", id: "join-\(room)", room: room)
            let answer = try await service.webhook(body)
            #expect(answer.status == 200)
            actions.append("\(answer.string("action") ?? "")/\(answer.string("reason") ?? "")")
        }
        #expect(actions == ["spawned/human_joined", "spawned/human_joined", "rejected/capacity", "rejected/capacity"])
        let list = try await service.request(.GET, "/sessions").json
        #expect(list["active"] as? Int == 2)
        #expect(list["max_concurrency"] as? Int == 2)
        #expect(try await eventually { service.liveBots().count == 2 })
        await service.shutdown()
    }

    @Test func meetingEndedStopsTheBot() async throws {
        let service = try await ServiceProcess.start()
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { service.liveBots(room: "demo-room").count == 1 })
        // Once the bot says it is ready its SIGTERM handler is in place (before, bash would just die of it).
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)/log").text.contains("ready") })
        let answer = try await service.webhook(fixture: "daily/meeting-ended.json")
        #expect(answer.string("action") == "stopping")
        #expect(answer.string("reason") == "meeting_ended")
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        let session = try await service.session(id)
        #expect(session["end_reason"] as? String == "meeting_ended")
        #expect(service.liveBots(room: "demo-room").isEmpty)
        #expect(try await service.request(.GET, "/sessions/\(id)/log").text.contains("got SIGTERM"))
        await service.shutdown()
    }

    @Test func simplifiedShapeStartsAndStopsTheBot() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_DAILY_DOMAIN": ""])
        let answer = try await service.webhook(fixture: "simplified/participant-joined.json")
        #expect(answer.string("action") == "spawned")
        let id = try #require(answer.string("session_id"))
        #expect(try await service.session(id)["room_url"] as? String == "https://acme.daily.co/my-room")
        let noDomain = try await service.webhook(fixture: "daily/participant-joined.json")
        #expect(noDomain.string("reason") == "no_domain")
        #expect(try await service.webhook(fixture: "simplified/room-ended.json").string("action") == "stopping")
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        await service.shutdown()
    }

    @Test func lastHumanLeavingStopsTheBotAfterTheGrace() async throws {
        // A grace long enough that the session is surely still running when read right after, on a loaded machine.
        let service = try await ServiceProcess.start(["AUTOSPAWN_EMPTY_GRACE_S": "3"])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        _ = try await service.webhook(fixture: "daily/participant-joined-second.json")
        #expect(try await service.webhook(fixture: "daily/participant-left.json").string("reason") == "participant_left")
        let left = try await service.webhook(fixture: "daily/participant-left-second.json")
        #expect(left.string("reason") == "stop_scheduled")
        #expect(try await service.session(id)["state"] as? String == "running")
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        #expect(try await service.session(id)["end_reason"] as? String == "room_empty")
        #expect(service.liveBots(room: "demo-room").isEmpty)
        await service.shutdown()
    }

    @Test func humanReturningWithinTheGraceKeepsTheBot() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_EMPTY_GRACE_S": "2"])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await service.webhook(fixture: "daily/participant-left.json").string("reason") == "stop_scheduled")
        let back = try await service.webhook(fixture: "daily/participant-joined-second.json")
        #expect(back.string("reason") == "stop_cancelled")
        try await Task.sleep(for: .seconds(3.5))
        #expect(try await service.session(id)["state"] as? String == "running")
        #expect(service.liveBots(room: "demo-room").count == 1)
        await service.shutdown()
    }

    @Test func botIgnoringSigtermIsKilledAfterTheStopGrace() async throws {
        let service = try await ServiceProcess.start([
            "AUTOSPAWN_BOT_COMMAND": ServiceProcess.botCommand("ignore-term"), "AUTOSPAWN_STOP_GRACE_S": "1",
        ])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)/log").text.contains("ready") })
        let deleted = try await service.request(.DELETE, "/sessions/\(id)")
        #expect(deleted.status == 202)
        #expect(deleted.string("state") == "stopping")
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        let session = try await service.session(id)
        #expect(session["end_reason"] as? String == "stop_requested")
        #expect(session["exit_code"] as? Int == 128 + Int(SIGKILL))
        #expect(try await service.request(.GET, "/sessions/\(id)/log").text.contains("ignoring SIGTERM"))
        #expect(service.liveBots().isEmpty)
        #expect(try await service.request(.DELETE, "/sessions/\(id)").status == 409)
        #expect(try await service.request(.DELETE, "/sessions/no-such-session").status == 404)
        await service.shutdown()
    }

    @Test func crashingBotFailsItsSessionWithItsExitCode() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_BOT_COMMAND": ServiceProcess.botCommand("exit 3")])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "failed" })
        let session = try await service.session(id)
        #expect(session["exit_code"] as? Int == 3)
        #expect(session["end_reason"] as? String == "bot_failed")
        let failed = try await service.sessions("state=failed")
        #expect(failed.map { $0["id"] as? String } == [id])
        await service.shutdown()
    }

    @Test func botThatCannotStartFailsItsSession() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_BOT_COMMAND": "/nonexistent/bot {room_url}"])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "failed" })
        #expect(try await service.session(id)["end_reason"] as? String == "spawn_failed")
        #expect(try await service.request(.GET, "/sessions/\(id)/log").text.contains("cannot start /nonexistent/bot"))
        await service.shutdown()
    }

    @Test func sessionsPastTheMaximumLengthAreStopped() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_MAX_SESSION_S": "1", "AUTOSPAWN_REAPER_INTERVAL_S": "0.5"])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        #expect(try await service.session(id)["end_reason"] as? String == "max_duration")
        #expect(service.liveBots().isEmpty)
        await service.shutdown()
    }
}
