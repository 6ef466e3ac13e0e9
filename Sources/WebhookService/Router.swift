import BotRuntime
import Foundation
import HTTPTypes
import Hummingbird
import Policy
import Prometheus
import SessionStore

/// The routes of the HTTP API (`openapi.yaml`), a controller per group.
func buildRouter(_ config: Config, _ parts: AutospawnService) -> Router<BasicRequestContext> {
    // HEAD is answered wherever GET is, as HTTP expects (and as the `Allow` of a 405 says).
    let router = Router(options: .autoGenerateHeadEndpoints)
    let served = MethodNotAllowedMiddleware<BasicRequestContext>.Routes()
    router.add(middleware: MethodNotAllowedMiddleware(routes: served))
    // Requests by route, method and status, through swift-metrics' global system (`serve` points it at /metrics).
    router.add(middleware: MetricsMiddleware())
    // The folders whose free space matters here: the bots' logs, and SQLite's file.
    var folders = [config.botLogDirectory]
    if case .sqlite(let path) = config.database { folders.insert((path as NSString).deletingLastPathComponent, at: 0) }
    let status = BotStatusReader(store: parts.store, domain: parts.domain)
    let streams = LiveStreams(
        store: parts.store,
        recent: parts.recent,
        maxConcurrency: config.maxConcurrency,
        maxStreams: config.maxStreams,
        maxPublicStreams: config.maxPublicStreams,
        warmPools: parts.supervisor.warmPools,
        status: { try await status(of: $0) }
    )

    HealthController(readiness: Readiness(store: parts.store, supervisor: parts.supervisor, folders: folders)).addRoutes(to: router)
    WebhookController(enabled: config.webhookEnabled, webhooks: parts.webhooks, requestTimeoutSeconds: config.requestTimeoutSeconds)
        .addRoutes(to: router)
    DialinController(
        calls: parts.calls,
        verifier: SignatureVerifier(secrets: config.dialinSecrets, toleranceSeconds: config.signatureToleranceSeconds, requireSignature: true),
        daily: parts.daily,
        requestTimeoutSeconds: config.requestTimeoutSeconds,
        metrics: parts.metrics,
        logger: parts.logger
    ).addRoutes(to: router)
    TelephonyController(
        calls: parts.phoneCalls,
        webhook: CarrierWebhook(settings: config.telephony),
        requestTimeoutSeconds: config.requestTimeoutSeconds,
        metrics: parts.metrics,
        logger: parts.logger
    ).addRoutes(to: router)
    BotStatusController(status: status, streams: streams).addRoutes(to: router)
    let admin = router.group().add(middleware: AdminTokenMiddleware(token: config.adminToken, challenge: "Bearer"))
    SessionsController(parts: parts, streams: streams, redactor: SecretRedactor(config), maxConcurrency: config.maxConcurrency)
        .addRoutes(to: admin)
    // A page in a browser starts sessions and signals with a public key; nothing else takes one.
    let starting = router.group()
        .add(middleware: AdminTokenMiddleware(token: config.adminToken, publicKeys: config.browser.publicKeys, challenge: "Bearer"))
    StartController(starter: parts.starter, browser: parts.browser, requestTimeoutSeconds: config.requestTimeoutSeconds)
        .addRoutes(to: starting)
    OfferController(browser: parts.browser, requestTimeoutSeconds: config.requestTimeoutSeconds).addRoutes(to: starting)
    OutboundCallController(calls: parts.outboundCalls, requestTimeoutSeconds: config.requestTimeoutSeconds).addRoutes(to: admin)
    DashboardController(profiles: config.profiles.all.map(\.name), iceServers: config.browser.iceServers).addRoutes(
        to: router.group().add(middleware: AdminTokenMiddleware(token: config.adminToken, challenge: #"Basic realm="autospawn""#))
    )

    served.fill(
        router.routes.map { route in
            (path: route.path.components.map { "\($0)" }.joined(separator: "/"), method: route.method.rawValue)
        }
    )
    return router
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
func isJSON(_ contentType: String?) -> Bool {
    guard let contentType else { return false }
    let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map { String($0).trimmingBlanks().lowercased() }
    return mediaType == "application/json"
}

/// A JSON response (keys sorted, so answers are stable byte for byte).
func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data(#"{"ok":false,"error":"encoding_failed"}"#.utf8)
    return Response(
        status: status,
        headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(bytes: data))
    )
}

/// `Authorization: Bearer <AUTOSPAWN_ADMIN_TOKEN>` on the admin routes, when a token is configured; also
/// HTTP Basic with the token as password (any user name), which is what a browser can send.
struct AdminTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?
    /// Also accepted here: the public keys (`AUTOSPAWN_PUBLIC_KEYS`) on the routes that start sessions and signal.
    var publicKeys: [String] = []
    /// The `WWW-Authenticate` of a 401: `Bearer` for the API, Basic for pages, so that a browser asks.
    let challenge: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else { return try await next(request, context) }
        let authorization = request.headers[.authorization] ?? ""
        // Every key is compared, so that the time taken tells nothing of which one nearly matched.
        var presented = false
        for key in [token] + publicKeys where Self.presents(key, authorization) { presented = true }
        guard presented else {
            var error = APIError(.unauthorized, .unauthorized)
            error.headers[.wwwAuthenticate] = challenge
            throw error
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

/// The request's body; refused when too large (by its length or as it arrives) or too slow.
func requestBytes(_ request: Request, upTo limit: Int, within seconds: Double) async throws -> [UInt8] {
    if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
        throw APIError(.contentTooLarge, .bodyTooLarge)
    }
    do {
        guard let buffer = try await collectBody(of: request, upTo: limit, within: seconds) else {
            throw APIError(.requestTimeout, .requestTimeout)
        }
        return Array(buffer.readableBytesView)
    } catch let error as HTTPError where error.status == .contentTooLarge {
        throw APIError(.contentTooLarge, .bodyTooLarge)
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
