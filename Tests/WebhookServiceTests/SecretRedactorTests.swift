import Policy
import Testing

@testable import WebhookService

struct SecretRedactorTests {
    let redactor = SecretRedactor(secrets: ["sk-very-secret-key"])

    @Test func meetingTokensAndConfiguredSecretsAreRedacted() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJyIjoiYSJ9.c2ln-_+/="
        #expect(redactor.redact("env DAILY_ROOM_TOKEN=\(token)\n") == "env DAILY_ROOM_TOKEN=[redacted]\n")
        #expect(redactor.redact("argv: run \(token) x") == "argv: run [redacted] x")
        #expect(redactor.redact("key sk-very-secret-key!") == "key [redacted]!")
    }

    @Test func ordinaryTextIsLeftAlone() {
        for text in ["eyJ alone", "eyJabc.def without a second dot", "short words stay short", "keyJx.y.z", "", "é😀"] {
            #expect(redactor.redact(text) == text)
        }
    }

    /// Secrets shorter than 8 characters, and a webhook secret written without its base64 padding, were left in.
    @Test func shortSecretsAndUnpaddedWebhookSecretsAreRedacted() throws {
        let config = try Config.parse([
            "AUTOSPAWN_BOT_COMMAND": "bot", "AUTOSPAWN_ADMIN_TOKEN": "t0ken",
            // "abcd" is "YWJjZA==": configured here without its padding.
            "AUTOSPAWN_WEBHOOK_SECRET": "YWJjZA",
        ])
        let redactor = SecretRedactor(config)
        #expect(redactor.redact("Bearer t0ken") == "Bearer [redacted]")
        #expect(redactor.redact("secret=YWJjZA end") == "secret=[redacted] end")
        #expect(redactor.redact("secret=YWJjZA== end") == "secret=[redacted] end")
    }
}
