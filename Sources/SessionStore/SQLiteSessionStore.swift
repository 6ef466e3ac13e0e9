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
            try Schema.migrator.migrate(pool)
            commits = GroupCommit(writer: pool)
        } catch {
            throw SessionStoreError(path: path, underlying: error)
        }
    }

    /// GRDB opens every write with `BEGIN IMMEDIATE` (Database.inTransaction): the write lock is held from the
    /// first read, so what the transaction reads is still true when it commits. Concurrent writes share one
    /// transaction (`GroupCommit`), each in a savepoint of its own.
    private func transaction<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await commits.write(body)
    }

    /// A transaction that leaves one session as it returns it, told to `changes` once committed.
    private func publishing(_ body: @escaping @Sendable (Database) throws -> Session?) async throws -> Session? {
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
            let humans = try Self.humans(room: event.roomName, db: db)
            if humans == 0 {
                // Nobody is left to wait for a bot.
                try db.executeCached(sql: "UPDATE room SET waiting_since = NULL WHERE name = ?", arguments: [event.roomName])
            }
            let retryAt = try Double.fetchOne(cached: db, sql: "SELECT retry_at FROM room WHERE name = ?", arguments: [event.roomName])
            let snapshot = RoomSnapshot(
                activeState: active?.state, stopScheduled: active?.stopAt != nil,
                humans: humans, activeSessions: try Self.activeCount(db: db), retryAt: retryAt,
                joinAddedHuman: addedHuman, mayClaim: mayClaim
            )
            let decision = decide(event.kind, room: snapshot, settings: settings, now: now)
            var session = active
            switch decision {
            case .spawn:
                session = try Self.claim(
                    room: event.roomName, url: event.roomURL, launcher: launcher, owner: owner, body: "{}", now: now, db: db)
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
                try Self.markWaiting(room: event.roomName, now: now, db: db)
            case .record, .ignore:
                break
            }
            if event.kind == .meetingEnded {
                // The call is over: nobody is left to wait for a new bot.
                try db.executeCached(sql: "UPDATE room SET respawn_pending = 0 WHERE name = ?", arguments: [event.roomName])
            }
            let (action, reason) = decision.answer
            return EventOutcome(decision: decision, action: action, reason: reason, session: session)
        }
        if outcome.action != .duplicate {
            // Even without a session the room's participant count may have changed.
            changes.publish([RoomChange(room: event.roomName, session: outcome.session)])
        }
        return outcome
    }

    /// Humans only: the caller screens bots out. A leave that arrives before its join leaves a tombstone, so the
    /// late join does not bring back a participant who is gone. Returns true when a human was added.
    static func applyParticipantChange(_ event: RoomEvent, db: Database, now: Double) throws -> Bool {
        switch event.kind {
        case .meetingEnded:
            try db.executeCached(sql: "DELETE FROM participant WHERE room_name = ?", arguments: [event.roomName])
            return false
        case .participantJoined, .participantLeft:
            guard let participant = event.participant else { return false }
            let (key, isPerJoin) = participant.trackingKey
            let joining = event.kind == .participantJoined
            let row = try Row.fetchOne(
                cached: db, sql: "SELECT present, sent_at FROM participant WHERE room_name = ? AND key = ?",
                arguments: [event.roomName, key])
            if let row {
                let present: Bool = row["present"]
                let previous: Double? = row["sent_at"]
                if present == joining { return false }
                // A per-join id never comes back once it left; other keys follow the newest event.
                if joining && isPerJoin { return false }
                if let previous, let sent = event.sentAt, sent < previous { return false }
            }
            try db.executeCached(
                sql: """
                    INSERT INTO participant (room_name, key, present, sent_at, updated_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(room_name, key) DO UPDATE SET present = excluded.present,
                        sent_at = coalesce(excluded.sent_at, sent_at), updated_at = excluded.updated_at
                    """,
                arguments: [event.roomName, key, joining, event.sentAt, now]
            )
            return joining
        case .meetingStarted, .waitingParticipantJoined, .waitingParticipantLeft:
            return false
        }
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
        try Int.fetchOne(cached: db, sql: "SELECT count(*) FROM participant WHERE room_name = ? AND present = 1", arguments: [room]) ?? 0
    }

    static func activeCount(db: Database) throws -> Int {
        // Kept by triggers (migration v4-active-count): the same number as counting, without the walk.
        try Int.fetchOne(cached: db, sql: "SELECT n FROM active_count WHERE id = 1") ?? 0
    }

    /// Inserts a `starting` session for the room. The caller has checked capacity and the room's active session
    /// in the same transaction; the unique index is the last line of defence.
    static func claim(
        room: String, url: String?, launcher: LauncherKind, owner: String, body: String, now: Double, db: Database
    ) throws -> Session {
        let id = UUID().uuidString.lowercased()
        let session = Session(
            id: id, roomName: room, roomURL: url, state: .starting, launcher: launcher, createdAt: now, updatedAt: now,
            ownerInstance: owner, body: body, botUserID: botUserID(sessionID: id))
        try session.insert(db)
        try db.executeCached(sql: "UPDATE room SET waiting_since = NULL WHERE name = ?", arguments: [room])
        return session
    }

    static func markWaiting(room: String, now: Double, db: Database) throws {
        try db.executeCached(sql: "UPDATE room SET waiting_since = coalesce(waiting_since, ?) WHERE name = ?", arguments: [now, room])
    }

    /// Claims the room's next session if its humans are waiting for one and policy allows it now.
    static func startIfWaiting(
        room: String, url: String?, body: String, launcher: LauncherKind, owner: String, settings: PolicySettings, now: Double,
        db: Database
    ) throws -> Session? {
        guard let row = try Row.fetchOne(cached: db, sql: "SELECT retry_at, waiting_since FROM room WHERE name = ?", arguments: [room]),
              (row["waiting_since"] as Double?) != nil
        else { return nil }
        let humans = try Self.humans(room: room, db: db)
        if humans == 0 {
            try db.executeCached(sql: "UPDATE room SET waiting_since = NULL WHERE name = ?", arguments: [room])
            return nil
        }
        guard shouldStartWaitingRoom(
            humans: humans, hasActiveSession: try Self.activeSession(room: room, db: db) != nil, retryAt: row["retry_at"],
            activeSessions: try Self.activeCount(db: db), settings: settings, now: now)
        else { return nil }
        return try Self.claim(room: room, url: url, launcher: launcher, owner: owner, body: body, now: now, db: db)
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

    // MARK: Claims outside webhooks

    /// Claims a room directly (for rooms the service creates itself): nil when the room already has an active
    /// session or the service is at capacity.
    public func claim(room: String, url: String?, body: String, now: Double) async throws -> Session? {
        let (launcher, owner, maxConcurrency) = (launcher, instanceID, settings.maxConcurrency)
        let session = try await transaction { db -> Session? in
            guard try Self.activeSession(room: room, db: db) == nil, try Self.activeCount(db: db) < maxConcurrency else {
                return nil
            }
            return try Self.claim(room: room, url: url, launcher: launcher, owner: owner, body: body, now: now, db: db)
        }
        changes.publish([session])
        return session
    }

    /// Records the room URL Daily gave for a room the service created (Daily's answer is the truth).
    public func setRoomURL(_ id: String, url: String, now: Double) async throws {
        _ = try await transaction { db in
            try db.executeCached(sql: "UPDATE session SET room_url = ?, updated_at = ? WHERE id = ?", arguments: [url, now, id])
            try db.executeCached(
                sql: "UPDATE room SET url = ? WHERE name = (SELECT room_name FROM session WHERE id = ?)", arguments: [url, id])
        }
    }

    // MARK: Bot lifecycle

    /// Records that the bot started (its process, or nil for an agent, which has none) and returns the session,
    /// now `running`. Only a session still `starting` takes a bot: nil when it was stopped or ended meanwhile (a
    /// stop pressed, the start timeout), and then the new bot must be stopped at once, being nobody's.
    public func markStarted(_ id: String, pid: Int32?, pidStartTime: UInt64?, now: Double) async throws -> Session? {
        try await publishing { db in
            try db.executeCached(
                sql: """
                    UPDATE session SET pid = ?, pid_start_time = ?, updated_at = ?, state = 'running'
                    WHERE id = ? AND state = 'starting'
                    """,
                arguments: [pid, pidStartTime, now, id])
            guard db.changesCount == 1 else { return nil }
            return try Self.session(id: id, db: db)
        }
    }

    /// Moves an active session to `stopping`; nil when it does not exist, the unchanged session when it has ended.
    public func requestStop(_ id: String, reason: EndReason, now: Double) async throws -> Session? {
        try await publishing { db in
            try Self.beginStop(id, reason: reason, now: now, db: db)
        }
    }

    /// Starts the stop whose grace has run out; nil when a human came back (or it was stopped otherwise).
    public func beginScheduledStop(_ id: String, now: Double) async throws -> Session? {
        try await publishing { db in
            guard let session = try Self.session(id: id, db: db), let stopAt = session.stopAt, stopAt <= now,
                  session.state == .starting || session.state == .running
            else { return nil }
            return try Self.beginStop(id, reason: .roomEmpty, now: now, db: db)
        }
    }

    /// Ends an active session (the bot is gone). When humans remain in a room that should have a bot (a human
    /// joined while it was stopping, its bot failed or was lost, the service shut it down), the room waits for
    /// its next session, which is claimed in the same transaction when `claimSuccessor` and policy allow.
    /// Nil when it had already ended.
    public func finish(
        _ id: String, state: SessionState, reason: EndReason, exitCode: Int?, now: Double, claimSuccessor: Bool
    ) async throws -> Ending? {
        let (launcher, owner, settings) = (launcher, instanceID, settings)
        let ending = try await transaction { db -> Ending? in
            guard var session = try Self.session(id: id, db: db), session.state.isActive else { return nil }
            let room = try Row.fetchOne(
                cached: db, sql: "SELECT failures, respawn_pending FROM room WHERE name = ?", arguments: [session.roomName])
            let plan = planEnd(
                EndingSession(
                    state: session.state, stopReason: session.stopReason,
                    ranFor: now - session.createdAt, previousFailures: room?["failures"] ?? 0,
                    respawnPending: room?["respawn_pending"] ?? false),
                state: state, reason: reason, backoff: settings.restartBackoff, now: now)
            session.state = plan.state
            session.endReason = plan.reason
            session.exitCode = exitCode
            session.endedAt = now
            session.updatedAt = now
            session.stopAt = nil
            try session.update(db)
            try db.executeCached(
                sql: "INSERT INTO room (name, url, last_event_at) VALUES (?, ?, 0) ON CONFLICT(name) DO NOTHING",
                arguments: [session.roomName, session.roomURL])
            switch plan.backoff {
            case .failed(let failures, let retryAt):
                try db.executeCached(
                    sql: "UPDATE room SET failures = ?, retry_at = ? WHERE name = ?", arguments: [failures, retryAt, session.roomName])
            case .reset:
                try db.executeCached(sql: "UPDATE room SET failures = 0, retry_at = NULL WHERE name = ?", arguments: [session.roomName])
            case .unchanged:
                break
            }
            if plan.clearsRespawn {
                try db.executeCached(sql: "UPDATE room SET respawn_pending = 0 WHERE name = ?", arguments: [session.roomName])
            }
            if plan.roomWaits { try Self.markWaiting(room: session.roomName, now: now, db: db) }
            let successor = claimSuccessor
                ? try Self.startIfWaiting(
                    room: session.roomName, url: session.roomURL, body: session.body, launcher: launcher, owner: owner,
                    settings: settings, now: now, db: db)
                : nil
            return Ending(ended: session, successor: successor)
        }
        changes.publish([ending?.ended, ending?.successor])
        return ending
    }

    /// Hands a session to this instance (re-adoption after a restart), with the bot process it found.
    public func adopt(_ id: String, pid: Int32, pidStartTime: UInt64, now: Double) async throws -> Session? {
        let owner = instanceID
        return try await publishing { db in
            try db.executeCached(
                sql: """
                    UPDATE session SET owner_instance = ?, pid = ?, pid_start_time = ?, updated_at = ?,
                        state = CASE state WHEN 'starting' THEN 'running' ELSE state END
                    WHERE id = ? AND state IN ('starting','running','stopping')
                    """,
                arguments: [owner, pid, pidStartTime, now, id])
            return try Self.session(id: id, db: db)
        }
    }

    /// Claims a session for each room whose humans are waiting for a bot and may have one now (capacity free,
    /// backoff over), longest waiting first. Cheap when nobody waits: one read, no write lock.
    public func claimWaitingRooms(now: Double) async throws -> [Session] {
        let maxConcurrency = settings.maxConcurrency
        // At capacity, a waiting room cannot start: no write transaction for it every poll.
        let anyWaiting = try await pool.read { db in
            try Bool.fetchOne(
                db,
                sql: """
                    SELECT EXISTS (SELECT 1 FROM room WHERE waiting_since IS NOT NULL AND coalesce(retry_at, 0) <= ?)
                       AND (SELECT count(*) FROM session WHERE state IN ('starting','running','stopping')) < ?
                    """,
                arguments: [now, maxConcurrency]) ?? false
        }
        guard anyWaiting else { return [] }
        let (launcher, owner, settings) = (launcher, instanceID, settings)
        let claimed = try await transaction { db -> [Session] in
            let rooms = try Row.fetchAll(
                db,
                sql: """
                    SELECT name, url FROM room WHERE waiting_since IS NOT NULL AND coalesce(retry_at, 0) <= ?
                    ORDER BY waiting_since, name
                    """,
                arguments: [now])
            var claimed: [Session] = []
            for room in rooms {
                let name: String = room["name"]
                // A room the service created keeps the body its caller gave.
                let body = try String.fetchOne(
                    cached: db, sql: "SELECT body FROM session WHERE room_name = ? ORDER BY created_at DESC LIMIT 1",
                    arguments: [name]) ?? "{}"
                if let session = try Self.startIfWaiting(
                    room: name, url: room["url"], body: body, launcher: launcher, owner: owner, settings: settings,
                    now: now, db: db)
                {
                    claimed.append(session)
                }
            }
            return claimed
        }
        changes.publish(claimed)
        return claimed
    }

    // MARK: Instances

    /// Registers this instance (so others can see that it is alive) and returns every other registered one.
    public func register(_ instance: ServiceInstance) async throws -> [ServiceInstance] {
        try await transaction { db in
            try db.executeCached(
                sql: "INSERT OR REPLACE INTO instance (id, pid, pid_start_time, started_at) VALUES (?, ?, ?, ?)",
                arguments: [instance.id, instance.pid, instance.pidStartTime, instance.startedAt])
            return try ServiceInstance.filter(Column("id") != instance.id).fetchAll(db)
        }
    }

    /// Forgets an instance that is gone (after its sessions were dealt with).
    public func deregister(_ id: String) async throws {
        _ = try await transaction { db in try ServiceInstance.deleteOne(db, key: id) }
    }

    /// Active sessions whose owner is not one of `liveInstances`.
    public func unownedActiveSessions(liveInstances: Set<String>) async throws -> [Session] {
        try await pool.read { db in
            try Session.fetchAll(db, sql: "SELECT * FROM session WHERE state IN ('starting','running','stopping')")
                .filter { !liveInstances.contains($0.ownerInstance) }
        }
    }

    // MARK: Reading

    public func session(_ id: String) async throws -> Session? {
        try await pool.read { db in try Self.session(id: id, db: db) }
    }

    /// Active sessions owned by this instance.
    public func ownActiveSessions() async throws -> [Session] {
        let owner = instanceID
        return try await pool.read { db in
            try Session.fetchAll(
                db, sql: "SELECT * FROM session WHERE state IN ('starting','running','stopping') AND owner_instance = ?",
                arguments: [owner])
        }
    }

    /// Sessions of this instance with a stop scheduled, soonest first.
    public func scheduledStops() async throws -> [Session] {
        let owner = instanceID
        return try await pool.read { db in
            try Session.fetchAll(
                db,
                sql: """
                    SELECT * FROM session WHERE state IN ('starting','running') AND stop_at IS NOT NULL AND owner_instance = ?
                    ORDER BY stop_at
                    """,
                arguments: [owner])
        }
    }

    public func sessions(_ query: SessionQuery) async throws -> [Session] {
        try await pool.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            switch query.states {
            case .active: conditions.append("state IN ('starting','running','stopping')")
            case .ended: conditions.append("state IN ('ended','failed')")
            case .failed: conditions.append("state = 'failed'")
            case .all: break
            }
            if let room = query.roomName {
                conditions.append("room_name = ?")
                _ = arguments.append(contentsOf: [room])
            }
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            _ = arguments.append(contentsOf: [query.limit])
            return try Session.fetchAll(
                db, sql: "SELECT * FROM session \(whereClause) ORDER BY created_at DESC, id LIMIT ?", arguments: arguments)
        }
    }

    public func activeCount() async throws -> Int {
        try await pool.read { db in try Self.activeCount(db: db) }
    }

    /// Humans currently in each of the rooms.
    public func humans(inRooms rooms: Set<String>) async throws -> [String: Int] {
        guard !rooms.isEmpty else { return [:] }
        return try await pool.read { db in
            let placeholders = Array(repeating: "?", count: rooms.count).joined(separator: ",")
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT room_name, count(*) AS n FROM participant
                    WHERE present = 1 AND room_name IN (\(placeholders)) GROUP BY room_name
                    """,
                arguments: StatementArguments(Array(rooms)))
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["room_name"], $0["n"]) })
        }
    }

    /// The room's active session (or nil) and its humans.
    public func roomStatus(_ room: String) async throws -> (session: Session?, humans: Int, url: String?) {
        try await pool.read { db in
            let url = try String.fetchOne(cached: db, sql: "SELECT url FROM room WHERE name = ?", arguments: [room])
            return (try Self.activeSession(room: room, db: db), try Self.humans(room: room, db: db), url)
        }
    }

    /// True when the database file accepts a write now: a row of the file itself, not a temporary table (which
    /// lives in memory and succeeded on a read-only or full file system).
    public func isWritable(now: Double) async -> Bool {
        do {
            try await pool.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO ready_probe (id, checked_at) VALUES (1, ?)", arguments: [now])
            }
            return true
        } catch {
            return false
        }
    }

    /// Running sessions of this instance whose room has been silent (no webhook, no presence check) for
    /// `silentFor` seconds since the later of its last event and the session's start.
    public func silentSessions(now: Double, silentFor: Double) async throws -> [Session] {
        let owner = instanceID
        return try await pool.read { db in
            try Session.fetchAll(
                db,
                sql: """
                    SELECT session.* FROM session LEFT JOIN room ON room.name = session.room_name
                    WHERE session.state = 'running' AND session.owner_instance = ?
                      AND max(session.created_at, coalesce(room.last_event_at, 0), coalesce(room.presence_checked_at, 0)) < ?
                    """,
                arguments: [owner, now - silentFor])
        }
    }

    /// Notes that Daily's presence was asked about the room now.
    public func markPresenceChecked(room: String, now: Double) async throws {
        _ = try await transaction { db in
            try db.executeCached(
                sql: """
                    INSERT INTO room (name, last_event_at, presence_checked_at) VALUES (?, 0, ?)
                    ON CONFLICT(name) DO UPDATE SET presence_checked_at = excluded.presence_checked_at
                    """,
                arguments: [room, now])
        }
    }

    /// Deletes what no longer matters: sessions that ended before `endedBefore` (their ids are returned, so that
    /// their files go too), rooms with no session, nobody present and nothing pending that were last heard of before
    /// it, tombstones of participants who left before it, and event ids seen before `seenBefore`.
    public func prune(endedBefore: Double, seenBefore: Double) async throws -> [String] {
        try await transaction { db in
            let ids = try String.fetchAll(
                db, sql: "SELECT id FROM session WHERE state IN ('ended','failed') AND coalesce(ended_at, updated_at) < ?",
                arguments: [endedBefore])
            try db.execute(
                sql: "DELETE FROM session WHERE state IN ('ended','failed') AND coalesce(ended_at, updated_at) < ?",
                arguments: [endedBefore])
            try db.execute(sql: "DELETE FROM participant WHERE present = 0 AND updated_at < ?", arguments: [endedBefore])
            try db.execute(
                sql: """
                    DELETE FROM room WHERE last_event_at < ? AND waiting_since IS NULL AND respawn_pending = 0
                      AND NOT EXISTS (SELECT 1 FROM session WHERE session.room_name = room.name)
                      AND NOT EXISTS (SELECT 1 FROM participant WHERE participant.room_name = room.name)
                    """,
                arguments: [endedBefore])
            try db.execute(sql: "DELETE FROM seen_event WHERE received_at < ?", arguments: [seenBefore])
            return ids
        }
    }
}
