import Foundation
import HTTPTypes
import Hummingbird

/// `POST /daily/webhook`: Daily's events, through `WebhookHandler`; 404 with `AUTOSPAWN_WEBHOOK=0`.
struct WebhookController: Sendable {
    let enabled: Bool
    let webhooks: WebhookHandler
    let requestTimeoutSeconds: Double

    /// Webhook bodies larger than this are refused with 413.
    static let maxBody = 64 * 1024
    static let signature = HTTPField.Name("X-Webhook-Signature")!
    static let timestamp = HTTPField.Name("X-Webhook-Timestamp")!

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("daily/webhook") { request, _ -> Response in
            guard enabled else { throw APIError(.notFound, .notFound) }
            let body = try await requestBytes(request, upTo: Self.maxBody, within: requestTimeoutSeconds)
            let answer = await webhooks.handle(
                body: body,
                signature: request.headers[Self.signature],
                timestamp: request.headers[Self.timestamp],
                now: Date().timeIntervalSince1970
            )
            return Response(
                status: HTTPResponse.Status(code: answer.status),
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: answer.body.jsonBytes))
            )
        }
    }
}
