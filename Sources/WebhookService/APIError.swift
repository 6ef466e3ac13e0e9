import HTTPTypes
import Hummingbird
import Policy

/// Every refusal of the HTTP API: its status, its code (the answer's `error`) and the fields it carries beside it.
/// Handlers and middleware throw it; Hummingbird turns it into the answer. The answer is `{"ok":false,"error":…}`,
/// but on Pipecat Cloud's routes (`PipecatErrorShape`), where Pipecat's clients expect `{"error":…}`.
struct APIError: HTTPResponseError {
    /// The `error` of an answer, as `openapi.yaml` lists them.
    enum Code: String, Sendable {
        // Requests
        case malformedJSON = "malformed_json"
        case bodyTooLarge = "body_too_large"
        case requestTimeout = "request_timeout"
        case unsupportedMediaType = "unsupported_media_type"
        case methodNotAllowed = "method_not_allowed"
        case notFound = "not_found"
        case unauthorized
        case invalidSignature = "invalid_signature"
        case missingSignature = "missing_signature"
        case staleTimestamp = "stale_timestamp"
        // Query parameters
        case missingRoom = "missing_room"
        case invalidRoom = "invalid_room"
        case invalidState = "invalid_state"
        case invalidLimit = "invalid_limit"
        case invalidTail = "invalid_tail"
        // Sessions
        case sessionNotFound = "session_not_found"
        case sessionFinished = "session_finished"
        case sessionStopped = "session_stopped"
        case logUnavailable = "log_unavailable"
        case tooManyStreams = "too_many_streams"
        // Starts
        case dailyNotConfigured = "daily_not_configured"
        case createDailyRoomRequired = "create_daily_room_required"
        case invalidBody = "invalid_body"
        case invalidRoomProperties = "invalid_room_properties"
        case invalidTokenProperties = "invalid_token_properties"
        case invalidProfile = "invalid_profile"
        case unknownProfile = "unknown_profile"
        case profileRequired = "profile_required"
        case atCapacity = "at_capacity"
        case startTimeout = "start_timeout"
        // Calls
        case invalidCall = "invalid_call"
        case invalidOffer = "invalid_offer"
        case invalidTransport = "invalid_transport"
        case invalidCallUpdate = "invalid_call_update"
        case callNotFound = "call_not_found"
        case callMismatch = "call_mismatch"
        case callOver = "call_over"
        case noProfile = "no_profile"
        case capacity
        case draining
        // Dependencies
        case databaseUnavailable = "database_unavailable"
        case dailyUnavailable = "daily_unavailable"
        case ownerUnavailable = "owner_unavailable"
        case dailyRefused = "daily_refused"
        case carrierNotConfigured = "carrier_not_configured"
        case carrierRefused = "carrier_refused"
    }

    /// The body's shape: this service's, or Pipecat Cloud's.
    enum Shape: Sendable {
        case service
        case pipecat
    }

    let status: HTTPResponse.Status
    let code: Code
    /// Beside `error` (`invalid_call`'s `field`).
    var fields: [String: JSONValue] = [:]
    var shape = Shape.service
    /// Headers of the answer (a 401's `WWW-Authenticate`).
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ code: Code, fields: [String: JSONValue] = [:]) {
        self.status = status
        self.code = code
        self.fields = fields
    }

    /// A signature that did not verify: 401 with the verdict.
    init(refusing verdict: SignatureVerifier.Verdict) {
        let code: Code =
            switch verdict {
            case .missing, .unsigned, .valid: .missingSignature
            case .invalid: .invalidSignature
            case .stale: .staleTimestamp
            }
        self.init(.unauthorized, code)
    }

    /// The same error in Pipecat Cloud's shape.
    var inPipecatShape: APIError {
        var error = self
        error.shape = .pipecat
        return error
    }

    var body: JSONValue {
        var object = fields
        object["error"] = .string(code.rawValue)
        if shape == .service { object["ok"] = .bool(false) }
        return .object(object)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        response
    }

    var response: Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.text)))
    }
}

/// Pipecat Cloud's routes answer a refusal as `{"error":…}`, which Pipecat's clients read.
struct PipecatErrorShape<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error.inPipecatShape
        }
    }
}
