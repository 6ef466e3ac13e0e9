import Policy
import Testing

/// A browser's SmallWebRTC requests as Pipecat sends them, the messages its bot gets, and the browser settings (DESIGN
/// "Browser calls over WebRTC").
struct BrowserOfferTests {
    func document(_ text: String) throws -> JSONValue { try JSONValue(parsing: Array(text.utf8)) }

    @Test func anOfferIsReadInBothSpellingsOfItsRequestData() throws {
        let offer = try BrowserOffer(document(#"{"sdp":"v=0","type":"offer","pc_id":"pc-1","restart_pc":true,"requestData":{"profile":"sales"}}"#))
        #expect(offer == BrowserOffer(sdp: "v=0", pcID: "pc-1", restartPC: true, requestData: ["profile": .string("sales")]))
        #expect(offer.profile == "sales")
        let plain = try BrowserOffer(document(#"{"sdp":"v=0","type":"offer","pc_id":null,"request_data":{"lang":"en"}}"#))
        #expect(plain.pcID == nil && !plain.restartPC && plain.profile == nil)
    }

    @Test(arguments: [
        (#"[1]"#, "body"), (#"{"type":"offer"}"#, "sdp"), (#"{"sdp":"","type":"offer"}"#, "sdp"),
        (#"{"sdp":"v=0","type":"answer"}"#, "type"), (#"{"sdp":"v=0","type":"offer","pc_id":7}"#, "pc_id"),
        (#"{"sdp":"v=0","type":"offer","restart_pc":"yes"}"#, "restart_pc"),
        (#"{"sdp":"v=0","type":"offer","request_data":"x"}"#, "request_data"),
        (#"{"sdp":"v=0","type":"offer","requestData":[]}"#, "requestData"),
    ])
    func aRequestThatIsNoOfferNamesItsField(text: String, field: String) throws {
        let error = #expect(throws: BrowserOffer.Invalid.self) { try BrowserOffer(document(text)) }
        #expect(error?.field == field)
    }

    @Test func anSDPLargerThanAnyBrowsersIsRefused() throws {
        let sdp = String(repeating: "a", count: BrowserOffer.maxSDPBytes + 1)
        #expect(throws: BrowserOffer.Invalid(field: "sdp")) {
            try BrowserOffer(.object(["sdp": .string(sdp), "type": .string("offer")]))
        }
    }

    @Test func candidatesNeedTheirConnectionAndAWholeLineIndex() throws {
        let patch = try CandidatePatch(
            document(
                #"{"pc_id":"pc-1","candidates":[{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdp_mid":"0","sdp_mline_index":0},{"candidate":""}]}"#
            )
        )
        #expect(patch.pcID == "pc-1")
        #expect(patch.candidates.count == 2)
        for text in [
            #"{"candidates":[]}"#, #"{"pc_id":"pc-1"}"#, #"{"pc_id":"pc-1","candidates":[{}]}"#,
            #"{"pc_id":"pc-1","candidates":[{"candidate":"","sdp_mline_index":1.5}]}"#,
            #"{"pc_id":"pc-1","candidates":[{"candidate":"","sdp_mline_index":-1}]}"#,
            #"{"pc_id":"pc-1","candidates":[{"candidate":"","sdp_mid":3}]}"#,
        ] {
            #expect(throws: BrowserOffer.Invalid.self, "\(text)") { try CandidatePatch(document(text)) }
        }
    }

    @Test func theBotGetsTheOfferWithTheServicesConnectionIdAndGivesBackOnlyAnAnswer() throws {
        let offer = BrowserOffer(sdp: "v=0", requestData: ["lang": .string("en")])
        let message = try document(BrowserConnection.offerMessage(offer, pcID: "pc-1", iceServers: [.object(["urls": .string("stun:s")])]))
        #expect(message["type"] == .string("offer"))
        #expect(message["pc_id"] == .string("pc-1"))
        #expect(message["request_data"] == .object(["lang": .string("en")]))
        #expect(message["ice_servers"] == .array([.object(["urls": .string("stun:s")])]))
        // The bot's own connection id stays with the bot: the browser is given the service's.
        let answer = BrowserConnection.answer(fromBot: try document(#"{"type":"answer","sdp":"v=0","pc_id":"bot-1"}"#), pcID: "pc-1")
        #expect(answer == .object(["sdp": .string("v=0"), "type": .string("answer"), "pc_id": .string("pc-1")]))
        #expect(BrowserConnection.answer(fromBot: try document(#"{"type":"offer","sdp":"v=0"}"#), pcID: "pc-1") == nil)
        #expect(BrowserConnection.answer(fromBot: try document(#"{"type":"answer"}"#), pcID: "pc-1") == nil)
    }

    @Test func aConnectionsRoomIsItsIdAndOnlyValidIdsAreLookedUp() {
        #expect(BrowserConnection.roomName(pcID: "pc-1") == "webrtc-pc-1")
        #expect(BrowserConnection.pcID(ofRoom: "webrtc-pc-1") == "pc-1")
        #expect(BrowserConnection.pcID(ofRoom: "demo-room") == nil)
        #expect(BrowserConnection.isValid(pcID: "pc-0123abc"))
        for invalid in ["", "a/b", "x y", String(repeating: "a", count: 101)] {
            #expect(!BrowserConnection.isValid(pcID: invalid))
        }
    }
}

/// `AUTOSPAWN_ICE_SERVERS` and `AUTOSPAWN_PUBLIC_KEYS`.
struct BrowserSettingsTests {
    func parse(_ settings: [String: String]) throws -> Config {
        try Config.parse(["AUTOSPAWN_BOT_COMMAND": "bot"].merging(settings) { $1 })
    }

    @Test func iceServersAreURLsOrObjectsAsPipecatTakesThem() throws {
        #expect(try parse([:]).browser.iceServers.isEmpty)
        #expect(
            try parse(["AUTOSPAWN_ICE_SERVERS": "stun:a.example:3478, turn:b.example"]).browser.iceServers == [
                .object(["urls": .string("stun:a.example:3478")]), .object(["urls": .string("turn:b.example")]),
            ]
        )
        let objects = #"[{"urls":["turns:t.example"],"username":"u","credential":"c"},"stun:s.example"]"#
        #expect(
            try parse(["AUTOSPAWN_ICE_SERVERS": objects]).browser.iceServers == [
                .object(["urls": .array([.string("turns:t.example")]), "username": .string("u"), "credential": .string("c")]),
                .object(["urls": .string("stun:s.example")]),
            ]
        )
    }

    @Test(arguments: [
        "http://stun.example", "stun:", "[1]", #"[{"urls":"stun:a","password":"p"}]"#, #"[{"urls":[]}]"#, "[", #"[{"urls":"stun:a","username":1}]"#,
    ])
    func aBadIceServerNamesTheVariable(value: String) {
        let error = #expect(throws: ConfigError.self) { try parse(["AUTOSPAWN_ICE_SERVERS": value]) }
        #expect(error?.variable == "AUTOSPAWN_ICE_SERVERS")
    }

    @Test func publicKeysAreLongAndNeverTheAdminToken() throws {
        #expect(try parse(["AUTOSPAWN_PUBLIC_KEYS": "pk_0123456789abcdef,pk_fedcba9876543210"]).browser.publicKeys.count == 2)
        for keys in ["pk_short", "pk_0123456789abcdef,", "pk_0123 456789abcdef"] {
            let error = #expect(throws: ConfigError.self) { try parse(["AUTOSPAWN_PUBLIC_KEYS": keys]) }
            #expect(error?.variable == "AUTOSPAWN_PUBLIC_KEYS")
        }
        let same = #expect(throws: ConfigError.self) {
            try parse(["AUTOSPAWN_PUBLIC_KEYS": "admin-token-0123456789", "AUTOSPAWN_ADMIN_TOKEN": "admin-token-0123456789"])
        }
        #expect(same?.variable == "AUTOSPAWN_PUBLIC_KEYS")
    }
}
