import BotRuntime
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Policy

/// The carriers' call webhooks (`POST /telephony/{carrier}/call`): Twilio's Voice URL, Telnyx's TeXML webhook,
/// Plivo's answer URL. A carrier without its secret answers 404.
struct TelephonyController: Sendable {
    /// nil when no carrier is configured.
    let calls: PhoneCalls?
    let webhook: CarrierWebhook
    let requestTimeoutSeconds: Double
    let metrics: ServiceMetrics
    let logger: Logger

    /// A call's webhook is a short form.
    static let maxBody = 64 * 1024

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("telephony/:carrier/call") { request, context in try await call(request, context: context) }
    }

    private func call(_ request: Request, context: BasicRequestContext) async throws -> Response {
        guard let calls, let carrier = context.parameters.get("carrier").flatMap(Carrier.init(rawValue:)), carrier != .exotel,
            webhook.settings.carriers.contains(carrier)
        else { throw APIError(.notFound, .notFound) }
        let body = try await requestBytes(request, upTo: Self.maxBody, within: requestTimeoutSeconds)
        var headers: [String: String] = [:]
        for name in CarrierWebhook.signatureHeaders {
            if let field = HTTPField.Name(name), let value = request.headers[field] { headers[name] = value }
        }
        let call: PhoneCall
        do {
            call = try webhook.call(
                of: .init(carrier: carrier, uri: request.uri.description, body: body, headers: headers, now: Date().timeIntervalSince1970)
            )
        } catch .signature {
            logger.warning("a call webhook refused: its signature does not hold", metadata: ["carrier": "\(carrier.rawValue)"])
            metrics.carrierCall(carrier: carrier.rawValue, result: "refused")
            throw APIError(.forbidden, .invalidSignature)
        } catch .field(let field) {
            metrics.carrierCall(carrier: carrier.rawValue, result: "invalid")
            throw APIError(.badRequest, .invalidCall, fields: ["field": .string(field)])
        }
        let answer = try await calls.answer(call)
        metrics.carrierCall(carrier: carrier.rawValue, result: answer.result)
        return Response(
            status: .ok,
            headers: [.contentType: "text/xml; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: answer.markup))
        )
    }
}
