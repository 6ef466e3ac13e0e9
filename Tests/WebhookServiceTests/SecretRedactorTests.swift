import Testing
@testable import WebhookService

struct SecretRedactorTests {
    let redactor = SecretRedactor(secrets: ["sk-very-secret-key", "short"])

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
}
