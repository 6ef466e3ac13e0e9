/// How a session's caller reaches its bot: a Daily room, or a carrier's media stream relayed over a WebSocket.
package enum Transport: String, Sendable, Codable, CaseIterable {
    case daily, twilio, telnyx, plivo, exotel
    /// A browser's WebRTC connection, signalled through the service (DESIGN "Browser calls over WebRTC").
    case webrtc

    /// The carrier whose stream the session relays; nil for a Daily room or a browser.
    package var carrier: Carrier? { Carrier(rawValue: rawValue) }

    /// Whether the session's bot has a socket of its own on the instance that launched it (`ws_url`): a call's
    /// stream relayed to it, or a browser's signalling.
    package var hasBotSocket: Bool { self != .daily }

    package init(_ carrier: Carrier) {
        switch carrier {
        case .twilio: self = .twilio
        case .telnyx: self = .telnyx
        case .plivo: self = .plivo
        case .exotel: self = .exotel
        }
    }
}

/// A phone call a carrier streams to the service (DESIGN "Phone calls over a WebSocket"): one session at a time, in
/// the room `{carrier}-{call id}`.
package struct PhoneCall: Sendable, Equatable {
    package var carrier: Carrier
    /// The carrier's id of the call (Twilio's `CallSid`, Telnyx's `call_control_id`, Plivo's `CallUUID`).
    package var callID: String
    package var from: String
    package var to: String
    /// A call the service placed (`POST /v1/calls`): its id is the service's own, not the carrier's.
    package var isOutbound: Bool

    package init(carrier: Carrier, callID: String, from: String, to: String, isOutbound: Bool = false) {
        self.carrier = carrier
        self.callID = callID
        self.from = from
        self.to = to
        self.isOutbound = isOutbound
    }

    /// The call's room: a call that comes again (a `<Redirect>`, a repeated webhook) finds its session there.
    package var roomName: String { carrier.rawValue + "-" + callID }

    /// Whether `id` may be a call id: it becomes part of a room name, which reaches a bot's command line and
    /// environment, so only `[A-Za-z0-9_:.-]`, 1 to 120 characters (carriers' ids are hex, UUIDs and `v3:` base64url).
    package static func isCallID(_ id: String) -> Bool {
        (1...120).contains(id.count)
            && id.unicodeScalars.allSatisfy { $0.isASCII && (Character($0).isLetter || Character($0).isNumber || "_:.-".unicodeScalars.contains($0)) }
    }

    /// What the bot is given in its body: `call: {"carrier","call_id","from","to"}`, and `"direction":"outbound"` for a
    /// call the service placed.
    package var bodyField: JSONValue {
        var field: [String: JSONValue] = [
            "carrier": .string(carrier.rawValue), "call_id": .string(callID), "from": .string(from), "to": .string(to),
        ]
        if isOutbound { field["direction"] = .string("outbound") }
        return .object(field)
    }

    /// The call of a session's body, when it has one.
    package static func ofBody(_ body: String, carrier: Carrier) -> PhoneCall? {
        guard let document = try? JSONValue(parsing: Array(body.utf8)), let call = document["call"],
            call["carrier"]?.string == carrier.rawValue, let id = call["call_id"]?.string
        else { return nil }
        return PhoneCall(
            carrier: carrier,
            callID: id,
            from: call["from"]?.string ?? "",
            to: call["to"]?.string ?? "",
            isOutbound: call["direction"]?.string == "outbound"
        )
    }
}

/// What a carrier's call webhook gets (`planCallAnswer`).
package enum CallAnswerPlan: Sendable, Equatable {
    /// The call's session is active: a new stream token for it.
    case stream(sessionID: String)
    /// The call's session is active on an instance that is gone (the carrier's `<Redirect>` after a replica died):
    /// it ends `lost`, and the call gets a new session.
    case replaceLost(sessionID: String)
    /// The call was recorded as over (the caller or the bot hung up): `<Hangup/>`.
    case hangUp
    /// No session serves the call (it never had one, or it was lost with a replica, or its bot failed): a new
    /// session and bot for the same call, the caller still on the line.
    case claim
}

/// The rule of a call's webhook, asked again for the same call, from its room's sessions (newest first) and the
/// live instances (nil: not asked, every owner taken for alive).
package func planCallAnswer(roomSessions: [Session], liveInstances: Set<String>? = nil) -> CallAnswerPlan {
    if let active = roomSessions.first(where: { $0.state.isActive }) {
        if let liveInstances, active.hasLostOwner(liveInstances: liveInstances) { return .replaceLost(sessionID: active.id) }
        return .stream(sessionID: active.id)
    }
    if roomSessions.contains(where: { $0.endReason.map(endsCall) ?? false }) { return .hangUp }
    return .claim
}

/// Whether the session's bot may outlive the instance that launched it (recovery adopts it): not one with a socket of
/// its own, whose key was good only with the instance that launched it (a call's relay, a browser's signalling).
package func isAdoptable(_ session: Session) -> Bool {
    !session.transport.hasBotSocket
}

/// Which ends of a call's session end the call itself: a hang-up on either side (a bot that exits 0 has hung up),
/// a stop asked for, the maximum length. Any other end (a failure, a lost or stopping replica) leaves the caller on
/// the line for a new bot.
package func endsCall(_ reason: EndReason) -> Bool {
    switch reason {
    case .callerHungUp, .botHungUp, .botExited, .stopRequested, .maxDuration, .noAnswer, .callFailed: true
    default: false
    }
}
