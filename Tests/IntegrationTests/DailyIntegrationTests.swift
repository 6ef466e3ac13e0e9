import AsyncHTTPClient
import BotRuntime
import DailyDouble
import Foundation
import Policy
import TestSupport
import Testing

/// The service with a Daily API key, against the project's local double of Daily's REST API.
@Suite(.serialized)
struct DailyIntegrationTests {
    @Test func domainComesFromTheAPIRootAndEachBotGetsItsOwnToken() async throws {
        let double = try await DailyDouble.start(apiKey: "test-key", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start([
            "DAILY_API_KEY": "test-key", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_DAILY_DOMAIN": "",
        ])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await service.session(id)["room_url"] as? String == "https://acme.daily.co/demo-room")
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)/log").text.contains("ready") })
        // The bot got its token (it prints it); the log API hands it out redacted.
        let log = try await service.request(.GET, "/sessions/\(id)/log").text
        #expect(log.contains("env DAILY_ROOM_TOKEN=[redacted]"))
        let onDisk = try String(contentsOf: service.directory.appendingPathComponent("bot-logs/\(id).log"), encoding: .utf8)
        #expect(onDisk.contains("env DAILY_ROOM_TOKEN=eyJ"))

        let tokenRequest = try #require(try await double.logged("requests").first { $0["path"]?.string == "/meeting-tokens" })
        let properties = try #require(tokenRequest["body"]?["properties"])
        #expect(properties["room_name"] == .string("demo-room"))
        #expect(properties["is_owner"] == .bool(true))
        #expect(properties["user_name"] == .string("Pipecat Bot"))
        let userID = try #require(properties["user_id"]?.string)
        #expect(userID == "autospawn-" + String(id.filter { $0 != "-" }.prefix(26)))
        #expect(userID.count == 36)
        let expiry = try #require(properties["exp"]?.number)
        #expect(abs(expiry - (Date().timeIntervalSince1970 + 14_400)) < 60)
        // The token never shows in the service's log or its read API.
        let token = try #require(log.split(separator: "\n").first { $0.hasPrefix("env DAILY_ROOM_TOKEN=") }?.dropFirst(21))
        #expect(!service.log.contains(String(token)))
        #expect(!(try await service.request(.GET, "/sessions?state=all").text.contains(String(token))))
        #expect(!service.log.contains("test-key"))
        await service.shutdown()
    }

    @Test func botWithoutATokenFailsItsSession() async throws {
        let double = try await DailyDouble.start(apiKey: "right-key")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start(["DAILY_API_KEY": "wrong-key", "DAILY_API_URL": double.baseURL])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "failed" })
        #expect(try await service.session(id)["end_reason"] as? String == "token_failed")
        #expect(service.liveBots().isEmpty)
        await service.shutdown()
    }

    @Test func aKeyDailyRefusesStopsStartUpNamingIt() async throws {
        let double = try await DailyDouble.start(apiKey: "right-key")
        defer { Task { await double.stop() } }
        let error = await #expect(throws: HarnessError.self) {
            _ = try await ServiceProcess.start([
                "DAILY_API_KEY": "wrong-key", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_DAILY_DOMAIN": "",
            ])
        }
        #expect(error?.description.contains("exited with 2") == true)
        #expect(error?.description.contains("autospawn: DAILY_API_KEY:") == true)
        #expect(error?.description.contains("wrong-key") == false)
    }
}

extension DailyIntegrationTests {
    @Test func silentRoomsWithOnlyBotsAreReapedWhileRoomsWithHumansKeepTheirBot() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        try await double.setPresence(
            of: "kept-room",
            [.init(id: "p1", userID: "u1", userName: "Jane"), .init(id: "p2", userID: "autospawn-x", userName: "Pipecat Bot")]
        )
        try await double.setPresence(of: "orphan-room", [.init(id: "p3", userID: "autospawn-y", userName: "Pipecat Bot")])
        let service = try await ServiceProcess.start([
            "DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_ORPHAN_AFTER_S": "1",
            "AUTOSPAWN_REAPER_INTERVAL_S": "0.3",
        ])
        var ids: [String: String] = [:]
        for room in ["kept-room", "orphan-room", "gone-room"] {
            let body = Fixtures.variant("daily/participant-joined.json", id: "join-\(room)", room: room)
            ids[room] = try await service.webhook(body).string("session_id")
        }
        let orphan = try #require(ids["orphan-room"])
        let gone = try #require(ids["gone-room"])
        let kept = try #require(ids["kept-room"])
        #expect(try await eventually { try await service.session(orphan)["end_reason"] as? String == "orphaned" })
        // A room Daily does not know counts as empty.
        #expect(try await eventually { try await service.session(gone)["end_reason"] as? String == "orphaned" })
        try await Task.sleep(for: .seconds(1.5))
        #expect(try await service.session(kept)["state"] as? String == "running")
        // At most one presence check per room per AUTOSPAWN_ORPHAN_AFTER_S.
        let checks = try await double.logged("requests").filter { $0["path"]?.string == "/rooms/kept-room/presence" }.count
        #expect((1...4).contains(checks))
        await service.shutdown()
    }
}

extension DailyIntegrationTests {
    @Test func startCreatesARoomTokensAndABotWithTheRequestBody() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start([
            "DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_MAX_CONCURRENCY": "1",
        ])
        let answer = try await service.request(.POST, "/start", body: Fixtures.bytes("start/pipecat-start.json"))
        #expect(answer.status == 200)
        let room = try #require(answer.string("dailyRoom"))
        let id = try #require(answer.string("sessionId"))
        #expect(room.hasPrefix("https://acme.daily.co/pipecat-"))
        #expect(answer.string("dailyToken")?.hasPrefix("eyJ") == true)
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)/log").text.contains("ready") })
        let log = try await service.request(.GET, "/sessions/\(id)/log").text
        #expect(log.contains("env DAILY_ROOM_URL=\(room)"))
        #expect(log.contains(#"env AUTOSPAWN_BODY={"language":"en","persona":"helpful"}"#))

        let requests = try await double.logged("requests")
        let created = try #require(requests.first { $0["path"]?.string == "/rooms" }?["body"]?["properties"])
        #expect(created["eject_at_room_exp"] == .bool(true))
        #expect(created["max_participants"] == .number(4))
        #expect(abs((created["exp"]?.number ?? 0) - (Date().timeIntervalSince1970 + 14_400)) < 60)
        let tokens = requests.filter { $0["path"]?.string == "/meeting-tokens" }.compactMap { $0["body"]?["properties"] }
        #expect(tokens.count == 2)  // the caller's, and the bot's own
        #expect(tokens.contains { $0["user_name"] == .string("Jane") && $0["is_owner"] == nil })
        #expect(tokens.contains { $0["user_name"] == .string("Pipecat Bot") && $0["is_owner"] == .bool(true) })

        // At capacity: 429 before Daily is asked for a room.
        let roomsBefore = try await double.logged("requests").filter { $0["path"]?.string == "/rooms" }.count
        #expect(try await service.request(.POST, "/start", body: Fixtures.bytes("start/pipecat-start.json")).status == 429)
        #expect(try await service.request(.GET, "/daily").status == 429)
        #expect(try await double.logged("requests").filter { $0["path"]?.string == "/rooms" }.count == roomsBefore)
        await service.shutdown()
    }

    @Test func dailyRedirectsToANewRoomWithItsBot() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start(["DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL])
        let answer = try await service.request(.GET, "/daily")
        #expect(answer.status == 302)
        #expect(try await eventually { service.liveBots().count == 1 })
        let session = try #require(try await service.sessions("state=active").first)
        #expect((session["room_url"] as? String)?.hasPrefix("https://acme.daily.co/pipecat-") == true)
        await service.shutdown()
    }

    @Test func startRefusesBadRequestsAndWorksOnlyWithAKey() async throws {
        let double = try await DailyDouble.start(apiKey: "k")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start(["DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL])
        #expect(try await service.request(.POST, "/start", body: Fixtures.bytes("start/malformed.json")).string("error") == "malformed_json")
        let huge = [UInt8](repeating: UInt8(ascii: " "), count: 1024 * 1024 + 1)
        #expect(try await service.request(.POST, "/start", body: huge).status == 413)
        #expect(try await service.sessions().isEmpty)
        await service.shutdown()
        let keyless = try await ServiceProcess.start()
        let refused = try await keyless.request(.POST, "/start", body: Fixtures.bytes("start/pipecat-start.json"))
        #expect(refused.status == 404)
        #expect(refused.string("error") == "daily_not_configured")
        #expect(try await keyless.request(.GET, "/daily").status == 404)
        await keyless.shutdown()
    }
}

extension DailyIntegrationTests {
    @Test func agentLauncherHoldsTheRequestOpenAndStopsTheBotByEjectingIt() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start([
            "DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_BOT_COMMAND": "",
            "AUTOSPAWN_AGENT_URL": double.baseURL + "/_double/agent",
        ])
        let answer = try await service.request(.POST, "/start", body: Fixtures.bytes("start/pipecat-start.json"))
        let id = try #require(answer.string("sessionId"))
        let room = try #require(answer.string("dailyRoom"))
        #expect(try await eventually { try await double.logged("agents").count == 1 })
        let call = try #require(try await double.logged("agents").first)
        #expect(call["room_url"] == .string(room))
        #expect(call["session_id"] == .string(id))
        #expect(call["token"]?.string?.hasPrefix("eyJ") == true)
        #expect(call["body"] == .object(["language": .string("en"), "persona": .string("helpful")]))
        let session = try await service.session(id)
        #expect(session["launcher"] as? String == "agent")
        #expect(session["state"] as? String == "running")
        // The open request is the bot's lifetime: still running a moment later.
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await service.session(id)["state"] as? String == "running")

        #expect(try await service.request(.DELETE, "/sessions/\(id)").status == 202)
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        #expect(try await service.session(id)["end_reason"] as? String == "stop_requested")
        let eject = try #require(try await double.logged("requests").first { $0["path"]?.string?.hasSuffix("/eject") == true })
        let userID = "autospawn-" + String(id.filter { $0 != "-" }.prefix(26))
        #expect(eject["body"]?["user_ids"] == .array([.string(userID)]))
        await service.shutdown()
    }
}

extension DailyIntegrationTests {
    @Test func theDoubleDeliversSignedEventsThatTheServiceActsOn() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start(["DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL])
        let client = DailyClient(baseURL: double.baseURL, apiKey: "k")
        _ = try await client.createWebhook(url: service.baseURL + "/daily/webhook", hmac: ServiceProcess.secret, eventTypes: [])
        let delivered = try await double.control("/_double/webhooks/deliver", body: Fixtures.bytes("daily/participant-joined.json"))
        #expect(delivered["statuses"] == .array([.number(200)]))
        #expect(try await eventually { service.liveBots(room: "demo-room").count == 1 })
        await service.shutdown()
    }

    @Test func aStartStuckWaitingOnDailyTimesOut() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start([
            "DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_START_TIMEOUT_S": "1",
            // The human stays: without a long backoff the room would rightly get its next bot meanwhile.
            "AUTOSPAWN_REAPER_INTERVAL_S": "0.3", "AUTOSPAWN_RESTART_BACKOFF_S": "30",
        ])
        // The bot's token request is answered only after 4 s: longer than the start timeout.
        try await double.control("/_double/faults", body: Array(#"{"delay_s":4,"count":1,"path":"/meeting-tokens"}"#.utf8))
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "failed" })
        #expect(try await service.session(id)["end_reason"] as? String == "start_timeout")
        try await Task.sleep(for: .seconds(4))
        #expect(service.liveBots().isEmpty)  // the late token starts nothing
        #expect(try await service.session(id)["end_reason"] as? String == "start_timeout")
        await service.shutdown()
    }
}
