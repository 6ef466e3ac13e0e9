import Foundation
import HTTPTypes
import Hummingbird
import Policy

/// `POST /start`, Pipecat Cloud's `POST /v1/public/{profile}/start` and `GET /daily`: a new room with a bot of
/// a profile in it, for a caller who is about to join (Pipecat's runner and Pipecat Cloud do the same).
struct StartController: Sendable {
    /// With `DAILY_API_KEY`; without it these routes answer 404 `daily_not_configured`, but for a browser's start.
    let starter: RoomStarter?
    /// `{"transport":"webrtc"}`: a browser's connection, its offer to come (`/sessions/{id}/api/offer`).
    let browser: BrowserCalls
    let requestTimeoutSeconds: Double

    /// Bodies larger than this are refused with 413 (Pipecat Cloud's cap).
    static let maxBody = 1024 * 1024

    /// Pipecat's clients read a refusal as `{"error":…}` (`PipecatErrorShape`).
    func addRoutes(to routes: RouterGroup<BasicRequestContext>) {
        let group = routes.group().add(middleware: PipecatErrorShape())
        group.post("start") { request, _ in try await start(request, profile: nil) }
        // A Pipecat client pointed at autospawn instead of Pipecat Cloud works unchanged.
        group.post("v1/public/:profile/start") { request, context in
            try await start(request, profile: context.parameters.get("profile") ?? "")
        }
        group.get("daily") { _, _ -> Response in
            // Not configured is not a passing failure: without DAILY_API_KEY these routes are not there (like the
            // webhook with AUTOSPAWN_WEBHOOK=0).
            guard let starter else { throw APIError(.notFound, .dailyNotConfigured) }
            let started = try await starter.start(profile: nil, roomProperties: [:], tokenProperties: [:], body: [:])
            return Response(status: .found, headers: [.location: started.dailyRoom])
        }
    }

    /// `{"createDailyRoom":true,"dailyRoomProperties"?,"dailyMeetingTokenProperties"?,"body"?,"profile"?}`; the
    /// path's profile wins over the body's.
    private func start(_ request: Request, profile pathProfile: String?) async throws -> Response {
        // A form post from another site is a "simple" request that no preflight stops: JSON only.
        guard isJSON(request.headers[.contentType]) else {
            throw APIError(.unsupportedMediaType, .unsupportedMediaType)
        }
        let bytes = try await requestBytes(request, upTo: Self.maxBody, within: requestTimeoutSeconds)
        guard let start = try? JSONValue(parsing: bytes), start.object != nil else {
            throw APIError(.badRequest, .malformedJSON)
        }
        guard let body = (start["body"] ?? .object([:])).object else { throw APIError(.badRequest, .invalidBody) }
        var profile = pathProfile
        if profile == nil, let value = start["profile"] {
            guard case .string(let name) = value else { throw APIError(.badRequest, .invalidProfile) }
            profile = name
        }
        switch start["transport"] {
        case nil, .string("daily")?: break
        case .string("webrtc")?:
            // Pipecat's SmallWebRTC transport: the session now, its offer to `/sessions/{sessionId}/api/offer`.
            let session = try await browser.claim(profile: profile, body: body)
            var answer: [String: JSONValue] = ["sessionId": .string(session.id)]
            if !browser.settings.iceServers.isEmpty {
                answer["iceConfig"] = .object(["iceServers": .array(browser.settings.iceServers)])
            }
            return json(.ok, JSONValue.object(answer))
        default:
            throw APIError(.badRequest, .invalidTransport)
        }
        guard let starter else { throw APIError(.notFound, .dailyNotConfigured) }
        guard start["createDailyRoom"] == .bool(true) else {
            throw APIError(.badRequest, .createDailyRoomRequired)
        }
        // Properties that are not objects were ignored, and the start went ahead without them.
        for (field, error) in [
            ("dailyRoomProperties", APIError.Code.invalidRoomProperties), ("dailyMeetingTokenProperties", .invalidTokenProperties),
        ] {
            if let value = start[field], value.object == nil { throw APIError(.badRequest, error) }
        }
        let started = try await starter.start(
            profile: profile,
            roomProperties: start["dailyRoomProperties"]?.object ?? [:],
            tokenProperties: start["dailyMeetingTokenProperties"]?.object ?? [:],
            body: body
        )
        return json(.ok, started)
    }
}
