import BotRuntime
import Foundation
import HTTPTypes
import Hummingbird
import Policy
import Prometheus
import SessionStore

/// Webhook bodies larger than this are refused with 413.
let maxWebhookBody = 64 * 1024

/// The routes of the HTTP API (`openapi.yaml`).
func buildRouter(_ config: Config, _ parts: AutospawnService) -> Router<BasicRequestContext> {
    // HEAD is answered wherever GET is, as HTTP expects (and as the `Allow` of a 405 says).
    let router = Router(options: .autoGenerateHeadEndpoints)
    let served = MethodNotAllowedMiddleware<BasicRequestContext>.Routes()
    router.add(middleware: MethodNotAllowedMiddleware(routes: served))
    let store = parts.store
    let supervisor = parts.supervisor
    let redactor = SecretRedactor(config)
    // Requests by route, method and status, through swift-metrics' global system (`serve` points it at /metrics).
    router.add(middleware: MetricsMiddleware())

    router.get("health") { _, _ in json(.ok, ["status": "ok"]) }
    // The folders whose free space matters here: the bots' logs, and SQLite's file.
    var folders = [config.botLogDirectory]
    if case .sqlite(let path) = config.database { folders.insert((path as NSString).deletingLastPathComponent, at: 0) }
    let readiness = Readiness(store: store, supervisor: supervisor, folders: folders)
    router.get("ready") { _, _ in
        if let problem = await readiness.problem() { return json(.serviceUnavailable, ["status": problem]) }
        return json(.ok, ["status": "ready"])
    }

    router.post("daily/webhook") { request, _ -> Response in
        guard config.webhookEnabled else { return json(.notFound, ErrorBody(error: "not_found")) }
        let body: [UInt8]
        switch try await requestBytes(request, upTo: maxWebhookBody, within: config.requestTimeoutSeconds) {
        case .failure(let refused): return refused.response
        case .success(let bytes): body = bytes
        }
        let answer = await parts.webhooks.handle(
            body: body, signature: request.headers[webhookSignature],
            timestamp: request.headers[webhookTimestamp], now: Date().timeIntervalSince1970)
        return Response(
            status: HTTPResponse.Status(code: answer.status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: answer.body.jsonBytes)))
    }

    DialinController(
        calls: parts.calls,
        verifier: SignatureVerifier(
            secrets: config.dialinSecrets, toleranceSeconds: config.signatureToleranceSeconds, requireSignature: true),
        daily: parts.daily, requestTimeoutSeconds: config.requestTimeoutSeconds, metrics: parts.metrics, logger: parts.logger
    ).addRoutes(to: router)

    let botStatus: @Sendable (String) async throws -> BotStatus = { name in
        let status = try await store.roomStatus(name)
        let url = status.session?.roomURL ?? status.url ?? config.dailyDomain.map { "https://\($0).daily.co/\(name)" }
        return BotStatus(
            roomName: name, roomURL: url, status: status.session?.state.rawValue ?? "absent",
            sessionID: status.session?.id, since: status.session.map { rfc3339($0.updatedAt) },
            participants: status.humans, knocking: status.knockers, profile: status.session?.profile)
    }
    let streams = LiveStreams(
        store: store, recent: parts.recent, maxConcurrency: config.maxConcurrency, maxStreams: config.maxStreams,
        maxPublicStreams: config.maxPublicStreams, warmPools: supervisor.warmPools, status: botStatus)
    /// The room of `?room=` (a name or URL), or the 400 answer.
    let requestedRoom: @Sendable (Request) -> RoomParameter = { request in
        guard let room = request.uri.queryParameters.get("room") else { return .failure(ErrorBody(error: "missing_room")) }
        guard let name = EventNormaliser.roomName(fromNameOrURL: room) else { return .failure(ErrorBody(error: "invalid_room")) }
        return .success(name)
    }

    router.get("bot/status") { request, _ -> Response in
        switch requestedRoom(request) {
        case .failure(let error): json(.badRequest, error)
        case .success(let name): json(.ok, try await botStatus(name))
        }
    }
    router.get("bot/status/stream") { request, _ -> Response in
        switch requestedRoom(request) {
        case .failure(let error): json(.badRequest, error)
        case .success(let name): await streams.botStatus(room: name)
        }
    }

    let admin = router.group().add(middleware: AdminTokenMiddleware(token: config.adminToken, challenge: "Bearer"))
    admin.get("metrics") { _, _ -> Response in
        // The gauges that are states, not events, are read when asked for.
        parts.metrics.sessions(active: try await store.activeCount(), capacity: config.maxConcurrency)
        parts.metrics.statusStreams(streams.publicSlots.count + streams.operatorSlots.count)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: parts.registry.emitToBuffer())))
    }
    admin.get("sessions/stream") { _, _ in streams.sessions() }

    // The dashboard: a browser cannot send a Bearer header when it opens a page, so the same token is also
    // taken as HTTP Basic's password, and the browser asks for it.
    let dashboard = router.group().add(middleware: AdminTokenMiddleware(token: config.adminToken, challenge: #"Basic realm="autospawn""#))
    dashboard.get("/") { _, _ in DashboardFiles.response(for: .page) }
    dashboard.get("dashboard.css") { _, _ in DashboardFiles.response(for: .style) }
    dashboard.get("dashboard.js") { _, _ in DashboardFiles.response(for: .script) }
    admin.get("sessions") { request, _ -> Response in
        let parameters = request.uri.queryParameters
        var query = SessionQuery()
        if let state = parameters.get("state") {
            guard let states = SessionQuery.States(rawValue: state) else {
                return json(.badRequest, ErrorBody(error: "invalid_state"))
            }
            query.states = states
        }
        if let room = parameters.get("room") {
            guard let name = EventNormaliser.roomName(fromNameOrURL: room) else {
                return json(.badRequest, ErrorBody(error: "invalid_room"))
            }
            query.roomName = name
        }
        if let limit = parameters.get("limit") {
            guard let value = Int(limit), (1...1000).contains(value) else {
                return json(.badRequest, ErrorBody(error: "invalid_limit"))
            }
            query.limit = value
        }
        let sessions = try await store.sessions(query)
        return json(
            .ok,
            SessionList(
                sessions: try await SessionView.of(sessions, store: store),
                active: try await store.activeCount(), maxConcurrency: config.maxConcurrency))
    }
    admin.get("sessions/:id") { _, context -> Response in
        guard let id = context.parameters.get("id"), let session = try await store.session(id) else {
            return json(.notFound, ErrorBody(error: "session_not_found"))
        }
        return json(.ok, try await SessionView.of([session], store: store)[0])
    }
    admin.delete("sessions/:id") { _, context -> Response in
        guard let id = context.parameters.get("id"), let session = try await supervisor.requestStop(id, reason: .stopRequested)
        else {
            return json(.notFound, ErrorBody(error: "session_not_found"))
        }
        guard session.state.isActive else { return json(.conflict, ErrorBody(error: "session_finished")) }
        let current = try await store.session(id) ?? session
        return json(.accepted, try await SessionView.of([current], store: store)[0])
    }
    admin.get("sessions/:id/log") { request, context -> Response in
        guard let id = context.parameters.get("id"), let session = try await store.session(id) else {
            return json(.notFound, ErrorBody(error: "session_not_found"))
        }
        var lines = 100
        if let tail = request.uri.queryParameters.get("tail") {
            guard let value = Int(tail), (1...100_000).contains(value) else {
                return json(.badRequest, ErrorBody(error: "invalid_tail"))
            }
            lines = value
        }
        // A call's bot was given a key to forward its call with, and may print its body.
        let callKey = parts.calls.flatMap { calls in DialinCall.callID(ofRoom: session.roomName).map(calls.keys.key(forCall:)) }
        if request.headers[LogForwarder.forwardedHeader] == nil,
           let answer = await parts.logs.ownersAnswer(for: session, tail: lines, authorization: request.headers[.authorization])
        {
            // Another instance ran this bot: its answer, or 502 when it cannot be reached.
            guard let answer else { return json(.badGateway, ErrorBody(error: "log_unavailable")) }
            return Response(
                status: .init(code: answer.status),
                headers: [.contentType: answer.status == 200 ? "text/plain; charset=utf-8" : "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: redactor.redact(answer.text, also: [callKey ?? ""]))))
        }
        // The bot wrote this file, and it holds its own meeting token: hand out none of it.
        let path = supervisor.logPath(for: id)
        let text = redactor.redact(LogTail.lastLines(of: [path + ".1", path], count: lines), also: [callKey ?? ""])
        return Response(
            status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
    StartController(starter: parts.starter, requestTimeoutSeconds: config.requestTimeoutSeconds).addRoutes(to: admin)
    served.fill(router.routes.map { route in
        (path: route.path.components.map { "\($0)" }.joined(separator: "/"), method: route.method.rawValue)
    })
    return router
}

/// `?room=`: the room's name, or what to answer instead.
enum RoomParameter {
    case success(String)
    case failure(ErrorBody)
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
func isJSON(_ contentType: String?) -> Bool {
    guard let contentType else { return false }
    let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map { String($0).trimmingBlanks().lowercased() }
    return mediaType == "application/json"
}

let webhookSignature = HTTPField.Name("X-Webhook-Signature")!
let webhookTimestamp = HTTPField.Name("X-Webhook-Timestamp")!

/// A JSON response (keys sorted, so answers are stable byte for byte).
func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data(#"{"ok":false,"error":"encoding_failed"}"#.utf8)
    return Response(
        status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// `Authorization: Bearer <AUTOSPAWN_ADMIN_TOKEN>` on the admin routes, when a token is configured; also
/// HTTP Basic with the token as password (any user name), which is what a browser can send.
struct AdminTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?
    /// The `WWW-Authenticate` of a 401: `Bearer` for the API, Basic for pages, so that a browser asks.
    let challenge: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else { return try await next(request, context) }
        guard Self.presents(token, request.headers[.authorization] ?? "") else {
            var response = json(.unauthorized, ErrorBody(error: "unauthorized"))
            response.headers[.wwwAuthenticate] = challenge
            return response
        }
        return try await next(request, context)
    }

    static func presents(_ token: String, _ authorization: String) -> Bool {
        if authorization.hasPrefix("Basic ") {
            let decoded = Base64.decode(String(authorization.dropFirst(6))) ?? []
            // `user:password`: the password is everything after the first colon.
            let password = decoded.firstIndex(of: UInt8(ascii: ":")).map { Array(decoded[($0 + 1)...]) } ?? []
            return constantTimeEqual(password, Array(token.utf8))
        }
        return constantTimeEqual(Array(authorization.utf8), Array("Bearer \(token)".utf8))
    }
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for index in 0..<max(a.count, b.count) {
        difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
    }
    return difference == 0
}

/// A response given in place of what a request asked for.
struct AnswerInstead: Error {
    var response: Response
    init(_ response: Response) { self.response = response }
}

/// The request's body, or the answer that refuses it: too large (by its length or as it arrives), or too slow.
func requestBytes(_ request: Request, upTo limit: Int, within seconds: Double) async throws -> Result<[UInt8], AnswerInstead> {
    if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
        return .failure(AnswerInstead(json(.contentTooLarge, ErrorBody(error: "body_too_large"))))
    }
    do {
        guard let buffer = try await collectBody(of: request, upTo: limit, within: seconds) else {
            return .failure(AnswerInstead(json(.requestTimeout, ErrorBody(error: "request_timeout"))))
        }
        return .success(Array(buffer.readableBytesView))
    } catch let error as HTTPError where error.status == .contentTooLarge {
        return .failure(AnswerInstead(json(.contentTooLarge, ErrorBody(error: "body_too_large"))))
    }
}

/// The body, or nil once `seconds` have passed since collecting began: checked as each part arrives, while a
/// client that stops sending altogether is closed by the server's idle timeout (the same setting). No timer per
/// request: a sleeping task per request kept its memory until its timer fired, 30 s later (BENCHMARKS.md).
func collectBody(of request: Request, upTo limit: Int, within seconds: Double) async throws -> ByteBuffer? {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    var collected = ByteBuffer()
    for try await var part in request.body {
        guard collected.readableBytes + part.readableBytes <= limit else { throw HTTPError(.contentTooLarge) }
        collected.writeBuffer(&part)
        if ContinuousClock.now > deadline { return nil }
    }
    return collected
}

/// The end of a bot's log file.
enum LogTail {
    /// The last `count` lines of the files taken as one, oldest first (a rotated log, then the current one),
    /// reading at most the last 4 MiB of each.
    static func lastLines(of paths: [String], count: Int) -> String {
        var lines: [Substring] = []
        for path in paths {
            guard let handle = FileHandle(forReadingAtPath: path) else { continue }
            defer { try? handle.close() }
            let size = (try? handle.seekToEnd()) ?? 0
            let window: UInt64 = 4 * 1024 * 1024
            try? handle.seek(toOffset: size > window ? size - window : 0)
            let data = (try? handle.readToEnd()) ?? Data()
            var part = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            if part.last == "" { part.removeLast() }
            lines += part
        }
        return lines.suffix(count).joined(separator: "\n") + (lines.isEmpty ? "" : "\n")
    }
}
