import Policy
import Testing

/// `AUTOSPAWN_PUBLIC_URL` and the carriers' secrets (DESIGN "Phone calls over a WebSocket").
struct TelephonySettingsTests {
    let minimal = ["AUTOSPAWN_BOT_COMMAND": "bot {ws_url}"]
    static let publicURL = ["AUTOSPAWN_PUBLIC_URL": "https://bots.example.com/"]
    static let telnyxKey = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

    func parse(_ settings: [String: String]) throws -> Config {
        try Config.parse(minimal.merging(settings) { $1 })
    }

    @Test func noCarrierIsConfiguredByDefault() throws {
        let config = try parse([:])
        #expect(config.telephony.carriers.isEmpty)
        #expect(config.telephony.publicURL == nil)
        #expect(config.telephony.streamBufferSeconds == 5)
        #expect(config.telephony.twilioAPIURL == "https://api.twilio.com")
    }

    @Test func eachSecretSwitchesItsCarrierOnAndIsRedacted() throws {
        let config = try parse(
            Self.publicURL.merging([
                "AUTOSPAWN_TWILIO_AUTH_TOKEN": "old-token, new-token", "AUTOSPAWN_TELNYX_PUBLIC_KEY": Self.telnyxKey,
                "AUTOSPAWN_PLIVO_AUTH_TOKEN": "plivo-token", "AUTOSPAWN_EXOTEL_TOKEN": String(repeating: "e", count: 40),
            ]) { $1 }
        )
        #expect(config.telephony.carriers == [.twilio, .telnyx, .plivo, .exotel])
        #expect(config.telephony.publicURL == "https://bots.example.com")
        #expect(config.telephony.twilioAuthTokens == ["old-token", "new-token"])
        #expect(config.telephony.telnyxPublicKeys.first?.count == 32)
        for secret in ["old-token", "new-token", "plivo-token", String(repeating: "e", count: 40)] {
            #expect(config.secretTexts.contains(secret))
        }
    }

    @Test func aCarriersSecretWithoutThePublicURLNamesIt() {
        for variable in ["AUTOSPAWN_TWILIO_AUTH_TOKEN", "AUTOSPAWN_PLIVO_AUTH_TOKEN"] {
            let error = #expect(throws: ConfigError.self) { try parse([variable: "t"]) }
            #expect(error?.variable == "AUTOSPAWN_PUBLIC_URL")
        }
    }

    @Test(arguments: [
        ("AUTOSPAWN_PUBLIC_URL", "bots.example.com"),
        ("AUTOSPAWN_TWILIO_ACCOUNT_SID", "AC123"),
        ("AUTOSPAWN_TWILIO_API_URL", "api.twilio.com"),
        ("AUTOSPAWN_TELNYX_PUBLIC_KEY", "YWJj"),
        ("AUTOSPAWN_TELNYX_PUBLIC_KEY", "not base64!"),
        ("AUTOSPAWN_EXOTEL_TOKEN", "short"),
        ("AUTOSPAWN_EXOTEL_TOKEN", String(repeating: "a", count: 39) + "/"),
        ("AUTOSPAWN_STREAM_BUFFER_S", "-1"),
        ("AUTOSPAWN_TWILIO_AUTH_TOKEN", "a,,b"),
    ])
    func aBadValueNamesItsVariable(variable: String, value: String) {
        let error = #expect(throws: ConfigError.self) { try parse(Self.publicURL.merging([variable: value]) { $1 }) }
        #expect(error?.variable == variable)
        // A secret is never echoed.
        if TelephonySettings.secretVariables.contains(variable) { #expect(error?.description.contains(value) == false) }
    }

    @Test func anAccountSIDNeedsTheAuthToken() {
        let error = #expect(throws: ConfigError.self) {
            try parse(Self.publicURL.merging(["AUTOSPAWN_TWILIO_ACCOUNT_SID": "AC" + String(repeating: "0", count: 32)]) { $1 })
        }
        #expect(error?.variable == "AUTOSPAWN_TWILIO_ACCOUNT_SID")
    }

    @Test(arguments: ["AUTOSPAWN_TWILIO_AUTH_TOKEN", "AUTOSPAWN_TELNYX_PUBLIC_KEY", "AUTOSPAWN_PLIVO_AUTH_TOKEN", "AUTOSPAWN_EXOTEL_TOKEN_FILE"])
    func noBotIsGivenACarriersSecret(name: String) {
        let error = #expect(throws: ConfigError.self) { try parse(["AUTOSPAWN_BOT_ENV": "PATH,\(name)"]) }
        #expect(error?.variable == "AUTOSPAWN_BOT_ENV")
    }

    @Test func theCarriersSecretsMayComeFromFiles() throws {
        let resolved = try Config.resolvingSecretFiles(["AUTOSPAWN_TWILIO_AUTH_TOKEN_FILE": "/run/secrets/twilio"]) { _ in "from-file\n" }
        #expect(resolved["AUTOSPAWN_TWILIO_AUTH_TOKEN"] == "from-file")
    }

    @Test func aCallsBotCommandMayNameItsStreamURL() {
        #expect(Config.botCommandPlaceholders.contains("{ws_url}"))
    }
}
