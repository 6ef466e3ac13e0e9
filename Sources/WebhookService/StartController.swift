import Foundation
import HTTPTypes
import Hummingbird
import Policy

/// `POST /start`, Pipecat Cloud's `POST /v1/public/{profile}/start` and `GET /daily`: a new room with a bot of
/// a profile in it, for a caller who is about to join (Pipecat's runner and Pipecat Cloud do the same).
struct StartController: Sendable {
    /// With `DAILY_API_KEY`; without it these routes answer 404 `daily_not_configured`.
    let starter: RoomStarter?
    let requestTimeoutSeconds: Double

    /// Bodies larger than this are refused with 413 (Pipecat Cloud's cap).
    static let maxBody = 1024 * 1024

    func addRoutes(to group: RouterGroup<BasicRequestContext>) {
        group.post("start") { request, _ in try await start(request, profile: nil) }
        // A Pipecat client pointed at autospawn instead of Pipecat Cloud works unchanged.
        group.post("v1/public/:profile/start") { request, context in
            try await start(request, profile: context.parameters.get("profile") ?? "")
        }
        group.get("daily") { _, _ -> Response in
            // Not configured is not a passing failure: without DAILY_API_KEY these routes are not there (like the
            // webhook with AUTOSPAWN_WEBHOOK=0).
            guard let starter else { return json(.notFound, ["error": "daily_not_configured"]) }
            do {
                let started = try await starter.start(
                    profile: nil, roomProperties: [:], tokenProperties: [:], body: [:])
                return Response(status: .found, headers: [.location: started.dailyRoom])
            } catch let failure as RoomStarter.Failure {
                return json(HTTPResponse.Status(code: failure.status), ["error": failure.error])
            }
        }
    }

    /// `{"createDailyRoom":true,"dailyRoomProperties"?,"dailyMeetingTokenProperties"?,"body"?,"profile"?}`; the
    /// path's profile wins over the body's.
    private func start(_ request: Request, profile pathProfile: String?) async throws -> Response {
        guard let starter else { return json(.notFound, ["error": "daily_not_configured"]) }
        // A form post from another site is a "simple" request that no preflight stops: JSON only.
        guard isJSON(request.headers[.contentType]) else {
            return json(.unsupportedMediaType, ["error": "unsupported_media_type"])
        }
        let buffer: ByteBuffer
        do {
            guard let body = try await collectBody(of: request, upTo: Self.maxBody, within: requestTimeoutSeconds) else {
                return json(.requestTimeout, ["error": "request_timeout"])
            }
            buffer = body
        } catch let error as HTTPError where error.status == .contentTooLarge {
            return json(.contentTooLarge, ["error": "body_too_large"])
        }
        guard let start = try? JSONValue(parsing: Array(buffer.readableBytesView)), start.object != nil else {
            return json(.badRequest, ["error": "malformed_json"])
        }
        guard start["createDailyRoom"] == .bool(true) else {
            return json(.badRequest, ["error": "create_daily_room_required"])
        }
        guard let body = (start["body"] ?? .object([:])).object else { return json(.badRequest, ["error": "invalid_body"]) }
        // Properties that are not objects were ignored, and the start went ahead without them.
        for (field, error) in [("dailyRoomProperties", "invalid_room_properties"), ("dailyMeetingTokenProperties", "invalid_token_properties")] {
            if let value = start[field], value.object == nil { return json(.badRequest, ["error": error]) }
        }
        var profile = pathProfile
        if profile == nil, let value = start["profile"] {
            guard case .string(let name) = value else { return json(.badRequest, ["error": "invalid_profile"]) }
            profile = name
        }
        do {
            let started = try await starter.start(
                profile: profile, roomProperties: start["dailyRoomProperties"]?.object ?? [:],
                tokenProperties: start["dailyMeetingTokenProperties"]?.object ?? [:], body: body)
            return json(.ok, started)
        } catch {
            return json(HTTPResponse.Status(code: error.status), ["error": error.error])
        }
    }
}
