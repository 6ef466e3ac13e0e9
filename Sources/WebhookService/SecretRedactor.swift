import Policy

/// Removes secrets from text the service hands out that it did not write itself (a bot's log): the configured
/// secrets, and anything shaped like a meeting token (a JWT: `eyJ` and two more dot-separated parts), since
/// bots are handed theirs and may print it.
package struct SecretRedactor: Sendable {
    package static let mark = "[redacted]"
    private let secrets: [String]

    /// Every secret is searched for, whatever its length: a short secret is still a secret.
    package init(secrets: [String]) {
        self.secrets = Array(Set(secrets.filter { !$0.isEmpty })).sorted { $0.count > $1.count }
    }

    /// The configured API key, admin token, webhook and dial-in secrets: as configured, and each of their keys also as
    /// base64 with and without its padding, whichever way it was written down.
    package init(_ config: Config) {
        var secrets = config.secretTexts
        for key in config.webhookSecrets + config.dialinSecrets {
            let encoded = Base64.encode(key)
            secrets += [encoded, String(encoded.reversed().drop { $0 == "=" }.reversed())]
        }
        self.init(secrets: secrets)
    }

    /// - Parameter also: secrets of the one text besides the configured ones (a call's forwarding key).
    package func redact(_ text: String, also: [String] = []) -> String {
        var result = Self.redactingTokens(text)
        for secret in secrets + also.filter({ !$0.isEmpty }) where result.contains(secret) {
            result = result.replacing(secret, with: Self.mark)
        }
        return result
    }

    /// Replaces every JWT-shaped run: `eyJ` followed by base64url (or base64) characters with at least two dots.
    static func redactingTokens(_ text: String) -> String {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 3 else { return text }
        var output: [UInt8] = []
        output.reserveCapacity(utf8.count)
        var index = 0
        while index < utf8.count {
            if index + 2 < utf8.count, utf8[index] == UInt8(ascii: "e"), utf8[index + 1] == UInt8(ascii: "y"),
                utf8[index + 2] == UInt8(ascii: "J"), index == 0 || !isAlphanumeric(utf8[index - 1])
            {
                var end = index
                var dots = 0
                while end < utf8.count, isTokenByte(utf8[end]) {
                    if utf8[end] == UInt8(ascii: ".") { dots += 1 }
                    end += 1
                }
                if dots >= 2 {
                    output += Array(Self.mark.utf8)
                } else {
                    output += utf8[index..<end]
                }
                index = end
            } else {
                output.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            false
        }
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte)
            || [UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "=")].contains(byte)
    }
}
