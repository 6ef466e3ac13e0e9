import Policy
import TestSupport
import Testing

@testable import WebhookService

struct SignatureVerifierTests {
    let vectors = Fixtures.vectors
    var key: [UInt8] { Base64.decode(vectors.secret) ?? [] }

    func verifier(_ secrets: [[UInt8]]? = nil, require: Bool = true) -> SignatureVerifier {
        SignatureVerifier(secrets: secrets ?? [key], toleranceSeconds: 300, requireSignature: require)
    }

    func now(for vector: Fixtures.Vectors.Vector) -> Double {
        (SignatureVerifier.seconds(fromTimestamp: vector.timestamp) ?? 0) + 10
    }

    @Test func acceptsEveryPythonVector() {
        for vector in vectors.vectors {
            #expect(
                verifier().verify(body: vector.bodyBytes, signature: vector.signature, timestamp: vector.timestamp, now: now(for: vector)) == .valid
            )
            #expect(SignatureVerifier.sign(body: vector.bodyBytes, secret: key, timestamp: vector.timestamp) == vector.signature)
        }
    }

    @Test func refusesATamperedBodyTimestampOrSignature() throws {
        let vector = try #require(vectors.vectors.first)
        let at = now(for: vector)
        #expect(verifier().verify(body: vector.bodyBytes + [10], signature: vector.signature, timestamp: vector.timestamp, now: at) == .invalid)
        #expect(verifier().verify(body: vector.bodyBytes, signature: vector.signature, timestamp: vector.timestamp + "1", now: at) == .invalid)
        #expect(
            verifier().verify(body: vector.bodyBytes, signature: String(vector.signature.dropLast(4)), timestamp: vector.timestamp, now: at)
                == .invalid
        )
        #expect(verifier().verify(body: vector.bodyBytes, signature: "not base64!", timestamp: vector.timestamp, now: at) == .invalid)
    }

    @Test func refusesTheWrongSecretAndAcceptsAnyRotatedOne() throws {
        let vector = try #require(vectors.vectors.first)
        let other = Base64.decode(vectors.otherSecret) ?? []
        #expect(
            verifier([other]).verify(body: vector.bodyBytes, signature: vector.signature, timestamp: vector.timestamp, now: now(for: vector))
                == .invalid
        )
        #expect(
            verifier([other, key]).verify(body: vector.bodyBytes, signature: vector.signature, timestamp: vector.timestamp, now: now(for: vector))
                == .valid
        )
    }

    @Test func timestampsOutsideTheToleranceAreStaleInSecondsAndMilliseconds() {
        for vector in vectors.vectors {
            let sent = SignatureVerifier.seconds(fromTimestamp: vector.timestamp) ?? 0
            #expect(sent == 1_708_972_279 || sent == 1_708_972_279.961)
            for skew in [-301.0, 301.0] {
                #expect(
                    verifier().verify(body: vector.bodyBytes, signature: vector.signature, timestamp: vector.timestamp, now: sent + skew) == .stale
                )
            }
            #expect(verifier().verify(body: vector.bodyBytes, signature: vector.signature, timestamp: vector.timestamp, now: sent - 299) == .valid)
        }
    }

    @Test func missingHeadersFollowRequireSignature() throws {
        let vector = try #require(vectors.vectors.first)
        #expect(verifier(require: true).verify(body: vector.bodyBytes, signature: nil, timestamp: nil, now: 0) == .missing)
        #expect(verifier(require: false).verify(body: vector.bodyBytes, signature: nil, timestamp: nil, now: 0) == .unsigned)
        #expect(verifier(require: false).verify(body: vector.bodyBytes, signature: vector.signature, timestamp: nil, now: 0) == .missing)
        // With a secret, a present signature is checked even when signatures are not required.
        #expect(
            verifier(require: false).verify(body: vector.bodyBytes, signature: "AAAA", timestamp: vector.timestamp, now: now(for: vector)) == .invalid
        )
        #expect(verifier([], require: false).verify(body: vector.bodyBytes, signature: "AAAA", timestamp: "1", now: 0) == .unsigned)
    }
}
