import Foundation
import Logging
import Policy
import SessionStore
import TestSupport
import Testing

/// Every backend the store tests run against: each test takes one as its argument.
enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// The backends of this run: PostgreSQL when a test server is given, and always in CI (`TestPostgres`).
    static var available: [StoreBackend] { TestPostgres.isEnabled ? [.sqlite, .postgres] : [.sqlite] }

    /// A new, empty database of this backend: a file path, or a PostgreSQL URL.
    func newDatabase() async throws -> String {
        switch self {
        case .sqlite: FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString).sqlite").path
        case .postgres: try await TestPostgres.newDatabase()
        }
    }

    /// A store on `database` (a new one by default) for the instance `instance`.
    func makeStore(
        database: String? = nil,
        max: Int = 5,
        localLimit: Int? = nil,
        grace: Double = 20,
        instance: String = "instance-a",
        profiles: BotProfiles = .none,
        spawnOn: Config.SpawnOn = .join
    ) async throws -> any SessionStorage {
        let settings = PolicySettings(
            maxConcurrency: max,
            botName: "Pipecat Bot",
            roomFilter: try RoomFilter(pattern: ".*"),
            emptyGraceSeconds: grace,
            maxLocalBots: localLimit,
            profiles: profiles,
            spawnOn: spawnOn
        )
        let database = if let database { database } else { try await newDatabase() }
        switch self {
        case .sqlite:
            return try SQLiteSessionStore(path: database, settings: settings, launcher: .process, instanceID: instance)
        case .postgres:
            guard case .postgres(let location) = try DatabaseLocation.parse(database) else { throw TestPostgres.NotConfigured() }
            let store = try PostgresSessionStore(
                location: location,
                settings: settings,
                launcher: .process,
                instanceID: instance,
                logger: Logger(label: "test")
            )
            // The store's connections live as long as the test process: a test's store is not closed.
            Task { await store.run() }
            try await store.migrate()
            return store
        }
    }
}

func event(
    _ kind: RoomEvent.Kind = .participantJoined,
    id: String = UUID().uuidString,
    room: String = "room",
    participant: String? = "p1",
    sentAt: Double? = nil
) -> RoomEvent {
    RoomEvent(
        id: id,
        kind: kind,
        roomName: room,
        roomURL: "https://d.daily.co/\(room)",
        participant: participant.map { .init(sessionID: $0, userID: nil, userName: "Human") },
        sentAt: sentAt
    )
}

struct SessionStoreTests {
    @Test(arguments: StoreBackend.available) func twoHundredConcurrentJoinsForOneRoomClaimItOnce(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        let actions = try await withThrowingTaskGroup(of: WebhookAction.self) { group in
            for index in 0..<200 {
                group.addTask { try await store.record(event(participant: "p\(index)"), now: 1).action }
            }
            return try await group.reduce(into: [WebhookAction]()) { $0.append($1) }
        }
        #expect(actions.filter { $0 == .spawned }.count == 1)
        #expect(actions.filter { $0 == .recorded }.count == 199)
        #expect(try await store.sessions(.init(states: .all)).count == 1)
        #expect(try await store.humans(inRooms: ["room"]) == ["room": 200])
    }

    @Test(arguments: StoreBackend.available) func twoHundredConcurrentJoinsAcrossRoomsNeverExceedTheCap(backend: StoreBackend) async throws {
        let store = try await backend.makeStore(max: 10)
        let actions = try await withThrowingTaskGroup(of: WebhookAction.self) { group in
            for index in 0..<200 {
                group.addTask { try await store.record(event(room: "room-\(index % 50)", participant: "p\(index)"), now: 1).action }
            }
            return try await group.reduce(into: [WebhookAction]()) { $0.append($1) }
        }
        #expect(actions.filter { $0 == .spawned }.count == 10)
        #expect(try await store.activeCount() == 10)
        let rooms = try await store.sessions(.init(states: .all, limit: 1000)).map(\.roomName)
        #expect(Set(rooms).count == rooms.count)
    }

    /// The count of active sessions is kept by triggers; through claims, starts, stops, ends and failures it
    /// must stay what counting the rows gives.
    @Test(arguments: StoreBackend.available) func theKeptActiveCountIsAlwaysTheCountOfActiveRows(backend: StoreBackend) async throws {
        let store = try await backend.makeStore(max: 40)
        var now = 1.0
        for round in 0..<6 {
            for index in 0..<30 {
                now += 1
                let outcome = try await store.record(event(room: "r\(index)", participant: "p\(round)"), now: now)
                if let session = outcome.session, outcome.action == .spawned, index % 3 == 0 {
                    _ = try await store.markStarted(session.id, pid: 1, pidStartTime: 1, now: now)
                }
            }
            let active = try await store.sessions(.init(states: .active, limit: 1000))
            #expect(try await store.activeCount() == active.count)
            for (position, session) in active.enumerated() where position % 2 == round % 2 {
                now += 1
                if position % 4 == 0 { _ = try await store.requestStop(session.id, reason: .meetingEnded, now: now) }
                _ = try await store.finish(session.id, state: position % 3 == 0 ? .failed : .ended, reason: .botExited, now: now)
            }
            #expect(try await store.activeCount() == store.sessions(.init(states: .active, limit: 1000)).count)
        }
    }

    @Test(arguments: StoreBackend.available) func twoStoresOnOneFileKeepBothInvariants(backend: StoreBackend) async throws {
        let path = try await backend.newDatabase()
        let first = try await backend.makeStore(database: path, max: 7, instance: "a")
        let second = try await backend.makeStore(database: path, max: 7, instance: "b")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                let store = index % 2 == 0 ? first : second
                group.addTask { _ = try await store.record(event(room: "room-\(index % 20)", participant: "p\(index)"), now: 1) }
            }
            try await group.waitForAll()
        }
        let sessions = try await first.sessions(.init(states: .all, limit: 1000))
        #expect(sessions.count == 7)
        #expect(Set(sessions.map(\.roomName)).count == 7)
    }

    @Test(arguments: StoreBackend.available) func anEventIdIsActedUponOnce(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        let join = event(id: "same")
        #expect(try await store.record(join, now: 1).action == .spawned)
        #expect(try await store.record(join, now: 2).action == .duplicate)
        var left = event(.participantLeft, id: "same")
        left.participant = join.participant
        #expect(try await store.record(left, now: 3).action == .duplicate)
        #expect(try await store.humans(inRooms: ["room"]) == ["room": 1])
    }

    @Test(arguments: StoreBackend.available) func leaveBeforeJoinLeavesNoGhost(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        _ = try await store.record(event(.participantLeft, participant: "late"), now: 1)
        _ = try await store.record(event(.participantJoined, participant: "late"), now: 2)
        #expect(try await store.humans(inRooms: ["room"]) == [:])
        _ = try await store.record(event(.participantJoined, participant: "other"), now: 3)
        _ = try await store.record(event(.participantJoined, participant: "other"), now: 4)
        #expect(try await store.humans(inRooms: ["room"]) == ["room": 1])
    }

    @Test(arguments: StoreBackend.available) func keysThatRecurFollowTheNewestEvent(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        func byUser(_ kind: RoomEvent.Kind, at time: Double) -> RoomEvent {
            RoomEvent(
                id: UUID().uuidString,
                kind: kind,
                roomName: "room",
                roomURL: "https://d.daily.co/room",
                participant: .init(sessionID: nil, userID: "jane", userName: "Jane"),
                sentAt: time
            )
        }
        _ = try await store.record(byUser(.participantJoined, at: 10), now: 1)
        _ = try await store.record(byUser(.participantLeft, at: 20), now: 2)
        _ = try await store.record(byUser(.participantJoined, at: 15), now: 3)  // older than the leave: ignored
        #expect(try await store.humans(inRooms: ["room"]) == [:])
        _ = try await store.record(byUser(.participantJoined, at: 30), now: 4)  // she is back
        #expect(try await store.humans(inRooms: ["room"]) == ["room": 1])
    }

    @Test(arguments: StoreBackend.available) func lastLeaveSchedulesAStopAndAReturnCancelsIt(backend: StoreBackend) async throws {
        let store = try await backend.makeStore(grace: 20)
        let spawned = try await store.record(event(participant: "a"), now: 100)
        let id = try #require(spawned.session?.id)
        let left = try await store.record(event(.participantLeft, participant: "a"), now: 110)
        #expect(left.decision == .scheduleStop(at: 130))
        #expect(try await store.beginScheduledStop(id, now: 120) == nil)
        #expect(try await store.scheduledStops().map(\.id) == [id])
        let back = try await store.record(event(participant: "b"), now: 125)
        #expect(back.decision == .cancelScheduledStop)
        #expect(try await store.beginScheduledStop(id, now: 200) == nil)
        _ = try await store.record(event(.participantLeft, participant: "b"), now: 300)
        let stopping = try await store.beginScheduledStop(id, now: 321)
        #expect(stopping?.state == .stopping)
        #expect(stopping?.stopReason == .roomEmpty)
    }

    @Test(arguments: StoreBackend.available) func finishingKeepsTheRequestedStopsReason(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        let id = try #require(try await store.record(event(), now: 1).session?.id)
        _ = try await store.markStarted(id, pid: 42, pidStartTime: 7, now: 2)
        #expect(try await store.session(id)?.state == .running)
        let stop = try await store.record(event(.meetingEnded, participant: nil), now: 3)
        #expect(stop.action == .stopping)
        let ending = try await store.finish(id, state: .failed, reason: .botFailed, exitCode: 143, now: 4)
        #expect(ending?.ended.state == .ended)
        #expect(ending?.ended.endReason == .meetingEnded)
        #expect(try await store.finish(id, state: .ended, reason: .botExited, now: 5) == nil)
    }

    @Test(arguments: StoreBackend.available) func humanJoiningWhileTheBotStopsGetsTheNextBot(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        let id = try #require(try await store.record(event(participant: "a"), now: 1).session?.id)
        _ = try await store.requestStop(id, reason: .stopRequested, now: 2)
        let joined = try await store.record(event(participant: "b"), now: 3)
        #expect(joined.decision == .spawnAfterStop)
        let ending = try #require(try await store.finish(id, state: .ended, reason: .botExited, exitCode: 0, now: 4))
        let successor = try #require(ending.successor)
        #expect(successor.roomName == "room")
        #expect(successor.state == .starting)
        #expect(try await store.activeCount() == 1)
    }

    @Test(arguments: StoreBackend.available) func meetingEndClearsTheRoomsParticipants(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        _ = try await store.record(event(participant: "a"), now: 1)
        _ = try await store.record(event(participant: "b"), now: 1)
        _ = try await store.record(event(.meetingEnded, participant: nil), now: 2)
        #expect(try await store.humans(inRooms: ["room"]) == [:])
    }

    @Test(arguments: StoreBackend.available) func directClaimsRespectRoomAndCapacity(backend: StoreBackend) async throws {
        let store = try await backend.makeStore(max: 1)
        let first = try await store.claim(room: "made", url: "https://d.daily.co/made", now: 1)
        #expect(first != nil)
        #expect(try await store.claim(room: "made", url: nil, now: 1) == nil)
        #expect(try await store.claim(room: "other", url: nil, now: 1) == nil)
    }

    @Test(arguments: StoreBackend.available) func listingFiltersByStateRoomAndLimit(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        for room in ["a", "b", "c"] { _ = try await store.record(event(room: room), now: 1) }
        let ended = try #require(try await store.sessions(.init(roomName: "a")).first)
        _ = try await store.finish(ended.id, state: .failed, reason: .botFailed, exitCode: 1, now: 2)
        #expect(try await store.sessions(.init()).count == 2)
        #expect(try await store.sessions(.init(states: .ended)).map(\.roomName) == ["a"])
        #expect(try await store.sessions(.init(states: .failed)).map(\.roomName) == ["a"])
        #expect(try await store.sessions(.init(states: .all)).count == 3)
        #expect(try await store.sessions(.init(states: .all, roomName: "b")).count == 1)
        #expect(try await store.sessions(.init(states: .all, limit: 2)).count == 2)
    }

    @Test(arguments: StoreBackend.available) func reopeningTheFileKeepsEverything(backend: StoreBackend) async throws {
        let path = try await backend.newDatabase()
        let id = try #require(try await backend.makeStore(database: path).record(event(id: "kept"), now: 1).session?.id)
        let reopened = try await backend.makeStore(database: path, instance: "b")
        #expect(try await reopened.session(id)?.state == .starting)
        #expect(try await reopened.record(event(id: "kept"), now: 2).action == .duplicate)
        #expect(try await reopened.unownedActiveSessions(liveInstances: ["b"]).map(\.id) == [id])
    }

    @Test func anUnusableSQLitePathIsATypedError() {
        #expect(throws: SessionStoreError.self) {
            try SQLiteSessionStore(
                path: "/nonexistent-dir/x/db.sqlite",
                settings: PolicySettings(maxConcurrency: 1, botName: "b", roomFilter: try RoomFilter(pattern: ".*"), emptyGraceSeconds: 1),
                launcher: .process,
                instanceID: "a"
            )
        }
    }
}

struct WaitingRoomTests {
    @Test(arguments: StoreBackend.available) func aRoomRefusedAtCapacityIsClaimedOnceAPlaceFrees(backend: StoreBackend) async throws {
        let store = try await backend.makeStore(max: 1)
        let first = try #require(try await store.record(event(room: "a"), now: 1).session)
        #expect(try await store.record(event(room: "b"), now: 2).reason == "capacity")
        #expect(try await store.claimWaitingRooms(now: 3).isEmpty)
        _ = try await store.finish(first.id, state: .ended, reason: .meetingEnded, now: 4)
        #expect(try await store.claimWaitingRooms(now: 5).map(\.roomName) == ["b"])
        #expect(try await store.claimWaitingRooms(now: 6).isEmpty)
    }

    @Test(arguments: StoreBackend.available) func aFailedBotsRoomWaitsOutItsBackoffAndAnEmptyRoomStopsWaiting(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        let first = try #require(try await store.record(event(room: "a"), now: 100).session)
        _ = try await store.finish(first.id, state: .failed, reason: .botFailed, exitCode: 1, now: 101)
        // Default backoff: 2 s after the first failure; a join meanwhile is refused.
        #expect(try await store.record(event(room: "a", participant: "p2"), now: 102).reason == "backoff")
        #expect(try await store.claimWaitingRooms(now: 102.9).isEmpty)
        let second = try #require(try await store.claimWaitingRooms(now: 103).first)
        _ = try await store.finish(second.id, state: .failed, reason: .botFailed, exitCode: 1, now: 104)
        #expect(try await store.claimWaitingRooms(now: 107.9).isEmpty)  // 4 s now
        _ = try await store.record(event(.participantLeft, room: "a", participant: "p1"), now: 105)
        _ = try await store.record(event(.participantLeft, room: "a", participant: "p2"), now: 105)
        #expect(try await store.claimWaitingRooms(now: 200).isEmpty)  // nobody left to wait
    }
}

struct PostgresStoreTests {
    /// Replicas that start together on a new database each migrate it; the advisory lock makes that one migration.
    @Test(.enabled(if: TestPostgres.isEnabled)) func replicasStartingTogetherMigrateTheDatabaseOnce() async throws {
        let database = try await StoreBackend.postgres.newDatabase()
        let stores = try await withThrowingTaskGroup(of: (any SessionStorage).self) { group in
            for index in 0..<6 { group.addTask { try await StoreBackend.postgres.makeStore(database: database, instance: "r\(index)") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(stores.count == 6)
        #expect(try await stores[0].record(event(), now: 1).action == .spawned)
        #expect(try await stores[5].record(event(), now: 2).action == .recorded)
    }

    /// A change made through one replica reaches the live views of another (NOTIFY), without a poll.
    @Test(.enabled(if: TestPostgres.isEnabled)) func anotherReplicasChangeReachesThisOnesFeed() async throws {
        let database = try await StoreBackend.postgres.newDatabase()
        let here = try await StoreBackend.postgres.makeStore(database: database, instance: "here")
        let there = try await StoreBackend.postgres.makeStore(database: database, instance: "there")
        let changes = here.changes.subscribe()
        // The listener's connection may still be opening: send until one arrives.
        let heard = try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                for await change in changes where change.room == "elsewhere" { return change.room }
                return nil
            }
            group.addTask {
                for index in 0..<100 {
                    _ = try await there.record(event(room: "elsewhere", participant: "p\(index)"), now: Double(index))
                    try await Task.sleep(for: .milliseconds(100))
                }
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        #expect(heard == "elsewhere")
    }

    /// Opens a store on `location` and migrates it, waiting at most `deadline` for the server.
    func migrating(_ location: PostgresLocation, within deadline: Duration) async throws(SessionStoreError) {
        // A constant pattern: a bad one is a bug in the test.
        let settings = PolicySettings(maxConcurrency: 1, botName: "b", roomFilter: try! RoomFilter(pattern: ".*"), emptyGraceSeconds: 1)
        let store = try PostgresSessionStore(
            location: location,
            settings: settings,
            launcher: .process,
            instanceID: "a",
            logger: Logger(label: "test")
        )
        let runner = Task { await store.run() }
        defer { runner.cancel() }
        try await store.migrate(within: deadline)
    }

    /// `sslmode=require` is honoured: a server without TLS (the test server) is refused, not used in the clear.
    @Test(.enabled(if: TestPostgres.isEnabled)) func sslmodeRequireRefusesAServerWithoutTLS() async throws {
        let plain = try await StoreBackend.postgres.newDatabase()
        guard case .postgres(var location) = try DatabaseLocation.parse(plain) else { throw TestPostgres.NotConfigured() }
        location.sslMode = .require
        await #expect(throws: SessionStoreError.self) { try await migrating(location, within: .seconds(2)) }
        // The same database with sslmode=disable (as given) works.
        _ = try await StoreBackend.postgres.makeStore(database: plain)
    }

    @Test(.enabled(if: TestPostgres.isEnabled)) func anUnreachableServerIsATypedErrorWithoutThePassword() async throws {
        let location = PostgresLocation(host: "127.0.0.1", port: 1, user: "u", password: "sekrit-password", database: "d", sslMode: .disable)
        do {
            try await migrating(location, within: .seconds(1))
            Issue.record("migrated on a closed port")
        } catch {
            #expect(!error.description.contains("sekrit"))
            #expect(error.description.contains("127.0.0.1"))
        }
    }
}

struct PlacementTests {
    /// An instance at its own limit still claims (the cluster has room) but does not run the bot: the session waits,
    /// counted against the cap, until an instance with room takes it; the start timeout runs from then.
    @Test(arguments: StoreBackend.available) func aFullInstancesClaimWaitsForAnInstanceWithRoom(backend: StoreBackend) async throws {
        let database = try await backend.newDatabase()
        let full = try await backend.makeStore(database: database, max: 5, localLimit: 1, instance: "full")
        let roomy = try await backend.makeStore(database: database, max: 5, localLimit: 3, instance: "roomy")
        let first = try #require(try await full.record(event(room: "a"), now: 1).session)
        #expect(first.ownerInstance == "full" && first.placedAt == 1)
        let second = try await full.record(event(room: "b"), now: 2)
        #expect(second.action == .spawned)
        let waiting = try #require(second.session)
        #expect(!waiting.isPlaced && waiting.placedAt == nil)
        #expect(try await full.activeCount() == 2)
        #expect(try await full.placeWaitingSessions(now: 3).isEmpty)
        let placed = try await roomy.placeWaitingSessions(now: 4)
        #expect(placed.map(\.id) == [waiting.id])
        #expect(placed.first?.ownerInstance == "roomy" && placed.first?.placedAt == 4 && placed.first?.startBeganAt == 4)
        #expect(try await roomy.placeWaitingSessions(now: 5).isEmpty)
        #expect(try await full.unplacedSessions().isEmpty)
    }

    @Test(arguments: StoreBackend.available) func anInstanceTakesNoMoreThanItsOwnLimit(backend: StoreBackend) async throws {
        let database = try await backend.newDatabase()
        let receiver = try await backend.makeStore(database: database, max: 10, localLimit: 1, instance: "receiver")
        let other = try await backend.makeStore(database: database, max: 10, localLimit: 2, instance: "other")
        for index in 0..<6 { _ = try await receiver.record(event(room: "r\(index)"), now: Double(index)) }
        #expect(try await receiver.unplacedSessions().count == 5)
        #expect(try await other.placeWaitingSessions(now: 10).map(\.roomName) == ["r1", "r2"])
        #expect(try await other.placeWaitingSessions(now: 11).isEmpty)
        #expect(try await other.ownActiveSessions().count == 2)
        #expect(try await receiver.unplacedSessions().map(\.roomName) == ["r3", "r4", "r5"])
    }

    /// Nobody took it, so nobody watches it: a waiting session is nobody's to recover, and a stop ends it.
    @Test(arguments: StoreBackend.available) func aWaitingSessionIsNotTakenForALostOne(backend: StoreBackend) async throws {
        let store = try await backend.makeStore(max: 5, localLimit: 1, instance: "only")
        _ = try await store.record(event(room: "a"), now: 1)
        let waiting = try #require(try await store.record(event(room: "b"), now: 2).session)
        #expect(try await store.unownedActiveSessions(liveInstances: []).map(\.roomName) == ["a"])
        let stopping = try #require(try await store.requestStop(waiting.id, reason: .meetingEnded, now: 3))
        #expect(!stopping.isPlaced && stopping.state == .stopping)
        #expect(try await store.placeWaitingSessions(now: 4).isEmpty)
    }

    /// Many replicas placing at once take different sessions, and none more than its limit.
    @Test(arguments: StoreBackend.available) func replicasPlacingAtOnceTakeEachSessionOnce(backend: StoreBackend) async throws {
        let database = try await backend.newDatabase()
        let receiver = try await backend.makeStore(database: database, max: 40, localLimit: 1, instance: "receiver")
        for index in 0..<31 { _ = try await receiver.record(event(room: "r\(index)"), now: Double(index)) }
        var placers: [any SessionStorage] = []
        for index in 0..<4 { placers.append(try await backend.makeStore(database: database, max: 40, localLimit: 8, instance: "p\(index)")) }
        let placed = try await withThrowingTaskGroup(of: [Session].self) { group in
            for placer in placers { group.addTask { try await placer.placeWaitingSessions(now: 100) } }
            return try await group.reduce(into: [Session]()) { $0 += $1 }
        }
        #expect(placed.count == 30)
        #expect(Set(placed.map(\.id)).count == 30)
        for sessions in Dictionary(grouping: placed, by: \.ownerInstance).values { #expect(sessions.count <= 8) }
        #expect(try await receiver.unplacedSessions().isEmpty)
    }
}
