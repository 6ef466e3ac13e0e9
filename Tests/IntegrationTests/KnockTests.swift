import BotRuntime
import DailyDouble
import Foundation
import TestSupport
import Testing

/// `AUTOSPAWN_SPAWN_ON=knock` with the real service and real bots: someone knocking at a private room brings its bot,
/// which leaves after the empty-room grace when they go away unadmitted; knockers show apart from participants.
@Suite(.serialized)
struct KnockTests {
    func knock(_ room: String, _ who: String, left: Bool = false) -> [UInt8] {
        Fixtures.variant(
            left ? "daily/waiting-participant-left.json" : "daily/waiting-participant-joined.json",
            id: UUID().uuidString,
            room: room,
            participant: who
        )
    }

    @Test func aKnockerBringsTheBotAndTheBotGoesWhenTheyLeaveUnadmitted() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_SPAWN_ON": "knock"])
        let knocked = try await service.webhook(knock("private-room", "k1"))
        #expect(knocked.string("action") == "spawned")
        #expect(knocked.string("reason") == "knocker")
        let id = try #require(knocked.string("session_id"))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "running" })
        let status = try await service.request(.GET, "/bot/status?room=private-room")
        #expect(status.json["knocking"] as? Int == 1)
        #expect(status.json["participants"] as? Int == 0)
        #expect(try await service.session(id)["participants"] as? Int == 0)
        #expect(try await service.session(id)["knocking"] as? Int == 1)
        // They give up: no human and nobody at the door, so the bot goes after the grace (1 s in tests).
        #expect(try await service.webhook(knock("private-room", "k1", left: true)).string("reason") == "stop_scheduled")
        #expect(try await eventually { try await service.session(id)["end_reason"] as? String == "room_empty" })
        #expect(service.liveBots(room: "private-room").isEmpty)
        await service.shutdown()
    }

    /// Three knocks nobody answered held every place (the orphan check spares rooms with knockers) until
    /// `AUTOSPAWN_MAX_SESSION_S`, 4 hours: a real human was refused `capacity`.
    @Test func knocksNobodyAnswersHoldNoPlaceLongerThanTheKnockWait() async throws {
        let service = try await ServiceProcess.start([
            "AUTOSPAWN_SPAWN_ON": "knock", "AUTOSPAWN_MAX_CONCURRENCY": "3", "AUTOSPAWN_KNOCK_WAIT_S": "1",
            "AUTOSPAWN_REAPER_INTERVAL_S": "0.3",
        ])
        var ids: [String] = []
        for room in ["door-1", "door-2", "door-3"] {
            ids.append(try #require(try await service.webhook(knock(room, "k-\(room)")).string("session_id")))
        }
        for id in ids {
            #expect(try await eventually { try await service.session(id)["end_reason"] as? String == "knock_timeout" })
        }
        let joined = try await service.webhook(
            Fixtures.variant("daily/participant-joined.json", id: UUID().uuidString, room: "a-human-room", participant: "h1")
        )
        #expect(joined.string("action") == "spawned")
        await service.shutdown()
    }

    @Test func aBotWaitingWithAKnockerIsNotTakenForAnOrphan() async throws {
        // Daily's presence shows who is in the room, not who knocks: the room holds only the bot.
        let double = try await DailyDouble.start(apiKey: "knock-tests-key", domain: "acme")
        defer { Task { await double.stop() } }
        try await double.setPresence(of: "private-room", [.init(id: "p1", userID: "autospawn-x", userName: "Pipecat Bot")])
        let service = try await ServiceProcess.start([
            "AUTOSPAWN_SPAWN_ON": "knock", "DAILY_API_KEY": "knock-tests-key", "DAILY_API_URL": double.baseURL,
            "AUTOSPAWN_ORPHAN_AFTER_S": "1", "AUTOSPAWN_REAPER_INTERVAL_S": "0.3",
        ])
        let id = try #require(try await service.webhook(knock("private-room", "k1")).string("session_id"))
        // The owner takes their time letting them in: presence is asked, and the bot stays for the knocker.
        #expect(
            try await eventually {
                try await double.logged("requests").contains { $0["path"]?.string == "/rooms/private-room/presence" }
            }
        )
        try await Task.sleep(for: .seconds(1.5))
        #expect(try await service.session(id)["state"] as? String == "running")
        // They give up: the bot goes as any bot of an empty room, by the grace's stop or, should the orphan check
        // come first (both take about a second here), as an orphan.
        #expect(try await service.webhook(knock("private-room", "k1", left: true)).string("reason") == "stop_scheduled")
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        let reason = try await service.session(id)["end_reason"] as? String
        #expect(reason == "room_empty" || reason == "orphaned")
        await service.shutdown()
    }

    @Test func aKnockerLetInFindsTheBotThere() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_SPAWN_ON": "knock"])
        let id = try #require(try await service.webhook(knock("private-room", "k1")).string("session_id"))
        let admitted = try await service.webhook(
            Fixtures.variant("daily/participant-joined.json", id: UUID().uuidString, room: "private-room", participant: "k1")
        )
        #expect(admitted.string("reason") == "bot_present")
        #expect(admitted.string("session_id") == id)
        let status = try await service.request(.GET, "/bot/status?room=private-room")
        #expect(status.json["knocking"] as? Int == 0)
        #expect(status.json["participants"] as? Int == 1)
        await service.shutdown()
    }

    @Test func aWebhookThatMissesTheKnockersEventsIsWarnedAboutOnce() async throws {
        let double = try await DailyDouble.start(apiKey: "knock-tests-key", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start([
            "AUTOSPAWN_SPAWN_ON": "knock", "DAILY_API_KEY": "knock-tests-key", "DAILY_API_URL": double.baseURL,
            "AUTOSPAWN_WEBHOOK_CHECK_S": "0.3",
        ])
        _ = try await DailyClient(baseURL: double.baseURL, apiKey: "knock-tests-key").createWebhook(
            url: service.baseURL + "/daily/webhook",
            hmac: ServiceProcess.secret,
            eventTypes: ["participant.joined", "participant.left", "meeting.ended"]
        )
        #expect(try await eventually { service.log.contains("missing=waiting-participant.joined,waiting-participant.left") })
        try await Task.sleep(for: .seconds(1))
        #expect(service.log.components(separatedBy: "not subscribed to event types").count == 2)
        await service.shutdown()
    }

    @Test func withJoinAKnockerIsCountedButBringsNoBot() async throws {
        let service = try await ServiceProcess.start()
        let knocked = try await service.webhook(knock("private-room", "k1"))
        #expect(knocked.string("action") == "recorded")
        #expect(knocked.string("reason") == "knocker")
        #expect(try await service.request(.GET, "/bot/status?room=private-room").json["knocking"] as? Int == 1)
        #expect(try await service.sessions().isEmpty)
        await service.shutdown()
    }
}
