import Testing

@testable import WebhookService

/// The key a call's bot forwards its call with: its own call's only, under any configured dial-in secret.
struct CallForwardKeysTests {
    let keys = CallForwardKeys(secrets: [Array("new secret".utf8), Array("old secret".utf8)])

    @Test func aCallsKeyForwardsThatCallOnly() {
        let key = keys.key(forCall: "call-1")
        #expect(keys.accepts(key, forCall: "call-1"))
        #expect(!keys.accepts(key, forCall: "call-2"))
        #expect(!keys.accepts("", forCall: "call-1"))
        #expect(!key.contains("=") && !key.contains("+") && !key.contains("/"))
    }

    @Test func aKeyMadeBeforeARotationStillForwardsItsCall() {
        let before = CallForwardKeys(secrets: [Array("old secret".utf8)]).key(forCall: "call-1")
        #expect(keys.accepts(before, forCall: "call-1"))
        #expect(!CallForwardKeys(secrets: [Array("other".utf8)]).accepts(before, forCall: "call-1"))
    }
}
