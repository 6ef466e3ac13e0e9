import Policy
import WebhookInput

// One input drives both parsers. The normaliser reads it as a webhook body; the verifier reads it as
// `secret \n timestamp \n signature \n body`. A crash, or a broken promise below, is a finding.

private let normaliser = EventNormaliser(domain: "fuzz")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = Array(UnsafeRawBufferPointer(start: start, count: count))

    // The normaliser: any bytes are an event naming a valid room (with its URL on the domain), a probe, an
    // unknown type, or a refusal with a code.
    do {
        if case .event(let event) = try normaliser.normalise(input) {
            precondition(EventNormaliser.isValidRoomName(event.roomName), "event for an invalid room name")
            if let url = event.roomURL {
                precondition(url.hasSuffix("/" + event.roomName), "room URL that does not end with the room")
            }
        }
    } catch {
        precondition(["malformed_json", "missing_type", "missing_room", "invalid_room"].contains(error.code))
    }

    // The verifier: what it signs it accepts; the same signature never fits another body.
    let parts = input.split(separator: UInt8(ascii: "\n"), maxSplits: 3, omittingEmptySubsequences: false)
    guard parts.count == 4, !parts[0].isEmpty else { return 0 }
    let secret = Array(parts[0])
    let timestamp = String(decoding: parts[1], as: UTF8.self)
    let signature = String(decoding: parts[2], as: UTF8.self)
    let body = Array(parts[3])
    let verifier = SignatureVerifier(secrets: [secret], toleranceSeconds: 300, requireSignature: true)
    let now = 1_800_000_000.0
    _ = verifier.verify(body: body, signature: signature, timestamp: timestamp, now: now)
    let fresh = "1800000000"
    let signed = SignatureVerifier.sign(body: body, secret: secret, timestamp: fresh)
    precondition(verifier.verify(body: body, signature: signed, timestamp: fresh, now: now) == .valid, "own signature refused")
    precondition(
        verifier.verify(body: body + [0], signature: signed, timestamp: fresh, now: now) == .invalid,
        "signature accepted for another body")
    if signature != signed {
        precondition(verifier.verify(body: body, signature: signature, timestamp: fresh, now: now) != .valid
            || Base64.decode(signature.trimmingCharacters(in: .whitespaces)) == Base64.decode(signed),
            "a foreign signature accepted")
    }
    return 0
}
