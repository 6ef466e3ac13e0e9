import Foundation
import Policy
import PostgresNIO

/// The instance registry, the read models and the reaper's queries.
extension PostgresSessionStore {
    // MARK: Instances

    package func register(_ instance: ServiceInstance) async throws -> [ServiceInstance] {
        try await transaction { tx in
            try await tx.execute(
                """
                INSERT INTO instance (id, pid, pid_start_time, started_at, host_id, lease_until, advertise_url)
                VALUES (\(instance.id), \(instance.pid), \(Int64(bitPattern: instance.pidStartTime)), \(instance.startedAt),
                    \(instance.hostID), \(instance.leaseUntil), \(instance.advertiseURL))
                ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, pid_start_time = excluded.pid_start_time,
                    started_at = excluded.started_at, host_id = excluded.host_id, lease_until = excluded.lease_until,
                    advertise_url = coalesce(excluded.advertise_url, instance.advertise_url)
                """
            )
            return try await tx.rows("SELECT * FROM instance WHERE id <> \(instance.id)").map(ServiceInstance.init(postgres:))
        }
    }

    package func otherInstances() async throws -> [ServiceInstance] {
        let id = instanceID
        return try await read { tx in
            try await tx.rows("SELECT * FROM instance WHERE id <> \(id)").map(ServiceInstance.init(postgres:))
        }
    }

    package func renewLease(until: Double) async throws -> Bool {
        let id = instanceID
        return try await transaction { tx in
            try await !tx.rows("UPDATE instance SET lease_until = \(until) WHERE id = \(id) RETURNING id").isEmpty
        }
    }

    package func setAdvertiseURL(_ url: String) async throws {
        let id = instanceID
        try await transaction { tx in try await tx.execute("UPDATE instance SET advertise_url = \(url) WHERE id = \(id)") }
    }

    package func deregister(_ id: String) async throws {
        try await transaction { tx in
            try await tx.execute("DELETE FROM instance WHERE id = \(id)")
            try await tx.execute("DELETE FROM ready_probe WHERE instance_id = \(id)")
        }
    }

    package func unownedActiveSessions(liveInstances: Set<String>) async throws -> [Session] {
        try await read { tx in
            try await Self.sessions(tx, "SELECT * FROM session WHERE state IN \(unescaped: activeStates)")
                .filter { $0.hasLostOwner(liveInstances: liveInstances) }
        }
    }

    // MARK: Reading

    package func session(_ id: String) async throws -> Session? {
        try await read { tx in try await Self.session(id: id, tx) }
    }

    package func ownActiveSessions() async throws -> [Session] {
        let owner = instanceID
        return try await read { tx in
            try await Self.sessions(
                tx,
                "SELECT * FROM session WHERE state IN \(unescaped: activeStates) AND owner_instance = \(owner)"
            )
        }
    }

    package func scheduledStops() async throws -> [Session] {
        let (owner, unplaced) = (instanceID, unplacedOwner)
        return try await read { tx in
            try await Self.sessions(
                tx,
                """
                SELECT * FROM session
                WHERE state IN ('starting','running') AND stop_at IS NOT NULL AND owner_instance IN (\(owner), \(unplaced))
                ORDER BY stop_at
                """
            )
        }
    }

    package func sessions(_ query: SessionQuery) async throws -> [Session] {
        try await read { tx in
            var sql: PostgresQuery =
                switch query.states {
                case .active: "SELECT * FROM session WHERE state IN \(unescaped: activeStates)"
                case .ended: "SELECT * FROM session WHERE state IN ('ended','failed')"
                case .failed: "SELECT * FROM session WHERE state = 'failed'"
                case .all: "SELECT * FROM session WHERE TRUE"
                }
            if let room = query.roomName {
                sql.sql += " AND room_name = $\(sql.binds.count + 1)"
                sql.binds.append(room)
            }
            sql.sql += " ORDER BY created_at DESC, id LIMIT $\(sql.binds.count + 1)"
            sql.binds.append(query.limit)
            return try await Self.sessions(tx, sql)
        }
    }

    package func activeCount() async throws -> Int {
        try await read { tx in try await Self.activeCount(tx, locking: false) }
    }

    package func presence(inRooms rooms: Set<String>) async throws -> [String: RoomPresence] {
        guard !rooms.isEmpty else { return [:] }
        return try await read { tx in
            let rows = try await tx.rows(
                """
                SELECT room_name, count(*) FILTER (WHERE key NOT LIKE \(knockerKeyPattern)),
                       count(*) FILTER (WHERE key LIKE \(knockerKeyPattern))
                FROM participant WHERE present AND room_name = ANY(\(Array(rooms))) GROUP BY room_name
                """
            )
            return Dictionary(
                uniqueKeysWithValues: try rows.map {
                    let (room, humans, knockers) = try $0.decode((String, Int, Int).self)
                    return (room, RoomPresence(humans: humans, knockers: knockers))
                }
            )
        }
    }

    package func roomStatus(_ room: String) async throws -> RoomStatus {
        try await read { tx in
            let url = try await tx.value("SELECT url FROM room WHERE name = \(room)", as: String.self)
            let presence = try await Self.presence(room: room, tx)
            return RoomStatus(
                session: try await Self.activeSession(room: room, tx),
                humans: presence.humans,
                knockers: presence.knockers,
                url: url
            )
        }
    }

    /// True when the database takes a write now (this instance's row of `ready_probe`), within 2 s: a probe
    /// answers quickly or counts as failed anyway.
    package func isWritable(now: Double) async -> Bool {
        let id = instanceID
        do {
            try await transaction(deadline: .seconds(2)) { tx in
                try await tx.execute(
                    """
                    INSERT INTO ready_probe (instance_id, checked_at) VALUES (\(id), \(now))
                    ON CONFLICT (instance_id) DO UPDATE SET checked_at = excluded.checked_at
                    """
                )
            }
            return true
        } catch {
            return false
        }
    }

    // MARK: The reaper's

    package func silentSessions(now: Double, silentFor: Double) async throws -> [Session] {
        let owner = instanceID
        return try await read { tx in
            try await Self.sessions(
                tx,
                """
                SELECT session.* FROM session LEFT JOIN room ON room.name = session.room_name
                WHERE session.state = 'running' AND session.owner_instance = \(owner)
                  AND greatest(session.created_at, coalesce(room.last_event_at, 0), coalesce(room.presence_checked_at, 0))
                      < \(now - silentFor)
                """
            )
        }
    }

    package func markPresenceChecked(room: String, now: Double) async throws {
        try await transaction { tx in
            try await tx.execute(
                """
                INSERT INTO room (name, last_event_at, presence_checked_at) VALUES (\(room), 0, \(now))
                ON CONFLICT (name) DO UPDATE SET presence_checked_at = excluded.presence_checked_at
                """
            )
        }
    }

    package func prune(endedBefore: Double, seenBefore: Double) async throws -> [String] {
        try await transaction { tx in
            let ids = try await tx.rows(
                """
                DELETE FROM session WHERE state IN ('ended','failed') AND coalesce(ended_at, updated_at) < \(endedBefore)
                RETURNING id
                """
            ).map { try $0.decode(String.self) }
            try await tx.execute("DELETE FROM participant WHERE NOT present AND updated_at < \(endedBefore)")
            try await tx.execute(
                """
                DELETE FROM room WHERE last_event_at < \(endedBefore) AND waiting_since IS NULL AND NOT respawn_pending
                  AND NOT EXISTS (SELECT 1 FROM session WHERE session.room_name = room.name)
                  AND NOT EXISTS (SELECT 1 FROM participant WHERE participant.room_name = room.name)
                """
            )
            try await tx.execute("DELETE FROM seen_event WHERE received_at < \(seenBefore)")
            try await tx.execute(
                """
                DELETE FROM instance WHERE lease_until < \(endedBefore)
                  AND NOT EXISTS (SELECT 1 FROM session WHERE session.owner_instance = instance.id)
                """
            )
            return ids
        }
    }
}
