import Crypto
import Foundation
import Policy

/// The key a call's bot forwards its call with (`daily_api_key` in its body). The bot never gets the service's
/// Daily key: it sends `pinlessCallUpdate` to this service (`daily_api_url`), which checks this key and passes the
/// request on with the real one. A key is good for its own call only, and only while the call's session is
/// active; it is derived from `AUTOSPAWN_DIALIN_SECRET`, so every instance that shares the secret can check it.
struct CallForwardKeys: Sendable {
    /// Decoded dial-in secrets, the first one signing; any may have signed (rotation).
    let secrets: [[UInt8]]

    /// The key for the call `callID`.
    func key(forCall callID: String) -> String {
        Self.key(forCall: callID, secret: secrets.first ?? [])
    }

    /// Whether `key` is the key of the call `callID` under any of the secrets.
    func accepts(_ key: String, forCall callID: String) -> Bool {
        secrets.contains { constantTimeEqual(Array(Self.key(forCall: callID, secret: $0).utf8), Array(key.utf8)) }
    }

    private static func key(forCall callID: String, secret: [UInt8]) -> String {
        let code = HMAC<SHA256>.authenticationCode(
            for: Array("autospawn pinlessCallUpdate \(callID)".utf8),
            using: SymmetricKey(data: secret)
        )
        // base64url without padding: a bearer token as HTTP writes one.
        return Base64.encode(Array(code)).replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
