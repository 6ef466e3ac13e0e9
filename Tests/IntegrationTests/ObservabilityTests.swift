import DailyDouble
import Foundation
import TestSupport
import Testing

/// What an operator sees of the real service: `/metrics`, log lines, and the live status streams.
@Suite(.serialized)
struct ObservabilityTests {
    /// `name{labels} value` lines of a Prometheus text answer, by series.
    static func series(_ text: String) -> [String: Double] { PrometheusText.series(text) }

    @Test func metricsCountWebhooksSignatureFailuresSpawnsAndEnds() async throws {
        let service = try await ServiceProcess.start()
        let body = Fixtures.bytes("daily/participant-joined.json")
        let forged = TestSigner.headers(body: body, secretBase64: Fixtures.vectors.otherSecret)
        #expect(try await service.request(.POST, "/daily/webhook", body: body, headers: forged).status == 401)
        #expect(try await service.webhook(body, signed: false).status == 401)
        #expect(try await service.webhook(fixture: "malformed/not-json.txt").status == 400)
        let id = try #require(try await service.webhook(body).string("session_id"))
        #expect(try await service.webhook(body).string("action") == "duplicate")
        #expect(try await eventually { try await service.session(id)["state"] as? String == "running" })
        let running = Self.series(try await service.request(.GET, "/metrics").text)
        #expect(running["autospawn_active_sessions"] == 1)
        #expect(running["autospawn_max_concurrency"] == 5)

        #expect(try await service.webhook(fixture: "daily/meeting-ended.json").string("action") == "stopping")
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        let answer = try await service.request(.GET, "/metrics")
        #expect(answer.status == 200)
        let metrics = Self.series(answer.text)
        #expect(metrics[#"autospawn_webhooks_total{type="participant.joined",action="spawned"}"#] == 1)
        #expect(metrics[#"autospawn_webhooks_total{type="participant.joined",action="duplicate"}"#] == 1)
        #expect(metrics[#"autospawn_webhooks_total{type="meeting.ended",action="stopping"}"#] == 1)
        #expect(metrics[#"autospawn_webhooks_total{type="unverified",action="refused"}"#] == 2)
        #expect(metrics[#"autospawn_webhooks_total{type="invalid",action="refused"}"#] == 1)
        #expect(metrics[#"autospawn_signature_failures_total{reason="invalid_signature"}"#] == 1)
        #expect(metrics[#"autospawn_signature_failures_total{reason="missing_signature"}"#] == 1)
        #expect(metrics["autospawn_spawn_latency_seconds_count"] == 1)
        #expect((metrics["autospawn_spawn_latency_seconds_sum"] ?? 0) > 0)
        #expect(metrics[#"autospawn_spawn_latency_seconds_bucket{le="+Inf"}"#] == 1)
        #expect(metrics[#"autospawn_session_ends_total{state="ended",reason="meeting_ended",profile="default",transport="daily"}"#] == 1)
        #expect(metrics["autospawn_active_sessions"] == 0)
        // Hummingbird's own request metrics go to the same registry.
        #expect(answer.text.contains(#"hb_requests{http_route="/daily/webhook""#))
        await service.shutdown()
    }

    @Test func dailyCallsAndReaperActionsAreCounted() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        try await double.setPresence(of: "orphan-room", [.init(id: "p3", userID: "autospawn-y", userName: "Pipecat Bot")])
        let service = try await ServiceProcess.start([
            "DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_ORPHAN_AFTER_S": "1",
            "AUTOSPAWN_REAPER_INTERVAL_S": "0.3", "AUTOSPAWN_ADMIN_TOKEN": "metrics-token",
            "AUTOSPAWN_DAILY_DOMAIN": "",  // read from the API root: one more call to count
        ])
        #expect(try await service.request(.GET, "/metrics").status == 401)
        let body = Fixtures.variant("daily/participant-joined.json", id: "join-orphan", room: "orphan-room")
        let id = try #require(try await service.webhook(body).string("session_id"))
        let auth = [("Authorization", "Bearer metrics-token")]
        #expect(
            try await eventually {
                try await service.request(.GET, "/sessions/\(id)", headers: auth).json["end_reason"] as? String == "orphaned"
            }
        )
        let metrics = Self.series(try await service.request(.GET, "/metrics", headers: auth).text)
        #expect(metrics[#"autospawn_daily_api_requests_total{endpoint="GET /",status="200"}"#] == 1)
        #expect(metrics[#"autospawn_daily_api_requests_total{endpoint="POST /meeting-tokens",status="200"}"#] == 1)
        #expect((metrics[#"autospawn_daily_api_requests_total{endpoint="GET /rooms/:name/presence",status="200"}"#] ?? 0) >= 1)
        #expect((metrics[#"autospawn_reaper_actions_total{action="presence_check"}"#] ?? 0) >= 1)
        #expect(metrics[#"autospawn_reaper_actions_total{action="orphaned"}"#] == 1)
        #expect(metrics[#"autospawn_session_ends_total{state="ended",reason="orphaned",profile="default",transport="daily"}"#] == 1)
        // No room name is ever a label: the series do not grow with the rooms.
        #expect(!metrics.keys.contains { $0.contains("orphan-room") })
        await service.shutdown()
    }

    @Test func jsonLogLinesCarryTheSessionAndItsRoom() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_LOG_FORMAT": "json", "AUTOSPAWN_LOG_LEVEL": "debug"])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "running" })
        _ = try await service.webhook(fixture: "daily/meeting-ended.json")
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        await service.shutdown()

        let lines = service.log.split(separator: "\n").map(String.init)
        #expect(lines.count > 5)
        var aboutTheSession: [String: [String: Any]] = [:]
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not one JSON object: \(line)")
            for field in ["time", "level", "label", "message"] { #expect(object[field] is String, "\(field) in \(line)") }
            if object["session_id"] as? String == id {
                #expect(object["room"] as? String == "demo-room", "\(line)")
                aboutTheSession[object["message"] as? String ?? ""] = object
            }
        }
        for message in ["webhook", "bot started", "stopping bot", "bot exited", "session ended"] {
            #expect(aboutTheSession[message] != nil, "no '\(message)' line with the session id")
        }
        #expect(aboutTheSession["session ended"]?["reason"] as? String == "meeting_ended")
    }

    @Test func theLogLevelLeavesOutWhatIsBelowIt() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_LOG_LEVEL": "warning"])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "running" })
        #expect(try await service.webhook(Fixtures.bytes("daily/participant-joined.json"), signed: false).status == 401)
        await service.shutdown()
        #expect(!service.log.contains("bot started"))
        #expect(service.log.contains("webhook refused"))  // a warning
    }

    @Test func statusStreamPushesEachChangeOfTheRoomsBot() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        // A bot that ignores SIGTERM stays `stopping` for the stop grace: long enough to see it, whatever the load.
        let service = try await ServiceProcess.start([
            "DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_DAILY_DOMAIN": "",
            "AUTOSPAWN_BOT_COMMAND": ServiceProcess.botCommand("ignore-term"), "AUTOSPAWN_STOP_GRACE_S": "1",
        ])
        #expect(try await service.request(.GET, "/bot/status/stream").status == 400)
        let stream = try await EventStreamClient(url: service.baseURL + "/bot/status/stream?room=demo-room")
        defer { stream.close() }
        #expect(stream.status == 200)
        #expect(stream.contentType == "text/event-stream")
        let statuses = { stream.events.filter { $0.event == "status" }.map { $0.json["status"] as? String ?? "?" } }
        #expect(await stream.wait { _ in statuses() == ["absent"] })

        // The bot's meeting token comes 1 s late: long enough to see `starting` before `running`.
        try await double.control("/_double/faults", body: Array(#"{"delay_s":1,"count":1,"path":"/meeting-tokens"}"#.utf8))
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(await stream.wait { _ in statuses().last == "running" })
        #expect(statuses() == ["absent", "starting", "running"])
        let running = try #require(stream.events.last?.json)
        #expect(running["session_id"] as? String == id)
        #expect(running["participants"] as? Int == 1)
        #expect(running["room_url"] as? String == "https://acme.daily.co/demo-room")

        _ = try await service.webhook(fixture: "daily/meeting-ended.json")
        #expect(await stream.wait { _ in statuses().last == "absent" && statuses().count > 3 })
        #expect(statuses() == ["absent", "starting", "running", "stopping", "absent"])
        await service.shutdown()
        // Shutting down ends open streams rather than waiting on them.
        #expect(await stream.wait { _ in stream.ended })
    }

    @Test func sessionsStreamGivesTheDashboardSessionsWebhooksAndCapacity() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_ADMIN_TOKEN": "stream-token"])
        let refused = try await EventStreamClient(url: service.baseURL + "/sessions/stream")
        #expect(refused.status == 401)
        let stream = try await EventStreamClient(
            url: service.baseURL + "/sessions/stream",
            headers: [("Authorization", "Bearer stream-token")]
        )
        defer { stream.close() }
        #expect(await stream.wait { $0.contains { $0.event == "summary" && $0.json["active"] as? Int == 0 } })
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(
            await stream.wait { events in
                events.contains { $0.event == "session" && $0.json["id"] as? String == id && $0.json["state"] as? String == "running" }
            }
        )
        #expect(await stream.wait { $0.contains { $0.event == "summary" && $0.json["active"] as? Int == 1 } })
        let webhook = try #require(stream.events.first { $0.event == "webhook" }?.json)
        #expect(webhook["type"] as? String == "participant.joined")
        #expect(webhook["room"] as? String == "demo-room")
        #expect(webhook["action"] as? String == "spawned")
        #expect(webhook["session_id"] as? String == id)
        // A stream opened later starts with the webhooks answered so far.
        let late = try await EventStreamClient(
            url: service.baseURL + "/sessions/stream",
            headers: [("Authorization", "Bearer stream-token")]
        )
        defer { late.close() }
        #expect(await late.wait { $0.contains { $0.event == "webhook" && $0.json["session_id"] as? String == id } })
        await service.shutdown()
    }
}
