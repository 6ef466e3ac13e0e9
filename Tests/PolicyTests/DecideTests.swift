import Policy
import Testing

func settings(max: Int = 2, grace: Double = 20, pattern: String = ".*") -> PolicySettings {
    // Patterns in these tests are constants; a bad one is a bug in the test.
    PolicySettings(maxConcurrency: max, botName: "Pipecat Bot", roomFilter: try! RoomFilter(pattern: pattern), emptyGraceSeconds: grace)
}

func room(
    _ state: SessionState? = nil,
    scheduled: Bool = false,
    humans: Int = 1,
    active: Int = 0,
    added: Bool = true,
    mayClaim: Bool = true
) -> RoomSnapshot {
    RoomSnapshot(activeState: state, stopScheduled: scheduled, humans: humans, activeSessions: active, joinAddedHuman: added, mayClaim: mayClaim)
}

func knocking(grace: Double = 20) -> PolicySettings {
    var knock = settings(grace: grace)
    knock.spawnOn = .knock
    return knock
}

func knockRoom(_ state: SessionState? = nil, scheduled: Bool = false, humans: Int = 0, knockers: Int = 1, added: Bool = true) -> RoomSnapshot {
    RoomSnapshot(
        activeState: state,
        stopScheduled: scheduled,
        humans: humans,
        knockers: knockers,
        activeSessions: state == nil ? 0 : 1,
        joinAddedHuman: added
    )
}

/// `AUTOSPAWN_SPAWN_ON=knock`: a knocker brings the room its bot, and the bot waits while someone is at the door.
struct KnockDecisionTests {
    @Test(arguments: [
        (RoomEvent.Kind.waitingParticipantJoined, knockRoom(), Decision.spawn),
        (.waitingParticipantJoined, knockRoom(added: false), .record(reason: .noNewKnocker)),
        (.waitingParticipantJoined, knockRoom(.running, knockers: 2), .record(reason: .botPresent)),
        (.waitingParticipantJoined, knockRoom(.running, scheduled: true), .cancelScheduledStop),
        (.waitingParticipantJoined, knockRoom(.stopping), .spawnAfterStop),
        // The knocker leaves unadmitted, nobody in the room: the bot goes after the grace.
        (.waitingParticipantLeft, knockRoom(.running, knockers: 0), .scheduleStop(at: 1_020)),
        (.waitingParticipantLeft, knockRoom(.running, knockers: 1), .record(reason: .knockerLeft)),
        (.waitingParticipantLeft, knockRoom(.running, humans: 1, knockers: 0), .record(reason: .knockerLeft)),
        // The last human leaves while someone knocks: the bot stays for them.
        (.participantLeft, knockRoom(.running, knockers: 1), .record(reason: .participantLeft)),
        (.participantLeft, knockRoom(.running, knockers: 0), .scheduleStop(at: 1_020)),
        // A knocker let in is a human who joins.
        (.participantJoined, knockRoom(.running, humans: 1, knockers: 0), .record(reason: .botPresent)),
    ])
    func decides(kind: RoomEvent.Kind, snapshot: RoomSnapshot, expected: Decision) {
        #expect(decide(kind, room: snapshot, settings: knocking(), now: 1_000) == expected)
    }

    @Test(arguments: [
        (0, 0, Config.SpawnOn.join, true), (1, 0, .join, false), (0, 1, .join, true),
        // Presence does not show knockers: with `knock`, one at the door keeps the bot.
        (0, 1, .knock, false), (0, 0, .knock, true), (2, 0, .knock, false),
    ])
    func aSilentRoomIsOrphanedWithNobodyInItOrWithKnockAtItsDoor(humans: Int, knockers: Int, spawnOn: Config.SpawnOn, orphaned: Bool) {
        #expect(isOrphaned(humansPresent: humans, knockers: knockers, spawnOn: spawnOn) == orphaned)
    }

    @Test(arguments: [
        // spawnOn, service room, humans, stop scheduled, age: over?
        (Config.SpawnOn.knock, false, 0, false, 120.0, true),
        (.knock, false, 0, false, 119.9, false),
        (.knock, false, 1, false, 500.0, false),  // someone was let in
        (.knock, false, 0, true, 500.0, false),  // the empty-room stop is on its way already
        (.knock, true, 0, false, 500.0, false),  // a room the service made waits for its caller, not a knocker
        (.join, false, 0, false, 500.0, false),
    ])
    func aKnocksBotEndsWhenNobodyLetTheKnockerInWithinTheWait(
        spawnOn: Config.SpawnOn,
        serviceRoom: Bool,
        humans: Int,
        stopScheduled: Bool,
        age: Double,
        over: Bool
    ) {
        #expect(
            knockWaitIsOver(
                spawnOn: spawnOn,
                serviceRoom: serviceRoom,
                humans: humans,
                stopScheduled: stopScheduled,
                ageSeconds: age,
                knockWaitSeconds: 120
            ) == over
        )
    }

    @Test func aKnockThatBringsTheBotSaysSo() {
        #expect(Decision.spawn.answer(to: .waitingParticipantJoined) == (.spawned, "knocker"))
        #expect(Decision.spawn.answer(to: .participantJoined) == (.spawned, "human_joined"))
    }

    @Test func aKnockAtCapacityIsRejectedLikeAJoin() {
        var full = knockRoom()
        full.activeSessions = 2
        #expect(decide(.waitingParticipantJoined, room: full, settings: knocking(), now: 1_000) == .reject(reason: .capacity))
    }

    @Test func knockersAreTrackedApartFromTheRoomsParticipants() {
        let person = RoomEvent.Participant(sessionID: "s-1", userID: nil, userName: "Ann")
        let knock = RoomEvent(id: "e", kind: .waitingParticipantJoined, roomName: "r", roomURL: nil, participant: person)
        #expect(knock.presenceChange?.key == "knock:session:s-1")
        #expect(knock.presenceChange?.joining == true)
        #expect(knock.admittedKnockerKey == nil)
        let join = RoomEvent(id: "f", kind: .participantJoined, roomName: "r", roomURL: nil, participant: person)
        #expect(join.presenceChange?.key == "session:s-1")
        #expect(join.admittedKnockerKey == "knock:session:s-1")
    }
}

struct DecideTests {
    @Test(arguments: [
        // kind, room, expected
        (RoomEvent.Kind.participantJoined, room(), Decision.spawn),
        (.participantJoined, room(active: 1), .spawn),
        (.participantJoined, room(active: 2), .reject(reason: .capacity)),
        (.participantJoined, room(.running, humans: 2, active: 2), .record(reason: .botPresent)),
        (.participantJoined, room(.starting, active: 1), .record(reason: .botPresent)),
        (.participantJoined, room(.running, scheduled: true, active: 1), .cancelScheduledStop),
        (.participantJoined, room(.stopping, active: 2), .spawnAfterStop),
        (.participantLeft, room(.running, humans: 1, active: 1), .record(reason: .participantLeft)),
        (.participantLeft, room(.running, humans: 0, active: 1), .scheduleStop(at: 1_020)),
        (.participantLeft, room(.running, scheduled: true, humans: 0, active: 1), .record(reason: .stopScheduled)),
        (.participantLeft, room(.stopping, humans: 0, active: 1), .record(reason: .participantLeft)),
        (.participantLeft, room(nil, humans: 0), .record(reason: .participantLeft)),
        (.meetingEnded, room(.running, humans: 0, active: 1), .stop(.meetingEnded)),
        (.meetingEnded, room(.starting, active: 1), .stop(.meetingEnded)),
        (.meetingEnded, room(.stopping, active: 1), .record(reason: .noActiveSession)),
        (.meetingEnded, room(nil), .record(reason: .noActiveSession)),
        (.meetingStarted, room(), .record(reason: .meetingStarted)),
        // With AUTOSPAWN_SPAWN_ON=join (the default) a knocker is counted and brings nothing; its leave ends nothing.
        (.waitingParticipantJoined, room(humans: 0), .record(reason: .knocker)),
        (.waitingParticipantLeft, room(.running, humans: 0, active: 1), .record(reason: .knockerLeft)),
        // A join whose leave came first adds no human: no bot for an empty room, no stop cancelled.
        (.participantJoined, room(humans: 0, added: false), .record(reason: .noNewHuman)),
        (.participantJoined, room(.running, scheduled: true, humans: 0, active: 1, added: false), .record(reason: .noNewHuman)),
        // A draining instance starts no bot: the room waits for the next one.
        (.participantJoined, room(mayClaim: false), .reject(reason: .draining)),
        (.participantJoined, room(.running, scheduled: true, active: 1, mayClaim: false), .cancelScheduledStop),
    ])
    func decides(kind: RoomEvent.Kind, snapshot: RoomSnapshot, expected: Decision) {
        #expect(decide(kind, room: snapshot, settings: settings(), now: 1_000) == expected)
    }

    @Test func shutdownAndLostLeaveTheRoomWaitingLikeAFailedBot() {
        #expect(leavesRoomWaiting(state: .ended, reason: .shutdown))
        #expect(leavesRoomWaiting(state: .failed, reason: .lost))
        #expect(leavesRoomWaiting(state: .failed, reason: .botFailed))
        #expect(!leavesRoomWaiting(state: .ended, reason: .roomEmpty))
        #expect(!leavesRoomWaiting(state: .ended, reason: .stopRequested))
    }

    @Test func anotherHostsInstanceIsJudgedByItsLeaseAndThisHostsByItsProcess() {
        let other = ServiceInstance(id: "o", pid: 1, pidStartTime: 1, startedAt: 0, hostID: "host-b", leaseUntil: 100)
        #expect(isInstanceAlive(other, thisHost: "host-a", processAlive: false, now: 100))
        #expect(!isInstanceAlive(other, thisHost: "host-a", processAlive: true, now: 100.1))
        let local = ServiceInstance(id: "l", pid: 1, pidStartTime: 1, startedAt: 0, hostID: "host-a", leaseUntil: 100)
        #expect(!isInstanceAlive(local, thisHost: "host-a", processAlive: false, now: 50))
        #expect(isInstanceAlive(local, thisHost: "host-a", processAlive: true, now: 500))
        let legacy = ServiceInstance(id: "x", pid: 1, pidStartTime: 1, startedAt: 0)
        #expect(isInstanceAlive(legacy, thisHost: "host-a", processAlive: true, now: 500))
    }

    @Test func noGraceStopsAtOnce() {
        #expect(decide(.participantLeft, room: room(.running, humans: 0, active: 1), settings: settings(grace: 0), now: 0) == .stop(.roomEmpty))
    }

    @Test func aWaitingRoomStartsOnlyWithHumansCapacityAndNoBackoff() {
        let s = settings()
        #expect(shouldStartWaitingRoom(humans: 1, hasActiveSession: false, retryAt: nil, activeSessions: 1, settings: s, now: 10))
        #expect(shouldStartWaitingRoom(humans: 1, hasActiveSession: false, retryAt: 10, activeSessions: 0, settings: s, now: 10))
        #expect(!shouldStartWaitingRoom(humans: 0, hasActiveSession: false, retryAt: nil, activeSessions: 0, settings: s, now: 10))
        #expect(!shouldStartWaitingRoom(humans: 1, hasActiveSession: true, retryAt: nil, activeSessions: 1, settings: s, now: 10))
        #expect(!shouldStartWaitingRoom(humans: 1, hasActiveSession: false, retryAt: nil, activeSessions: 2, settings: s, now: 10))
        #expect(!shouldStartWaitingRoom(humans: 1, hasActiveSession: false, retryAt: 10.5, activeSessions: 0, settings: s, now: 10))
    }

    @Test func aJoinDuringTheBackoffIsRejectedAndAfterItSpawns() {
        #expect(
            decide(.participantJoined, room: RoomSnapshot(activeState: nil, humans: 1, activeSessions: 0, retryAt: 20), settings: settings(), now: 10)
                == .reject(reason: .backoff)
        )
        #expect(
            decide(.participantJoined, room: RoomSnapshot(activeState: nil, humans: 1, activeSessions: 0, retryAt: 20), settings: settings(), now: 20)
                == .spawn
        )
    }

    @Test func theBackoffDoublesPerFailureUpToItsMaximum() {
        let backoff = RestartBackoff(baseSeconds: 2, maxSeconds: 30, stableSeconds: 60)
        #expect([0, 1, 2, 3, 4, 5, 50].map { backoff.delay(failures: $0) } == [0, 2, 4, 8, 16, 30, 30])
    }

    @Test func aBotThatRanStablyStartsTheFailureCountAgain() {
        let backoff = RestartBackoff(baseSeconds: 2, maxSeconds: 30, stableSeconds: 60)
        #expect(backoff.failures(after: 4, ranFor: 0.5) == 5)
        #expect(backoff.failures(after: 4, ranFor: 61) == 1)
    }

    @Test func onlyFailuresOfTheBotCountForTheBackoff() {
        #expect(isBotFailure(state: .failed, reason: .botFailed))
        #expect(isBotFailure(state: .failed, reason: .startTimeout))
        #expect(isBotFailure(state: .failed, reason: .tokenFailed))
        #expect(!isBotFailure(state: .failed, reason: .shutdown))
        #expect(!isBotFailure(state: .ended, reason: .botExited))
    }

    @Test func answersNameTheirActionAndReason() {
        #expect(Decision.spawn.answer == (.spawned, "human_joined"))
        #expect(Decision.stop(.meetingEnded).answer == (.stopping, "meeting_ended"))
        #expect(Decision.reject(reason: .capacity).answer == (.rejected, "capacity"))
        #expect(Decision.scheduleStop(at: 1).answer == (.recorded, "stop_scheduled"))
    }
}

struct ScreenTests {
    func joined(
        _ name: String? = "Jane",
        userID: String? = "u1",
        room: String = "demo-room",
        url: String? = "https://d.daily.co/demo-room"
    ) -> RoomEvent {
        RoomEvent(
            id: "e",
            kind: .participantJoined,
            roomName: room,
            roomURL: url,
            participant: .init(sessionID: "s", userID: userID, userName: name)
        )
    }

    @Test func botsNeverSpawn() {
        #expect(screen(joined("Pipecat Bot"), settings: settings()) == .ignore(reason: .botParticipant))
        #expect(screen(joined("my pipecat bot 2"), settings: settings()) == .ignore(reason: .botParticipant))
        #expect(screen(joined("Assistant", userID: "autospawn-abc"), settings: settings()) == .ignore(reason: .botParticipant))
        #expect(screen(joined("Jane"), settings: settings()) == nil)
        #expect(screen(joined(nil, userID: nil), settings: settings()) == nil)
    }

    @Test func roomMustWhollyMatchTheRegex() {
        let only = settings(pattern: "pipecat-[0-9a-f]{8}")
        #expect(screen(joined(room: "pipecat-0123abcd", url: "https://d.daily.co/pipecat-0123abcd"), settings: only) == nil)
        #expect(screen(joined(room: "pipecat-0123abcd-x", url: nil), settings: only) == .ignore(reason: .roomNotAllowed))
        #expect(screen(joined(room: "xpipecat-0123abcd"), settings: only) == .ignore(reason: .roomNotAllowed))
        let byURL = settings(pattern: #"https://d\.daily\.co/team-.*"#)
        #expect(screen(joined(room: "team-a", url: "https://d.daily.co/team-a"), settings: byURL) == nil)
        #expect(screen(joined(room: "other", url: "https://d.daily.co/other"), settings: byURL) == .ignore(reason: .roomNotAllowed))
    }

    @Test func joinWithoutAKnownURLIsIgnored() {
        #expect(screen(joined(url: nil), settings: settings()) == .ignore(reason: .noDomain))
        var left = joined(url: nil)
        left.kind = .participantLeft
        #expect(screen(left, settings: settings()) == nil)
    }

    @Test func knockersReachTheStoreToBeCountedButBotsKnockingAreBots() {
        var knock = joined()
        knock.kind = .waitingParticipantJoined
        #expect(screen(knock, settings: settings()) == nil)
        knock.participant = RoomEvent.Participant(sessionID: "s", userID: nil, userName: "Pipecat Bot")
        #expect(screen(knock, settings: settings()) == .ignore(reason: .botParticipant))
    }

    @Test func aKnockAtARoomWithoutAKnownURLBringsNoBotWithKnock() {
        var knock = joined(url: nil)
        knock.kind = .waitingParticipantJoined
        #expect(screen(knock, settings: settings()) == nil)
        #expect(screen(knock, settings: knocking()) == .ignore(reason: .noDomain))
    }
}

struct PlacementRuleTests {
    func settings(cap: Int = 10, local: Int? = 3) throws -> PolicySettings {
        PolicySettings(
            maxConcurrency: cap,
            botName: "Pipecat Bot",
            roomFilter: try RoomFilter(pattern: ".*"),
            emptyGraceSeconds: 20,
            maxLocalBots: local
        )
    }

    @Test func aBotRunsHereOnlyBelowThisInstancesOwnLimit() throws {
        #expect(placesHere(localSessions: 2, settings: try settings()))
        #expect(!placesHere(localSessions: 3, settings: try settings()))
        #expect(placesHere(localSessions: 9, settings: try settings(local: nil)))
        #expect(freeLocalSlots(localSessions: 1, settings: try settings()) == 2)
        #expect(freeLocalSlots(localSessions: 5, settings: try settings()) == 0)
    }

    @Test func theStartTimeoutRunsFromPlacement() {
        var session = Session(
            id: "s",
            roomName: "r",
            roomURL: nil,
            state: .starting,
            launcher: .process,
            createdAt: 10,
            updatedAt: 10,
            ownerInstance: nil
        )
        #expect(!session.isPlaced && session.startBeganAt == 10)
        session.ownerInstance = "replica"
        session.placedAt = 25
        #expect(session.isPlaced && session.startBeganAt == 25)
    }
}

struct PresenceTests {
    @Test func aJoinOrALeaveRecordsPresenceOnlyWhenItChangesIt() {
        #expect(presenceAfter(joining: true, isPerJoin: true, recorded: nil, sentAt: 1) == true)
        #expect(presenceAfter(joining: true, isPerJoin: true, recorded: .init(present: true, sentAt: 1), sentAt: 2) == nil)
        // A leave before its join leaves a tombstone; the late join of a per-join id brings nobody back.
        #expect(presenceAfter(joining: false, isPerJoin: true, recorded: nil, sentAt: 2) == false)
        #expect(presenceAfter(joining: true, isPerJoin: true, recorded: .init(present: false, sentAt: 2), sentAt: 1) == nil)
        // Other keys follow the newest event.
        #expect(presenceAfter(joining: true, isPerJoin: false, recorded: .init(present: false, sentAt: 2), sentAt: 3) == true)
        #expect(presenceAfter(joining: true, isPerJoin: false, recorded: .init(present: false, sentAt: 2), sentAt: 1) == nil)
        #expect(presenceAfter(joining: false, isPerJoin: false, recorded: .init(present: true, sentAt: nil), sentAt: nil) == false)
    }
}
