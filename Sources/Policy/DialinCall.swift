/// A phone (or SIP) call that Daily holds while it asks for a room: the body of its pinless dial-in
/// `room_creation_api` request (`{"To","From","callId","callDomain","sipHeaders"?}`, daily-reference.md, Dial-in).
package struct DialinCall: Sendable, Equatable {
    /// The number called: it chooses the profile (a profile's `dialin`).
    package var to: String
    /// The caller's number (or SIP address): the caller's name in the room.
    package var from: String
    /// Daily's id of the held call; the bot hands it back when it forwards the call.
    package var callID: String
    package var callDomain: String
    /// SIP headers of the call, when Daily passed any.
    package var sipHeaders: JSONValue?

    /// The request is not a call: the field named is missing or not a string.
    package struct Invalid: Error, Equatable {
        package var field: String

        package init(field: String) { self.field = field }
    }

    package init(to: String, from: String, callID: String, callDomain: String, sipHeaders: JSONValue? = nil) {
        self.to = to
        self.from = from
        self.callID = callID
        self.callDomain = callDomain
        self.sipHeaders = sipHeaders
    }

    /// Reads Daily's request body. `callId` must name a room (`[A-Za-z0-9_-]`, as Daily's UUIDs do).
    package init(_ document: JSONValue) throws(Invalid) {
        func text(_ field: String) throws(Invalid) -> String {
            guard case .string(let value)? = document[field], !value.trimmingBlanks().isEmpty, value.count <= 256 else {
                throw Invalid(field: field)
            }
            return value
        }
        guard document.object != nil else { throw Invalid(field: "body") }
        self.init(to: try text("To"), from: try text("From"), callID: try text("callId"), callDomain: try text("callDomain"))
        guard callID.count <= 120, isDailyRoomName(roomName) else { throw Invalid(field: "callId") }
        switch document["sipHeaders"] {
        case nil, .null?: break
        case .object?: sipHeaders = document["sipHeaders"]
        default: throw Invalid(field: "sipHeaders")
        }
    }

    /// The call's room: one per call, so a request Daily sends again finds the room and bot it already has.
    package var roomName: String { Self.roomName(forCall: callID) }

    package static func roomName(forCall callID: String) -> String { roomPrefix + callID }

    /// The call a room was made for, when its name is a call's room's.
    package static func callID(ofRoom name: String) -> String? {
        name.hasPrefix(roomPrefix) ? String(name.dropFirst(roomPrefix.count)) : nil
    }

    static let roomPrefix = "dialin-"

    /// The room's properties: SIP dial-in for one endpoint (the caller, named by their number), and an expiry.
    package func roomProperties(expiresAt: Double) -> [String: JSONValue] {
        [
            "sip": .object([
                "display_name": .string(from), "sip_mode": .string("dial-in"), "num_endpoints": .number(1),
            ]),
            "exp": .number(expiresAt.rounded(.down)),
            "eject_at_room_exp": .bool(true),
        ]
    }

    /// Whether the call these sessions were for (its room's, newest first) is over: a signed request for it, replayed,
    /// starts nothing. A session whose room Daily did not make never served the call: Daily may ask again.
    package static func isOver(after sessions: [Session]) -> Bool {
        sessions.contains { $0.endReason != .roomFailed }
    }

    /// Call rooms are private: only the bot (its owner token) and the call Daily connects come in.
    package static let roomPrivacy = "private"

    /// Whether a call's bot may hand its call over (`pinlessCallUpdate`) with this call domain to this SIP address:
    /// the domain must be the one Daily sent with the call (`dialin_settings.call_domain` of the session's body), and
    /// the address one of the call's room's own SIP endpoints. The call id needs no check: the key is the call's.
    package static func mayForward(callDomain: String, sipURI: String, sessionBody: String, roomEndpoints: [String]) -> Bool {
        guard let body = try? JSONValue(parsing: Array(sessionBody.utf8)),
            body["dialin_settings"]?["call_domain"]?.string == callDomain
        else { return false }
        let target = sipAddress(sipURI)
        return !target.isEmpty && roomEndpoints.contains { sipAddress($0) == target }
    }

    /// `user@host` of a SIP URI, the host in lower case: the scheme, parameters and headers may be written differently
    /// by Daily's room and by the bot's transport.
    static func sipAddress(_ uri: String) -> String {
        var address = Substring(uri)
        if address.lowercased().hasPrefix("sip:") { address = address.dropFirst(4) }
        address = address.prefix { $0 != ";" && $0 != "?" && $0 != ">" }
        guard let at = address.lastIndex(of: "@") else { return String(address).lowercased() }
        return String(address[..<at]) + "@" + address[address.index(after: at)...].lowercased()
    }

    /// `dialin_settings` as the bot gets it. DESIGN.md's names (`call_id`, `call_domain`, `to`, `from`), and
    /// `To`/`From` as Pipecat's runner spells them (`pipecat.runner.types.DialinSettings`), so a bot written for
    /// Pipecat's runner reads it unchanged.
    package var dialinSettings: JSONValue {
        var settings: [String: JSONValue] = [
            "call_id": .string(callID), "call_domain": .string(callDomain), "to": .string(to), "from": .string(from),
            "To": .string(to), "From": .string(from),
        ]
        if let sipHeaders { settings["sip_headers"] = sipHeaders }
        return .object(settings)
    }

    /// What the call adds to its profile's body: the call, and where and with what the bot forwards it
    /// (`daily_api_url`, `daily_api_key`: Pipecat's `DailyDialinRequest`; the key is good for this call only).
    package func body(forwardingThrough apiURL: String, key: String) -> [String: JSONValue] {
        ["dialin_settings": dialinSettings, "daily_api_url": .string(apiURL), "daily_api_key": .string(key)]
    }

}
