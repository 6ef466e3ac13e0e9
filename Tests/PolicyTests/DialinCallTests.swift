import Policy
import Testing

/// Daily's pinless dial-in request read into a call, and what the call makes of its room and its bot's body.
struct DialinCallTests {
    let call: JSONValue = .object([
        "To": .string("+15550001111"), "From": .string("+15105550199"), "callId": .string("0f3c2a5e-8d7b"),
        "callDomain": .string("7c1e9b2a"),
    ])

    func without(_ field: String) -> JSONValue { .object((call.object ?? [:]).filter { $0.key != field }) }

    func replacing(_ field: String, with value: JSONValue) -> JSONValue {
        .object((call.object ?? [:]).merging([field: value]) { $1 })
    }

    @Test func aCallHasItsNumbersItsIdAndItsDomain() throws {
        let parsed = try DialinCall(call)
        #expect(parsed == DialinCall(to: "+15550001111", from: "+15105550199", callID: "0f3c2a5e-8d7b", callDomain: "7c1e9b2a"))
        #expect(parsed.roomName == "dialin-0f3c2a5e-8d7b")
    }

    @Test(arguments: ["To", "From", "callId", "callDomain"])
    func aMissingFieldIsNamed(field: String) {
        #expect(throws: DialinCall.Invalid(field: field)) { try DialinCall(without(field)) }
        #expect(throws: DialinCall.Invalid(field: field)) { try DialinCall(replacing(field, with: .number(1))) }
        #expect(throws: DialinCall.Invalid(field: field)) { try DialinCall(replacing(field, with: .string("  "))) }
    }

    @Test func aCallIdThatCannotNameARoomIsRefused() {
        #expect(throws: DialinCall.Invalid(field: "callId")) { try DialinCall(replacing("callId", with: .string("../rooms/x"))) }
        #expect(throws: DialinCall.Invalid(field: "callId")) {
            try DialinCall(replacing("callId", with: .string(String(repeating: "a", count: 121))))
        }
    }

    @Test func sipHeadersAreAnObjectOrAbsent() throws {
        #expect(try DialinCall(replacing("sipHeaders", with: .null)).sipHeaders == nil)
        let headers = JSONValue.object(["X-Queue": .string("billing")])
        #expect(try DialinCall(replacing("sipHeaders", with: headers)).sipHeaders == headers)
        #expect(throws: DialinCall.Invalid(field: "sipHeaders")) { try DialinCall(replacing("sipHeaders", with: .string("x"))) }
        #expect(throws: DialinCall.Invalid(field: "body")) { try DialinCall(.array([])) }
    }

    @Test func theRoomTakesOneSIPEndpointNamedForTheCallerAndExpires() throws {
        let properties = try DialinCall(call).roomProperties(expiresAt: 1_700_000_000.7)
        #expect(
            properties["sip"]
                == .object([
                    "display_name": .string("+15105550199"), "sip_mode": .string("dial-in"), "num_endpoints": .number(1),
                ])
        )
        #expect(properties["exp"] == .number(1_700_000_000))
        #expect(properties["eject_at_room_exp"] == .bool(true))
    }

    @Test func theBotGetsTheCallAndWhereToForwardItOverItsProfilesBody() throws {
        let parsed = try DialinCall(replacing("sipHeaders", with: .object(["X-Queue": .string("billing")])))
        let profile = BotProfile(
            name: "support",
            launcher: .process(arguments: ["bot"]),
            botName: "Bot",
            body: ["persona": .string("support"), "daily_api_url": .string("profile's")]
        )
        let body = profile.body(mergedWith: parsed.body(forwardingThrough: "http://127.0.0.1:8080/daily/dialin-api", key: "k1"))
        #expect(body["persona"] == .string("support"))
        #expect(body["daily_api_url"] == .string("http://127.0.0.1:8080/daily/dialin-api"))
        #expect(body["daily_api_key"] == .string("k1"))
        let settings = try #require(body["dialin_settings"])
        #expect(settings["call_id"] == .string("0f3c2a5e-8d7b"))
        #expect(settings["call_domain"] == .string("7c1e9b2a"))
        #expect(settings["to"] == .string("+15550001111"))
        #expect(settings["from"] == .string("+15105550199"))
        // Pipecat's runner spells them so (pipecat.runner.types.DialinSettings).
        #expect(settings["To"] == .string("+15550001111"))
        #expect(settings["From"] == .string("+15105550199"))
        #expect(settings["sip_headers"] == .object(["X-Queue": .string("billing")]))
    }

    /// A call's bot may hand its call only into its own room, in the domain Daily sent with it.
    @Test(arguments: [
        ("7c1e9b2a", "sip:123456789@acme.sip.daily.co", true),
        ("7c1e9b2a", "123456789@ACME.sip.daily.co;transport=tcp", true),
        ("7c1e9b2a", "sip:+19005551234@evil.example", false),
        ("7c1e9b2a", "sip:123456789@acme.sip.daily.co.evil.example", false),
        ("7c1e9b2a", "", false),
        ("other-domain", "sip:123456789@acme.sip.daily.co", false),
    ])
    func forwardingIsPinnedToTheCallsDomainAndRoom(domain: String, sipURI: String, allowed: Bool) throws {
        let dialin = try DialinCall(call)
        let body = JSONValue.object(dialin.body(forwardingThrough: "http://x/daily/dialin-api", key: "k")).text
        #expect(
            DialinCall.mayForward(
                callDomain: domain,
                sipURI: sipURI,
                sessionBody: body,
                roomEndpoints: ["sip:123456789@acme.sip.daily.co"]
            ) == allowed
        )
    }

    @Test func aCallIsOverOnceASessionOfItsServedItWhateverItsEnd() {
        func session(_ reason: EndReason?) -> Session {
            Session(
                id: "s",
                roomName: "dialin-0f3c2a5e-8d7b",
                roomURL: nil,
                state: reason == .roomFailed ? .failed : .ended,
                launcher: .process,
                createdAt: 0,
                updatedAt: 0,
                endReason: reason,
                ownerInstance: "i"
            )
        }
        #expect(!DialinCall.isOver(after: []))
        #expect(!DialinCall.isOver(after: [session(.roomFailed)]))
        #expect(DialinCall.isOver(after: [session(.roomFailed), session(.roomEmpty)]))
        #expect(DialinCall.isOver(after: [session(.botFailed)]))
    }
}
