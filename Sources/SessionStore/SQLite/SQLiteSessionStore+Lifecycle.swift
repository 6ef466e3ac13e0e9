import Foundation
import GRDB
import Policy

/// Claims outside webhooks and a session's life: its start, stop, end and adoption, and the waiting rooms.
extension SQLiteSessionStore {
    // MARK: Claims outside webhooks

    /// Claims a room directly (for rooms the service creates itself): nil when the room already has an active
    /// session or the service is at capacity.
    package func claim(
        room: String,
        url: String?,
        profile: String,
        body: String,
        transport: Transport,
        now: Double
    ) async throws -> Session? {
        let (launcher, owner, settings) = (launcher, instanceID, settings)
        let session = try await transaction { db -> Session? in
            let facts = try Self.claimFacts(profile: profile, owner: owner, settings: settings, db: db)
            guard
                let effects = planDirectClaim(
                    profile: profile,
                    body: body,
                    transport: transport,
                    roomHasActiveSession: try Self.activeSession(room: room, db: db) != nil,
                    facts: facts,
                    settings: settings
                )
            else { return nil }
            return try Self.apply(effects, room: room, url: url, active: nil, launcher: launcher, owner: owner, now: now, db: db)
        }
        changes.publish([session])
        if let session, !session.isPlaced { changes.wantPlacement() }
        return session
    }

    /// Records the room URL Daily gave for a room the service created (Daily's answer is the truth).
    package func setRoomURL(_ id: String, url: String, now: Double) async throws {
        _ = try await transaction { db in
            try db.executeCached(sql: "UPDATE session SET room_url = ?, updated_at = ? WHERE id = ?", arguments: [url, now, id])
            try db.executeCached(
                sql: "UPDATE room SET url = ? WHERE name = (SELECT room_name FROM session WHERE id = ?)",
                arguments: [url, id]
            )
        }
    }

    /// True when the service created the room (`/start`, a call): its events count whatever the room filter or the
    /// profiles say.
    package func isServiceRoom(_ room: String) async throws -> Bool {
        try await pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT service_created = 1 FROM room WHERE name = ?", arguments: [room]) ?? false
        }
    }

    // MARK: Bot lifecycle

    /// Records that the bot started (its process, or nil for an agent, which has none) and returns the session,
    /// now `running`. Only a session still `starting` takes a bot: nil when it was stopped or ended meanwhile (a
    /// stop pressed, the start timeout), and then the new bot must be stopped at once, being nobody's.
    package func markStarted(_ id: String, pid: Int32?, pidStartTime: UInt64?, now: Double) async throws -> Session? {
        try await publishing { db in
            try db.executeCached(
                sql: """
                    UPDATE session SET pid = ?, pid_start_time = ?, updated_at = ?, state = 'running'
                    WHERE id = ? AND state = 'starting'
                    """,
                arguments: [pid, pidStartTime, now, id]
            )
            guard db.changesCount == 1 else { return nil }
            return try Self.session(id: id, db: db)
        }
    }

    /// Moves an active session to `stopping`; nil when it does not exist, the unchanged session when it has ended.
    package func requestStop(_ id: String, reason: EndReason, now: Double) async throws -> Session? {
        try await publishing { db in
            try Self.beginStop(id, reason: reason, now: now, db: db)
        }
    }

    /// Starts the stop whose grace has run out; nil when a human came back (or it was stopped otherwise).
    package func beginScheduledStop(_ id: String, now: Double) async throws -> Session? {
        try await publishing { db in
            guard let session = try Self.session(id: id, db: db), session.scheduledStopIsDue(now: now) else { return nil }
            return try Self.beginStop(id, reason: .roomEmpty, now: now, db: db)
        }
    }

    /// Ends an active session (the bot is gone). When humans remain in a room that should have a bot (a human
    /// joined while it was stopping, its bot failed or was lost, the service shut it down), the room waits for
    /// its next session, which is claimed in the same transaction when `claimSuccessor` and policy allow.
    /// Nil when it had already ended.
    package func finish(
        _ id: String,
        state: SessionState,
        reason: EndReason,
        exitCode: Int?,
        now: Double,
        claimSuccessor: Bool
    ) async throws -> Ending? {
        let (launcher, owner, settings) = (launcher, instanceID, settings)
        let ending = try await transaction { db -> Ending? in
            guard let active = try Self.session(id: id, db: db), active.state.isActive else { return nil }
            let room = try Row.fetchOne(
                cached: db,
                sql: "SELECT failures, respawn_pending FROM room WHERE name = ?",
                arguments: [active.roomName]
            )
            let plan = planEnd(
                active.ending(now: now, previousFailures: room?["failures"] ?? 0, respawnPending: room?["respawn_pending"] ?? false),
                state: state,
                reason: reason,
                backoff: settings.restartBackoff,
                now: now
            )
            let session = active.ended(by: plan, exitCode: exitCode, now: now)
            try session.update(db)
            try db.executeCached(
                sql: "INSERT INTO room (name, url, last_event_at) VALUES (?, ?, 0) ON CONFLICT(name) DO NOTHING",
                arguments: [session.roomName, session.roomURL]
            )
            _ = try Self.apply(
                plan.roomEffects,
                room: session.roomName,
                url: session.roomURL,
                active: nil,
                launcher: launcher,
                owner: owner,
                now: now,
                db: db
            )
            let successor =
                claimSuccessor
                ? try Self.claimIfWaiting(
                    room: session.roomName,
                    url: session.roomURL,
                    launcher: launcher,
                    owner: owner,
                    settings: settings,
                    now: now,
                    db: db
                )
                : nil
            return Ending(ended: session, successor: successor)
        }
        changes.publish([ending?.ended, ending?.successor])
        // A place freed: here, and for other instances' waiting rooms and sessions.
        if ending != nil { changes.wantPlacement() }
        return ending
    }

    /// Hands a session to this instance (re-adoption after a restart), with the bot process it found.
    package func adopt(_ id: String, pid: Int32, pidStartTime: UInt64, now: Double) async throws -> Session? {
        let owner = instanceID
        return try await publishing { db in
            try db.executeCached(
                sql: """
                    UPDATE session SET owner_instance = ?, pid = ?, pid_start_time = ?, updated_at = ?,
                        placed_at = coalesce(placed_at, created_at),
                        state = CASE state WHEN 'starting' THEN 'running' ELSE state END
                    WHERE id = ? AND state IN \(activeStates)
                    """,
                arguments: [owner, pid, pidStartTime, now, id]
            )
            return try Self.session(id: id, db: db)
        }
    }

    /// Claims a session for each room whose humans are waiting for a bot and may have one now (capacity free,
    /// backoff over), longest waiting first. Cheap when nobody waits: one read, no write lock.
    package func claimWaitingRooms(now: Double) async throws -> [Session] {
        let maxConcurrency = settings.maxConcurrency
        // At capacity, a waiting room cannot start: no write transaction for it every poll.
        let anyWaiting = try await pool.read { db in
            try Bool.fetchOne(
                db,
                sql: """
                    SELECT EXISTS (SELECT 1 FROM room WHERE waiting_since IS NOT NULL AND coalesce(retry_at, 0) <= ?)
                       AND (SELECT count(*) FROM session WHERE state IN \(activeStates)) < ?
                    """,
                arguments: [now, maxConcurrency]
            ) ?? false
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
                arguments: [now]
            )
            var claimed: [Session] = []
            for room in rooms {
                if let session = try Self.claimIfWaiting(
                    room: room["name"],
                    url: room["url"],
                    launcher: launcher,
                    owner: owner,
                    settings: settings,
                    now: now,
                    db: db
                ) {
                    claimed.append(session)
                }
            }
            return claimed
        }
        changes.publish(claimed)
        return claimed
    }
}

extension SQLiteSessionStore {
    /// Takes, for this instance, the sessions that wait for an instance with room for their bot, oldest first, as
    /// many as its own limit leaves room for (`Policy.freeLocalSlots`). Cheap when none waits: one read.
    package func placeWaitingSessions(now: Double) async throws -> [Session] {
        let unplaced = unplacedOwner
        let anyWaiting = try await pool.read { db in
            try Bool.fetchOne(
                db,
                sql: "SELECT EXISTS (SELECT 1 FROM session WHERE owner_instance = ? AND state IN \(activeStates))",
                arguments: [unplaced]
            ) ?? false
        }
        guard anyWaiting else { return [] }
        let (owner, settings) = (instanceID, settings)
        let placed = try await transaction { db -> [Session] in
            let free = freeLocalSlots(localSessions: try Self.localCount(owner: owner, db: db), settings: settings)
            guard free > 0 else { return [] }
            let ids = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM session WHERE owner_instance = ? AND state = 'starting' ORDER BY created_at, id LIMIT ?
                    """,
                arguments: [unplaced, free]
            )
            var placed: [Session] = []
            for id in ids {
                try db.executeCached(
                    sql: "UPDATE session SET owner_instance = ?, placed_at = ?, updated_at = ? WHERE id = ?",
                    arguments: [owner, now, now, id]
                )
                if let session = try Self.session(id: id, db: db) { placed.append(session) }
            }
            return placed
        }
        changes.publish(placed)
        return placed
    }

    /// Active sessions no instance has taken yet, oldest first.
    package func unplacedSessions() async throws -> [Session] {
        let unplaced = unplacedOwner
        return try await pool.read { db in
            try Session.fetchAll(
                db,
                sql: """
                    SELECT * FROM session WHERE owner_instance = ? AND state IN \(activeStates)
                    ORDER BY created_at, id
                    """,
                arguments: [unplaced]
            )
        }
    }
}
