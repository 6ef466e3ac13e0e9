import Policy
import Testing

private let alice = RoomEvent.Participant(sessionID: "a1", userID: nil, userName: "Alice")

private func event(_ kind: RoomEvent.Kind, participant: RoomEvent.Participant? = alice, sentAt: Double? = nil) -> RoomEvent {
    RoomEvent(id: "e", kind: kind, roomName: "r", roomURL: "https://d.daily.co/r", participant: participant, sentAt: sentAt)
}

private func plan(
    _ event: RoomEvent,
    _ facts: RoomFacts,
    claim: ClaimFacts? = nil,
    arriving: String? = "default",
    mayClaim: Bool = true,
    settings: PolicySettings = settings()
) -> EventPlan {
    planEvent(event, facts: facts, claim: claim, arriving: arriving, mayClaim: mayClaim, settings: settings, now: 1_000)
}

private let roomy = ClaimFacts(activeSessions: 0, localSessions: 0)
private let aClaim = Claim(profile: "default", body: "{}", placedHere: true)

/// `planEvent`: the writes of one event, which both backends apply as they are.
struct EventPlanTests {
    @Test func aHumansJoinAsksForTheClaimFactsBeforeItClaims() {
        let first = plan(event(.participantJoined), RoomFacts())
        #expect(first.needsClaimFacts == "default")
        #expect(first.effects.isEmpty)
        let second = plan(event(.participantJoined), RoomFacts(), claim: roomy)
        #expect(second.decision == .spawn)
        #expect(second.effects == [.recordPresence(key: "session:a1", present: true, sentAt: nil), .claim(aClaim), .clearWaiting])
    }

    @Test func theCountReadUnderTheClaimLockWins() {
        let full = plan(event(.participantJoined), RoomFacts(activeSessions: 0), claim: ClaimFacts(activeSessions: 2))
        #expect(full.decision == .reject(reason: .capacity))
        #expect(full.effects.last == .markWaiting(profile: "default"))
    }

    @Test func aClaimBeyondThisInstancesOwnLimitWaitsForAnotherInstance() {
        var limited = settings()
        limited.maxLocalBots = 1
        let planned = plan(event(.participantJoined), RoomFacts(), claim: ClaimFacts(activeSessions: 1, localSessions: 1), settings: limited)
        #expect(planned.effects.contains(.claim(Claim(profile: "default", body: "{}", placedHere: false))))
    }

    @Test func aRoomTheServiceMadeKeepsItsProfileWhenItWaits() {
        let planned = plan(event(.participantJoined), RoomFacts(madeFor: "sales"), mayClaim: false)
        #expect(planned.decision == .reject(reason: .draining))
        #expect(planned.effects.last == .markWaiting(profile: "sales"))
    }

    @Test func aLateJoinAfterItsLeaveRecordsNobody() {
        let planned = plan(event(.participantJoined), RoomFacts(recorded: RecordedPresence(present: false, sentAt: nil)))
        #expect(planned.decision == .record(reason: .noNewHuman))
        #expect(planned.effects.isEmpty)
    }

    @Test func aJoinTakesItsKnockerFromTheDoor() {
        let planned = plan(
            event(.participantJoined),
            RoomFacts(activeState: .running, knockers: 1, admittedKnockerPresent: true, activeSessions: 1)
        )
        #expect(planned.effects == [.admitKnocker(key: "knock:session:a1"), .recordPresence(key: "session:a1", present: true, sentAt: nil)])
    }

    @Test func theLastLeaveSchedulesTheStopAndEndsTheWait() {
        let planned = plan(
            event(.participantLeft, sentAt: 5),
            RoomFacts(activeState: .running, humans: 1, recorded: RecordedPresence(present: true, sentAt: 1), activeSessions: 1, isWaiting: true)
        )
        #expect(planned.effects == [.recordPresence(key: "session:a1", present: false, sentAt: 5), .clearWaiting, .scheduleStop(at: 1_020)])
    }

    @Test func theMeetingsEndForgetsEveryoneStopsTheBotAndDropsTheRespawn() {
        let planned = plan(event(.meetingEnded, participant: nil), RoomFacts(activeState: .running, humans: 2, activeSessions: 1, isWaiting: true))
        #expect(planned.effects == [.clearParticipants, .clearWaiting, .beginStop(.meetingEnded), .setRespawnPending(false)])
    }

    @Test func aJoinWhileTheBotStopsAsksForTheNextOne() {
        let planned = plan(event(.participantJoined), RoomFacts(activeState: .stopping, activeSessions: 1))
        #expect(planned.effects.last == .setRespawnPending(true))
    }

    @Test func aHumanBackCancelsTheScheduledStop() {
        let planned = plan(event(.participantJoined), RoomFacts(activeState: .running, stopScheduled: true, activeSessions: 1))
        #expect(planned.effects.last == .cancelScheduledStop)
    }
}

/// `planDirectClaim`: a room the service makes (`/start`, a call).
struct DirectClaimPlanTests {
    @Test(arguments: [
        (false, ClaimFacts(activeSessions: 0), true),
        (true, ClaimFacts(activeSessions: 0), false),
        (false, ClaimFacts(activeSessions: 2), false),
        (false, ClaimFacts(activeSessions: 0, profileLoad: ProfileLoad(active: 1, cap: 1)), false),
    ])
    func claimsOnlyAFreeRoomWithAPlaceInTheServiceAndItsProfile(hasActive: Bool, facts: ClaimFacts, claims: Bool) {
        let effects = planDirectClaim(profile: "sales", body: #"{"a":1}"#, roomHasActiveSession: hasActive, facts: facts, settings: settings())
        #expect((effects != nil) == claims)
        if claims {
            #expect(
                effects == [.markServiceRoom(profile: "sales"), .claim(Claim(profile: "sales", body: #"{"a":1}"#, placedHere: true)), .clearWaiting]
            )
        }
    }
}

/// `planWaitingRoom`: the next bot of a room whose humans wait.
struct WaitingRoomPlanTests {
    @Test func aRoomNobodyWaitsInIsLeftAlone() {
        #expect(planWaitingRoom(WaitingRoomFacts(isWaiting: false, humans: 1), claim: roomy, settings: settings(), now: 1_000) == RoomPlan())
    }

    @Test func aWaitWhoseHumansLeftIsForgotten() {
        #expect(
            planWaitingRoom(WaitingRoomFacts(isWaiting: true, humans: 0), claim: nil, settings: settings(), now: 1_000)
                == RoomPlan(effects: [.clearWaiting])
        )
    }

    @Test func aRoomBackingOffTakesNoClaimLock() {
        let facts = WaitingRoomFacts(isWaiting: true, retryAt: 2_000, humans: 1)
        #expect(planWaitingRoom(facts, claim: nil, settings: settings(), now: 1_000) == RoomPlan())
    }

    @Test func theRoomKeepsItsLastSessionsProfileAndBody() {
        let facts = WaitingRoomFacts(isWaiting: true, roomProfile: "other", lastProfile: "sales", lastBody: #"{"b":2}"#, humans: 1)
        #expect(planWaitingRoom(facts, claim: nil, settings: settings(), now: 1_000) == RoomPlan(needsClaimFacts: "sales"))
        #expect(
            planWaitingRoom(facts, claim: roomy, settings: settings(), now: 1_000).effects
                == [.claim(Claim(profile: "sales", body: #"{"b":2}"#, placedHere: true)), .clearWaiting]
        )
    }

    @Test func aRoomThatNeverHadABotGetsTheProfileItWaitedFor() {
        let facts = WaitingRoomFacts(isWaiting: true, roomProfile: "sales", humans: 1)
        #expect(facts.profile == "sales")
        #expect(WaitingRoomFacts(isWaiting: true, humans: 1).profile == BotProfile.defaultName)
    }

    @Test func aFullServiceLeavesTheRoomWaiting() {
        let facts = WaitingRoomFacts(isWaiting: true, humans: 1)
        #expect(planWaitingRoom(facts, claim: ClaimFacts(activeSessions: 2), settings: settings(), now: 1_000) == RoomPlan())
    }
}

/// `EndPlan.roomEffects`: what a session's end writes to its room.
struct EndRoomEffectsTests {
    @Test(arguments: [
        (EndPlan.Backoff.unchanged, false, false, [RoomEffect]()),
        (.reset, false, false, [.setBackoff(.reset)]),
        (
            .failed(failures: 2, retryAt: 9), true, true,
            [.setBackoff(.failed(failures: 2, retryAt: 9)), .setRespawnPending(false), .markWaiting(profile: nil)]
        ),
    ])
    func writeTheBackoffTheRespawnAndTheWait(backoff: EndPlan.Backoff, respawn: Bool, waits: Bool, expected: [RoomEffect]) {
        let plan = EndPlan(state: .ended, reason: .roomEmpty, backoff: backoff, roomWaits: waits, clearsRespawn: respawn)
        #expect(plan.roomEffects == expected)
    }

    @Test func aScheduledStopIsDueOnlyOnceItsGraceIsOverAndTheBotStillRuns() {
        var session = Session(
            id: "s",
            roomName: "r",
            roomURL: nil,
            state: .running,
            launcher: .process,
            createdAt: 0,
            updatedAt: 0,
            ownerInstance: "i",
            stopAt: 10
        )
        #expect(session.scheduledStopIsDue(now: 10))
        #expect(!session.scheduledStopIsDue(now: 9))
        session.state = .stopping
        #expect(!session.scheduledStopIsDue(now: 10))
        session.state = .running
        session.stopAt = nil
        #expect(!session.scheduledStopIsDue(now: 10))
    }
}
