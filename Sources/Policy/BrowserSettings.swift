/// The settings of browser calls (DESIGN "Browser calls over WebRTC"): the ICE servers handed to bots and pages, and
/// the public keys that let a page in a browser start sessions and signal.
package struct BrowserSettings: Sendable, Equatable {
    /// `AUTOSPAWN_ICE_SERVERS`: each `{"urls","username"?,"credential"?}` as RTCPeerConnection takes it. Empty: host
    /// candidates only (one machine, or a LAN).
    package var iceServers: [JSONValue] = []
    /// `AUTOSPAWN_PUBLIC_KEYS` (Pipecat Cloud's `pk_` keys): good for starting a browser's session and its signalling
    /// only. They are written into pages, so they are no secret.
    package var publicKeys: [String] = []

    package init(iceServers: [JSONValue] = [], publicKeys: [String] = []) {
        self.iceServers = iceServers
        self.publicKeys = publicKeys
    }

    /// Reads the settings; the first bad one throws, naming its variable.
    static func parse(_ reader: Reader, adminToken: String?) throws(ConfigError) -> BrowserSettings {
        var settings = BrowserSettings()
        if let text = try reader.nonEmpty("AUTOSPAWN_ICE_SERVERS") {
            settings.iceServers = try iceServers(text)
        }
        settings.publicKeys = try reader.texts("AUTOSPAWN_PUBLIC_KEYS")
        for key in settings.publicKeys {
            guard key.count >= 16, key.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                throw ConfigError("AUTOSPAWN_PUBLIC_KEYS", "each key must be at least 16 characters, without spaces")
            }
            // A public key is written into pages: the admin token must never be one.
            if key == adminToken { throw ConfigError("AUTOSPAWN_PUBLIC_KEYS", "a public key is the admin token") }
        }
        return settings
    }

    /// `AUTOSPAWN_ICE_SERVERS` as Pipecat's `PIPECAT_ICE_SERVERS` takes it: a JSON array of URLs or of
    /// `{"urls","username","credential"}` objects, or comma-separated URLs.
    static func iceServers(_ text: String) throws(ConfigError) -> [JSONValue] {
        let name = "AUTOSPAWN_ICE_SERVERS"
        let entries: [JSONValue]
        if text.trimmingBlanks().hasPrefix("[") {
            guard case .array(let array)? = try? JSONValue(parsing: Array(text.utf8)) else {
                throw ConfigError(name, "is not a JSON array")
            }
            entries = array
        } else {
            entries = text.split(separator: ",").map { .string(String($0).trimmingBlanks()) }
        }
        var servers: [JSONValue] = []
        for (index, entry) in entries.enumerated() {
            let problem = "entry \(index + 1) is not a stun:, stuns:, turn: or turns: URL, or an object of urls, username and credential"
            switch entry {
            case .string(let url):
                guard isICEURL(url) else { throw ConfigError(name, problem) }
                servers.append(.object(["urls": .string(url)]))
            case .object(let fields):
                guard Set(fields.keys).isSubset(of: ["urls", "username", "credential"]) else { throw ConfigError(name, problem) }
                let urls: [JSONValue]
                switch fields["urls"] {
                case .string?: urls = [fields["urls"] ?? .null]
                case .array(let list)?: urls = list
                default: throw ConfigError(name, problem)
                }
                guard !urls.isEmpty, urls.allSatisfy({ if case .string(let url) = $0 { isICEURL(url) } else { false } }) else {
                    throw ConfigError(name, problem)
                }
                for field in ["username", "credential"] {
                    if let value = fields[field], case .string = value {} else if fields[field] != nil { throw ConfigError(name, problem) }
                }
                servers.append(entry)
            default:
                throw ConfigError(name, problem)
            }
        }
        return servers
    }

    private static func isICEURL(_ url: String) -> Bool {
        ["stun:", "stuns:", "turn:", "turns:"].contains { url.hasPrefix($0) && url.count > $0.count } && !url.contains(" ")
    }
}
