import Crypto
import Foundation
import Policy
import Testing
import WebhookService

/// The carriers' signatures, against vectors of their own libraries (twilio-python's tests; plivo-python's
/// `signature_v3.py` run on these requests).
struct CarrierSignatureTests {
    static let twilioURL = "https://mycompany.com/myapp.php?foo=1&bar=2"
    static let twilioFields = FormFields([
        ("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"), ("From", "+14158675309"), ("To", "+18005551212"),
        ("Caller", "+14158675309"),
    ])

    @Test func twilioSignaturesOfItsOwnTestsAreValid() {
        #expect(TwilioSignature.isValid("RSOYDt4T1cUTdK1PDd93/VVr8B8=", url: Self.twilioURL, fields: Self.twilioFields, tokens: ["12345"]))
        // Names sorted, a name's values sorted, repeats dropped.
        let repeated = FormFields([("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")])
        #expect(TwilioSignature.isValid("IK+Dwps556ElfBT0I3Rgjkr1wJU=", url: Self.twilioURL, fields: repeated, tokens: ["12345"]))
        #expect(TwilioSignature.sign(url: Self.twilioURL, fields: Self.twilioFields, token: "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    }

    @Test func aTwilioSignatureUnderAnotherTokenURLOrFieldIsRefused() {
        let good = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        #expect(!TwilioSignature.isValid(good, url: Self.twilioURL, fields: Self.twilioFields, tokens: ["54321"]))
        #expect(TwilioSignature.isValid(good, url: Self.twilioURL, fields: Self.twilioFields, tokens: ["54321", "12345"]))
        #expect(!TwilioSignature.isValid(good, url: "https://other.example.com/myapp.php?foo=1&bar=2", fields: Self.twilioFields, tokens: ["12345"]))
        var changed = Self.twilioFields
        changed.pairs[3].value = "+18005550000"
        #expect(!TwilioSignature.isValid(good, url: Self.twilioURL, fields: changed, tokens: ["12345"]))
        #expect(!TwilioSignature.isValid("", url: Self.twilioURL, fields: Self.twilioFields, tokens: ["12345"]))
        #expect(!TwilioSignature.isValid("not base64!", url: Self.twilioURL, fields: Self.twilioFields, tokens: ["12345"]))
    }

    @Test func aTwilioURLIsCheckedWithAndWithoutItsDefaultPort() {
        let signed = TwilioSignature.sign(url: "https://bots.example.com:443/telephony/twilio/call", fields: Self.twilioFields, token: "t")
        #expect(TwilioSignature.isValid(signed, url: "https://bots.example.com/telephony/twilio/call", fields: Self.twilioFields, tokens: ["t"]))
        let plain = TwilioSignature.sign(url: "http://bots.example.com/telephony/twilio/call", fields: Self.twilioFields, token: "t")
        #expect(TwilioSignature.isValid(plain, url: "http://bots.example.com:80/telephony/twilio/call", fields: Self.twilioFields, tokens: ["t"]))
        #expect(!TwilioSignature.isValid(plain, url: "http://bots.example.com:8080/telephony/twilio/call", fields: Self.twilioFields, tokens: ["t"]))
    }

    @Test func plivoV3SignaturesOfItsOwnAlgorithmAreValid() {
        let fields = FormFields([("CallUUID", "c-1"), ("From", "+15105550199"), ("To", "+15550001111"), ("Direction", "inbound")])
        let url = "https://bots.example.com/telephony/plivo/call"
        let signature = "y7rVE9EEg065fOF5weYd/3G5D7uWHbtpZc2ugh1KgkY="
        #expect(PlivoSignature.isValid(signature, nonce: "12345678", method: "POST", url: url, fields: fields, tokens: ["MAXXXXXXXXXXXXXXXXXX"]))
        // The header is a list: any entry may match.
        #expect(
            PlivoSignature.isValid(
                "AAAA, \(signature)",
                nonce: "12345678",
                method: "POST",
                url: url,
                fields: fields,
                tokens: ["MAXXXXXXXXXXXXXXXXXX"]
            )
        )
        #expect(!PlivoSignature.isValid(signature, nonce: "12345679", method: "POST", url: url, fields: fields, tokens: ["MAXXXXXXXXXXXXXXXXXX"]))
        #expect(!PlivoSignature.isValid(signature, nonce: "12345678", method: "POST", url: url, fields: fields, tokens: ["other"]))
        // With a query: sorted, then '.', then the fields.
        let withQuery = FormFields([("CallUUID", "c-1"), ("From", "+1 555")])
        #expect(
            PlivoSignature.isValid(
                "YUp5ALgdrntXr+fYdflqsLETVPO6Mg8bGVluz2AGFNw=",
                nonce: "nonce",
                method: "POST",
                url: url + "?b=2&a=1",
                fields: withQuery,
                tokens: ["tok"]
            )
        )
        #expect(
            PlivoSignature.isValid(
                "WU/W1DCODcWXqMCaNMXwU/GT5X4olFo4vAn6IvecCxM=",
                nonce: "n",
                method: "GET",
                url: "https://bots.example.com/x?b=2&a=1",
                fields: FormFields([("CallUUID", "c-1")]),
                tokens: ["tok"]
            )
        )
    }

    @Test func telnyxSignaturesAreCheckedWithEveryKeyWithinTheirTolerance() throws {
        let key = Curve25519.Signing.PrivateKey()
        let other = Curve25519.Signing.PrivateKey()
        let body = Array("AccountSid=a&CallSid=v3:abc&From=%2B15105550199&To=%2B15550001111".utf8)
        let signature = try TelnyxSignature.sign(timestamp: "1700000000", body: body, key: key)
        let keys = [Array(other.publicKey.rawRepresentation), Array(key.publicKey.rawRepresentation)]
        #expect(TelnyxSignature.isValid(signature, timestamp: "1700000000", body: body, keys: keys, now: 1_700_000_100))
        #expect(!TelnyxSignature.isValid(signature, timestamp: "1700000000", body: body, keys: [keys[0]], now: 1_700_000_100))
        #expect(!TelnyxSignature.isValid(signature, timestamp: "1700000000", body: body + [0x20], keys: keys, now: 1_700_000_100))
        #expect(!TelnyxSignature.isValid(signature, timestamp: "1700000001", body: body, keys: keys, now: 1_700_000_100))
        // Stale, either way.
        #expect(!TelnyxSignature.isValid(signature, timestamp: "1700000000", body: body, keys: keys, now: 1_700_000_301))
        #expect(!TelnyxSignature.isValid(signature, timestamp: "1700000000", body: body, keys: keys, now: 1_699_999_699))
    }

    @Test func formFieldsDecodeAsCarriersEncodeThem() throws {
        let fields = try #require(FormFields(encoded: Array("CallSid=CA1&From=%2B15105550199&Caller=Jane+Doe&Empty=&Flag".utf8)))
        #expect(fields["From"] == "+15105550199")
        #expect(fields["Caller"] == "Jane Doe")
        #expect(fields["Empty"] == "")
        #expect(fields["Flag"] == "")
        #expect(FormFields(encoded: Array("a=%2".utf8)) == nil)
        #expect(FormFields(encoded: Array("a=%FF".utf8)) == nil)
        #expect(FormFields(encoded: Array(fields.encoded.utf8)) == fields)
    }
}
