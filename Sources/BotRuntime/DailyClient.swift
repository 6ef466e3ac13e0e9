import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Policy

/// An error answer of Daily's REST API (`{"error":"<type>","info":"<text>"}`).
package struct DailyAPIError: Error, Equatable, CustomStringConvertible {
    package var status: Int
    /// Daily's error type, e.g. `authentication-error`, `rate-limit-error`, `invalid-request-error`.
    package var type: String
    package var info: String
    /// `METHOD /path` of the request (never its headers: they hold the API key).
    package var endpoint: String

    package var description: String { "Daily \(endpoint): \(status) \(type): \(info)" }

    /// Worth trying again: rate limited or a server error.
    package var isTransient: Bool { status == 429 || status >= 500 }
}

/// Daily could not be reached, or kept failing until the retries ran out.
package struct DailyUnavailableError: Error, CustomStringConvertible {
    package var endpoint: String
    package var attempts: Int
    package var lastError: String

    package var description: String { "Daily \(endpoint) failed after \(attempts) attempts: \(lastError)" }
}

/// How failed requests are retried: exponential backoff with full jitter, bounded in attempts and time.
package struct RetryPolicy: Sendable {
    package var maxAttempts: Int
    package var baseDelay: Double
    package var maxDelay: Double
    /// No new attempt starts after this many seconds since the first one.
    package var totalTime: Double
    package var requestTimeout: Double

    package init(maxAttempts: Int = 5, baseDelay: Double = 0.25, maxDelay: Double = 4, totalTime: Double = 20, requestTimeout: Double = 10) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.totalTime = totalTime
        self.requestTimeout = requestTimeout
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1).
    func delay(after attempt: Int) -> Double {
        Double.random(in: 0...min(maxDelay, baseDelay * pow(2, Double(attempt - 1))))
    }
}

/// Keeps the whole service under Daily's rate limit, however many rooms are busy: request starts are paced
/// evenly, `1/perSecond` apart. Evenly spaced starts still arrive under the limit when the network bunches
/// them a little; a burst allowance would not. The limit is the Daily domain's: several live instances each
/// pace at their share of it (`share(among:)`).
package actor RequestLimiter {
    private let perSecond: Int
    private var interval: Duration
    private var nextSlot = ContinuousClock.now
    /// The instances the limit is shared among now.
    package private(set) var sharers = 1

    package init(perSecond: Int = 15) {
        self.perSecond = max(1, perSecond)
        interval = .seconds(1) / max(1, perSecond)
    }

    /// Paces at `1/instances` of the limit; returns true when the share changed.
    @discardableResult
    package func share(among instances: Int) -> Bool {
        let instances = max(1, instances)
        guard instances != sharers else { return false }
        sharers = instances
        interval = .seconds(1) * instances / perSecond
        return true
    }

    /// Waits until a request may start, and takes its slot.
    package func acquire() async {
        let now = ContinuousClock.now
        let slot = max(now, nextSlot)
        nextSlot = slot + interval
        if slot > now { try? await Task.sleep(until: slot, clock: .continuous) }
    }
}

/// Daily's REST API: rooms, meeting tokens, presence, eject, the domain, webhooks.
package struct DailyClient: Sendable {
    package let baseURL: String
    private let apiKey: String
    private let http: HTTPClient
    private let limiter: RequestLimiter
    private let retry: RetryPolicy
    private let logger: Logger
    private let metrics: ServiceMetrics

    package init(
        baseURL: String,
        apiKey: String,
        http: HTTPClient = .shared,
        limiter: RequestLimiter = RequestLimiter(),
        retry: RetryPolicy = RetryPolicy(),
        logger: Logger = Logger(label: "autospawn.daily"),
        metrics: ServiceMetrics = .disabled
    ) {
        self.metrics = metrics
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.http = http
        self.limiter = limiter
        self.retry = retry
        self.logger = logger
    }

    /// Paces this instance at its share of the domain's rate limit among `instances` live ones.
    package func shareRateLimit(among instances: Int) async {
        if await limiter.share(among: instances) {
            logger.info("pacing Daily requests at a share of the rate limit", metadata: ["instances": "\(instances)"])
        }
    }

    // MARK: Endpoints

    /// The domain's name (`domain_name` of the API root).
    package func domainName() async throws -> String {
        let root = try await send(.GET, "/", as: JSONValue.self)
        guard let name = root["domain_name"]?.string else {
            throw DailyAPIError(status: 200, type: "unexpected-response", info: "no domain_name in the API root", endpoint: "GET /")
        }
        return name
    }

    package func createRoom(name: String?, privacy: String? = nil, properties: [String: JSONValue] = [:]) async throws -> DailyRoom {
        var body: [String: JSONValue] = ["properties": .object(properties)]
        if let name { body["name"] = .string(name) }
        if let privacy { body["privacy"] = .string(privacy) }
        return try await send(.POST, "/rooms", body: JSONValue.object(body), as: DailyRoom.self)
    }

    package func room(_ name: String) async throws -> DailyRoom {
        try await send(.GET, "/rooms/\(name)", as: DailyRoom.self)
    }

    package func deleteRoom(_ name: String) async throws {
        _ = try await send(.DELETE, "/rooms/\(name)", as: JSONValue.self)
    }

    /// A meeting token with these properties (always give `room_name`).
    package func meetingToken(_ properties: [String: JSONValue]) async throws -> String {
        struct Token: Decodable { var token: String }
        return try await send(.POST, "/meeting-tokens", body: JSONValue.object(["properties": .object(properties)]), as: Token.self).token
    }

    /// Who is in the room now; a room Daily does not know is empty.
    package func presence(_ room: String) async throws -> [DailyPresence] {
        struct Presence: Decodable { var data: [DailyPresence] }
        do {
            return try await send(.GET, "/rooms/\(room)/presence", as: Presence.self).data
        } catch let error as DailyAPIError where error.status == 404 {
            return []
        }
    }

    /// Removes participants from a room, by user id.
    package func eject(room: String, userIDs: [String]) async throws {
        let body = JSONValue.object(["user_ids": .array(userIDs.map(JSONValue.string))])
        _ = try await send(.POST, "/rooms/\(room)/eject", body: body, as: JSONValue.self)
    }

    package func createWebhook(url: String, hmac: String?, eventTypes: [String], retryType: String? = nil) async throws -> DailyWebhook {
        var body: [String: JSONValue] = ["url": .string(url), "eventTypes": .array(eventTypes.map(JSONValue.string))]
        if let hmac { body["hmac"] = .string(hmac) }
        if let retryType { body["retryType"] = .string(retryType) }
        return try await send(.POST, "/webhooks", body: JSONValue.object(body), as: DailyWebhook.self)
    }

    package func webhooks() async throws -> [DailyWebhook] {
        try await send(.GET, "/webhooks", as: [DailyWebhook].self)
    }

    package func webhook(_ uuid: String) async throws -> DailyWebhook {
        try await send(.GET, "/webhooks/\(uuid)", as: DailyWebhook.self)
    }

    /// Updates a webhook; also how a webhook that Daily turned `FAILED` is switched on again.
    package func updateWebhook(_ uuid: String, changes: [String: JSONValue]) async throws -> DailyWebhook {
        try await send(.POST, "/webhooks/\(uuid)", body: JSONValue.object(changes), as: DailyWebhook.self)
    }

    package func deleteWebhook(_ uuid: String) async throws {
        _ = try await send(.DELETE, "/webhooks/\(uuid)", as: JSONValue.self)
    }

    /// Hands a held dial-in call to the room's SIP endpoint (what a bot does once Daily says the room is ready).
    package func pinlessCallUpdate(callID: String, callDomain: String, sipURI: String) async throws -> JSONValue {
        let body = JSONValue.object(["callId": .string(callID), "callDomain": .string(callDomain), "sipUri": .string(sipURI)])
        return try await send(.POST, "/dialin/pinlessCallUpdate", body: body, as: JSONValue.self)
    }

    /// Creates the domain's pinless dial-in config (`type: pinless_dialin`, `room_creation_api`, `hmac`, ...).
    package func createDialinConfig(_ config: [String: JSONValue]) async throws -> JSONValue {
        try await send(.POST, "/domain-dialin-config", body: JSONValue.object(config), as: JSONValue.self)
    }

    /// The domain's dial-in configs.
    package func dialinConfigs() async throws -> JSONValue {
        try await send(.GET, "/domain-dialin-config", as: JSONValue.self)
    }

    package func deleteDialinConfig(_ id: String) async throws {
        _ = try await send(.DELETE, "/domain-dialin-config/\(id)", as: JSONValue.self)
    }

    // MARK: Transport

    private func send<Answer: Decodable>(
        _ method: HTTPMethod,
        _ path: String,
        body: JSONValue? = nil,
        as: Answer.Type
    ) async throws -> Answer {
        let endpoint = "\(method.rawValue) \(path)"
        let template = "\(method.rawValue) \(Self.template(of: path))"
        let payload = try body.map { try JSONEncoder().encode($0) }
        let started = ContinuousClock.now
        var attempt = 0
        var lastError = ""
        while attempt < retry.maxAttempts && ContinuousClock.now - started < .seconds(retry.totalTime) {
            attempt += 1
            if attempt > 1 { try await Task.sleep(for: .seconds(retry.delay(after: attempt - 1))) }
            await limiter.acquire()
            var request = HTTPClientRequest(url: baseURL + path)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
            if let payload {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: payload))
            }
            let status: Int
            let data: ByteBuffer
            do {
                let response = try await http.execute(request, timeout: .seconds(Int64(retry.requestTimeout)))
                status = Int(response.status.code)
                data = try await response.body.collect(upTo: 4 << 20)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                metrics.dailyCall(endpoint: template, status: "error")
                lastError = "\(error)"
                logger.warning("Daily request failed", metadata: ["endpoint": "\(endpoint)", "attempt": "\(attempt)", "error": "\(error)"])
                continue
            }
            metrics.dailyCall(endpoint: template, status: String(status))
            if (200..<300).contains(status) {
                do {
                    return try JSONDecoder().decode(Answer.self, from: Data(data.readableBytesView))
                } catch {
                    throw DailyAPIError(status: status, type: "unexpected-response", info: "\(error)", endpoint: endpoint)
                }
            }
            let answer = try? JSONDecoder().decode(JSONValue.self, from: Data(data.readableBytesView))
            let error = DailyAPIError(
                status: status,
                type: answer?["error"]?.string ?? "http-\(status)",
                info: answer?["info"]?.string ?? "",
                endpoint: endpoint
            )
            guard error.isTransient else { throw error }
            lastError = error.description
            logger.warning(
                "Daily answered with a transient error",
                metadata: ["endpoint": "\(endpoint)", "attempt": "\(attempt)", "status": "\(status)"]
            )
        }
        throw DailyUnavailableError(endpoint: endpoint, attempts: attempt, lastError: lastError)
    }

    /// The path with its room name or webhook id replaced (`/rooms/:name/presence`): a metric label that does
    /// not grow with the rooms.
    static func template(of path: String) -> String {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for index in parts.indices.dropFirst() where index + 1 < parts.count && !parts[index + 1].isEmpty {
            if parts[index] == "rooms" { parts[index + 1] = ":name" }
            if parts[index] == "webhooks" || parts[index] == "domain-dialin-config" { parts[index + 1] = ":id" }
        }
        return parts.joined(separator: "/")
    }
}

/// A room as Daily describes it.
package struct DailyRoom: Codable, Sendable, Equatable {
    package var id: String?
    package var name: String
    package var url: String
    package var privacy: String?
    package var config: JSONValue?

    /// The addresses its SIP endpoints are dialled at (`config.sip_uri`: `endpoint` and `extra_endpoints`).
    package var sipEndpoints: [String] {
        var endpoints = [config?["sip_uri"]?["endpoint"]?.string].compactMap { $0 }
        if case .array(let extra)? = config?["sip_uri"]?["extra_endpoints"] { endpoints += extra.compactMap(\.string) }
        return endpoints
    }
}

/// One participant of `GET /rooms/:name/presence` (camelCase, unlike webhooks).
package struct DailyPresence: Codable, Sendable, Equatable {
    package var id: String?
    package var userId: String?
    package var userName: String?
}

/// A webhook as Daily describes it (the `hmac` secret is not kept in this type's description).
package struct DailyWebhook: Codable, Sendable, Equatable {
    package var uuid: String
    package var url: String
    package var hmac: String?
    package var state: String?
    package var failedCount: Int?
    package var retryType: String?
    package var eventTypes: [String]?
}
