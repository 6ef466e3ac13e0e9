import Foundation
import Logging
import Policy
import SessionStore
import Testing

@testable import BotRuntime

/// A clock that says what the test sets.
final class TestClock: WallClock, @unchecked Sendable {
    private let lock = NSLock()
    private var value: Double

    init(_ value: Double) { self.value = value }

    func now() -> Double { lock.withLock { value } }
    func set(_ value: Double) { lock.withLock { self.value = value } }
}

/// The reaper's safety nets, driven directly on a real store.
struct SupervisorReaperTests {
    /// A store on a new SQLite file, and a reaper (with its supervisor, starting `bot`) judging time by a test clock
    /// set at 1 000.
    func reaperOnANewStore(_ settings: PolicySettings, bot: [String]) throws -> (SQLiteSessionStore, Reaper, TestClock) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("reaper-\(UUID().uuidString).sqlite").path
        let store = try SQLiteSessionStore(path: path, settings: settings, launcher: .process, instanceID: "me")
        let clock = TestClock(1_000)
        let supervisor = Supervisor(
            store: store,
            settings: .init(
                launcher: .process(arguments: bot),
                logDirectory: FileManager.default.temporaryDirectory.path,
                stopGraceSeconds: 1,
                maxSessionSeconds: 3600
            ),
            logger: Logger(label: "test"),
            clock: clock
        )
        let reaper = Reaper(
            store: store,
            supervisor: supervisor,
            recovery: Recovery(store: store, supervisor: supervisor, logger: Logger(label: "test"), clock: clock),
            settings: .init(interval: 60, startTimeoutSeconds: 60, maxSessionSeconds: 3600),
            logger: Logger(label: "test"),
            clock: clock
        )
        return (store, reaper, clock)
    }

    /// The time limits are judged by the injected clock: no test sleeps for a start timeout or a maximum length.
    @Test func theStartTimeoutAndTheMaximumLengthFollowTheClock() async throws {
        let (store, reaper, clock) = try reaperOnANewStore(
            PolicySettings(maxConcurrency: 5, botName: "Pipecat Bot", roomFilter: try RoomFilter(pattern: ".*"), emptyGraceSeconds: 20),
            bot: ["true"]
        )
        let stuck = try #require(try await store.claim(room: "stuck", url: nil, now: 1_000))
        let long = try #require(try await store.claim(room: "long", url: nil, now: 1_000))
        _ = try await store.markStarted(long.id, pid: 999_999, pidStartTime: 1, now: 1_000)

        clock.set(1_059)
        try await reaper.applyTimeLimits(now: clock.now())
        #expect(try await store.session(stuck.id)?.state == .starting)
        clock.set(1_061)
        try await reaper.applyTimeLimits(now: clock.now())
        #expect(try await store.session(stuck.id)?.state == .failed)
        #expect(try await store.session(stuck.id)?.endReason == .startTimeout)
        #expect(try await store.session(long.id)?.state == .running)
        clock.set(1_000 + 3_601)
        try await reaper.applyTimeLimits(now: clock.now())
        // No bot is watched for it here, so the stop ends it at once, with its reason.
        #expect(try await store.session(long.id)?.stopReason == .maxDuration)
    }

    /// A session waiting for an instance with room has no bot anywhere until one takes it: a launch of it here (as
    /// the webhook's answer asks) did start one beyond the local limit. Its start timeout runs from its placement.
    @Test func aSessionWaitingForPlacementStartsNoBotAndItsStartTimeoutRunsFromPlacement() async throws {
        let (store, reaper, clock) = try reaperOnANewStore(
            PolicySettings(
                maxConcurrency: 5,
                botName: "Pipecat Bot",
                roomFilter: try RoomFilter(pattern: ".*"),
                emptyGraceSeconds: 20,
                maxLocalBots: 1
            ),
            bot: ["sleep", "30"]
        )
        let supervisor = reaper.supervisor
        let here = try #require(try await store.claim(room: "here", url: nil, now: 1_000))
        let waiting = try #require(try await store.claim(room: "waiting", url: nil, now: 1_000))
        #expect(!waiting.isPlaced)
        await supervisor.launch(waiting)
        #expect(try await store.session(waiting.id)?.pid == nil)
        #expect(try await store.session(waiting.id)?.state == .starting)

        _ = try await store.finish(here.id, state: .ended, reason: .botExited, now: 1_000)
        _ = try await store.finish(waiting.id, state: .ended, reason: .botExited, now: 1_000)
        // Claimed at 1 000, placed at 1 070: not timed out at 1 100, timed out after 1 130.
        let placedLate = try #require(
            try await store.record(
                RoomEvent(
                    id: "e1",
                    kind: .participantJoined,
                    roomName: "r",
                    roomURL: "https://d.daily.co/r",
                    participant: .init(sessionID: "p", userID: nil, userName: "Human"),
                    sentAt: nil
                ),
                now: 1_000
            ).session
        )
        let blocker = try #require(
            try await store.record(
                RoomEvent(
                    id: "e2",
                    kind: .participantJoined,
                    roomName: "r2",
                    roomURL: "https://d.daily.co/r2",
                    participant: .init(sessionID: "p2", userID: nil, userName: "Human"),
                    sentAt: nil
                ),
                now: 1_000
            ).session
        )
        #expect(placedLate.isPlaced && !blocker.isPlaced)
        _ = try await store.finish(placedLate.id, state: .ended, reason: .botExited, now: 1_070)
        let placed = try await store.placeWaitingSessions(now: 1_070)
        #expect(placed.map(\.id) == [blocker.id])
        clock.set(1_100)
        try await reaper.applyTimeLimits(now: clock.now())
        #expect(try await store.session(blocker.id)?.state == .starting)
        clock.set(1_131)
        try await reaper.applyTimeLimits(now: clock.now())
        #expect(try await store.session(blocker.id)?.endReason == .startTimeout)
    }

    /// When ending a session failed on a database error, it stayed active with no bot for good, holding a slot.
    @Test func anActiveSessionWithoutABotIsEndedLostAndItsRoomWaits() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("reaper-\(UUID().uuidString).sqlite").path
        let settings = PolicySettings(
            maxConcurrency: 5,
            botName: "Pipecat Bot",
            roomFilter: try RoomFilter(pattern: ".*"),
            emptyGraceSeconds: 20,
            restartBackoff: RestartBackoff(baseSeconds: 0.01, maxSeconds: 0.01)
        )
        let store = try SQLiteSessionStore(path: path, settings: settings, launcher: .process, instanceID: "me")
        // A human joined, the session was claimed and its bot recorded; then the bot's end never reached the
        // database. This instance watches no bot for it.
        let join = RoomEvent(
            id: "join",
            kind: .participantJoined,
            roomName: "call",
            roomURL: "https://d.daily.co/call",
            participant: .init(sessionID: "human", userID: nil, userName: "Human")
        )
        let session = try #require(try await store.record(join, now: Date().timeIntervalSince1970).session)
        _ = try await store.markStarted(session.id, pid: 999_999, pidStartTime: 1, now: Date().timeIntervalSince1970)
        let supervisor = Supervisor(
            store: store,
            settings: .init(
                launcher: .process(arguments: ["true"]),
                logDirectory: FileManager.default.temporaryDirectory.path,
                stopGraceSeconds: 1,
                maxSessionSeconds: 3600
            ),
            logger: Logger(label: "test")
        )
        _ = try await store.register(ServiceInstance(id: "me", pid: getpid(), pidStartTime: ProcessTable.current().startTime, startedAt: 0))

        await supervisor.endSessionsWithoutBots()
        let ended = try #require(try await store.session(session.id))
        #expect(ended.state == .failed)
        #expect(ended.endReason == .lost)
        // The human is still there: the room waits for its next bot.
        try await Task.sleep(for: .milliseconds(50))
        let next = try await store.claimWaitingRooms(now: Date().timeIntervalSince1970)
        #expect(next.map(\.roomName) == ["call"])
    }
}
