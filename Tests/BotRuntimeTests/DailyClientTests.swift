import AsyncHTTPClient
import BotRuntime
import DailyDouble
import Foundation
import NIOCore
import NIOHTTP1
import Policy
import Testing

/// The Daily client against the project's local double of Daily's REST API (never the real Daily).
@Suite(.serialized)
struct DailyClientTests {
    /// Short waits between tries; a request may take 5 s, so that a loaded machine (the whole suite on 2 cores)
    /// does not time out answers the double gave (a 1 s limit was seen to, counting one request twice).
    let fast = RetryPolicy(maxAttempts: 4, baseDelay: 0.05, maxDelay: 0.2, totalTime: 20, requestTimeout: 5)

    func requests(_ log: JSONValue) -> [JSONValue] {
        if case .array(let items)? = log["requests"] { return items }
        return []
    }

    @Test func roomsTokensPresenceAndEjectFollowDailysPaths() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let client = DailyClient(baseURL: double.baseURL, apiKey: "k", retry: fast)
        #expect(try await client.domainName() == "acme")
        let room = try await client.createRoom(name: "demo-room", properties: ["exp": .number(1_900_000_000)])
        #expect(room.url == "https://acme.daily.co/demo-room")
        #expect(try await client.room("demo-room").name == "demo-room")
        let token = try await client.meetingToken([
            "room_name": .string("demo-room"), "is_owner": .bool(true), "user_id": .string("autospawn-0123456789abcdef0123456789"),
        ])
        #expect(token.split(separator: ".").count == 3)
        let tokenRequest = try #require(requests(try await double.log()).last { $0["path"]?.string == "/meeting-tokens" })
        #expect(tokenRequest["body"]?["properties"]?["is_owner"] == .bool(true))
        #expect(try await client.presence("demo-room").isEmpty)
        try await double.setPresence(
            of: "demo-room",
            [.init(id: "p1", userID: "autospawn-x", userName: "Pipecat Bot"), .init(id: "p2", userID: "u2", userName: "Jane")]
        )
        #expect(try await client.presence("demo-room").map(\.userId) == ["autospawn-x", "u2"])
        try await client.eject(room: "demo-room", userIDs: ["autospawn-x"])
        #expect(try await client.presence("demo-room").map(\.userName) == ["Jane"])
        try await client.deleteRoom("demo-room")
        #expect(try await client.presence("demo-room").isEmpty)  // a room Daily no longer knows is empty
        await #expect(throws: DailyAPIError.self) { try await client.room("demo-room") }
    }

    @Test func serverErrorsAndRateLimitsAreRetried() async throws {
        let double = try await DailyDouble.start(apiKey: "k")
        defer { Task { await double.stop() } }
        try await double.control("/_double/faults", body: Array(#"{"status":500,"count":2}"#.utf8))
        try await double.control("/_double/faults", body: Array(#"{"status":429,"count":1}"#.utf8))
        let client = DailyClient(baseURL: double.baseURL, apiKey: "k", retry: fast)
        #expect(try await client.domainName() == "double")
        #expect(requests(try await double.log()).compactMap { $0["status"]?.number } == [500, 500, 429, 200])
    }

    @Test func retriesAreBoundedAndClientErrorsAreNotRetried() async throws {
        let double = try await DailyDouble.start(apiKey: "k")
        defer { Task { await double.stop() } }
        try await double.control("/_double/faults", body: Array(#"{"status":503,"count":4}"#.utf8))
        let client = DailyClient(baseURL: double.baseURL, apiKey: "k", retry: fast)
        let error = await #expect(throws: DailyUnavailableError.self) { try await client.domainName() }
        #expect(error?.attempts == 4)
        let wrongKey = DailyClient(baseURL: double.baseURL, apiKey: "wrong", retry: fast)
        let before = requests(try await double.log()).count
        let authError = await #expect(throws: DailyAPIError.self) { try await wrongKey.domainName() }
        #expect(authError?.type == "authentication-error")
        #expect(authError?.status == 401)
        #expect(authError?.description.contains("wrong") == false)  // the key never appears in an error
        #expect(requests(try await double.log()).count == before + 1)  // one 401, not retried
    }

    @Test func slowAnswersTimeOutAndAreRetried() async throws {
        let double = try await DailyDouble.start(apiKey: "k")
        defer { Task { await double.stop() } }
        try await double.control("/_double/faults", body: Array(#"{"delay_s":2,"count":1}"#.utf8))
        let impatient = RetryPolicy(maxAttempts: 4, baseDelay: 0.05, maxDelay: 0.2, totalTime: 10, requestTimeout: 1)
        let client = DailyClient(baseURL: double.baseURL, apiKey: "k", retry: impatient)
        #expect(try await client.domainName() == "double")
    }

    @Test func refusedConnectionsEndInATypedError() async throws {
        let client = DailyClient(baseURL: "http://127.0.0.1:9", apiKey: "k", retry: fast)
        let error = await #expect(throws: DailyUnavailableError.self) { try await client.domainName() }
        #expect(error?.attempts == 4)
        #expect(error?.endpoint == "GET /")
    }

    @Test func oneLimiterKeepsManyCallersUnderTheRateLimit() async throws {
        let double = try await DailyDouble.start(apiKey: "k", rateLimitPerSecond: 20)
        defer { Task { await double.stop() } }
        // 45 callers at once against a 20 requests/s limit. Without the limiter more than half are refused
        // (429); paced, the double's window seldom fills: a loaded machine bunches a few starts (5 were seen in a
        // fresh-clone CI run), far from the 23 or more of no pacing.
        let client = DailyClient(baseURL: double.baseURL, apiKey: "k", limiter: RequestLimiter(perSecond: 15), retry: fast)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<45 { group.addTask { _ = try await client.domainName() } }
            try await group.waitForAll()
        }
        let statuses = requests(try await double.log()).compactMap { $0["status"]?.number }
        #expect(statuses.filter { $0 == 200 }.count == 45)
        #expect(statuses.filter { $0 == 429 }.count <= 8)
    }

    /// Daily's limit is the domain's: three instances that each paced at the whole of it sent three times too much.
    /// Each at its share (`shareRateLimit(among:)`, from the live leases), together they stay under it.
    @Test func instancesSharingTheRateLimitStayUnderItTogether() async throws {
        let double = try await DailyDouble.start(apiKey: "k", rateLimitPerSecond: 20)
        defer { Task { await double.stop() } }
        let clients = (0..<3).map { _ in
            DailyClient(baseURL: double.baseURL, apiKey: "k", limiter: RequestLimiter(perSecond: 15), retry: fast)
        }
        for client in clients { await client.shareRateLimit(among: 3) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<45 { group.addTask { _ = try await clients[index % 3].domainName() } }
            try await group.waitForAll()
        }
        let statuses = requests(try await double.log()).compactMap { $0["status"]?.number }
        #expect(statuses.filter { $0 == 200 }.count == 45)
        #expect(statuses.filter { $0 == 429 }.count <= 8)
    }

    @Test func webhookCreationProbesTheURLLikeDaily() async throws {
        let double = try await DailyDouble.start(apiKey: "k")
        defer { Task { await double.stop() } }
        // Daily's probe may take its whole few seconds: the client waits longer than that.
        let client = DailyClient(baseURL: double.baseURL, apiKey: "k", retry: RetryPolicy(maxAttempts: 1, requestTimeout: 10))
        let webhook = try await client.createWebhook(
            url: double.baseURL + "/_double/sink",
            hmac: "c2VjcmV0",
            eventTypes: ["participant.joined"]
        )
        #expect(webhook.state == "ACTIVE")
        #expect(try await double.log()["sink"] == .array([.object(["test": .string("test")])]))
        #expect(try await client.webhooks().map(\.uuid) == [webhook.uuid])
        // Updating (how a webhook Daily turned FAILED is switched on again) probes the URL once more.
        let updated = try await client.updateWebhook(webhook.uuid, changes: ["eventTypes": .array([.string("meeting.ended")])])
        #expect(updated.state == "ACTIVE")
        #expect(updated.eventTypes == ["meeting.ended"])
        #expect(try await double.log()["sink"] == .array([.object(["test": .string("test")]), .object(["test": .string("test")])]))
        let refused = await #expect(throws: DailyAPIError.self) {
            try await client.createWebhook(url: "http://127.0.0.1:9/daily/webhook", hmac: nil, eventTypes: [])
        }
        #expect(refused?.status == 400)
        try await client.deleteWebhook(webhook.uuid)
        #expect(try await client.webhooks().isEmpty)
    }
}
