import Crypto
import Foundation
import Policy

/// Daily's webhook signature: `base64(HMAC-SHA256(base64decode(secret), timestamp + "." + raw body))`.
package struct SignatureVerifier: Sendable {
    /// The outcome of checking one request.
    package enum Verdict: String, Sendable, Equatable {
        case valid
        case unsigned
        case invalid = "invalid_signature"
        case missing = "missing_signature"
        case stale = "stale_timestamp"
    }

    private let secrets: [[UInt8]]
    private let toleranceSeconds: Double
    private let requireSignature: Bool

    /// - Parameters:
    ///   - secrets: decoded `hmac` keys; any of them may have signed (rotation).
    ///   - requireSignature: refuse unsigned requests (needs at least one key).
    package init(secrets: [[UInt8]], toleranceSeconds: Double, requireSignature: Bool) {
        self.secrets = secrets
        self.toleranceSeconds = toleranceSeconds
        self.requireSignature = requireSignature
    }

    /// Checks the headers against the raw body. Without keys nothing is checked (`unsigned`); with keys, a
    /// present signature must match, and an absent one is refused only when signatures are required.
    package func verify(body: [UInt8], signature: String?, timestamp: String?, now: Double) -> Verdict {
        guard !secrets.isEmpty else { return .unsigned }
        guard let signature, let timestamp else {
            if signature == nil && timestamp == nil && !requireSignature { return .unsigned }
            return .missing
        }
        guard let provided = Base64.decode(String(signature.trimmingSpacesAndTabs)), provided.count == 32 else {
            return .invalid
        }
        let message = Array(timestamp.utf8) + [UInt8(ascii: ".")] + body
        let authentic = secrets.contains { secret in
            HMAC<SHA256>.isValidAuthenticationCode(provided, authenticating: message, using: SymmetricKey(data: secret))
        }
        guard authentic else { return .invalid }
        guard let sentAt = Self.seconds(fromTimestamp: timestamp), abs(now - sentAt) <= toleranceSeconds else {
            return .stale
        }
        return .valid
    }

    /// The `X-Webhook-Timestamp` value in Unix seconds; values above 10^12 are milliseconds.
    static func seconds(fromTimestamp text: String) -> Double? {
        guard let value = Double(text.trimmingSpacesAndTabs), value.isFinite, value > 0 else { return nil }
        return value > 1e12 ? value / 1000 : value
    }

    /// Signs a body the way Daily does: the `X-Webhook-Signature` value for `timestamp`.
    package static func sign(body: [UInt8], secret: [UInt8], timestamp: String) -> String {
        let message = Array(timestamp.utf8) + [UInt8(ascii: ".")] + body
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret))
        return Base64.encode(Array(code))
    }
}

extension String {
    /// The value without the spaces and tabs HTTP allows around it (Foundation's `trimmingCharacters(in:)` cost
    /// a tenth of a webhook's CPU time).
    var trimmingSpacesAndTabs: Substring {
        let isBlank = { (character: Character) in character == " " || character == "\t" }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else { return "" }
        return self[first...last]
    }
}
