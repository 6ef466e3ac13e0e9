import Foundation
import GRDB
import Policy

/// The instance registry, the read models and the reaper's queries.
extension SQLiteSessionStore {
    // MARK: Instances

    /// Registers this instance (so others can see that it is alive) and returns every other registered one.
    package func register(_ instance: ServiceInstance) async throws -> [ServiceInstance] {
        try await transaction { db in
            try db.executeCached(
                sql: """
                    INSERT OR REPLACE INTO instance (id, pid, pid_start_time, started_at, host_id, lease_until, advertise_url)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    instance.id, instance.pid, instance.pidStartTime, instance.startedAt, instance.hostID, instance.leaseUntil,
                    instance.advertiseURL,
                ]
            )
            return try ServiceInstance.filter(Column("id") != instance.id).fetchAll(db)
        }
    }

    package func otherInstances() async throws -> [ServiceInstance] {
        let id = instanceID
        return try await pool.read { db in try ServiceInstance.filter(Column("id") != id).fetchAll(db) }
    }

    /// Extends this instance's lease; false when its row is gone (another instance took it for dead).
    package func renewLease(until: Double) async throws -> Bool {
        let id = instanceID
        return try await transaction { db in
            try db.executeCached(sql: "UPDATE instance SET lease_until = ? WHERE id = ?", arguments: [until, id])
            return db.changesCount == 1
        }
    }

    package func setAdvertiseURL(_ url: String) async throws {
        let id = instanceID
        _ = try await transaction { db in
            try db.executeCached(sql: "UPDATE instance SET advertise_url = ? WHERE id = ?", arguments: [url, id])
        }
    }

    /// Forgets an instance that is gone (after its sessions were dealt with).
    package func deregister(_ id: String) async throws {
        _ = try await transaction { db in try ServiceInstance.deleteOne(db, key: id) }
    }

    /// Active sessions whose owner is not one of `liveInstances`.
    package func unownedActiveSessions(liveInstances: Set<String>) async throws -> [Session] {
        try await pool.read { db in
            try Session.fetchAll(db, sql: "SELECT * FROM session WHERE state IN \(activeStates)")
                .filter { $0.hasLostOwner(liveInstances: liveInstances) }
        }
    }

    // MARK: Reading

    package func session(_ id: String) async throws -> Session? {
        try await pool.read { db in try Self.session(id: id, db: db) }
    }

    /// Active sessions owned by this instance.
    package func ownActiveSessions() async throws -> [Session] {
        let owner = instanceID
        return try await pool.read { db in
            try Session.fetchAll(
                db,
                sql: "SELECT * FROM session WHERE state IN \(activeStates) AND owner_instance = ?",
                arguments: [owner]
            )
        }
    }

    /// Sessions of this instance with a stop scheduled, soonest first.
    package func scheduledStops() async throws -> [Session] {
        let owner = instanceID
        return try await pool.read { db in
            try Session.fetchAll(
                db,
                sql: """
                    SELECT * FROM session
                    WHERE state IN ('starting','running') AND stop_at IS NOT NULL AND owner_instance IN (?, ?)
                    ORDER BY stop_at
                    """,
                arguments: [owner, unplacedOwner]
            )
        }
    }

    package func sessions(_ query: SessionQuery) async throws -> [Session] {
        try await pool.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            switch query.states {
            case .active: conditions.append("state IN \(activeStates)")
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
                db,
                sql: "SELECT * FROM session \(whereClause) ORDER BY created_at DESC, id LIMIT ?",
                arguments: arguments
            )
        }
    }

    package func activeCount() async throws -> Int {
        try await pool.read { db in try Self.activeCount(db: db) }
    }

    /// Humans currently in each of the rooms.
    package func presence(inRooms rooms: Set<String>) async throws -> [String: RoomPresence] {
        guard !rooms.isEmpty else { return [:] }
        return try await pool.read { db in
            let placeholders = Array(repeating: "?", count: rooms.count).joined(separator: ",")
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT room_name, sum(key NOT LIKE ?) AS humans, sum(key LIKE ?) AS knockers FROM participant
                    WHERE present = 1 AND room_name IN (\(placeholders)) GROUP BY room_name
                    """,
                arguments: StatementArguments(
                    [knockerKeyPattern, knockerKeyPattern] + Array(rooms).map { $0 as any DatabaseValueConvertible }
                )
            )
            return Dictionary(
                uniqueKeysWithValues: rows.map { ($0["room_name"], RoomPresence(humans: $0["humans"], knockers: $0["knockers"])) }
            )
        }
    }

    /// The room's active session (or nil), its humans and knockers.
    package func roomStatus(_ room: String) async throws -> RoomStatus {
        try await pool.read { db in
            let url = try String.fetchOne(cached: db, sql: "SELECT url FROM room WHERE name = ?", arguments: [room])
            let presence = try Self.presence(room: room, db: db)
            return RoomStatus(
                session: try Self.activeSession(room: room, db: db),
                humans: presence.humans,
                knockers: presence.knockers,
                url: url
            )
        }
    }

    /// True when the database file accepts a write now: a row of the file itself, not a temporary table (which
    /// lives in memory and succeeded on a read-only or full file system).
    package func isWritable(now: Double) async -> Bool {
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
    package func silentSessions(now: Double, silentFor: Double) async throws -> [Session] {
        let owner = instanceID
        return try await pool.read { db in
            try Session.fetchAll(
                db,
                sql: """
                    SELECT session.* FROM session LEFT JOIN room ON room.name = session.room_name
                    WHERE session.state = 'running' AND session.owner_instance = ?
                      AND max(session.created_at, coalesce(room.last_event_at, 0), coalesce(room.presence_checked_at, 0)) < ?
                    """,
                arguments: [owner, now - silentFor]
            )
        }
    }

    /// Notes that Daily's presence was asked about the room now.
    package func markPresenceChecked(room: String, now: Double) async throws {
        _ = try await transaction { db in
            try db.executeCached(
                sql: """
                    INSERT INTO room (name, last_event_at, presence_checked_at) VALUES (?, 0, ?)
                    ON CONFLICT(name) DO UPDATE SET presence_checked_at = excluded.presence_checked_at
                    """,
                arguments: [room, now]
            )
        }
    }

    /// Deletes what no longer matters: sessions that ended before `endedBefore` (their ids are returned, so that
    /// their files go too), rooms with no session, nobody present and nothing pending that were last heard of before
    /// it, tombstones of participants who left before it, and event ids seen before `seenBefore`.
    package func prune(endedBefore: Double, seenBefore: Double) async throws -> [String] {
        try await transaction { db in
            let ids = try String.fetchAll(
                db,
                sql: "SELECT id FROM session WHERE state IN ('ended','failed') AND coalesce(ended_at, updated_at) < ?",
                arguments: [endedBefore]
            )
            try db.execute(
                sql: "DELETE FROM session WHERE state IN ('ended','failed') AND coalesce(ended_at, updated_at) < ?",
                arguments: [endedBefore]
            )
            try db.execute(sql: "DELETE FROM participant WHERE present = 0 AND updated_at < ?", arguments: [endedBefore])
            try db.execute(
                sql: """
                    DELETE FROM room WHERE last_event_at < ? AND waiting_since IS NULL AND respawn_pending = 0
                      AND NOT EXISTS (SELECT 1 FROM session WHERE session.room_name = room.name)
                      AND NOT EXISTS (SELECT 1 FROM participant WHERE participant.room_name = room.name)
                    """,
                arguments: [endedBefore]
            )
            try db.execute(sql: "DELETE FROM seen_event WHERE received_at < ?", arguments: [seenBefore])
            // Instances that died long ago and own no session any more.
            try db.execute(
                sql: """
                    DELETE FROM instance WHERE lease_until < ?
                      AND NOT EXISTS (SELECT 1 FROM session WHERE session.owner_instance = instance.id)
                    """,
                arguments: [endedBefore]
            )
            return ids
        }
    }
}
