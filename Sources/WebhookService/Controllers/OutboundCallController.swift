import Foundation
import Hummingbird
import Policy

/// `POST /v1/calls` (admin): a phone call the service places, through Twilio or Daily's dial-out.
struct OutboundCallController: Sendable {
    let calls: OutboundCalls
    let requestTimeoutSeconds: Double

    static let maxBody = 64 * 1024

    func addRoutes(to routes: RouterGroup<BasicRequestContext>) {
        routes.post("v1/calls") { request, _ in try await place(request) }
    }

    private func place(_ request: Request) async throws -> Response {
        guard isJSON(request.headers[.contentType]) else { throw APIError(.unsupportedMediaType, .unsupportedMediaType) }
        let bytes = try await requestBytes(request, upTo: Self.maxBody, within: requestTimeoutSeconds)
        guard let document = try? JSONValue(parsing: bytes) else { throw APIError(.badRequest, .malformedJSON) }
        let placed = try await calls.place(OutboundCalls.Request(document))
        return json(.created, placed.answer)
    }
}
