/// A phone carrier whose calls reach a bot over a WebSocket media stream (DESIGN "Phone calls over a WebSocket").
package enum Carrier: String, Sendable, CaseIterable, Codable {
    case twilio, telnyx, plivo, exotel

    /// The secret that switches the carrier on; its routes answer 404 without it.
    package var secretVariable: String {
        switch self {
        case .twilio: "AUTOSPAWN_TWILIO_AUTH_TOKEN"
        case .telnyx: "AUTOSPAWN_TELNYX_PUBLIC_KEY"
        case .plivo: "AUTOSPAWN_PLIVO_AUTH_TOKEN"
        case .exotel: "AUTOSPAWN_EXOTEL_TOKEN"
        }
    }
}

/// The phone carriers' settings: where they reach the service and the secrets that prove a request is theirs.
package struct TelephonySettings: Sendable, Equatable {
    /// `AUTOSPAWN_PUBLIC_URL`, without a trailing slash: stream URLs are written from it and Twilio's and Plivo's
    /// signatures are checked against it, not against the address the service listens on.
    package var publicURL: String?
    /// `AUTOSPAWN_TWILIO_AUTH_TOKEN`: every token a signature may be made with (comma rotation).
    package var twilioAuthTokens: [String] = []
    /// `AUTOSPAWN_TWILIO_ACCOUNT_SID`: outbound calls through Twilio's `Calls.json`.
    package var twilioAccountSID: String?
    /// `AUTOSPAWN_TWILIO_API_URL`: Twilio's REST API (the carrier double's in tests).
    package var twilioAPIURL = "https://api.twilio.com"
    /// `AUTOSPAWN_TELNYX_PUBLIC_KEY`: raw 32-byte Ed25519 keys (comma rotation).
    package var telnyxPublicKeys: [[UInt8]] = []
    /// `AUTOSPAWN_PLIVO_AUTH_TOKEN` (comma rotation).
    package var plivoAuthTokens: [String] = []
    /// `AUTOSPAWN_EXOTEL_TOKEN`: the secret path element of Exotel's stream URL.
    package var exotelToken: String?
    /// `AUTOSPAWN_STREAM_BUFFER_S`: how much media a call's relay keeps while its bot is not connected.
    package var streamBufferSeconds: Double = 5

    package init() {}

    /// The carriers whose secret is set.
    package var carriers: [Carrier] {
        Carrier.allCases.filter { carrier in
            switch carrier {
            case .twilio: !twilioAuthTokens.isEmpty
            case .telnyx: !telnyxPublicKeys.isEmpty
            case .plivo: !plivoAuthTokens.isEmpty
            case .exotel: exotelToken != nil
            }
        }
    }

    /// The secrets of the telephony settings, as texts: each is redacted from logs and refused in `AUTOSPAWN_BOT_ENV`.
    package static let secretVariables = Carrier.allCases.map(\.secretVariable)

    /// Reads the telephony settings; the first bad one throws, naming its variable.
    static func parse(_ reader: Reader) throws(ConfigError) -> (TelephonySettings, secretTexts: [String]) {
        var settings = TelephonySettings()
        settings.publicURL = try reader.nonEmpty("AUTOSPAWN_PUBLIC_URL").map(Config.trimmingTrailingSlashes)
        if let url = settings.publicURL, !Config.isHTTPURL(url) {
            throw ConfigError("AUTOSPAWN_PUBLIC_URL", "'\(url)' is not an http:// or https:// URL")
        }
        settings.twilioAuthTokens = try reader.texts("AUTOSPAWN_TWILIO_AUTH_TOKEN")
        settings.twilioAccountSID = try reader.nonEmpty("AUTOSPAWN_TWILIO_ACCOUNT_SID").map { $0.trimmingBlanks() }
        if let sid = settings.twilioAccountSID, !(sid.hasPrefix("AC") && sid.count == 34 && sid.allSatisfy(\.isHexDigit)) {
            throw ConfigError("AUTOSPAWN_TWILIO_ACCOUNT_SID", "'\(sid)' is not a Twilio account SID (AC and 32 hexadecimal digits)")
        }
        if settings.twilioAccountSID != nil, settings.twilioAuthTokens.isEmpty {
            throw ConfigError("AUTOSPAWN_TWILIO_ACCOUNT_SID", "outbound calls also need AUTOSPAWN_TWILIO_AUTH_TOKEN")
        }
        let apiURL = try reader.nonEmpty("AUTOSPAWN_TWILIO_API_URL") ?? settings.twilioAPIURL
        guard Config.isHTTPURL(apiURL) else {
            throw ConfigError("AUTOSPAWN_TWILIO_API_URL", "'\(apiURL)' is not an http:// or https:// URL")
        }
        settings.twilioAPIURL = Config.trimmingTrailingSlashes(apiURL)
        settings.telnyxPublicKeys = try reader.secrets("AUTOSPAWN_TELNYX_PUBLIC_KEY")
        if let index = settings.telnyxPublicKeys.firstIndex(where: { $0.count != 32 }) {
            throw ConfigError("AUTOSPAWN_TELNYX_PUBLIC_KEY", "entry \(index + 1) is not a 32-byte Ed25519 public key (base64)")
        }
        settings.plivoAuthTokens = try reader.texts("AUTOSPAWN_PLIVO_AUTH_TOKEN")
        settings.exotelToken = try reader.nonEmpty("AUTOSPAWN_EXOTEL_TOKEN").map { $0.trimmingBlanks() }
        if let token = settings.exotelToken, token.count < 32 || !token.allSatisfy(Self.isURLSafe) {
            // It is the stream URL's only protection: Exotel signs nothing.
            throw ConfigError(
                "AUTOSPAWN_EXOTEL_TOKEN",
                "must be at least 32 characters of letters, digits, '-' and '_' (it is all that guards Exotel's stream URL)"
            )
        }
        settings.streamBufferSeconds = try reader.seconds("AUTOSPAWN_STREAM_BUFFER_S", default: 5, allowZero: true)
        if let carrier = settings.carriers.first, settings.publicURL == nil {
            throw ConfigError("AUTOSPAWN_PUBLIC_URL", "\(carrier.secretVariable) is set: the carrier's stream URLs are written from it")
        }
        let secretTexts = settings.twilioAuthTokens + settings.plivoAuthTokens + [settings.exotelToken].compactMap { $0 }
        return (settings, secretTexts)
    }

    private static func isURLSafe(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || character == "-" || character == "_")
    }
}

extension Reader {
    /// A comma-separated list of plain secrets (rotation: any of them is accepted).
    func texts(_ name: String) throws(ConfigError) -> [String] {
        guard let text = try nonEmpty(name) else { return [] }
        var values: [String] = []
        for (index, part) in text.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let value = String(part).trimmingBlanks()
            guard !value.isEmpty else { throw ConfigError(name, "entry \(index + 1) of the comma-separated list is empty") }
            values.append(value)
        }
        return values
    }
}
