import Foundation
import GRDB
import Policy

/// The SQLite backend: sessions, participants and seen event ids in one SQLite file (WAL).
///
/// Every change that an invariant of docs/DESIGN.md depends on happens inside one `BEGIN IMMEDIATE` transaction,
/// which takes SQLite's write lock before reading: the count of active sessions and the room's state that a
/// decision is based on cannot change before the decision is written, even with other processes on the file.
public final class SQLiteSessionStore: SessionStorage {
    public let path: String
    let pool: DatabasePool
    let commits: GroupCommit
    let settings: PolicySettings
    let launcher: LauncherKind
    /// The instance that owns the sessions this store creates.
    public let instanceID: String
    /// Committed changes of this process, for its live views.
    public let changes = SessionFeed()
    /// Other processes on the file are not heard: live views poll.
    public var hearsOtherInstances: Bool { false }

    /// The longest a write waits for another process's write lock before it fails (a webhook is then answered 503).
    public static let busyTimeoutSeconds: Double = 5

    public init(path: String, settings: PolicySettings, launcher: LauncherKind, instanceID: String) throws(SessionStoreError) {
        self.path = path
        self.settings = settings
        self.launcher = launcher
        self.instanceID = instanceID
        var configuration = GRDB.Configuration()
        // Other processes on the same file hold the write lock for milliseconds; wait rather than fail, but not
        // for long: a webhook waits on this, and Daily counts a slow answer as a failed delivery.
        configuration.busyMode = .timeout(Self.busyTimeoutSeconds)
        configuration.maximumReaderCount = 4
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            // The service's alone (a file made by an earlier version may be readable by others); SQLite gives its
            // -wal and -shm files the main file's mode.
            for file in [path, path + "-wal", path + "-shm"] { chmod(file, 0o600) }
            try SQLiteSchema.migrator.migrate(pool)
            commits = GroupCommit(writer: pool)
        } catch {
            throw SessionStoreError(path: path, underlying: error)
        }
    }

    /// GRDB opens every write with `BEGIN IMMEDIATE` (Database.inTransaction): the write lock is held from the
    /// first read, so what the transaction reads is still true when it commits. Concurrent writes share one
    /// transaction (`GroupCommit`), each in a savepoint of its own.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await commits.write(body)
    }

    /// A transaction that leaves one session as it returns it, told to `changes` once committed.
    func publishing(_ body: @escaping @Sendable (Database) throws -> Session?) async throws -> Session? {
        let session = try await commits.write(body)
        changes.publish([session])
        return session
    }

    // MARK: Events

    /// Records an event (its id, the room's activity and participant set), decides, and claims or releases the room,
    /// all in one transaction. The event must already have passed `Policy.screen`.
    /// - Parameter mayClaim: false while this instance drains: the event is recorded as usual, but a room that
    ///   would get a bot waits for another instance instead.
    public func record(_ event: RoomEvent, now: Double, mayClaim: Bool) async throws -> EventOutcome {
        let settings = settings
        let launcher = launcher
        let owner = instanceID
        let arriving = arrivingProfile(for: event, settings: settings)
        let outcome = try await transaction { db in
            try db.executeCached(sql: "INSERT OR IGNORE INTO seen_event (id, received_at) VALUES (?, ?)", arguments: [event.id, now])
            if db.changesCount == 0 {
                return EventOutcome(decision: nil, action: .duplicate, reason: "duplicate_event", session: nil)
            }
            try db.executeCached(
                sql: """
                    INSERT INTO room (name, url, last_event_at) VALUES (?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET url = coalesce(excluded.url, url), last_event_at = excluded.last_event_at
                    """,
                arguments: [event.roomName, event.roomURL, now]
            )
            let addedHuman = try Self.applyParticipantChange(event, db: db, now: now)
            let active = try Self.activeSession(room: event.roomName, db: db)
            let (humans, knockers) = try Self.presence(room: event.roomName, db: db)
            if humans == 0 {
                // Nobody is left to wait for a bot.
                try db.executeCached(sql: "UPDATE room SET waiting_since = NULL WHERE name = ?", arguments: [event.roomName])
            }
            let roomRow = try Row.fetchOne(
                cached: db, sql: "SELECT retry_at, CASE WHEN service_created = 1 THEN profile END AS made_for FROM room WHERE name = ?",
                arguments: [event.roomName])
            let retryAt: Double? = roomRow?["retry_at"]
            let madeFor: String? = roomRow?["made_for"]
            var snapshot = RoomSnapshot(
                activeState: active?.state, stopScheduled: active?.stopAt != nil,
                humans: humans, knockers: knockers, activeSessions: try Self.activeCount(db: db), retryAt: retryAt,
                joinAddedHuman: addedHuman, mayClaim: mayClaim
            )
            var decision = decide(event.kind, room: snapshot, settings: settings, now: now)
            // The room's profile matters only to a claim or a wait (worked out before the transaction); a room the
            // service made keeps the profile it was made for.
            let profile = decision == .spawn || decision.marksRoomWaiting ? madeFor ?? arriving ?? BotProfile.defaultName : nil
            // Only a spawn weighs the profile's cap: its sessions are counted for that event alone (as on PostgreSQL).
            if decision == .spawn, let profile, let load = try Self.profileLoad(profile, settings: settings, db: db) {
                snapshot.profileLoad = load
                decision = decide(event.kind, room: snapshot, settings: settings, now: now)
            }
            var session = active
            switch decision {
            case .spawn:
                let profile = profile ?? BotProfile.defaultName
                session = try Self.claim(
                    room: event.roomName, url: event.roomURL, profile: profile, launcher: launcher, owner: owner,
                    body: settings.profiles.named(profile)?.bodyText ?? "{}", settings: settings, now: now, db: db)
            case .stop(let reason):
                session = try active.flatMap { try Self.beginStop($0.id, reason: reason, now: now, db: db) }
            case .scheduleStop(let at):
                try db.executeCached(sql: "UPDATE session SET stop_at = ?, updated_at = ? WHERE id = ?", arguments: [at, now, active?.id])
                session?.stopAt = at
            case .cancelScheduledStop:
                try db.executeCached(sql: "UPDATE session SET stop_at = NULL, updated_at = ? WHERE id = ?", arguments: [now, active?.id])
                session?.stopAt = nil
            case .spawnAfterStop:
                try db.executeCached(sql: "UPDATE room SET respawn_pending = 1 WHERE name = ?", arguments: [event.roomName])
            case .reject:
                // The human still wants a bot: the supervisor starts one when capacity frees or the backoff ends.
                try Self.markWaiting(room: event.roomName, profile: profile, now: now, db: db)
            case .record, .ignore:
                break
            }
            if event.kind == .meetingEnded {
                // The call is over: nobody is left to wait for a new bot.
                try db.executeCached(sql: "UPDATE room SET respawn_pending = 0 WHERE name = ?", arguments: [event.roomName])
            }
            let (action, reason) = decision.answer(to: event.kind)
            return EventOutcome(decision: decision, action: action, reason: reason, session: session)
        }
        if outcome.action != .duplicate {
            // Even without a session the room's participant count may have changed.
            changes.publish([RoomChange(room: event.roomName, session: outcome.session)])
        }
        if outcome.session.map({ !$0.isPlaced }) ?? false || outcome.decision?.marksRoomWaiting ?? false {
            changes.wantPlacement()
        }
        return outcome
    }

    /// Humans and knockers only: the caller screens bots out. A leave that arrives before its join leaves a
    /// tombstone, so the late join does not bring back a participant who is gone. A human's join also takes them
    /// from the door. Returns true when a human (for a knock: a knocker) was added.
    static func applyParticipantChange(_ event: RoomEvent, db: Database, now: Double) throws -> Bool {
        if event.kind == .meetingEnded {
            try db.executeCached(sql: "DELETE FROM participant WHERE room_name = ?", arguments: [event.roomName])
            return false
        }
        guard let (key, isPerJoin, joining) = event.presenceChange else { return false }
        if let knocker = event.admittedKnockerKey {
            try db.executeCached(
                sql: "UPDATE participant SET present = 0, updated_at = ? WHERE room_name = ? AND key = ? AND present = 1",
                arguments: [now, event.roomName, knocker])
        }
        let row = try Row.fetchOne(
            cached: db, sql: "SELECT present, sent_at FROM participant WHERE room_name = ? AND key = ?",
            arguments: [event.roomName, key])
        let recorded = row.map { RecordedPresence(present: $0["present"], sentAt: $0["sent_at"]) }
        guard presenceAfter(joining: joining, isPerJoin: isPerJoin, recorded: recorded, sentAt: event.sentAt) != nil
        else { return false }
        try db.executeCached(
            sql: """
                INSERT INTO participant (room_name, key, present, sent_at, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(room_name, key) DO UPDATE SET present = excluded.present,
                    sent_at = coalesce(excluded.sent_at, sent_at), updated_at = excluded.updated_at
                """,
            arguments: [event.roomName, key, joining, event.sentAt, now]
        )
        return joining
    }

    static func session(id: String, db: Database) throws -> Session? {
        try Session.fetchOne(cached: db, sql: "SELECT * FROM session WHERE id = ?", arguments: [id])
    }

    static func activeSession(room: String, db: Database) throws -> Session? {
        try Session.fetchOne(
            cached: db, sql: "SELECT * FROM session WHERE room_name = ? AND state IN ('starting','running','stopping')",
            arguments: [room])
    }

    static func humans(room: String, db: Database) throws -> Int {
        try presence(room: room, db: db).humans
    }

    /// The room's humans, and the people knocking at it.
    static func presence(room: String, db: Database) throws -> (humans: Int, knockers: Int) {
        let row = try Row.fetchOne(
            cached: db,
            sql: """
                SELECT coalesce(sum(key NOT LIKE ?1), 0) AS humans, coalesce(sum(key LIKE ?1), 0) AS knockers
                FROM participant WHERE room_name = ?2 AND present = 1
                """,
            arguments: [knockerKeyPattern, room])
        return (row?["humans"] ?? 0, row?["knockers"] ?? 0)
    }

    static func activeCount(db: Database) throws -> Int {
        // Kept by triggers (migration v4-active-count): the same number as counting, without the walk.
        try Int.fetchOne(cached: db, sql: "SELECT n FROM active_count WHERE id = 1") ?? 0
    }

    /// Inserts a `starting` session for the room: this instance's when it has room for the bot
    /// (`Policy.placesHere`), otherwise one that waits for an instance that has. The caller has checked capacity
    /// and the room's active session in the same transaction; the unique index is the last line of defence.
    static func claim(
        room: String, url: String?, profile: String, launcher: LauncherKind, owner: String, body: String,
        settings: PolicySettings, now: Double, db: Database
    ) throws -> Session {
        let id = UUID().uuidString.lowercased()
        let here = placesHere(localSessions: try localCount(owner: owner, db: db), settings: settings)
        let session = Session(
            id: id, roomName: room, roomURL: url, state: .starting,
            launcher: settings.profiles.named(profile)?.launcherKind ?? launcher, createdAt: now, updatedAt: now,
            ownerInstance: here ? owner : Session.unplaced, body: body, botUserID: botUserID(sessionID: id),
            placedAt: here ? now : nil, profile: profile)
        try session.insert(db)
        try db.executeCached(sql: "UPDATE room SET waiting_since = NULL WHERE name = ?", arguments: [room])
        return session
    }

    /// The profile's cap and its active sessions, read only when it has a cap of its own.
    static func profileLoad(_ profile: String, settings: PolicySettings, db: Database) throws -> ProfileLoad? {
        guard let cap = settings.cap(ofProfile: profile) else { return nil }
        let active = try Int.fetchOne(
            cached: db, sql: "SELECT count(*) FROM session WHERE profile = ? AND state IN ('starting','running','stopping')",
            arguments: [profile]) ?? 0
        return ProfileLoad(active: active, cap: cap)
    }

    /// The active sessions an instance runs (or is starting).
    static func localCount(owner: String, db: Database) throws -> Int {
        try Int.fetchOne(
            cached: db, sql: "SELECT count(*) FROM session WHERE owner_instance = ? AND state IN ('starting','running','stopping')",
            arguments: [owner]) ?? 0
    }

    /// - Parameter profile: the profile the room's bot is to be of, unless the service made the room for another.
    static func markWaiting(room: String, profile: String? = nil, now: Double, db: Database) throws {
        try db.executeCached(
            sql: """
                UPDATE room SET waiting_since = coalesce(waiting_since, ?),
                    profile = CASE WHEN service_created = 1 THEN profile ELSE coalesce(?, profile) END
                WHERE name = ?
                """,
            arguments: [now, profile, room])
    }

    /// Claims the room's next session if its humans are waiting for one and policy allows it now.
    /// The room keeps its last session's profile and body (a room the service created keeps what its caller gave);
    /// a room that never had one gets its profile's.
    static func startIfWaiting(
        room: String, url: String?, launcher: LauncherKind, owner: String, settings: PolicySettings, now: Double, db: Database
    ) throws -> Session? {
        guard let row = try Row.fetchOne(
                cached: db, sql: "SELECT retry_at, waiting_since, profile FROM room WHERE name = ?", arguments: [room]),
              (row["waiting_since"] as Double?) != nil
        else { return nil }
        let last = try Row.fetchOne(
            cached: db, sql: "SELECT profile, body FROM session WHERE room_name = ? ORDER BY created_at DESC LIMIT 1",
            arguments: [room])
        let profile: String = last?["profile"] ?? row["profile"] ?? BotProfile.defaultName
        let body: String = last?["body"] ?? settings.profiles.named(profile)?.bodyText ?? "{}"
        let humans = try Self.humans(room: room, db: db)
        if humans == 0 {
            try db.executeCached(sql: "UPDATE room SET waiting_since = NULL WHERE name = ?", arguments: [room])
            return nil
        }
        guard shouldStartWaitingRoom(
            humans: humans, hasActiveSession: try Self.activeSession(room: room, db: db) != nil, retryAt: row["retry_at"],
            activeSessions: try Self.activeCount(db: db), profileLoad: try Self.profileLoad(profile, settings: settings, db: db),
            settings: settings, now: now)
        else { return nil }
        return try Self.claim(
            room: room, url: url, profile: profile, launcher: launcher, owner: owner, body: body, settings: settings, now: now,
            db: db)
    }

    static func beginStop(_ id: String, reason: EndReason, now: Double, db: Database) throws -> Session? {
        try db.executeCached(
            sql: """
                UPDATE session SET state = 'stopping', stop_reason = ?, stop_at = NULL, updated_at = ?
                WHERE id = ? AND state IN ('starting','running')
                """,
            arguments: [reason.rawValue, now, id])
        return try Self.session(id: id, db: db)
    }
}
