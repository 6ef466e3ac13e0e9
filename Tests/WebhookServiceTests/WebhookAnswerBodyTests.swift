import Foundation
import Testing

@testable import WebhookService

/// The webhook's answer is written by hand (it is every webhook's answer); it must be what JSONEncoder writes.
struct WebhookAnswerBodyTests {
    @Test(arguments: [
        WebhookAnswerBody(ok: true, action: .spawned, reason: "first_human", sessionID: "0f1e2d3c-aaaa", error: nil),
        WebhookAnswerBody(ok: true, action: .ignored, reason: "probe", sessionID: nil, error: nil),
        WebhookAnswerBody(ok: false, action: nil, reason: nil, sessionID: nil, error: "invalid_signature"),
        WebhookAnswerBody(ok: false, action: nil, reason: "odd \"text\" \\ with\ncontrol \u{1} é 😀 /", sessionID: nil, error: "x"),
    ])
    func handWrittenJSONIsWhatJSONEncoderWrites(_ body: WebhookAnswerBody) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let decodedOwn = try JSONDecoder().decode(WebhookAnswerBody.self, from: Data(body.jsonBytes))
        #expect(decodedOwn == body)
        if !body.jsonBytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\\") }) {
            #expect(String(decoding: body.jsonBytes, as: UTF8.self) == String(decoding: try encoder.encode(body), as: UTF8.self))
        }
    }
}
