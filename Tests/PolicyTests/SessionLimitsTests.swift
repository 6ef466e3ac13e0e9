import Policy
import Testing

/// The ends a bot's exit makes, the reaper's time limits and retention's cut-offs.
struct SessionLimitsTests {
    @Test(arguments: [
        (Policy.ExitStatus.exited(0), SessionState.ended, EndReason.botExited),
        (.vanished, .ended, .botExited),
        (.exited(1), .failed, .botFailed),
        (.signaled(9), .failed, .botFailed),
    ])
    func aCleanOrUnknowableExitEndsTheSessionAndAnyOtherIsTheBotFailing(status: Policy.ExitStatus, state: SessionState, reason: EndReason) {
        #expect(status.sessionEnd.state == state)
        #expect(status.sessionEnd.reason == reason)
    }

    private static let limits = TimeLimits(startTimeoutSeconds: 30, maxSessionSeconds: 3_600, spawnOn: .knock, knockWaitSeconds: 120)

    private static func session(_ state: SessionState, createdAt: Double = 0, placedAt: Double? = nil) -> Session {
        Session(
            id: "s",
            roomName: "r",
            roomURL: nil,
            state: state,
            launcher: .process,
            createdAt: createdAt,
            updatedAt: createdAt,
            ownerInstance: "i",
            placedAt: placedAt
        )
    }

    @Test(arguments: [
        (session(.starting), 31.0, TimeLimit?.some(.startTimeout)),
        // The start timeout runs from placement.
        (session(.starting, placedAt: 10), 31.0, nil),
        (session(.running), 3_601.0, .maxDuration),
        (session(.running), 120.0, .knockWait),
        (session(.running), 119.0, nil),
        // A stop already on its way has no limit left to reach.
        (session(.stopping), 10_000.0, nil),
    ])
    func aSessionReachesTheFirstLimitItsAgePasses(session: Session, now: Double, limit: TimeLimit?) {
        #expect(timeLimitReached(by: session, limits: Self.limits, now: now) == limit)
    }

    @Test func withoutKnockABotHasNoKnockWait() {
        var join = Self.limits
        join.spawnOn = .join
        #expect(timeLimitReached(by: Self.session(.running), limits: join, now: 500) == nil)
    }

    @Test func seenEventIdsOutliveTheSignatureToleranceByAnHourWhateverTheRetention() {
        let short = retentionCutoffs(now: 100_000, retentionSeconds: 60, signatureToleranceSeconds: 300)
        #expect(short.endedBefore == 99_940)
        #expect(short.seenBefore == 100_000 - 4_500)
        let long = retentionCutoffs(now: 1_000_000, retentionSeconds: 86_400, signatureToleranceSeconds: 7_200)
        #expect(long.seenBefore == 1_000_000 - 86_400)
        #expect(retentionCutoffs(now: 100_000, retentionSeconds: 60, signatureToleranceSeconds: 7_200).seenBefore == 100_000 - 10_800)
    }
}
