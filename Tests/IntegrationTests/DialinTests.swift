import DailyDouble
import Foundation
import Policy
import TestSupport
import Testing

/// Phone calls through Daily's pinless dial-in (`POST /daily/dialin`), with the real service, real bots and the
/// local double placing the calls: a signed call gets a SIP room and a bot of the called number's profile, which
/// forwards the call through the service; forged and stale calls create nothing; a call at capacity waits.
@Suite(.serialized)
struct DialinTests {
    /// The dial-in secret the tests configure (base64 of 32 bytes).
    static let secret = "ZGlhbC1pbiBzZWNyZXQgb2YgdGhlIHRlc3RzLCAzMiBi"
    /// The service's Daily key (long enough not to be found inside other words when the bot's log is redacted).
    static let apiKey = "daily-key-of-the-dialin-tests"

    /// A double, and a service with dial-in (the fixture's profiles: the support profile lists +15550001111).
    func start(_ settings: [String: String] = [:]) async throws -> (DailyDouble.Running, ServiceProcess) {
        let double = try await DailyDouble.start(apiKey: Self.apiKey, domain: "acme")
        let directory = try ServiceProcess.makeDirectory()
        let text = String(decoding: Fixtures.bytes("profiles/sales-and-support.yaml"), as: UTF8.self)
            .replacingOccurrences(of: "@BOT@", with: Fixtures.path("bots/test-bot.sh"))
        let path = directory.appendingPathComponent("profiles.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let service = try await ServiceProcess.start(
            in: directory,
            [
                "AUTOSPAWN_PROFILES": path, "DAILY_API_KEY": Self.apiKey, "DAILY_API_URL": double.baseURL,
                "AUTOSPAWN_DIALIN_SECRET": Self.secret,
            ].merging(settings) { $1 }
        )
        return (double, service)
    }

    /// Points the double's pinless dial-in at the service, as `autospawn dialin configure` does.
    func configure(_ double: DailyDouble.Running, _ service: ServiceProcess, number: String = "+15550001111") async throws {
        let configured = try await AutospawnCommand.run(
            ["dialin", "configure", "--url", service.baseURL + "/daily/dialin", "--number", number, "--secret", Self.secret],
            environment: ["DAILY_API_KEY": Self.apiKey, "DAILY_API_URL": double.baseURL]
        )
        #expect(configured.status == 0)
    }

    /// Places a call through the double: the service's status and answer, and the call's id.
    func call(
        _ double: DailyDouble.Running,
        from: String = "+15105550199",
        to: String? = nil
    ) async throws -> (
        status: Int, answer: JSONValue, callID: String
    ) {
        var placed: [String: JSONValue] = ["From": .string(from)]
        if let to { placed["To"] = .string(to) }
        let result = try await double.control("/_double/dialin/call", body: Array(JSONValue.object(placed).text.utf8))
        return (Int(result["status"]?.number ?? 0), result["body"] ?? .null, result["call_id"]?.string ?? "")
    }

    func post(_ service: ServiceProcess, _ body: [UInt8], headers: [(String, String)]) async throws -> ServiceProcess.Answer {
        try await service.request(.POST, "/daily/dialin", body: body, headers: headers)
    }

    func roomsCreated(_ double: DailyDouble.Running) async throws -> [JSONValue] {
        try await double.logged("requests").filter { $0["method"]?.string == "POST" && $0["path"]?.string == "/rooms" }
    }

    @Test func aSignedCallGetsASIPRoomAndABotOfItsNumbersProfileThatForwardsTheCallThroughTheService() async throws {
        let (double, service) = try await start()
        defer { Task { await double.stop() } }
        try await configure(double, service)
        let (status, answer, callID) = try await call(double)
        #expect(status == 200)
        #expect(answer["ok"] == .bool(true))
        let id = try #require(answer["session_id"]?.string)
        #expect(answer["room_url"]?.string == "https://acme.daily.co/dialin-\(callID)")

        // The room: SIP dial-in for the caller, named by their number, and an expiry.
        let created = try #require(try await roomsCreated(double).first?["body"])
        #expect(created["name"]?.string == "dialin-\(callID)")
        #expect(
            created["properties"]?["sip"]
                == .object([
                    "display_name": .string("+15105550199"), "sip_mode": .string("dial-in"), "num_endpoints": .number(1),
                ])
        )
        #expect(created["properties"]?["exp"]?.number != nil)
        #expect(created["privacy"]?.string == "private")

        // The bot: the called number's profile, the call in its body, and a key good for this call only.
        #expect(try await service.session(id)["profile"] as? String == "support")
        let body = try await service.botBody(id)
        #expect(body["dialin_settings"]?["call_id"]?.string == callID)
        #expect(body["dialin_settings"]?["call_domain"]?.string == "double-acme")
        #expect(body["dialin_settings"]?["to"]?.string == "+15550001111")
        #expect(body["dialin_settings"]?["from"]?.string == "+15105550199")
        #expect(body["daily_api_url"]?.string == service.baseURL + "/daily/dialin-api")
        let key = try #require(body["daily_api_key"]?.string)
        #expect(key != Self.apiKey)
        // The bot prints its body once it runs, which may be after its environment is readable: wait for the line.
        var log = ""
        _ = try await eventually {
            log = try await service.request(.GET, "/sessions/\(id)/log").text
            return log.contains("daily_api_key")
        }
        #expect(!log.contains("environ DAILY_API_KEY"))
        // The bot printed its body: the log API passes on no forwarding key.
        #expect(log.contains(#""daily_api_key":"[redacted]""#))
        #expect(!log.contains(key))

        // The bot forwards the call as Pipecat's transport does: to <daily_api_url>/dialin/pinlessCallUpdate, to its
        // room's SIP endpoint (which Daily's transport reports as dialin-ready).
        let endpoint = try #require(try await double.room("dialin-\(callID)")["config"]?["sip_uri"]?["endpoint"]?.string)
        func update(domain: String = "double-acme", sipURI: String = endpoint) -> [UInt8] {
            Array(JSONValue.object(["callId": .string(callID), "callDomain": .string(domain), "sipUri": .string(sipURI)]).text.utf8)
        }
        let forwardPath = "/daily/dialin-api/dialin/pinlessCallUpdate"
        let forged = try await service.request(.POST, forwardPath, body: update(), headers: [("Authorization", "Bearer \(Self.apiKey)")])
        #expect(forged.status == 401)
        // Its key forwards its call only into its own room, in the call domain Daily sent: not to a number of the bot's.
        for elsewhere in [update(sipURI: "sip:+19005551234@evil.example"), update(domain: "another-domain")] {
            let refused = try await service.request(.POST, forwardPath, body: elsewhere, headers: [("Authorization", "Bearer \(key)")])
            #expect(refused.status == 403)
            #expect(refused.string("error") == "call_mismatch")
        }
        #expect(try await double.logged("forwarded_calls").isEmpty)
        let forwarded = try await service.request(.POST, forwardPath, body: update(), headers: [("Authorization", "Bearer \(key)")])
        #expect(forwarded.status == 200)
        let handed = try await double.logged("forwarded_calls")
        #expect(handed.first?["callId"]?.string == callID)
        #expect(handed.first?["sipUri"]?.string == endpoint)
        // The forwarding request reached Daily with the service's key: the double accepts no other.
        #expect(try await double.logged("requests").contains { $0["path"]?.string == "/dialin/pinlessCallUpdate" && $0["status"]?.number == 200 })

        let room = "dialin-\(callID)"
        // The caller is connected, then hangs up: the room empties and the bot goes.
        _ = try await service.webhook(
            Fixtures.variant("daily/participant-joined.json", id: UUID().uuidString, room: room, participant: "caller")
        )
        _ = try await service.webhook(
            Fixtures.variant("daily/participant-left.json", id: UUID().uuidString, room: room, participant: "caller")
        )
        #expect(try await eventually { try await service.session(id)["end_reason"] as? String == "room_empty" })
        // The stop's reason is recorded when it begins; the key is good until the bot has gone.
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        // Its key forwards nothing once the call's session is over.
        #expect(try await service.request(.POST, forwardPath, body: update(), headers: [("Authorization", "Bearer \(key)")]).status == 404)
        await service.shutdown()
    }

    @Test func aCallDailySendsAgainGetsTheSameRoomAndBot() async throws {
        let (double, service) = try await start()
        defer { Task { await double.stop() } }
        let body = Fixtures.bytes("dialin/call-sip-headers.json")
        let first = try await post(service, body, headers: TestSigner.headers(body: body, secretBase64: Self.secret, prefix: "X-Pinless"))
        #expect(first.status == 200)
        let again = try await post(service, body, headers: TestSigner.headers(body: body, secretBase64: Self.secret, prefix: "X-Pinless"))
        #expect(again.status == 200)
        #expect(again.string("session_id") == first.string("session_id"))
        #expect(try await roomsCreated(double).count == 1)
        // A number no profile lists gets the default profile; its SIP headers reach the bot.
        let id = try #require(first.string("session_id"))
        #expect(try await service.session(id)["profile"] as? String == "default")
        let settings = try await service.botBody(id)["dialin_settings"]
        #expect(settings?["sip_headers"]?["X-Customer-Id"]?.string == "c-42")
        #expect(settings?["From"]?.string == "sip:+15105550123@carrier.example")
        await service.shutdown()
    }

    /// The same signed request sent again after its call ended (within the signature's tolerance) made a new session
    /// and bot, and the old forwarding key worked again.
    @Test func aCallReplayedAfterItEndedStartsNothing() async throws {
        let (double, service) = try await start()
        defer { Task { await double.stop() } }
        let body = Fixtures.bytes("dialin/call.json")
        let headers = TestSigner.headers(body: body, secretBase64: Self.secret, prefix: "X-Pinless")
        let first = try await post(service, body, headers: headers)
        #expect(first.status == 200)
        let id = try #require(first.string("session_id"))
        #expect(try await service.request(.DELETE, "/sessions/\(id)").status == 202)
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        let replayed = try await post(service, body, headers: headers)
        #expect(replayed.status == 409)
        #expect(replayed.string("error") == "call_over")
        #expect(try await service.sessions().count == 1)
        #expect(try await roomsCreated(double).count == 1)
        await service.shutdown()
    }

    @Test func aForgedStaleUnsignedOrMalformedCallIsRefusedAndCreatesNothing() async throws {
        let (double, service) = try await start()
        defer { Task { await double.stop() } }
        let body = Fixtures.bytes("dialin/call.json")
        let other = Base64.encode(Array("another secret, not the dial-in one".utf8))
        let forged = try await post(service, body, headers: TestSigner.headers(body: body, secretBase64: other, prefix: "X-Pinless"))
        #expect(forged.status == 401)
        #expect(forged.string("error") == "invalid_signature")
        let old = String(Int(Date().timeIntervalSince1970) - 3600)
        let stale = try await post(
            service,
            body,
            headers: TestSigner.headers(body: body, secretBase64: Self.secret, timestamp: old, prefix: "X-Pinless")
        )
        #expect(stale.status == 401)
        #expect(stale.string("error") == "stale_timestamp")
        // The webhook's secret and headers are not the dial-in's.
        let webhookSigned = try await post(service, body, headers: TestSigner.headers(body: body, secretBase64: ServiceProcess.secret))
        #expect(webhookSigned.status == 401)
        #expect(webhookSigned.string("error") == "missing_signature")
        let invalid = Fixtures.bytes("dialin/call-without-call-id.json")
        let malformed = try await post(
            service,
            invalid,
            headers: TestSigner.headers(body: invalid, secretBase64: Self.secret, prefix: "X-Pinless")
        )
        #expect(malformed.status == 400)
        #expect(malformed.string("field") == "callId")
        // Timestamps in milliseconds are Daily's too.
        let millis = String(Int(Date().timeIntervalSince1970 * 1000))
        let inMillis = try await post(
            service,
            body,
            headers: TestSigner.headers(body: body, secretBase64: Self.secret, timestamp: millis, prefix: "X-Pinless")
        )
        #expect(inMillis.status == 200)
        #expect(try await roomsCreated(double).count == 1)
        #expect(try await service.sessions().count == 1)
        // Daily's unsigned probe of the URL is answered and creates nothing.
        #expect(try await post(service, Fixtures.bytes("daily/probe.json"), headers: []).status == 200)
        #expect(try await roomsCreated(double).count == 1)
        await service.shutdown()
    }

    @Test func aCallAtCapacityWaitsAndIsServedWhenAPlaceFrees() async throws {
        let (double, service) = try await start(["AUTOSPAWN_MAX_CONCURRENCY": "1", "AUTOSPAWN_DIALIN_WAIT_S": "30"])
        defer { Task { await double.stop() } }
        try await configure(double, service)
        let busy = try #require(
            try await service.webhook(
                Fixtures.variant("daily/participant-joined.json", id: UUID().uuidString, room: "support-1", participant: "p1")
            ).string("session_id")
        )
        async let waiting = call(double)
        // The call waits: no room is made while there is no place for its bot.
        try await Task.sleep(for: .seconds(1.5))
        #expect(try await roomsCreated(double).isEmpty)
        #expect(try await service.request(.DELETE, "/sessions/\(busy)").status == 202)
        let (status, answer, callID) = try await waiting
        #expect(status == 200)
        #expect(answer["room_url"]?.string == "https://acme.daily.co/dialin-\(callID)")
        #expect(try await roomsCreated(double).count == 1)
        let metrics = PrometheusText.series(try await service.request(.GET, "/metrics").text)
        #expect(metrics[#"autospawn_dialin_calls_total{result="waited"}"#] == 1)
        await service.shutdown()
    }

    @Test func aCallThatWaitsInVainIsAnsweredCapacityAndLeavesNoRoom() async throws {
        let (double, service) = try await start(["AUTOSPAWN_MAX_CONCURRENCY": "1", "AUTOSPAWN_DIALIN_WAIT_S": "1"])
        defer { Task { await double.stop() } }
        try await configure(double, service)
        _ = try await service.webhook(
            Fixtures.variant("daily/participant-joined.json", id: UUID().uuidString, room: "support-1", participant: "p1")
        )
        let (status, answer, _) = try await call(double)
        #expect(status == 503)
        #expect(answer["error"]?.string == "capacity")
        #expect(try await roomsCreated(double).isEmpty)
        #expect(try await service.sessions().count == 1)
        let metrics = PrometheusText.series(try await service.request(.GET, "/metrics").text)
        #expect(metrics[#"autospawn_dialin_calls_total{result="capacity"}"#] == 1)
        await service.shutdown()
    }

    /// A deploy drops no call: a call that reaches an instance after its SIGTERM (before the load balancer heeds
    /// `/ready`) gets its bot there, and the drain waits for that call to end as for the others.
    @Test func aCallToADrainingInstanceGetsItsBotAndTheDrainWaitsForIt() async throws {
        let (double, service) = try await start(["AUTOSPAWN_SHUTDOWN": "drain"])
        defer { Task { await double.stop() } }
        try await configure(double, service)
        let busy = try #require(
            try await service.webhook(
                Fixtures.variant("daily/participant-joined.json", id: UUID().uuidString, room: "support-1", participant: "p1")
            ).string("session_id")
        )
        #expect(try await eventually { try await service.session(busy)["state"] as? String == "running" })
        service.signal(SIGTERM)
        #expect(try await eventually { try await service.request(.GET, "/ready").status == 503 })
        let (status, answer, callID) = try await call(double)
        #expect(status == 200)
        let id = try #require(answer["session_id"]?.string)
        #expect(try await eventually { try await service.session(id)["state"] as? String == "running" })
        // The room that was there before empties: its bot goes, and the call keeps the instance draining.
        _ = try await service.webhook(
            Fixtures.variant("daily/participant-left.json", id: UUID().uuidString, room: "support-1", participant: "p1")
        )
        #expect(try await eventually { try await service.session(busy)["end_reason"] as? String == "room_empty" })
        try await Task.sleep(for: .seconds(1))
        #expect(service.process.isRunning)
        // The caller hangs up: the last call here has ended, and the instance exits 0.
        let room = "dialin-\(callID)"
        _ = try await service.webhook(
            Fixtures.variant("daily/participant-joined.json", id: UUID().uuidString, room: room, participant: "caller")
        )
        _ = try await service.webhook(
            Fixtures.variant("daily/participant-left.json", id: UUID().uuidString, room: room, participant: "caller")
        )
        #expect(await service.waitForExit() == 0)
    }

    /// Past the drain (`stop`, `handover`, or a drain that is over), a call is refused at once and no room is made.
    @Test func aCallToAnInstanceThatIsStoppingIsRefusedWithNoRoom() async throws {
        let (double, service) = try await start([
            "AUTOSPAWN_SHUTDOWN": "stop", "AUTOSPAWN_BOT_COMMAND": ServiceProcess.botCommand("ignore-term"),
            "AUTOSPAWN_STOP_GRACE_S": "5",
        ])
        defer { Task { await double.stop() } }
        try await configure(double, service)
        // A call's bot that ignores SIGTERM keeps the instance stopping for the stop grace.
        let (status, answer, _) = try await call(double, to: "+15559999999")
        #expect(status == 200)
        let id = try #require(answer["session_id"]?.string)
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)/log").text.contains("ready") })
        service.signal(SIGTERM)
        #expect(try await eventually { try await service.request(.GET, "/ready").status == 503 })
        let roomsBefore = try await roomsCreated(double).count
        let refused = try await call(double, to: "+15559999999")
        #expect(refused.status == 503)
        #expect(refused.answer["error"]?.string == "draining")
        #expect(try await roomsCreated(double).count == roomsBefore)
        #expect(await service.waitForExit() == 0)
    }

    /// Two instances on one database: the one that answers Daily has no room for the bot, the other runs it. The bot
    /// forwards its call through the instance that runs it (which stays up while the call lasts), not through the one
    /// that answered (which may be gone by then).
    @Test func aCallsBotForwardsThroughTheInstanceThatRunsIt() async throws {
        let (double, answering) = try await start(["AUTOSPAWN_MAX_LOCAL_BOTS": "1"])
        defer { Task { await double.stop() } }
        try await configure(double, answering)
        // The answering instance's one place is taken.
        _ = try await answering.webhook(
            Fixtures.variant("daily/participant-joined.json", id: UUID().uuidString, room: "support-1", participant: "p1")
        )
        var settings = answering.environment.filter { $0.key.hasPrefix("AUTOSPAWN_") || $0.key.hasPrefix("DAILY_") }
        settings["AUTOSPAWN_MAX_LOCAL_BOTS"] = "5"
        let running = try await ServiceProcess.start(in: answering.directory, settings)
        let (status, answer, callID) = try await call(double)
        #expect(status == 200)
        let id = try #require(answer["session_id"]?.string)
        let body = try await running.botBody(id)
        #expect(body["daily_api_url"]?.string == running.baseURL + "/daily/dialin-api")
        let key = try #require(body["daily_api_key"]?.string)
        let endpoint = try await double.room("dialin-\(callID)")["config"]?["sip_uri"]?["endpoint"] ?? .null
        let update = Array(
            JSONValue.object([
                "callId": .string(callID), "callDomain": .string("double-acme"), "sipUri": endpoint,
            ]).text.utf8
        )
        let forwarded = try await running.request(
            .POST,
            "/daily/dialin-api/dialin/pinlessCallUpdate",
            body: update,
            headers: [("Authorization", "Bearer \(key)")]
        )
        #expect(forwarded.status == 200)
        await running.shutdown()
        await answering.shutdown()
    }

    @Test func aStartedBotsOwnDailyAPIURLIsLeftAsItsCallerGaveIt() async throws {
        // A client that handles its calls itself may start a bot with its own forwarding settings: only a call this
        // service answered forwards through it.
        let (double, service) = try await start()
        defer { Task { await double.stop() } }
        let started = try await service.request(.POST, "/start", body: Fixtures.bytes("start/with-own-dialin.json"))
        #expect(started.status == 200)
        let body = try await service.botBody(try #require(started.string("sessionId")))
        #expect(body["daily_api_url"]?.string == "https://api.daily.co/v1")
        #expect(body["daily_api_key"]?.string == "the-callers-own-key")
        await service.shutdown()
    }

    @Test func withoutADefaultProfileACallToAnUnlistedNumberIsNoProfile() async throws {
        let (double, service) = try await start(["AUTOSPAWN_BOT_COMMAND": ""])
        defer { Task { await double.stop() } }
        try await configure(double, service)
        let (status, answer, _) = try await call(double, to: "+15559999999")
        #expect(status == 404)
        #expect(answer["error"]?.string == "no_profile")
        #expect(try await call(double).status == 200)  // +15550001111 is the support profile's
        await service.shutdown()
    }

    @Test func withoutADialinSecretTheRouteIsNotThere() async throws {
        let service = try await ServiceProcess.start()
        let body = Fixtures.bytes("dialin/call.json")
        let answer = try await post(service, body, headers: TestSigner.headers(body: body, secretBase64: Self.secret, prefix: "X-Pinless"))
        #expect(answer.status == 404)
        await service.shutdown()
    }

    @Test func dialinConfigurePrintsAGeneratedSecretOnceAndSetsTheDomainsConfig() async throws {
        let double = try await DailyDouble.start(apiKey: Self.apiKey)
        defer { Task { await double.stop() } }
        let daily = ["DAILY_API_KEY": Self.apiKey, "DAILY_API_URL": double.baseURL]
        let url = "https://autospawn.example.com/daily/dialin"
        let configured = try await AutospawnCommand.run(["dialin", "configure", "--url", url, "--number", "+15550001111"], environment: daily)
        #expect(configured.status == 0)
        let line = try #require(configured.output.split(separator: "\n").first { $0.hasPrefix("AUTOSPAWN_DIALIN_SECRET=") })
        let secret = String(line.dropFirst("AUTOSPAWN_DIALIN_SECRET=".count))
        #expect(Data(base64Encoded: secret)?.count == 32)
        let sent = try #require(try await double.logged("requests").first { $0["path"]?.string == "/domain-dialin-config" }?["body"])
        #expect(sent["type"]?.string == "pinless_dialin")
        #expect(sent["room_creation_api"]?.string == url)
        #expect(sent["phone_number"]?.string == "+15550001111")
        #expect(sent["hmac"]?.string == secret)
        let listed = try await AutospawnCommand.run(["dialin", "list"], environment: daily)
        #expect(listed.output.contains(url))
        #expect(!listed.output.contains(secret))
        let id = try #require(listed.output.split(separator: " ").first.map(String.init))
        #expect(try await AutospawnCommand.run(["dialin", "delete", id], environment: daily).status == 0)
        #expect(try await AutospawnCommand.run(["dialin", "list"], environment: daily).output.isEmpty)
    }
}
