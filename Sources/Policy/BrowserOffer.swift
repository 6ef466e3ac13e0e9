/// A browser's WebRTC offer, as Pipecat's SmallWebRTC transport posts it to `/api/offer` (`{"sdp","type":"offer",
/// "pc_id"?,"restart_pc"?,"request_data"?}`, `requestData` accepted as Pipecat's `SmallWebRTCRequest.from_dict`
/// does; webrtc-reference.md). The bot answers it; media never passes through the service.
package struct BrowserOffer: Sendable, Equatable {
    package var sdp: String
    /// The connection being renegotiated; nil for a new one.
    package var pcID: String?
    /// A renegotiation that builds a new peer connection (ICE restart).
    package var restartPC: Bool
    /// The caller's data for the bot (its body, laid over the profile's); nil when none was sent.
    package var requestData: [String: JSONValue]?

    /// The request is not an offer: the field named is missing or of the wrong kind.
    package struct Invalid: Error, Equatable {
        package var field: String

        package init(field: String) { self.field = field }
    }

    /// The largest SDP taken: a browser's offer with audio, video and data is a few KiB.
    package static let maxSDPBytes = 64 * 1024

    package init(sdp: String, pcID: String? = nil, restartPC: Bool = false, requestData: [String: JSONValue]? = nil) {
        self.sdp = sdp
        self.pcID = pcID
        self.restartPC = restartPC
        self.requestData = requestData
    }

    package init(_ document: JSONValue) throws(Invalid) {
        guard document.object != nil else { throw Invalid(field: "body") }
        guard case .string(let sdp)? = document["sdp"], !sdp.isEmpty, sdp.utf8.count <= Self.maxSDPBytes else {
            throw Invalid(field: "sdp")
        }
        guard document["type"] == .string("offer") else { throw Invalid(field: "type") }
        self.init(sdp: sdp)
        switch document["pc_id"] {
        case nil, .null?: break
        case .string(let id)?: pcID = id
        default: throw Invalid(field: "pc_id")
        }
        switch document["restart_pc"] {
        case nil, .null?: break
        case .bool(let restart)?: restartPC = restart
        default: throw Invalid(field: "restart_pc")
        }
        let field = document["request_data"] != nil ? "request_data" : "requestData"
        switch document[field] {
        case nil, .null?: break
        case .object(let data)?: requestData = data
        default: throw Invalid(field: field)
        }
    }

    /// The profile the caller asks for (`request_data.profile`), when it names one.
    package var profile: String? {
        if case .string(let name)? = requestData?["profile"] { return name }
        return nil
    }
}

/// Trickled ICE candidates for a connection (`PATCH /api/offer`: `{"pc_id","candidates":[{"candidate","sdp_mid",
/// "sdp_mline_index"}]}`); an empty `candidate` is the end of them.
package struct CandidatePatch: Sendable, Equatable {
    package var pcID: String
    package var candidates: [JSONValue]

    package init(pcID: String, candidates: [JSONValue]) {
        self.pcID = pcID
        self.candidates = candidates
    }

    package init(_ document: JSONValue) throws(BrowserOffer.Invalid) {
        guard document.object != nil else { throw BrowserOffer.Invalid(field: "body") }
        guard case .string(let id)? = document["pc_id"], !id.isEmpty else { throw BrowserOffer.Invalid(field: "pc_id") }
        guard case .array(let candidates)? = document["candidates"] else { throw BrowserOffer.Invalid(field: "candidates") }
        for candidate in candidates {
            guard case .string? = candidate["candidate"] else { throw BrowserOffer.Invalid(field: "candidates") }
            switch candidate["sdp_mid"] {
            case nil, .null?, .string?: break
            default: throw BrowserOffer.Invalid(field: "candidates")
            }
            switch candidate["sdp_mline_index"] {
            case nil, .null?: break
            case .number(let index)? where index >= 0 && index == index.rounded() && index < 65536: break
            default: throw BrowserOffer.Invalid(field: "candidates")
            }
        }
        self.init(pcID: id, candidates: candidates)
    }
}

/// A browser's connection to a bot: one session, in the room `webrtc-<pc_id>`, its `pc_id` the service's (the bot's
/// own never leaves the bot's socket), so that any instance finds the session of a renegotiation or a candidate.
package enum BrowserConnection {
    static let roomPrefix = "webrtc-"

    package static func roomName(pcID: String) -> String { roomPrefix + pcID }

    /// The connection id of a room, when it is a browser connection's.
    package static func pcID(ofRoom name: String) -> String? {
        name.hasPrefix(roomPrefix) ? String(name.dropFirst(roomPrefix.count)) : nil
    }

    /// Whether a `pc_id` can be one of the service's (`isDailyRoomName` of its room): anything else is unknown.
    package static func isValid(pcID: String) -> Bool {
        !pcID.isEmpty && pcID.count <= 100 && isDailyRoomName(roomName(pcID: pcID))
    }

    /// What the service sends the bot on its socket (DESIGN "Browser calls over WebRTC"): the offer, its connection id
    /// and the ICE servers, as one JSON text message.
    package static func offerMessage(_ offer: BrowserOffer, pcID: String, iceServers: [JSONValue]) -> String {
        var message: [String: JSONValue] = [
            "type": .string("offer"), "sdp": .string(offer.sdp), "pc_id": .string(pcID), "restart_pc": .bool(offer.restartPC),
            "ice_servers": .array(iceServers),
        ]
        if let data = offer.requestData { message["request_data"] = .object(data) }
        return JSONValue.object(message).text
    }

    /// Trickled candidates, to the bot.
    package static func candidatesMessage(_ patch: CandidatePatch) -> String {
        JSONValue.object(["type": .string("candidates"), "pc_id": .string(patch.pcID), "candidates": .array(patch.candidates)]).text
    }

    /// The bot's answer (`{"type":"answer","sdp"}`), given back to the browser as Pipecat's `{"sdp","type","pc_id"}`
    /// with the service's connection id; nil for any other message.
    package static func answer(fromBot message: JSONValue, pcID: String) -> JSONValue? {
        guard message["type"] == .string("answer"), case .string(let sdp)? = message["sdp"], !sdp.isEmpty,
            sdp.utf8.count <= BrowserOffer.maxSDPBytes
        else { return nil }
        return .object(["sdp": .string(sdp), "type": .string("answer"), "pc_id": .string(pcID)])
    }
}
