import Crypto
import Foundation
import Policy

/// Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1 under the auth token of the request's public URL (path and query
/// included) followed by each form field's name and value, names sorted, a name's values sorted (twilio-python's
/// `RequestValidator`, telephony-reference.md §2). The URL is tried with and without its default port, as Twilio's
/// own validator does.
package enum TwilioSignature {
    package static func isValid(_ signature: String, url: String, fields: FormFields, tokens: [String]) -> Bool {
        guard let provided = Base64.decode(signature.trimmingBlanks()), provided.count == Insecure.SHA1.byteCount else {
            return false
        }
        return urlVariants(url).contains { variant in
            let message = Array(signedText(url: variant, fields: fields).utf8)
            return tokens.contains { token in
                HMAC<Insecure.SHA1>.isValidAuthenticationCode(provided, authenticating: message, using: SymmetricKey(data: Array(token.utf8)))
            }
        }
    }

    /// The header value Twilio sends (the carrier double's).
    package static func sign(url: String, fields: FormFields, token: String) -> String {
        let code = HMAC<Insecure.SHA1>.authenticationCode(
            for: Array(signedText(url: url, fields: fields).utf8),
            using: SymmetricKey(data: Array(token.utf8))
        )
        return Data(code).base64EncodedString()
    }

    static func signedText(url: String, fields: FormFields) -> String {
        var text = url
        for name in sortedUnique(fields.pairs.map(\.name)) {
            for value in sortedUnique(fields.pairs.filter { $0.name == name }.map(\.value)) { text += name + value }
        }
        return text
    }

    /// `url` as given, with its scheme's default port added when it has none, and removed when it has it.
    static func urlVariants(_ url: String) -> [String] {
        guard var parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased() else { return [url] }
        let standard = scheme == "https" ? 443 : scheme == "http" ? 80 : nil
        guard let standard else { return [url] }
        if parts.port == nil {
            parts.port = standard
        } else if parts.port == standard {
            parts.port = nil
        } else {
            return [url]
        }
        return [url, parts.string].compactMap { $0 }
    }
}

/// Telnyx's `telnyx-signature-ed25519`: an Ed25519 signature of `"<telnyx-timestamp>|<raw body>"` by the account's
/// key, within 300 s of the timestamp (telephony-reference.md §3).
package enum TelnyxSignature {
    package static let toleranceSeconds = 300.0

    package static func isValid(
        _ signature: String,
        timestamp: String,
        body: [UInt8],
        keys: [[UInt8]],
        now: Double
    ) -> Bool {
        guard let provided = Base64.decode(signature.trimmingBlanks()), provided.count == 64,
            let sentAt = Double(timestamp.trimmingBlanks()), sentAt.isFinite, abs(now - sentAt) <= toleranceSeconds
        else { return false }
        let message = Array(timestamp.trimmingBlanks().utf8) + [UInt8(ascii: "|")] + body
        return keys.contains { key in
            guard let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: key) else { return false }
            return publicKey.isValidSignature(provided, for: message)
        }
    }

    /// The header value Telnyx sends (the carrier double's).
    package static func sign(timestamp: String, body: [UInt8], key: Curve25519.Signing.PrivateKey) throws -> String {
        try key.signature(for: Array(timestamp.utf8) + [UInt8(ascii: "|")] + body).base64EncodedString()
    }
}

/// Plivo's `X-Plivo-Signature-V3` (a comma-separated list, any of which may match) with its
/// `X-Plivo-Signature-V3-Nonce`: base64 HMAC-SHA256 under the auth token of the URL Plivo signs followed by `.` and
/// the nonce (plivo-python's `plivo/utils/signature_v3.py`).
package enum PlivoSignature {
    package static func isValid(
        _ header: String,
        nonce: String,
        method: String,
        url: String,
        fields: FormFields,
        tokens: [String]
    ) -> Bool {
        let message = Array((signedURL(method: method, url: url, fields: fields) + "." + nonce).utf8)
        let provided = header.split(separator: ",").compactMap { Base64.decode(String($0).trimmingBlanks()) }
        return provided.contains { signature in
            signature.count == SHA256.byteCount
                && tokens.contains { token in
                    HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: message, using: SymmetricKey(data: Array(token.utf8)))
                }
        }
    }

    /// The header value Plivo sends (the carrier double's).
    package static func sign(method: String, url: String, fields: FormFields, nonce: String, token: String) -> String {
        let message = Array((signedURL(method: method, url: url, fields: fields) + "." + nonce).utf8)
        return Data(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(token.utf8)))).base64EncodedString()
    }

    /// `scheme://host/path`, then for a GET `?` and the sorted `name=value` pairs of the query and the fields; for a
    /// POST with fields, `?`, the URL's sorted query, `.` when that query is not empty, and the fields' sorted
    /// `namevalue` pairs.
    static func signedURL(method: String, url: String, fields: FormFields) -> String {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme, let host = parts.host else { return url }
        let base = scheme + "://" + host + (parts.port.map { ":\($0)" } ?? "") + parts.percentEncodedPath
        let query = FormFields(encoded: Array((parts.percentEncodedQuery ?? "").utf8)) ?? FormFields([])
        if method.uppercased() == "GET" || fields.pairs.isEmpty {
            let all = method.uppercased() == "GET" ? FormFields(query.pairs + fields.pairs) : query
            let text = pairs(all, separator: "=").joined(separator: "&")
            return text.isEmpty ? base : base + "?" + text
        }
        let queryText = pairs(query, separator: "=").joined(separator: "&")
        return base + "?" + queryText + (queryText.isEmpty ? "" : ".") + pairs(fields, separator: "").joined()
    }

    /// Each name (sorted) with each of its values (sorted).
    private static func pairs(_ fields: FormFields, separator: String) -> [String] {
        sortedUnique(fields.pairs.map(\.name)).map { name in
            fields.pairs.filter { $0.name == name }.map(\.value).sorted(by: codePointOrder).map { name + separator + $0 }
                .joined(separator: separator == "=" ? "&" : "")
        }
    }
}

/// Sorted as Python sorts strings (by code point), without repeats.
private func sortedUnique(_ values: [String]) -> [String] {
    Array(Set(values)).sorted(by: codePointOrder)
}

private func codePointOrder(_ a: String, _ b: String) -> Bool { a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) }
