import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What a deploy (SIGTERM, then a new instance on the same database) does to the calls under way.
@Suite(.serialized)
struct DeployTests {
    /// 100 rooms with a human and a bot each; SIGTERM; restart: `active` was 0 and every room `absent` for good.
    @Test func aRestartGivesEveryCallWithHumansItsBotAgain() async throws {
        let rooms = 100
        let settings = ["AUTOSPAWN_MAX_CONCURRENCY": "\(rooms)"]
        let first = try await ServiceProcess.start(settings)
        for index in 0..<rooms {
            let body = Fixtures.variant("daily/participant-joined.json", id: "join-\(index)", room: "call-\(index)", participant: "h-\(index)")
            #expect(try await first.webhook(body).string("action") == "spawned")
        }
        #expect(try await eventually(timeout: 60) { first.liveBots().count == rooms })
        first.signal(SIGTERM)
        #expect(await first.waitForExit(timeout: 60) == 0)
        #expect(first.liveBots().isEmpty)

        let second = try await ServiceProcess.start(in: first.directory, settings)
        #expect(try await eventually(timeout: 60) { first.liveBots().count == rooms })
        #expect(try await second.request(.GET, "/sessions").json["active"] as? Int == rooms)
        let status = try await second.request(.GET, "/bot/status?room=call-7").json
        #expect(status["status"] as? String == "running")
        #expect(status["participants"] as? Int == 1)
        await second.shutdown()
    }

    /// With the default `drain`, a lone instance's SIGTERM answered a new room's join `rejected/draining`, and
    /// nobody else would give it a bot for up to the drain timeout (900 s). Alone, the default hands over: exit at
    /// once, the bots keep their calls, and the next start adopts them and serves the new room.
    @Test func aLoneInstancesSIGTERMHandsOverByDefault() async throws {
        let first = try await ServiceProcess.start(["AUTOSPAWN_SHUTDOWN": "auto"])
        let id = try #require(try await first.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { first.liveBots().count == 1 })
        let bot = try #require(first.liveBots().first)
        first.signal(SIGTERM)
        #expect(await first.waitForExit(timeout: 10) == 0)
        #expect(LiveProcesses.isAlive(bot))

        let second = try await ServiceProcess.start(in: first.directory, ["AUTOSPAWN_SHUTDOWN": "auto"])
        #expect(try await eventually { try await second.session(id)["state"] as? String == "running" })
        #expect(try await second.session(id)["pid"] as? Int == Int(bot))
        let joined = Fixtures.variant("daily/participant-joined.json", id: UUID().uuidString, room: "new-room", participant: "n1")
        #expect(try await second.webhook(joined).string("action") == "spawned")
        await second.shutdown()
        // A test leaves no bot behind, whatever its instance's shutdown mode.
        #expect(second.liveBots().isEmpty)
    }

    /// Ctrl+C in the README's terminal: the bots are stopped and the service exits, whatever the mode.
    @Test func aSIGINTStopsTheBotsAndExits() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_SHUTDOWN": "auto"])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { service.liveBots().count == 1 })
        service.signal(SIGINT)
        #expect(await service.waitForExit(timeout: 10) == 0)
        #expect(service.liveBots().isEmpty)
        let next = try await ServiceProcess.start(in: service.directory)
        #expect(try await next.session(id)["end_reason"] as? String == "shutdown")
        await next.shutdown()
    }

    /// While draining, webhooks were answered without being recorded: a leave in that window left a ghost human
    /// (the next instance gave the empty room a bot) and a join was forgotten.
    @Test func eventsThatArriveWhileDrainingAreRecorded() async throws {
        // A bot that ignores SIGTERM keeps the instance draining for the stop grace (2 s).
        let settings = ["AUTOSPAWN_BOT_COMMAND": ServiceProcess.botCommand("ignore-term")]
        let first = try await ServiceProcess.start(settings)
        let staying = Fixtures.variant("daily/participant-joined.json", id: "join-staying", room: "staying", participant: "s")
        let leaving = Fixtures.variant("daily/participant-joined.json", id: "join-leaving", room: "leaving", participant: "l")
        #expect(try await first.webhook(staying).string("action") == "spawned")
        #expect(try await first.webhook(leaving).string("action") == "spawned")
        #expect(try await eventually { first.liveBots().count == 2 })
        // The bot has its SIGTERM trap in place once it said ready.
        #expect(
            try await eventually {
                first.liveBotSessions().allSatisfy {
                    (try? String(contentsOfFile: first.botLogDirectory + "/\($0.sessionID).log", encoding: .utf8))?.contains("ready") == true
                }
            }
        )
        first.signal(SIGTERM)
        #expect(try await eventually { try await first.request(.GET, "/ready").status == 503 })
        let left = Fixtures.variant("daily/participant-left.json", id: "leave-leaving", room: "leaving", participant: "l")
        let leftAnswer = try await first.webhook(left)
        #expect(leftAnswer.status == 200)
        #expect(leftAnswer.string("action") == "recorded")
        let late = Fixtures.variant("daily/participant-joined.json", id: "join-late", room: "late", participant: "x")
        let lateAnswer = try await first.webhook(late)
        #expect(lateAnswer.string("action") == "rejected")
        #expect(lateAnswer.string("reason") == "draining")
        #expect(await first.waitForExit(timeout: 30) == 0)

        let second = try await ServiceProcess.start(in: first.directory)
        #expect(try await eventually { Set(second.liveBotSessions().map(\.room)) == ["staying", "late"] })
        try await Task.sleep(for: .seconds(1))
        #expect(second.liveBots(room: "leaving").isEmpty)
        // The leave was recorded once: Daily's redelivery of it is a duplicate.
        #expect(try await second.webhook(left).string("action") == "duplicate")
        await second.shutdown()
    }

    /// `AUTOSPAWN_SHUTDOWN=handover` (one host, systemd's `KillMode=process`): SIGTERM exits at once and leaves
    /// the bots running; the next instance adopts the same processes, and no bot restarts.
    @Test func aHandoverKeepsEveryBotAndTheNextInstanceAdoptsThem() async throws {
        let settings = ["AUTOSPAWN_SHUTDOWN": "handover"]
        let first = try await ServiceProcess.start(settings)
        for room in ["kept-a", "kept-b"] {
            let body = Fixtures.variant("daily/participant-joined.json", id: "join-\(room)", room: room, participant: "h-\(room)")
            #expect(try await first.webhook(body).string("action") == "spawned")
        }
        #expect(try await eventually { first.liveBots().count == 2 })
        let before = first.liveBotSessions()
        first.signal(SIGTERM)
        #expect(await first.waitForExit(timeout: 10) == 0)
        #expect(first.liveBotSessions() == before)  // nothing stopped

        // The next one stops its bots when it goes, so that the test leaves none behind.
        let second = try await ServiceProcess.start(in: first.directory, ["AUTOSPAWN_SHUTDOWN": "stop"])
        for bot in before {
            let session = try await second.session(bot.sessionID)
            #expect(session["state"] as? String == "running")
            #expect(session["pid"] as? Int == Int(bot.pid))
        }
        try await Task.sleep(for: .seconds(1))
        #expect(second.liveBotSessions() == before)  // no new bot, none restarted
        // The adopted bots are this instance's now: a meeting's end stops its bot.
        let ended = Fixtures.variant("daily/meeting-ended.json", id: "end-kept-a", room: "kept-a")
        #expect(try await second.webhook(ended).string("action") == "stopping")
        #expect(try await eventually { second.liveBots(room: "kept-a").isEmpty })
        await second.shutdown()
        #expect(second.liveBots().isEmpty)
    }
}
