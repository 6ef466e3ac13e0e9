import Foundation
import Policy
import SessionStore
import Testing

/// The store's share of the hardening rules: who may take a bot, what a shutdown leaves behind, retention.
struct HardeningStoreTests {
    /// `markStarted` returned the session even when its update matched nothing, so a bot started for a session
    /// that had been stopped or ended meanwhile was taken as its bot.
    @Test(arguments: StoreBackend.available) func onlyAStartingSessionTakesABot(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        let stopped = try #require(try await store.claim(room: "stopped", url: nil, now: 1))
        _ = try await store.requestStop(stopped.id, reason: .stopRequested, now: 2)
        #expect(try await store.markStarted(stopped.id, pid: 42, pidStartTime: 7, now: 3) == nil)
        #expect(try await store.session(stopped.id)?.pid == nil)

        let timedOut = try #require(try await store.claim(room: "timed-out", url: nil, now: 1))
        _ = try await store.finish(timedOut.id, state: .failed, reason: .startTimeout, now: 61)
        #expect(try await store.markStarted(timedOut.id, pid: 43, pidStartTime: 7, now: 62) == nil)
        #expect(try await store.session(timedOut.id)?.state == .failed)

        let starting = try #require(try await store.claim(room: "fine", url: nil, now: 1))
        #expect(try await store.markStarted(starting.id, pid: 44, pidStartTime: 7, now: 2)?.state == .running)
        #expect(try await store.markStarted(starting.id, pid: 45, pidStartTime: 8, now: 3) == nil)  // taken once
    }

    /// A join whose leave arrived first added no human, yet spawned a bot into an empty room.
    @Test(arguments: StoreBackend.available) func aJoinThatAddsNoHumanSpawnsNothing(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        _ = try await store.record(event(.participantLeft, participant: "late"), now: 1)
        let join = try await store.record(event(.participantJoined, participant: "late"), now: 2)
        #expect(join.action == .recorded)
        #expect(join.reason == "no_new_human")
        #expect(try await store.activeCount() == 0)
    }

    /// A deploy (SIGTERM) ended every bot `shutdown`, and nothing ever gave the humans still in the call a new one.
    @Test(arguments: StoreBackend.available) func aSessionEndedByShutdownLeavesItsRoomWaiting(backend: StoreBackend) async throws {
        let database = try await backend.newDatabase()
        let store = try await backend.makeStore(database: database)
        let session = try #require(try await store.record(event(room: "call"), now: 1).session)
        _ = try await store.requestStop(session.id, reason: .shutdown, now: 2)
        let ending = try await store.finish(session.id, state: .ended, reason: .botExited, exitCode: nil, now: 3, claimSuccessor: false)
        #expect(ending?.ended.endReason == .shutdown)
        #expect(ending?.successor == nil)  // the draining instance takes none
        let next = try await backend.makeStore(database: database, instance: "next")
        #expect(try await next.claimWaitingRooms(now: 4).map(\.roomName) == ["call"])
    }

    @Test(arguments: StoreBackend.available) func aRoomWithoutHumansDoesNotWaitAfterAShutdown(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        let session = try #require(try await store.record(event(room: "call"), now: 1).session)
        _ = try await store.record(event(.participantLeft, room: "call"), now: 2)
        _ = try await store.requestStop(session.id, reason: .shutdown, now: 3)
        _ = try await store.finish(session.id, state: .ended, reason: .botExited, exitCode: nil, now: 4, claimSuccessor: false)
        #expect(try await store.claimWaitingRooms(now: 5).isEmpty)
    }

    /// While draining, a join is recorded (and counted) but claims nothing: the room waits for another instance.
    @Test(arguments: StoreBackend.available) func aDrainingInstanceRecordsEventsButClaimsNoRoom(backend: StoreBackend) async throws {
        let database = try await backend.newDatabase()
        let store = try await backend.makeStore(database: database)
        let outcome = try await store.record(event(room: "late"), now: 1, mayClaim: false)
        #expect(outcome.action == .rejected)
        #expect(outcome.reason == "draining")
        #expect(try await store.humans(inRooms: ["late"]) == ["late": 1])
        #expect(try await store.activeCount() == 0)
        #expect(try await store.record(event(id: "again", room: "late"), now: 2).action != .duplicate)
        let next = try await backend.makeStore(database: database, instance: "next")
        #expect(try await next.claimWaitingRooms(now: 3).map(\.roomName) == ["late"])
    }

    @Test(arguments: StoreBackend.available) func retentionDeletesOldEndedSessionsTombstonesRoomsAndSeenIds(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        let old = try #require(try await store.record(event(id: "old-join", room: "old"), now: 10).session)
        _ = try await store.record(event(.participantLeft, id: "old-leave", room: "old"), now: 11)
        _ = try await store.finish(old.id, state: .ended, reason: .roomEmpty, now: 12)
        let active = try #require(try await store.record(event(id: "active-join", room: "active"), now: 10).session)
        let recent = try #require(try await store.record(event(id: "recent-join", room: "recent"), now: 500).session)
        _ = try await store.finish(recent.id, state: .ended, reason: .meetingEnded, now: 501)

        let removed = try await store.prune(endedBefore: 100, seenBefore: 50)
        #expect(removed == [old.id])
        #expect(try await store.session(old.id) == nil)
        #expect(try await store.session(active.id) != nil)
        #expect(try await store.session(recent.id) != nil)
        // The old join's id is forgotten (past `seenBefore`); the recent one is still a duplicate.
        #expect(try await store.record(event(id: "recent-join", room: "recent"), now: 600).action == .duplicate)
        #expect(try await store.record(event(.participantLeft, id: "old-join", room: "old"), now: 600).action == .recorded)
    }

    @Test(arguments: StoreBackend.available) func readinessWritesToTheFileItself(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        #expect(await store.isWritable(now: 1))
    }
}
