/// One webhook event, whichever of Daily's shapes it came in, reduced to what the policy needs.
package struct RoomEvent: Sendable, Equatable {
    /// The event's type, by Daily's name for it.
    package enum Kind: String, Sendable, Equatable, CaseIterable {
        case participantJoined = "participant.joined"
        case participantLeft = "participant.left"
        case meetingStarted = "meeting.started"
        case meetingEnded = "meeting.ended"
        case waitingParticipantJoined = "waiting-participant.joined"
        case waitingParticipantLeft = "waiting-participant.left"
    }

    /// A person or bot in the call.
    package struct Participant: Sendable, Equatable {
        /// Daily's per-call participant id (`session_id`), when the event carries one.
        package var sessionID: String?
        package var userID: String?
        package var userName: String?

        package init(sessionID: String?, userID: String?, userName: String?) {
            self.sessionID = sessionID
            self.userID = userID
            self.userName = userName
        }

        /// The key under which the participant is tracked in its room's set, and whether it is unique to
        /// one stay in the call (Daily gives every join a new `session_id`; user ids and names recur).
        package var trackingKey: (key: String, isPerJoin: Bool) {
            if let sessionID { return ("session:" + sessionID, true) }
            if let userID { return ("user:" + userID, false) }
            return ("name:" + (userName ?? ""), false)
        }
    }

    /// The idempotency key: Daily's top-level `id`, or a digest of the body for shapes without one.
    package var id: String
    package var kind: Kind
    package var roomName: String
    /// `https://<domain>.daily.co/<name>`, or the URL the event gave; nil when neither is known.
    package var roomURL: String?
    package var participant: Participant?
    /// When Daily sent it (`event_ts`), in Unix seconds, if the event says.
    package var sentAt: Double?

    /// Knockers are tracked beside the room's participants under this prefix: not in the room, not its humans.
    package static let knockerKeyPrefix = "knock:"

    /// The participant record the event changes: its key (a knocker's under `knockerKeyPrefix`), whether that key is
    /// unique to one stay, and whether the event brings the participant (or knocker) or takes them away.
    package var presenceChange: (key: String, isPerJoin: Bool, joining: Bool)? {
        guard let (key, isPerJoin) = participant?.trackingKey else { return nil }
        switch kind {
        case .participantJoined: return (key, isPerJoin, true)
        case .participantLeft: return (key, isPerJoin, false)
        case .waitingParticipantJoined: return (Self.knockerKeyPrefix + key, isPerJoin, true)
        case .waitingParticipantLeft: return (Self.knockerKeyPrefix + key, isPerJoin, false)
        case .meetingStarted, .meetingEnded: return nil
        }
    }

    /// For a join: the knocker record of the same participant, who was let in and is no longer at the door (should
    /// Daily not say so with a `waiting-participant.left`).
    package var admittedKnockerKey: String? {
        guard kind == .participantJoined, let (key, _) = participant?.trackingKey else { return nil }
        return Self.knockerKeyPrefix + key
    }

    package init(
        id: String,
        kind: Kind,
        roomName: String,
        roomURL: String?,
        participant: Participant? = nil,
        sentAt: Double? = nil
    ) {
        self.id = id
        self.kind = kind
        self.roomName = roomName
        self.roomURL = roomURL
        self.participant = participant
        self.sentAt = sentAt
    }
}

/// A participant as the store last recorded it: present, or a tombstone (a leave that arrived before its join).
package struct RecordedPresence: Sendable, Equatable {
    package var present: Bool
    package var sentAt: Double?

    package init(present: Bool, sentAt: Double?) {
        self.present = present
        self.sentAt = sentAt
    }
}

/// What a join or a leave records of the participant it names: its presence now, or nil when it changes nothing.
/// A leave that arrives before its join leaves a tombstone, so the late join brings nobody back; a per-join id never
/// comes back once it left; other keys follow the newest event (by `sent_at`).
package func presenceAfter(joining: Bool, isPerJoin: Bool, recorded: RecordedPresence?, sentAt: Double?) -> Bool? {
    if let recorded {
        if recorded.present == joining { return nil }
        if joining && isPerJoin { return nil }
        if let previous = recorded.sentAt, let sentAt, sentAt < previous { return nil }
    }
    return joining
}

/// Daily's rule for room names, 1 to 128 of `[A-Za-z0-9_-]`, which also keeps them safe in argv, environment, paths
/// and URLs.
package func isDailyRoomName(_ name: String) -> Bool {
    (1...128).contains(name.utf8.count)
        && name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
}
