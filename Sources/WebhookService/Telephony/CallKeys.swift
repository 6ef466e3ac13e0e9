import Crypto
import Foundation

/// The secrets of phone calls' streams: the single-use token a carrier opens a call's stream with (kept in the
/// database as its digest, so any replica can take it), and the key in each call bot's `ws_url`.
struct CallKeys: Sendable {
    /// New with each process: a call's bot lives only as long as the relay of the instance that launched it (recovery
    /// never adopts one), so its key need not outlive this process.
    private let secret = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }

    /// The key of the session's bot: only the bot launched for it is given it.
    func botKey(forSession id: String) -> String {
        base64URL(Data(HMAC<SHA256>.authenticationCode(for: Array(id.utf8), using: SymmetricKey(data: secret))))
    }

    func isBotKey(_ key: String, forSession id: String) -> Bool {
        constantTimeEqual(Array(key.utf8), Array(botKey(forSession: id).utf8))
    }

    /// A new stream token: 32 random bytes, URL-safe, and the digest the database keeps.
    static func newStreamToken() -> (token: String, digest: String) {
        let token = base64URL(Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }))
        return (token, digest(ofStreamToken: token))
    }

    static func digest(ofStreamToken token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `text` could be a stream token at all (43 base64url characters): anything else is refused unread.
    static func looksLikeStreamToken(_ text: String) -> Bool {
        text.utf8.count == 43 && text.utf8.allSatisfy { isBase64URL($0) }
    }
}

private func base64URL(_ data: Data) -> String {
    data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

private func isBase64URL(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
        UInt8(ascii: "-"), UInt8(ascii: "_"):
        true
    default: false
    }
}
