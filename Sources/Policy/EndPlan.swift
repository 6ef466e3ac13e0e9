/// What ending a session means, decided by policy and applied by the store in the ending's transaction.
package struct EndPlan: Sendable, Equatable {
    /// How the room's backoff changes.
    package enum Backoff: Sendable, Equatable {
        /// A bot failure: `failures` in a row, no new bot before `retryAt`.
        case failed(failures: Int, retryAt: Double)
        /// The bot ended well: the count starts again.
        case reset
        /// Left as it is (a failure that was not the bot's, such as a shutdown).
        case unchanged
    }

    package var state: SessionState
    package var reason: EndReason
    package var backoff: Backoff
    /// The room's humans wait for its next bot (it is claimed when capacity and the backoff allow).
    package var roomWaits: Bool
    /// A human joined while the bot was stopping: that wish is now taken up (`roomWaits`).
    package var clearsRespawn: Bool

    package init(state: SessionState, reason: EndReason, backoff: Backoff, roomWaits: Bool, clearsRespawn: Bool) {
        self.state = state
        self.reason = reason
        self.backoff = backoff
        self.roomWaits = roomWaits
        self.clearsRespawn = clearsRespawn
    }
}

/// The facts the end of a session is decided on.
package struct EndingSession: Sendable, Equatable {
    /// The session's state before it ends (`starting`, `running` or `stopping`).
    package var state: SessionState
    /// Why it was asked to stop, when it is `stopping`.
    package var stopReason: EndReason?
    /// How long it ran, in seconds.
    package var ranFor: Double
    /// The room's failures in a row so far.
    package var previousFailures: Int
    /// A human joined while the bot was stopping.
    package var respawnPending: Bool

    package init(state: SessionState, stopReason: EndReason?, ranFor: Double, previousFailures: Int, respawnPending: Bool) {
        self.state = state
        self.stopReason = stopReason
        self.ranFor = ranFor
        self.previousFailures = previousFailures
        self.respawnPending = respawnPending
    }
}

/// How a session ends, given how its bot went (`state`, `reason`). A stop that was asked for keeps its reason,
/// whatever the bot's exit looked like; a stop for the start timeout is a failure. A bot failure backs the room
/// off; a failure, a shutdown or a lost instance leaves a room with humans waiting (`leavesRoomWaiting`), and so
/// does a human who joined while the bot was stopping.
package func planEnd(_ session: EndingSession, state: SessionState, reason: EndReason, backoff: RestartBackoff, now: Double) -> EndPlan {
    let endReason = session.state == .stopping ? (session.stopReason ?? reason) : reason
    let endState: SessionState = session.state == .stopping ? (endReason == .startTimeout ? .failed : .ended) : state
    let change: EndPlan.Backoff
    if isBotFailure(state: endState, reason: endReason) {
        let failures = backoff.failures(after: session.previousFailures, ranFor: session.ranFor)
        change = .failed(failures: failures, retryAt: now + backoff.delay(failures: failures))
    } else if endState == .ended {
        change = .reset
    } else {
        change = .unchanged
    }
    return EndPlan(
        state: endState,
        reason: endReason,
        backoff: change,
        roomWaits: leavesRoomWaiting(state: endState, reason: endReason) || session.respawnPending,
        clearsRespawn: session.respawnPending
    )
}

extension Session {
    /// The session as `plan` ends it at `now`: what both backends write.
    package func ended(by plan: EndPlan, exitCode: Int?, now: Double) -> Session {
        var session = self
        session.state = plan.state
        session.endReason = plan.reason
        session.exitCode = exitCode
        session.endedAt = now
        session.updatedAt = now
        session.stopAt = nil
        return session
    }

    /// The facts of this session that `planEnd` weighs, with its room's failures and pending respawn.
    package func ending(now: Double, previousFailures: Int, respawnPending: Bool) -> EndingSession {
        EndingSession(
            state: state,
            stopReason: stopReason,
            ranFor: now - createdAt,
            previousFailures: previousFailures,
            respawnPending: respawnPending
        )
    }
}
