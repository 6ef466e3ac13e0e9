import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Policy
import ServiceLifecycle

/// A local stand-in for Daily's REST API (`https://api.daily.co/v1`), for tests and local demos only: the
/// real Daily cannot be reached from here. Same paths, `Bearer` auth failures, `{"error","info"}` bodies,
/// 429 above the rate limit; plus controls under `/_double/` that Daily does not have (presence, faults,
/// a request log, a webhook sink, signed event delivery, a phone call to the pinless dial-in config).
package enum DailyDouble {
    /// Builds the double's HTTP application.
    package static func application(
        apiKey: String,
        domain: String,
        host: String = "127.0.0.1",
        port: Int = 0,
        rateLimitPerSecond: Int = 20,
        logger: Logger = Logger(label: "daily-double"),
        onListening: (@Sendable (Int) -> Void)? = nil
    ) -> some ApplicationProtocol {
        let state = DailyDoubleState(apiKey: apiKey, domain: domain, rateLimitPerSecond: rateLimitPerSecond)
        let router = Router()
        router.add(middleware: DailyGate(state: state))
        addDailyRoutes(router, state: state)
        addDialinRoutes(router, state: state)
        addControlRoutes(router, state: state)
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "daily-double"),
            onServerRunning: { channel in
                if let port = channel.localAddress?.port { onListening?(port) }
            },
            logger: logger
        )
    }

    /// A double running in this process (tests): its base URL, stopped by `stop()`.
    package final class Running: Sendable {
        package let port: Int
        private let group: ServiceGroup
        private let task: Task<Void, any Error>

        init(port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
            self.port = port
            self.group = group
            self.task = task
        }

        /// `http://127.0.0.1:<port>`, the `DAILY_API_URL` to use.
        package var baseURL: String { "http://127.0.0.1:\(port)" }

        /// Shuts the double down gracefully (requests in flight are answered) and waits until its port is closed.
        package func stop() async {
            await group.triggerGracefulShutdown()
            _ = await task.result
        }

        /// `GET /_double/log`: `requests` (method, path, status, body), `sink`, `agents`.
        package func log() async throws -> JSONValue {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: baseURL + "/_double/log"), timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 64 << 20)
            return try JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView))
        }

        /// The entries of one list of the log (`requests`, `sink`, `agents`).
        package func logged(_ list: String) async throws -> [JSONValue] {
            if case .array(let items)? = try await log()[list] { return items }
            return []
        }

        /// `GET /_double/rooms/{room}`: the room as `GET /rooms/{room}` answers it, without a key.
        package func room(_ name: String) async throws -> JSONValue {
            try await control("/_double/rooms/\(name)", method: .GET, body: [])
        }

        /// `PUT /_double/rooms/{room}/presence`: who Daily's presence lists in the room from now on.
        package func setPresence(of room: String, _ present: [Present]) async throws {
            let list = JSONValue.array(
                present.map { .object(["id": .string($0.id), "userId": .string($0.userID), "userName": .string($0.userName)]) }
            )
            try await control("/_double/rooms/\(room)/presence", method: .PUT, body: Array(list.text.utf8))
        }

        /// Sends a control request (`/_double/...`) and returns its JSON answer.
        @discardableResult
        package func control(_ path: String, method: HTTPMethod = .POST, body: [UInt8]) async throws -> JSONValue {
            var request = HTTPClientRequest(url: baseURL + path)
            request.method = method
            request.body = .bytes(ByteBuffer(bytes: body))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let answer = try await response.body.collect(upTo: 1 << 20)
            guard response.status.code == 200 else { throw DoubleControlError(path: path, status: Int(response.status.code)) }
            return (try? JSONDecoder().decode(JSONValue.self, from: Data(answer.readableBytesView))) ?? .null
        }
    }

    /// One who is in a room, as Daily's presence lists them.
    package struct Present: Sendable {
        package var id: String
        package var userID: String
        package var userName: String

        package init(id: String, userID: String, userName: String) {
            self.id = id
            self.userID = userID
            self.userName = userName
        }
    }

    /// A control request the double refused.
    package struct DoubleControlError: Error {
        package let path: String
        package let status: Int
    }

    /// Starts a double on a loopback port: a free one by default, or `port` (to bring a stopped double back).
    package static func start(
        apiKey: String,
        domain: String = "double",
        port: Int = 0,
        rateLimitPerSecond: Int = 20
    ) async throws -> Running {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = application(apiKey: apiKey, domain: domain, port: port, rateLimitPerSecond: rateLimitPerSecond) {
            continuation.yield($0)
            continuation.finish()
        }
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "daily-double")))
        // The double outlives this call: a test starts it, uses it and stops it (`Running.stop`), which ends this task.
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        for await port in ports { return Running(port: port, group: group, task: task) }
        // The server never listened (its port is taken, say): say why.
        try await task.value
        throw CancellationError()
    }
}

/// Faults, the rate limit and authentication, in that order, for every Daily path.
struct DailyGate<Context: RequestContext>: RouterMiddleware {
    let state: DailyDoubleState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path.hasPrefix("/_double/") { return try await next(request, context) }
        var request = request
        let buffer = try await request.collectBody(upTo: 1 << 20)
        let body = try? JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))
        let response = try await answer(request, body: body, context: context, next: next)
        await state.log(
            .init(
                method: request.method.rawValue,
                path: request.uri.path,
                status: Int(response.status.code),
                body: body,
                at: Date().timeIntervalSince1970
            )
        )
        return response
    }

    private func answer(
        _ request: Request,
        body: JSONValue?,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if let fault = await state.takeFault(path: request.uri.path) {
            if fault.after == true {
                // Daily acted, then its answer was lost.
                _ = try await next(request, context)
            }
            if let delay = fault.delaySeconds { try await Task.sleep(for: .seconds(delay)) }
            if let status = fault.status {
                return dailyError(status, status == 429 ? "rate-limit-error" : "server-error", "injected fault")
            }
            if fault.after == true { return dailyError(500, "server-error", "injected fault") }
        }
        guard await state.admit(now: Date().timeIntervalSince1970) else {
            return dailyError(429, "rate-limit-error", "Too many requests")
        }
        guard let authorization = request.headers[.authorization] else {
            return dailyError(400, "authorization-header-error", "Authorization header missing")
        }
        guard authorization == "Bearer \(state.apiKey)" else {
            return dailyError(401, "authentication-error", "Invalid API key")
        }
        return try await next(request, context)
    }
}

func dailyJSON(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

func dailyError(_ status: Int, _ type: String, _ info: String) -> Response {
    dailyJSON(HTTPResponse.Status(code: status), .object(["error": .string(type), "info": .string(info)]))
}

func requestBody(_ request: Request) async throws -> JSONValue {
    var request = request
    let buffer = try await request.collectBody(upTo: 1 << 20)
    if buffer.readableBytes == 0 { return .object([:]) }
    return (try? JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))) ?? .null
}

private func randomName(_ count: Int) -> String {
    String((0..<count).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement() ?? "a" })
}

func addDailyRoutes(_ router: Router<BasicRequestContext>, state: DailyDoubleState) {
    router.get("/") { _, _ in
        dailyJSON(.ok, .object(["domain_name": .string(state.domain), "domain_id": .string("double-\(state.domain)")]))
    }
    router.post("rooms") { request, _ -> Response in
        let body = try await requestBody(request)
        guard body.object != nil else { return dailyError(400, "json-parsing-error", "Invalid JSON") }
        let name = body["name"]?.string ?? randomName(20)
        guard isDailyRoomName(name) else { return dailyError(400, "invalid-request-error", "name: invalid room name") }
        var config = body["properties"]?.object ?? [:]
        if case .object(let sip)? = config["sip"] {
            // Daily adds the read-only addresses the room's SIP endpoints are dialled at (docs.daily.co, SIP dial-in).
            let endpoints = (0..<max(1, Int(sip["num_endpoints"]?.number ?? 1))).map { _ in
                JSONValue.string("sip:\(Int.random(in: 100_000_000...999_999_999))@\(state.domain).sip.daily.co")
            }
            var uri: [String: JSONValue] = ["endpoint": endpoints[0]]
            if endpoints.count > 1 { uri["extra_endpoints"] = .array(Array(endpoints.dropFirst())) }
            config["sip_uri"] = .object(uri)
        }
        let room = JSONValue.object([
            "id": .string(UUID().uuidString.lowercased()), "name": .string(name), "api_created": .bool(true),
            "privacy": body["privacy"] ?? .string("public"), "url": .string("https://\(state.domain).daily.co/\(name)"),
            "created_at": .string(Date().formatted(.iso8601)), "config": .object(config),
        ])
        guard await state.createRoom(room, name: name) else {
            return dailyError(400, "invalid-request-error", "a room named \(name) already exists")
        }
        return dailyJSON(.ok, room)
    }
    router.get("rooms/:name") { _, context -> Response in
        let name = context.parameters.get("name") ?? ""
        guard let room = await state.room(name) else { return dailyError(404, "not-found", "room \(name) not found") }
        return dailyJSON(.ok, room)
    }
    router.delete("rooms/:name") { _, context -> Response in
        let name = context.parameters.get("name") ?? ""
        guard await state.deleteRoom(name) else { return dailyError(404, "not-found", "room \(name) not found") }
        return dailyJSON(.ok, .object(["deleted": .bool(true), "name": .string(name)]))
    }
    router.get("rooms/:name/presence") { _, context -> Response in
        let name = context.parameters.get("name") ?? ""
        guard await state.knows(name) else { return dailyError(404, "not-found", "room \(name) not found") }
        let participants = await state.participants(name)
        return dailyJSON(.ok, .object(["total_count": .number(Double(participants.count)), "data": .array(participants)]))
    }
    router.post("rooms/:name/eject") { request, context -> Response in
        let name = context.parameters.get("name") ?? ""
        guard await state.knows(name) else { return dailyError(404, "not-found", "room \(name) not found") }
        guard case .array(let ids)? = try await requestBody(request)["user_ids"] else {
            return dailyError(400, "invalid-request-error", "user_ids: an array is required")
        }
        let ejected = await state.eject(room: name, userIDs: Set(ids.compactMap(\.string)))
        return dailyJSON(.ok, .object(["ejected": .array(ejected.map(JSONValue.string))]))
    }
    router.post("meeting-tokens") { request, _ -> Response in
        guard let properties = try await requestBody(request)["properties"]?.object else {
            return dailyError(400, "invalid-request-error", "properties: an object is required")
        }
        if let userID = properties["user_id"]?.string, userID.count > 36 {
            return dailyError(400, "invalid-request-error", "user_id: at most 36 characters")
        }
        // Shaped like a JWT; the double does not sign it.
        let payload = (try? JSONEncoder().encode(JSONValue.object(properties))) ?? Data()
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + payload.base64EncodedString() + ".double"
        return dailyJSON(.ok, .object(["token": .string(token)]))
    }
    router.post("webhooks") { request, _ -> Response in
        let body = try await requestBody(request)
        guard let url = body["url"]?.string else { return dailyError(400, "invalid-request-error", "url: required") }
        guard await probe(url) else {
            return dailyError(400, "invalid-request-error", "non-200 status code returned from webhook endpoint, recvd 0")
        }
        let uuid = UUID().uuidString.lowercased()
        let now = JSONValue.string(Date().formatted(.iso8601))
        let secret = body["hmac"]?.string ?? Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let webhook = JSONValue.object([
            "uuid": .string(uuid), "url": .string(url), "hmac": .string(secret), "basicAuth": .null,
            "retryType": body["retryType"] ?? .string("circuit-breaker"), "eventTypes": body["eventTypes"] ?? .array([]),
            "state": .string("ACTIVE"), "failedCount": .number(0), "createdAt": now, "updatedAt": now,
        ])
        await state.saveWebhook(webhook, uuid: uuid)
        return dailyJSON(.ok, webhook)
    }
    router.get("webhooks") { _, _ in dailyJSON(.ok, .array(await state.allWebhooks())) }
    router.get("webhooks/:uuid") { _, context -> Response in
        let uuid = context.parameters.get("uuid") ?? ""
        guard let webhook = await state.webhook(uuid) else { return dailyError(404, "not-found", "webhook \(uuid) not found") }
        return dailyJSON(.ok, webhook)
    }
    router.post("webhooks/:uuid") { request, context -> Response in
        let uuid = context.parameters.get("uuid") ?? ""
        guard var fields = await state.webhook(uuid)?.object else { return dailyError(404, "not-found", "webhook \(uuid) not found") }
        let changes = try await requestBody(request).object ?? [:]
        for (key, value) in changes where ["url", "hmac", "eventTypes", "retryType", "basicAuth"].contains(key) { fields[key] = value }
        guard let url = fields["url"]?.string, await probe(url) else {
            return dailyError(400, "invalid-request-error", "non-200 status code returned from webhook endpoint")
        }
        fields["state"] = .string("ACTIVE")
        fields["failedCount"] = .number(0)
        fields["updatedAt"] = .string(Date().formatted(.iso8601))
        await state.saveWebhook(.object(fields), uuid: uuid)
        return dailyJSON(.ok, .object(fields))
    }
    router.delete("webhooks/:uuid") { _, context -> Response in
        let uuid = context.parameters.get("uuid") ?? ""
        guard await state.deleteWebhook(uuid) else { return dailyError(404, "not-found", "webhook \(uuid) not found") }
        return dailyJSON(.ok, .object(["uuid": .string(uuid), "deleted": .bool(true)]))
    }
}

/// Like Daily: POST `{"test":"test"}` to the URL and require 200 within a few seconds.
private func probe(_ url: String) async -> Bool {
    var request = HTTPClientRequest(url: url)
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    request.body = .bytes(ByteBuffer(string: #"{"test":"test"}"#))
    guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(3)) else { return false }
    _ = try? await response.body.collect(upTo: 1 << 16)
    return response.status.code == 200
}

/// POSTs one signed delivery; the status, or 0 when there was no answer.
private func deliver(_ body: [UInt8], to url: String, secret: String?) async -> Int {
    var request = HTTPClientRequest(url: url)
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    if let secret { sign(&request, body: body, secret: secret, headerPrefix: "X-Webhook") }
    request.body = .bytes(ByteBuffer(bytes: body))
    guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(15)) else { return 0 }
    _ = try? await response.body.collect(upTo: 1 << 20)
    return Int(response.status.code)
}

/// Daily's signature: `<prefix>-Timestamp` (seconds) and `<prefix>-Signature`, base64 HMAC-SHA256 of
/// "<timestamp>.<body>" under the base64-decoded secret.
func sign(_ request: inout HTTPClientRequest, body: [UInt8], secret: String, headerPrefix: String) {
    guard let key = Data(base64Encoded: secret) else { return }
    let timestamp = String(Int(Date().timeIntervalSince1970))
    let mac = HMAC<SHA256>.authenticationCode(for: Data(timestamp.utf8) + Data(".".utf8) + Data(body), using: SymmetricKey(data: key))
    request.headers.add(name: "\(headerPrefix)-Timestamp", value: timestamp)
    request.headers.add(name: "\(headerPrefix)-Signature", value: Data(mac).base64EncodedString())
}

func addControlRoutes(_ router: Router<BasicRequestContext>, state: DailyDoubleState) {
    router.get("_double/rooms/:name") { _, context -> Response in
        let name = context.parameters.get("name") ?? ""
        guard let room = await state.room(name) else { return dailyError(404, "not-found", "room \(name) not found") }
        return dailyJSON(.ok, room)
    }
    router.put("_double/rooms/:name/presence") { request, context -> Response in
        guard case .array(let participants) = try await requestBody(request) else {
            return dailyError(400, "invalid-request-error", "an array of {id, userId, userName} is required")
        }
        await state.setPresence(context.parameters.get("name") ?? "", participants)
        return dailyJSON(.ok, .object(["ok": .bool(true)]))
    }
    router.post("_double/faults") { request, _ -> Response in
        let data = try JSONEncoder().encode(try await requestBody(request))
        guard let fault = try? JSONDecoder().decode(DailyDoubleState.Fault.self, from: data) else {
            return dailyError(400, "invalid-request-error", #"{"status"?, "delay_s"?, "count"} is required"#)
        }
        await state.addFault(fault)
        return dailyJSON(.ok, .object(["ok": .bool(true)]))
    }
    router.delete("_double/faults") { _, _ -> Response in
        await state.clearFaults()
        return dailyJSON(.ok, .object(["ok": .bool(true)]))
    }
    router.get("_double/log") { _, _ -> Response in
        let requests = await state.requests
        let data = try JSONEncoder().encode(requests)
        let value = try JSONDecoder().decode(JSONValue.self, from: data)
        return dailyJSON(
            .ok,
            .object([
                "requests": value, "sink": .array(await state.sink), "agents": .array(await state.agentCalls),
                "forwarded_calls": .array(await state.forwardedCalls.values.map { $0 }),
            ])
        )
    }
    // Delivers an event to every webhook as Daily does: the body byte for byte, signed with the webhook's
    // hmac (X-Webhook-Signature over "<timestamp>.<body>", X-Webhook-Timestamp in seconds).
    router.post("_double/webhooks/deliver") { request, _ -> Response in
        var request = request
        let body = try await request.collectBody(upTo: 1 << 20)
        var statuses: [JSONValue] = []
        for webhook in await state.allWebhooks() {
            guard let url = webhook["url"]?.string, let uuid = webhook["uuid"]?.string else { continue }
            // A FAILED webhook gets nothing until someone updates it.
            guard webhook["state"]?.string != "FAILED" else {
                statuses.append(.null)
                continue
            }
            let status = await deliver(Array(body.readableBytesView), to: url, secret: webhook["hmac"]?.string)
            await state.recordDelivery(uuid, succeeded: status == 200)
            statuses.append(.number(Double(status)))
        }
        return dailyJSON(.ok, .object(["statuses": .array(statuses)]))
    }
    // A stand-in for a Pipecat Cloud agent (base image `POST /bot`): it "joins" the room's presence as the
    // token's user and holds the request open until that user is ejected, then answers 200.
    router.post("_double/agent/bot") { request, _ -> Response in
        let headers = request.headers
        let body = try await requestBody(request)
        let roomURL = headers[HTTPField.Name("X-Daily-Room-Url")!] ?? ""
        let token = headers[HTTPField.Name("X-Daily-Room-Token")!] ?? ""
        await state.record(
            agentCall: .object([
                "room_url": .string(roomURL), "token": .string(token),
                "session_id": .string(headers[HTTPField.Name("X-Daily-Session-Id")!] ?? ""), "body": body,
            ])
        )
        let payload = token.split(separator: ".").dropFirst().first.flatMap { Data(base64Encoded: String($0)) }
        let claims = payload.flatMap { try? JSONDecoder().decode(JSONValue.self, from: $0) }
        let room = String(roomURL.split(separator: "/").last ?? "")
        let id = UUID().uuidString.lowercased()
        await state.join(
            room: room,
            participant: .object([
                "id": .string(id), "userId": claims?["user_id"] ?? .null, "userName": claims?["user_name"] ?? .null,
            ])
        )
        let deadline = ContinuousClock.now + .seconds(600)
        while await state.isPresent(room: room, id: id), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        return dailyJSON(.ok, .object(["ok": .bool(true)]))
    }
    // A webhook receiver that answers 200 and keeps what it got (for probing without a service).
    router.post("_double/sink") { request, _ -> Response in
        await state.record(sink: try await requestBody(request))
        return dailyJSON(.ok, .object(["ok": .bool(true)]))
    }
}
