/// The HTTP-visible action of a webhook (`action` in the answer).
package enum WebhookAction: String, Sendable, Codable {
    case spawned, stopping, recorded, duplicate, ignored, rejected
}

/// Why a session ended (`end_reason`).
package enum EndReason: String, Sendable, Codable, CaseIterable {
    case meetingEnded = "meeting_ended"
    case roomEmpty = "room_empty"
    case botExited = "bot_exited"
    case botFailed = "bot_failed"
    case spawnFailed = "spawn_failed"
    case tokenFailed = "token_failed"
    case roomFailed = "room_failed"
    case stopRequested = "stop_requested"
    case startTimeout = "start_timeout"
    case maxDuration = "max_duration"
    case orphaned
    /// A bot a knock brought whose room had no human for `AUTOSPAWN_KNOCK_WAIT_S`: nobody let the knocker in.
    case knockTimeout = "knock_timeout"
    case lost
    case shutdown
    /// A phone call's caller hung up (the carrier's `stop`, or its stream closed).
    case callerHungUp = "caller_hung_up"
    /// A phone call's bot closed its WebSocket while the caller was on the line.
    case botHungUp = "bot_hung_up"
    /// An outbound call that nobody answered within `AUTOSPAWN_START_TIMEOUT_S` (or a call whose carrier never
    /// opened its stream).
    case noAnswer = "no_answer"
    /// The carrier refused to place an outbound call.
    case callFailed = "call_failed"
}

/// Session states; the first three are *active*.
package enum SessionState: String, Sendable, Codable, CaseIterable {
    case starting, running, stopping, ended, failed

    package static let active: [SessionState] = [.starting, .running, .stopping]
    package var isActive: Bool { Self.active.contains(self) }
}

/// Why an event only changed the room's records (`record`), was not this service's (`ignore`), or could not have its
/// bot yet (`reject`): the answer's `reason`.
package enum DecisionReason: String, Sendable, Equatable, CaseIterable {
    // record
    case noNewHuman = "no_new_human"
    case knocker
    case noNewKnocker = "no_new_knocker"
    case knockerLeft = "knocker_left"
    case participantLeft = "participant_left"
    case stopScheduled = "stop_scheduled"
    case noActiveSession = "no_active_session"
    case meetingStarted = "meeting_started"
    case botPresent = "bot_present"
    // ignore
    case botParticipant = "bot_participant"
    case roomNotAllowed = "room_not_allowed"
    case noDomain = "no_domain"
    case noProfile = "no_profile"
    // reject
    case backoff
    case capacity
    case profileCapacity = "profile_capacity"
    case draining
}

/// What to do about one event, given the room's state.
package enum Decision: Sendable, Equatable {
    /// Claim the room for a new session and start its bot.
    case spawn
    /// Stop the room's bot now.
    case stop(EndReason)
    /// The room is empty of humans: stop its bot at `at` unless a human comes back first.
    case scheduleStop(at: Double)
    /// A human is back: forget the scheduled stop.
    case cancelScheduledStop
    /// A human joined while the bot is stopping: start a new one once that session has ended.
    case spawnAfterStop
    /// Keep track (participants, activity) and do nothing else.
    case record(reason: DecisionReason)
    /// Not for this service: acknowledge only.
    case ignore(reason: DecisionReason)
    /// Would spawn, but `AUTOSPAWN_MAX_CONCURRENCY` sessions are already active.
    case reject(reason: DecisionReason)

    /// True when the room's humans wait for a bot they could not have yet (a place, a backoff, a drain).
    package var marksRoomWaiting: Bool {
        if case .reject = self { return true }
        return false
    }

    /// The answer's `action` and `reason` to an event of `kind`: a knock that brings the bot says so.
    package func answer(to kind: RoomEvent.Kind) -> (action: WebhookAction, reason: String) {
        if self == .spawn && kind == .waitingParticipantJoined { return (.spawned, "knocker") }
        return answer
    }

    /// The answer's `action` and `reason`.
    package var answer: (action: WebhookAction, reason: String) {
        switch self {
        case .spawn: (.spawned, "human_joined")
        case .stop(let reason): (.stopping, reason.rawValue)
        case .scheduleStop: (.recorded, "stop_scheduled")
        case .cancelScheduledStop: (.recorded, "stop_cancelled")
        case .spawnAfterStop: (.recorded, "respawn_after_stop")
        case .record(let reason): (.recorded, reason.rawValue)
        case .ignore(let reason): (.ignored, reason.rawValue)
        case .reject(let reason): (.rejected, reason.rawValue)
        }
    }
}
