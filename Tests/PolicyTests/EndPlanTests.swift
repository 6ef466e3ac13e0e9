import Policy
import Testing

/// Every rule of a session's end, one line each.
struct EndPlanTests {
    let backoff = RestartBackoff(baseSeconds: 2, maxSeconds: 300, stableSeconds: 60)

    func ending(
        _ state: SessionState = .running,
        stop: EndReason? = nil,
        ranFor: Double = 5,
        failures: Int = 0,
        respawn: Bool = false
    ) -> EndingSession {
        EndingSession(state: state, stopReason: stop, ranFor: ranFor, previousFailures: failures, respawnPending: respawn)
    }

    func plan(_ session: EndingSession, _ state: SessionState, _ reason: EndReason) -> EndPlan {
        planEnd(session, state: state, reason: reason, backoff: backoff, now: 100)
    }

    @Test func aBotThatEndsWellResetsTheBackoffAndLeavesNobodyWaiting() {
        #expect(
            plan(ending(), .ended, .botExited) == EndPlan(state: .ended, reason: .botExited, backoff: .reset, roomWaits: false, clearsRespawn: false)
        )
    }

    @Test func aFailedBotBacksTheRoomOffAndItsHumansWait() {
        #expect(plan(ending(), .failed, .botFailed).backoff == .failed(failures: 1, retryAt: 102))
        #expect(plan(ending(failures: 2), .failed, .botFailed).backoff == .failed(failures: 3, retryAt: 108))
        #expect(plan(ending(ranFor: 600, failures: 5), .failed, .botFailed).backoff == .failed(failures: 1, retryAt: 102))
        #expect(plan(ending(), .failed, .botFailed).roomWaits)
    }

    @Test func aRequestedStopKeepsItsReasonWhateverTheExit() {
        #expect(plan(ending(.stopping, stop: .roomEmpty), .failed, .botFailed).state == .ended)
        #expect(plan(ending(.stopping, stop: .roomEmpty), .failed, .botFailed).reason == .roomEmpty)
        #expect(plan(ending(.stopping, stop: .startTimeout), .ended, .botExited).state == .failed)
    }

    @Test func aShutdownOrALostInstanceLeavesTheCallWaitingWithoutABackoff() {
        let shutdown = plan(ending(.stopping, stop: .shutdown), .ended, .botExited)
        #expect(shutdown.reason == .shutdown)
        #expect(shutdown.roomWaits)
        #expect(shutdown.backoff == .reset)
        #expect(plan(ending(), .failed, .lost).roomWaits)
    }

    @Test func aHumanWhoJoinedWhileTheBotStoppedGetsTheNextOne() {
        let respawn = plan(ending(.stopping, stop: .meetingEnded, respawn: true), .ended, .botExited)
        #expect(respawn.roomWaits)
        #expect(respawn.clearsRespawn)
        #expect(!plan(ending(.stopping, stop: .meetingEnded), .ended, .botExited).roomWaits)
    }
}
