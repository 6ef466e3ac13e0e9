import Policy
import TestSupport
import Testing

@testable import WebhookService

struct EventNormaliserTests {
    let normaliser = EventNormaliser(domain: "acme")

    func event(_ name: String) throws -> RoomEvent {
        guard case .event(let event) = try normaliser.normalise(Fixtures.bytes(name)) else {
            throw NormaliseError(code: "not_an_event", detail: name)
        }
        return event
    }

    @Test(arguments: Fixtures.names(in: "daily") + Fixtures.names(in: "simplified"))
    func everyWellFormedFixtureIsUnderstood(name: String) throws {
        let body = try normaliser.normalise(Fixtures.bytes(name))
        switch body {
        case .probe: #expect(name.hasSuffix("probe.json"))
        case .unknownType(let type): #expect(type == "recording.started")
        case .event(let event):
            #expect(!event.id.isEmpty)
            #expect(EventNormaliser.isValidRoomName(event.roomName))
            #expect(event.roomURL?.hasSuffix("/" + event.roomName) == true)
        }
    }

    @Test(arguments: [
        ("malformed/not-json.txt", "malformed_json"), ("malformed/truncated.json", "malformed_json"),
        ("malformed/array.json", "malformed_json"), ("malformed/missing-type.json", "missing_type"),
        ("malformed/missing-room.json", "missing_room"), ("malformed/invalid-room.json", "invalid_room"),
        ("malformed/room-wrong-type.json", "invalid_room"), ("malformed/wrong-types.json", "missing_type"),
        // A `type` makes the body Daily's shape, whatever `event` says: one that is not a string is no event.
        ("malformed/type-not-a-string-with-event.json", "missing_type"),
        ("malformed/simplified-url-mismatch.json", "invalid_room"), ("malformed/url-with-query.json", "invalid_room"),
        ("malformed/fuzz-url-query-left.txt", "invalid_room"), ("malformed/trailing-comma.json", "malformed_json"),
        ("malformed/simplified-foreign-host.json", "invalid_room"), ("malformed/simplified-other-domain.json", "invalid_room"),
        ("malformed/simplified-plain-http.json", "invalid_room"), ("malformed/simplified-lookalike-host.json", "invalid_room"),
    ])
    func malformedFixturesAreRefusedWithTheirReason(name: String, code: String) {
        #expect(throws: NormaliseError.self) { try normaliser.normalise(Fixtures.bytes(name)) }
        do {
            _ = try normaliser.normalise(Fixtures.bytes(name))
        } catch {
            #expect(error.code == code)
        }
    }

    @Test func dailyJoinCarriesItsParticipantAndURL() throws {
        let join = try event("daily/participant-joined.json")
        #expect(join.kind == .participantJoined)
        #expect(join.id == "ptcpt-join-6497c79b-f326-4942-aef8-c36a29140ad1-1708972279961")
        #expect(join.roomName == "demo-room")
        #expect(join.roomURL == "https://acme.daily.co/demo-room")
        #expect(join.participant == .init(sessionID: "6497c79b-f326-4942-aef8-c36a29140ad1", userID: "user-jane", userName: "Jane"))
        #expect(join.sentAt == 1_708_972_279.961)
    }

    @Test func nullUserIdUnicodeNamesAndMissingFieldsAreFine() throws {
        #expect(try event("daily/participant-joined-null-user-id.json").participant?.userID == nil)
        #expect(try event("daily/participant-joined-unicode.json").participant?.userName == "Zoë 🎧 Ødegård 李")
        let minimal = try event("daily/participant-joined-minimal.json")
        #expect(minimal.participant == .init(sessionID: "3c3c3c3c-3333-4333-8333-333333333333", userID: nil, userName: nil))
    }

    @Test func eachDailyTypeMapsToItsKind() throws {
        #expect(try event("daily/participant-left.json").kind == .participantLeft)
        #expect(try event("daily/meeting-started.json").kind == .meetingStarted)
        #expect(try event("daily/meeting-ended.json").kind == .meetingEnded)
        #expect(try event("daily/meeting-ended.json").participant == nil)
        #expect(try event("daily/waiting-participant-joined.json").kind == .waitingParticipantJoined)
        #expect(try event("daily/waiting-participant-left.json").kind == .waitingParticipantLeft)
        #expect(try normaliser.normalise(Fixtures.bytes("daily/recording-started.json")) == .unknownType("recording.started"))
        #expect(try normaliser.normalise(Fixtures.bytes("daily/probe.json")) == .probe)
    }

    @Test func simplifiedShapeUsesItsURLOrBuildsOne() throws {
        let join = try event("simplified/participant-joined.json")
        #expect(join.kind == .participantJoined)
        #expect(join.roomURL == "https://acme.daily.co/my-room")
        #expect(join.participant?.userID == "abc123")
        #expect(join.id.hasPrefix("sha256:"))
        #expect(try event("simplified/participant-joined-no-url.json").roomURL == "https://acme.daily.co/my-room")
        #expect(try event("simplified/participant-left.json").kind == .participantLeft)
        #expect(try event("simplified/room-ended.json").kind == .meetingEnded)
        let withoutDomain = EventNormaliser(domain: nil)
        guard case .event(let bare) = try withoutDomain.normalise(Fixtures.bytes("daily/participant-joined.json")) else {
            Issue.record("not an event")
            return
        }
        #expect(bare.roomURL == nil)
    }

    /// An unsigned simplified join naming https://attacker.example.com/x was answered `spawned` and its bot sent there.
    @Test func aSimplifiedRoomURLMustBeARoomOfTheDailyDomain() {
        let anyDomain = EventNormaliser(domain: nil)
        #expect(anyDomain.dailyRoomName(inURL: "https://someone.daily.co/my-room") == "my-room")
        #expect(normaliser.dailyRoomName(inURL: "https://ACME.daily.co/my-room") == "my-room")
        for url in [
            "https://someone.daily.co/my-room", "https://attacker.example.com/x", "http://acme.daily.co/my-room",
            "https://acme.daily.co.evil.example/my-room", "https://acme.daily.co:444/my-room", "https://u:p@acme.daily.co/r",
            "https://acme.daily.co/my-room?x=1", "https://acme.daily.co/a/b", "https://.daily.co/r", "https://acme.daily.co/",
        ] {
            #expect(normaliser.dailyRoomName(inURL: url) == nil, "\(url)")
        }
        #expect(anyDomain.dailyRoomName(inURL: "https://attacker.example.com/x") == nil)
    }

    @Test func roomMayBeGivenAsNameOrURL() {
        #expect(EventNormaliser.roomName(fromNameOrURL: "demo-room") == "demo-room")
        #expect(EventNormaliser.roomName(fromNameOrURL: "https://acme.daily.co/demo-room") == "demo-room")
        #expect(EventNormaliser.roomName(fromNameOrURL: "https://acme.daily.co/a%20b") == nil)
        #expect(EventNormaliser.roomName(fromNameOrURL: "../etc") == nil)
        #expect(EventNormaliser.roomName(fromNameOrURL: String(repeating: "a", count: 129)) == nil)
    }
}
