import Foundation
import Policy
import PostgresNIO

/// Claims outside webhooks and a session's life: its start, stop, end and adoption, and the waiting rooms.
extension PostgresSessionStore {
    // MARK: Claims outside webhooks

    package func claim(
        room: String,
        url: String?,
        profile: String,
        body: String,
        transport: Transport,
        now: Double
    ) async throws -> Session? {
        let (launcher, owner, settings) = (launcher, instanceID, settings)
        return try await transaction { tx -> Session? in
            _ = try await Self.lockRoom(room, url: url, tx)
            let hasActive = try await Self.activeSession(room: room, tx) != nil
            let facts = try await Self.claimFacts(profile: profile, owner: owner, settings: settings, tx)
            guard
                let effects = planDirectClaim(
                    profile: profile,
                    body: body,
                    transport: transport,
                    roomHasActiveSession: hasActive,
                    facts: facts,
                    settings: settings
                )
            else { return nil }
            return try await Self.apply(effects, room: room, url: url, active: nil, launcher: launcher, owner: owner, now: now, tx)
        }
    }

    package func isServiceRoom(_ room: String) async throws -> Bool {
        try await read { tx in
            try await tx.value("SELECT service_created FROM room WHERE name = \(room)", as: Bool.self) ?? false
        }
    }

    package func setRoomURL(_ id: String, url: String, now: Double) async throws {
        try await transaction { tx in
            try await tx.execute("UPDATE session SET room_url = \(url), updated_at = \(now) WHERE id = \(id)")
            try await tx.execute("UPDATE room SET url = \(url) WHERE name = (SELECT room_name FROM session WHERE id = \(id))")
        }
    }

    // MARK: Bot lifecycle

    package func markStarted(_ id: String, pid: Int32?, pidStartTime: UInt64?, now: Double) async throws -> Session? {
        try await transaction { tx in
            let started = try await Self.sessions(
                tx,
                """
                UPDATE session SET pid = \(pid), pid_start_time = \(pidStartTime.map { Int64(bitPattern: $0) }),
                    updated_at = \(now), state = 'running'
                WHERE id = \(id) AND state = 'starting' RETURNING *
                """
            ).first
            if let started { tx.changed(started.roomName) }
            return started
        }
    }

    package func requestStop(_ id: String, reason: EndReason, now: Double) async throws -> Session? {
        try await transaction { tx in
            let session = try await Self.beginStop(id, reason: reason, now: now, tx)
            if let session { tx.changed(session.roomName) }
            return session
        }
    }

    package func beginScheduledStop(_ id: String, now: Double) async throws -> Session? {
        try await transaction { tx in
            guard let session = try await Self.session(id: id, tx), session.scheduledStopIsDue(now: now) else { return nil }
            tx.changed(session.roomName)
            return try await Self.beginStop(id, reason: .roomEmpty, now: now, tx)
        }
    }

    package func finish(
        _ id: String,
        state: SessionState,
        reason: EndReason,
        exitCode: Int?,
        now: Double,
        claimSuccessor: Bool
    ) async throws -> Ending? {
        let (launcher, owner, settings) = (launcher, instanceID, settings)
        return try await transaction { tx -> Ending? in
            guard let room = try await tx.value("SELECT room_name FROM session WHERE id = \(id)", as: String.self) else {
                return nil
            }
            // The room's lock first, as every transaction that changes a room takes it; then the session as it is now.
            let roomState = try await Self.lockRoom(room, url: nil, tx)
            guard let active = try await Self.session(id: id, tx), active.state.isActive else { return nil }
            let plan = planEnd(
                active.ending(now: now, previousFailures: roomState.failures, respawnPending: roomState.respawnPending),
                state: state,
                reason: reason,
                backoff: settings.restartBackoff,
                now: now
            )
            let session = active.ended(by: plan, exitCode: exitCode, now: now)
            try await tx.execute(
                """
                UPDATE session SET state = \(plan.state.rawValue), end_reason = \(plan.reason.rawValue), exit_code = \(exitCode),
                    ended_at = \(now), updated_at = \(now), stop_at = NULL
                WHERE id = \(id)
                """
            )
            if let url = session.roomURL {
                try await tx.execute("UPDATE room SET url = coalesce(url, \(url)) WHERE name = \(room)")
            }
            _ = try await Self.apply(
                plan.roomEffects,
                room: room,
                url: session.roomURL,
                active: nil,
                launcher: launcher,
                owner: owner,
                now: now,
                tx
            )
            // A place freed: for this instance's and other instances' waiting rooms and sessions.
            tx.wantPlacement()
            let successor =
                claimSuccessor
                ? try await Self.claimIfWaiting(
                    room: room,
                    url: session.roomURL,
                    launcher: launcher,
                    owner: owner,
                    settings: settings,
                    now: now,
                    tx
                )
                : nil
            return Ending(ended: session, successor: successor)
        }
    }

    package func adopt(_ id: String, pid: Int32, pidStartTime: UInt64, now: Double) async throws -> Session? {
        let owner = instanceID
        return try await transaction { tx in
            try await tx.execute(
                """
                UPDATE session SET owner_instance = \(owner), pid = \(pid), pid_start_time = \(Int64(bitPattern: pidStartTime)),
                    updated_at = \(now), placed_at = coalesce(placed_at, created_at), state = CASE state WHEN 'starting' THEN 'running' ELSE state END
                WHERE id = \(id) AND state IN \(unescaped: activeStates)
                """
            )
            let session = try await Self.session(id: id, tx)
            if let session { tx.changed(session.roomName) }
            return session
        }
    }

    /// Claims a session for each room whose humans wait for a bot and may have one now, longest waiting first.
    /// Rooms another replica is claiming right now are skipped (`SKIP LOCKED`), not waited for.
    package func claimWaitingRooms(now: Double) async throws -> [Session] {
        let maxConcurrency = settings.maxConcurrency
        let anyWaiting = try await read { tx in
            try await tx.value(
                """
                SELECT EXISTS (SELECT 1 FROM room WHERE waiting_since IS NOT NULL AND coalesce(retry_at, 0) <= \(now))
                   AND (SELECT n FROM active_count WHERE id = 1) < \(maxConcurrency)
                """,
                as: Bool.self
            ) ?? false
        }
        guard anyWaiting else { return [] }
        let (launcher, owner, settings) = (launcher, instanceID, settings)
        return try await transaction { tx -> [Session] in
            let rooms = try await tx.rows(
                """
                SELECT name, url FROM room WHERE waiting_since IS NOT NULL AND coalesce(retry_at, 0) <= \(now)
                ORDER BY waiting_since, name LIMIT 100 FOR UPDATE SKIP LOCKED
                """
            )
            var claimed: [Session] = []
            for row in rooms {
                let (name, url) = try row.decode((String, String?).self)
                if let session = try await Self.claimIfWaiting(
                    room: name,
                    url: url,
                    launcher: launcher,
                    owner: owner,
                    settings: settings,
                    now: now,
                    tx
                ) {
                    claimed.append(session)
                }
            }
            return claimed
        }
    }

    /// Takes for this instance the sessions that wait for an instance with room, oldest first, as many as its own
    /// limit leaves room for. The count's lock keeps claims (which read this instance's count) out meanwhile, and
    /// `SKIP LOCKED` lets replicas placing at once take different sessions.
    package func placeWaitingSessions(now: Double) async throws -> [Session] {
        let unplaced = unplacedOwner
        let anyWaiting = try await read { tx in
            try await tx.value(
                """
                SELECT EXISTS (SELECT 1 FROM session WHERE owner_instance = \(unplaced) AND state = 'starting')
                """,
                as: Bool.self
            ) ?? false
        }
        guard anyWaiting else { return [] }
        let (owner, settings) = (instanceID, settings)
        return try await transaction { tx -> [Session] in
            _ = try await Self.activeCount(tx, locking: true)
            let free = freeLocalSlots(localSessions: try await Self.localCount(owner: owner, tx), settings: settings)
            guard free > 0 else { return [] }
            let placed = try await Self.sessions(
                tx,
                """
                UPDATE session SET owner_instance = \(owner), placed_at = \(now), updated_at = \(now)
                WHERE id IN (
                    SELECT id FROM session WHERE owner_instance = \(unplaced) AND state = 'starting'
                    ORDER BY created_at, id LIMIT \(free) FOR UPDATE SKIP LOCKED)
                RETURNING *
                """
            )
            for session in placed { tx.changed(session.roomName) }
            return placed.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
    }

    package func unplacedSessions() async throws -> [Session] {
        let unplaced = unplacedOwner
        return try await read { tx in
            try await Self.sessions(
                tx,
                """
                SELECT * FROM session WHERE owner_instance = \(unplaced) AND state IN \(unescaped: activeStates)
                ORDER BY created_at, id
                """
            )
        }
    }
}
