/// One webhook event, whichever of Daily's shapes it came in, reduced to what the policy needs.
public struct RoomEvent: Sendable, Equatable {
    /// The event's type, by Daily's name for it.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case participantJoined = "participant.joined"
        case participantLeft = "participant.left"
        case meetingStarted = "meeting.started"
        case meetingEnded = "meeting.ended"
        case waitingParticipantJoined = "waiting-participant.joined"
        case waitingParticipantLeft = "waiting-participant.left"
    }

    /// A person or bot in the call.
    public struct Participant: Sendable, Equatable {
        /// Daily's per-call participant id (`session_id`), when the event carries one.
        public var sessionID: String?
        public var userID: String?
        public var userName: String?

        public init(sessionID: String?, userID: String?, userName: String?) {
            self.sessionID = sessionID
            self.userID = userID
            self.userName = userName
        }

        /// The key under which the participant is tracked in its room's set, and whether it is unique to
        /// one stay in the call (Daily gives every join a new `session_id`; user ids and names recur).
        public var trackingKey: (key: String, isPerJoin: Bool) {
            if let sessionID { return ("session:" + sessionID, true) }
            if let userID { return ("user:" + userID, false) }
            return ("name:" + (userName ?? ""), false)
        }
    }

    /// The idempotency key: Daily's top-level `id`, or a digest of the body for shapes without one.
    public var id: String
    public var kind: Kind
    public var roomName: String
    /// `https://<domain>.daily.co/<name>`, or the URL the event gave; nil when neither is known.
    public var roomURL: String?
    public var participant: Participant?
    /// When Daily sent it (`event_ts`), in Unix seconds, if the event says.
    public var sentAt: Double?

    public init(
        id: String, kind: Kind, roomName: String, roomURL: String?, participant: Participant? = nil,
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
