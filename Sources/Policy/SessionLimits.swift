/// How a bot process ended.
package enum ExitStatus: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32)
    /// Not our child (re-adopted after a restart): it is gone, but its status cannot be known.
    case vanished

    /// The `exit_code` to record: the exit status, 128 + the signal (as shells report it), or nil.
    package var exitCode: Int? {
        switch self {
        case .exited(let code): Int(code)
        case .signaled(let signal): 128 + Int(signal)
        case .vanished: nil
        }
    }

    /// How the bot's exit ends its session, unless a stop was asked for (`planEnd` keeps that stop's reason): a clean
    /// exit, or one that cannot be known, ends it; any other is the bot failing.
    package var sessionEnd: (state: SessionState, reason: EndReason) {
        switch self {
        case .exited(0), .vanished: (.ended, .botExited)
        case .exited, .signaled: (.failed, .botFailed)
        }
    }
}

/// The limits on a session's age that the reaper enforces.
package struct TimeLimits: Sendable, Equatable {
    /// `AUTOSPAWN_START_TIMEOUT_S`, from the session's placement.
    package var startTimeoutSeconds: Double
    /// `AUTOSPAWN_MAX_SESSION_S`.
    package var maxSessionSeconds: Double
    /// `AUTOSPAWN_SPAWN_ON` and `AUTOSPAWN_KNOCK_WAIT_S`.
    package var spawnOn: Config.SpawnOn
    package var knockWaitSeconds: Double

    package init(startTimeoutSeconds: Double, maxSessionSeconds: Double, spawnOn: Config.SpawnOn = .join, knockWaitSeconds: Double = 120) {
        self.startTimeoutSeconds = startTimeoutSeconds
        self.maxSessionSeconds = maxSessionSeconds
        self.spawnOn = spawnOn
        self.knockWaitSeconds = knockWaitSeconds
    }
}

/// A limit a session reached.
package enum TimeLimit: Sendable, Equatable {
    /// Its bot did not start in time: the start is given up (`start_timeout`).
    case startTimeout
    /// It ran its maximum length: its bot is stopped (`max_duration`).
    case maxDuration
    /// A knock's bot waited its time: it is stopped when its room has no human (`knockWaitIsOver` on the room's facts).
    case knockWait
}

/// The limit an active session has reached at `now`, if any; a session already stopping has none left to reach.
package func timeLimitReached(by session: Session, limits: TimeLimits, now: Double) -> TimeLimit? {
    if session.state == .starting, now - session.startBeganAt > limits.startTimeoutSeconds { return .startTimeout }
    guard session.state != .stopping else { return nil }
    if now - session.createdAt > limits.maxSessionSeconds { return .maxDuration }
    if limits.spawnOn == .knock, now - session.createdAt >= limits.knockWaitSeconds { return .knockWait }
    return nil
}

/// What retention deletes at `now` (`AUTOSPAWN_RETENTION_DAYS`): sessions that ended before `endedBefore`, and seen
/// event ids received before `seenBefore`. Ids are kept at least the signature tolerance (15 minutes at least) and an
/// hour, so that a captured signed event cannot come back as new (invariant 3 of docs/DESIGN.md).
package func retentionCutoffs(now: Double, retentionSeconds: Double, signatureToleranceSeconds: Double) -> (endedBefore: Double, seenBefore: Double) {
    let seenFor = max(retentionSeconds, max(signatureToleranceSeconds, 900) + 3600)
    return (now - retentionSeconds, now - seenFor)
}
