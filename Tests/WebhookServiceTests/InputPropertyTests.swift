import Foundation
import Policy
import PropertyBased
import TestSupport
import Testing

@testable import WebhookService

/// The verifier and the normaliser under generated input (issue 4, point 5). `fuzz/` drives the same two
/// with libFuzzer, on demand.
struct InputPropertyTests {
    static let bytes = Gen<UInt8>.value(in: 0...255).array(of: 0...512)
    static let secrets = Gen<UInt8>.value(in: 0...255).array(of: 1...64)
    static let now = 1_800_000_000.0

    @Test func whatItSignsItAcceptsAndAnyChangedByteItRefuses() async {
        await propertyCheck(count: 300, input: Self.bytes, Self.secrets, Gen.int(in: -299...299), Gen.int(in: 0...10_000)) {
            body,
            secret,
            skew,
            flip in
            let timestamp = String(Int(Self.now) + skew)
            let signature = SignatureVerifier.sign(body: body, secret: secret, timestamp: timestamp)
            let verifier = SignatureVerifier(secrets: [secret], toleranceSeconds: 300, requireSignature: true)
            #expect(verifier.verify(body: body, signature: signature, timestamp: timestamp, now: Self.now) == .valid)
            var changed = body.isEmpty ? [UInt8(flip % 256)] : body
            if !body.isEmpty { changed[flip % body.count] ^= UInt8(1 + flip % 255) }
            #expect(verifier.verify(body: changed, signature: signature, timestamp: timestamp, now: Self.now) == .invalid)
            var otherSecret = secret
            otherSecret[flip % secret.count] ^= 0x80
            let other = SignatureVerifier(secrets: [otherSecret], toleranceSeconds: 300, requireSignature: true)
            #expect(other.verify(body: body, signature: signature, timestamp: timestamp, now: Self.now) == .invalid)
        }
    }

    @Test func signaturesAndTimestampsFromNowhereAreNeverValid() async {
        let text = Gen<UInt8>.value(in: 0...255).array(of: 0...96).map { String(decoding: $0, as: UTF8.self) }
        await propertyCheck(count: 500, input: Self.bytes, text, text) { body, signature, timestamp in
            let verifier = SignatureVerifier(secrets: [Array("k".utf8)], toleranceSeconds: 300, requireSignature: true)
            let verdict = verifier.verify(body: body, signature: signature, timestamp: timestamp, now: Self.now)
            #expect(verdict != .valid && verdict != .unsigned)
        }
    }

    @Test func anyBytesAreAnEventOrARefusalWithACode() async {
        let normaliser = EventNormaliser(domain: "acme")
        await propertyCheck(count: 1_000, input: Self.bytes) { body in
            do {
                if case .event(let event) = try normaliser.normalise(body) {
                    #expect(EventNormaliser.isValidRoomName(event.roomName))
                }
            } catch let error as NormaliseError {
                #expect(["malformed_json", "missing_type", "missing_room", "invalid_room"].contains(error.code))
            } catch {
                Issue.record("not a NormaliseError: \(error)")
            }
        }
    }

    /// Events built from Daily's shape with any room, type, ids and names: a room outside Daily's rule never
    /// becomes an event, and every event names a valid room and its URL on the configured domain.
    @Test func generatedEventsOnlyEverNameValidRooms() async {
        let roomCharacters = Gen.element(of: Array("abcXYZ019-_ ./%\u{0}é😀\"\\"))
        let rooms = roomCharacters.array(of: 0...140).map { String($0.compactMap { $0 }) }
        let types = Gen.element(of: ["participant.joined", "participant.left", "meeting.ended", "meeting.started", "x", ""])
        let names = Gen.element(of: Array("ab \"\\\u{1}é")).array(of: 0...20).map { String($0.compactMap { $0 }) }
        let normaliser = EventNormaliser(domain: "acme")
        await propertyCheck(count: 1_000, input: rooms, types, names, Gen.bool) { room, type, name, withSession in
            var payload: [String: Any] = ["room": room, "user_name": name]
            if withSession { payload["session_id"] = name }
            let object: [String: Any] = ["version": "1.0.0", "type": type ?? "", "id": name, "payload": payload]
            guard let data = try? JSONSerialization.data(withJSONObject: object) else { return }
            do {
                if case .event(let event) = try normaliser.normalise(Array(data)) {
                    #expect(event.roomName == room)
                    #expect(EventNormaliser.isValidRoomName(room))
                    #expect(event.roomURL == "https://acme.daily.co/\(room)")
                }
            } catch let error as NormaliseError {
                if !EventNormaliser.isValidRoomName(room) { #expect(error.code == "invalid_room") }
            } catch {
                Issue.record("not a NormaliseError: \(error)")
            }
        }
    }

    @Test func fixturesWithBytesFlippedNeverCrashTheNormaliser() async {
        let fixtures = (Fixtures.names(in: "daily") + Fixtures.names(in: "simplified")).map(Fixtures.bytes)
        let normaliser = EventNormaliser(domain: "acme")
        await propertyCheck(
            count: 1_000,
            input: Gen.int(in: 0..<fixtures.count),
            Gen.int(in: 0...100_000).array(of: 1...8),
            Gen<UInt8>.value(in: 1...255)
        ) { which, positions, mask in
            var body = fixtures[which]
            for position in positions { body[position % body.count] ^= mask }
            if case .event(let event)? = try? normaliser.normalise(body) {
                #expect(EventNormaliser.isValidRoomName(event.roomName))
            }
        }
    }
}
