import Crypto
import Foundation

/// An implementation of Daily's signing recipe written apart from the service's, so tests cross-check it.
package enum TestSigner {
    /// `<prefix>-Signature` and `<prefix>-Timestamp`: `X-Webhook` for webhooks, `X-Pinless` for dial-in calls.
    package static func headers(
        body: [UInt8],
        secretBase64: String,
        timestamp: String? = nil,
        prefix: String = "X-Webhook"
    ) -> [(String, String)] {
        let timestamp = timestamp ?? String(Int(Date().timeIntervalSince1970))
        guard let key = Data(base64Encoded: secretBase64) else { preconditionFailure("secret is not base64") }
        let mac = HMAC<SHA256>.authenticationCode(
            for: Data(timestamp.utf8) + Data(".".utf8) + Data(body),
            using: SymmetricKey(data: key)
        )
        return [("\(prefix)-Signature", Data(mac).base64EncodedString()), ("\(prefix)-Timestamp", timestamp)]
    }
}
