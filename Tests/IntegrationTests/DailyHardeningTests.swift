import BotRuntime
import DailyDouble
import Foundation
import Policy
import TestSupport
import Testing

/// `/start` and the webhook against the local double of Daily, where Daily is slow, loses answers or fails.
@Suite(.serialized)
struct DailyHardeningTests {
    func start(_ double: DailyDouble.Running, _ settings: [String: String] = [:]) async throws -> ServiceProcess {
        try await ServiceProcess.start(
            ["DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_REAPER_INTERVAL_S": "0.3"].merging(settings) { $1 }
        )
    }

    /// A `/start` whose room came after the start timeout still got its bot, unaccounted for (and a second one
    /// when the human joined); its room was never deleted.
    @Test func aStartGivenUpWhileDailyWasSlowStartsNoBotAndLeavesNoRoom() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await start(double, ["AUTOSPAWN_START_TIMEOUT_S": "1"])
        try await double.control("/_double/faults", body: Array(#"{"delay_s":2.5,"count":1,"path":"/rooms"}"#.utf8))
        let answer = try await service.request(.POST, "/start", body: Fixtures.bytes("start/pipecat-start.json"))
        #expect(answer.status == 504)
        #expect(answer.string("error") == "start_timeout")
        try await Task.sleep(for: .seconds(1))
        #expect(service.liveBots().isEmpty)
        let sessions = try await service.sessions()
        #expect(sessions.count == 1)
        #expect(sessions.first?["end_reason"] as? String == "start_timeout")
        let requests = try await double.logged("requests").map { "\($0["method"]?.string ?? "") \($0["path"]?.string ?? "")" }
        #expect(requests.contains { $0.hasPrefix("DELETE /rooms/pipecat-") })
        await service.shutdown()
    }

    /// A retried `POST /rooms` whose first try had created the room was answered 502.
    @Test func aRoomCreatedByAnAttemptWhoseAnswerWasLostIsUsed() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await start(double)
        try await double.control("/_double/faults", body: Array(#"{"after":true,"count":1,"path":"/rooms"}"#.utf8))
        let answer = try await service.request(.POST, "/start", body: Fixtures.bytes("start/pipecat-start.json"))
        #expect(answer.status == 200)
        let id = try #require(answer.string("sessionId"))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "running" })
        await service.shutdown()
    }

    @Test func aStartThatFailsAfterItsRoomWasMadeDeletesTheRoom() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await start(double)
        try await double.control("/_double/faults", body: Array(#"{"status":400,"count":1,"path":"/meeting-tokens"}"#.utf8))
        let answer = try await service.request(.POST, "/start", body: Fixtures.bytes("start/pipecat-start.json"))
        #expect(answer.status == 502)
        let requests = try await double.logged("requests")
        let created = try #require(requests.first { $0["method"]?.string == "POST" && $0["path"]?.string == "/rooms" })
        let name = try #require(created["body"]?["name"]?.string)
        #expect(requests.contains { $0["method"]?.string == "DELETE" && $0["path"]?.string == "/rooms/\(name)" && $0["status"]?.number == 200 })
        await service.shutdown()
    }

    /// A cross-site form post is a simple request: `/start` took any content type.
    @Test func startTakesJSONOnly() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await start(double)
        for type in ["text/plain", "application/x-www-form-urlencoded", nil] as [String?] {
            let answer = try await service.request(.POST, "/start", body: Fixtures.bytes("start/pipecat-start.json"), contentType: type)
            #expect(answer.status == 415, "\(type ?? "no content type")")
        }
        let json = try await service.request(
            .POST,
            "/start",
            body: Fixtures.bytes("start/pipecat-start.json"),
            contentType: "application/json; charset=utf-8"
        )
        #expect(json.status == 200)
        #expect(try await service.sessions().count == 1)
        await service.shutdown()
    }

    /// The API fuzzer found `dailyMeetingTokenProperties: [...]` accepted (and ignored) with 200.
    @Test func startRefusesPropertiesThatAreNotObjects() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await start(double)
        for (field, error) in [("dailyRoomProperties", "invalid_room_properties"), ("dailyMeetingTokenProperties", "invalid_token_properties")] {
            let body = Array(#"{"createDailyRoom":true,"\#(field)":["x"]}"#.utf8)
            let answer = try await service.request(.POST, "/start", body: body)
            #expect(answer.status == 400)
            #expect(answer.string("error") == error)
        }
        #expect(try await service.sessions().isEmpty)
        #expect(!(try await double.logged("requests").contains { $0["path"]?.string == "/rooms" }))
        await service.shutdown()
    }

    /// A body over 128 KiB cannot be an environment string: the spawn failed after the caller was answered 200.
    @Test func aLargeStartBodyReachesTheBotInItsFile() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await start(double)
        let text = String(repeating: "x", count: 300 * 1024)
        let body = Array(#"{"createDailyRoom":true,"body":{"text":"\#(text)"}}"#.utf8)
        let answer = try await service.request(.POST, "/start", body: body)
        #expect(answer.status == 200)
        let id = try #require(answer.string("sessionId"))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "running" })
        // The bot prints what it got, the file's size last: wait until it has.
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)/log").text.contains("body file bytes") })
        let log = try await service.request(.GET, "/sessions/\(id)/log").text
        #expect(log.contains("env AUTOSPAWN_BODY=<unset>"))
        #expect(log.contains("env AUTOSPAWN_BODY_FILE=/dev/fd/3"))
        #expect(log.contains("body file bytes: \(text.utf8.count + 11)"))
        await service.shutdown()
    }

    /// Three failed deliveries turn a circuit-breaker webhook FAILED; Daily then sends nothing, for the whole
    /// domain. The service notices and switches its own webhook on again; `webhook create` asks for retries.
    @Test func aFailedWebhookOfThisServiceIsReactivated() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await start(double, ["AUTOSPAWN_WEBHOOK_CHECK_S": "0.5"])
        let client = DailyClient(baseURL: double.baseURL, apiKey: "k")
        // Registered as Daily's default has it, signed with the service's secret; and one of someone else's.
        let ours = try await client.createWebhook(
            url: service.baseURL + "/daily/webhook",
            hmac: ServiceProcess.secret,
            eventTypes: [],
            retryType: "circuit-breaker"
        )
        let theirs = try await client.createWebhook(
            url: double.baseURL + "/_double/sink",
            hmac: "b3RoZXI=",
            eventTypes: [],
            retryType: "circuit-breaker"
        )
        try await double.control("/_double/faults", body: Array(#"{"status":500,"count":1000,"path":"/webhooks"}"#.utf8))
        // Three deliveries the service cannot take (not JSON: 400) switch it off; the fourth is not sent.
        for _ in 0..<3 {
            try await double.control("/_double/webhooks/deliver", body: Fixtures.bytes("malformed/not-json.txt"))
        }
        // FAILED: the next event does not reach the service (null), while the other webhook still gets it.
        let skipped = try await double.control("/_double/webhooks/deliver", body: Fixtures.bytes("daily/participant-joined.json"))
        guard case .array(let statuses)? = skipped["statuses"] else { throw HarnessError("no statuses") }
        #expect(statuses.contains(.null))
        #expect(try await service.sessions().isEmpty)
        try await double.control("/_double/faults", method: .DELETE, body: [])
        #expect(try await eventually { try await client.webhook(ours.uuid).state == "ACTIVE" })
        #expect(try await client.webhook(theirs.uuid).state == "ACTIVE")  // never failed: left alone
        let delivered = try await double.control("/_double/webhooks/deliver", body: Fixtures.bytes("daily/participant-joined.json"))
        #expect(delivered["statuses"] == .array([.number(200), .number(200)]))
        let metrics = try await service.request(.GET, "/metrics").text
        #expect(metrics.contains("autospawn_webhook_reactivations_total 1"))
        #expect(service.log.contains("re-activated"))
        await service.shutdown()
    }

    @Test func webhookCreateAsksForRetriesNotTheCircuitBreaker() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServiceProcess.executable)
        process.arguments = ["webhook", "create", "--url", double.baseURL + "/_double/sink", "--api-url", double.baseURL, "--api-key", "k"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Waited for without blocking a thread: the double that it calls answers on this process's threads.
        while process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(process.terminationStatus == 0)
        let created = try await DailyClient(baseURL: double.baseURL, apiKey: "k").webhooks()
        #expect(created.map(\.retryType) == ["exponential"])
    }
}
