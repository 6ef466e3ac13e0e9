import Foundation
import GRDB
import Policy

/// The SQLite backend's half of `Policy`'s plans: loaders of the facts a plan is made from, and the writer of the
/// effects it returns, both inside the caller's transaction. No rule lives here.
extension SQLiteSessionStore {
    // MARK: Facts

    /// The event's room before its participant change, and its active session.
    static func roomFacts(for event: RoomEvent, db: Database) throws -> (RoomFacts, active: Session?) {
        let room = event.roomName
        let row = try Row.fetchOne(
            cached: db,
            sql: """
                SELECT (SELECT present FROM participant WHERE room_name = ?1 AND key = ?2) AS recorded_present,
                       (SELECT sent_at FROM participant WHERE room_name = ?1 AND key = ?2) AS recorded_sent_at,
                       (SELECT coalesce(sum(key NOT LIKE ?3), 0) FROM participant WHERE room_name = ?1 AND present = 1) AS humans,
                       (SELECT coalesce(sum(key LIKE ?3), 0) FROM participant WHERE room_name = ?1 AND present = 1) AS knockers,
                       EXISTS (SELECT 1 FROM participant WHERE room_name = ?1 AND key = ?4 AND present = 1) AS admitted,
                       (SELECT n FROM active_count WHERE id = 1) AS active_sessions,
                       retry_at, waiting_since IS NOT NULL AS waiting, CASE WHEN service_created = 1 THEN profile END AS made_for
                FROM room WHERE name = ?1
                """,
            arguments: [room, event.presenceChange?.key ?? "", knockerKeyPattern, event.admittedKnockerKey ?? ""]
        )
        let active = try activeSession(room: room, db: db)
        let recordedPresent: Bool? = row?["recorded_present"]
        let facts = RoomFacts(
            activeState: active?.state,
            stopScheduled: active?.stopAt != nil,
            humans: row?["humans"] ?? 0,
            knockers: row?["knockers"] ?? 0,
            recorded: recordedPresent.map { RecordedPresence(present: $0, sentAt: row?["recorded_sent_at"]) },
            admittedKnockerPresent: row?["admitted"] ?? false,
            activeSessions: row?["active_sessions"] ?? 0,
            retryAt: row?["retry_at"],
            isWaiting: row?["waiting"] ?? false,
            madeFor: row?["made_for"]
        )
        return (facts, active)
    }

    /// What a claim for a bot of `profile` is weighed against; the write lock keeps them true until the commit.
    static func claimFacts(profile: String, owner: String, settings: PolicySettings, db: Database) throws -> ClaimFacts {
        ClaimFacts(
            activeSessions: try activeCount(db: db),
            profileLoad: try profileLoad(profile, settings: settings, db: db),
            localSessions: try localCount(owner: owner, db: db)
        )
    }

    /// The room as a claim of its next bot weighs it.
    static func waitingRoomFacts(room: String, db: Database) throws -> WaitingRoomFacts {
        let row = try Row.fetchOne(
            cached: db,
            sql: """
                SELECT room.retry_at, room.waiting_since IS NOT NULL AS waiting, room.profile AS room_profile,
                       last.profile AS last_profile, last.body AS last_body,
                       (SELECT count(*) FROM participant WHERE room_name = ?1 AND present = 1 AND key NOT LIKE ?2) AS humans,
                       EXISTS (SELECT 1 FROM session WHERE room_name = ?1 AND state IN \(activeStates)) AS has_active
                FROM room LEFT JOIN (SELECT profile, body FROM session WHERE room_name = ?1 ORDER BY created_at DESC LIMIT 1) AS last ON 1 = 1
                WHERE room.name = ?1
                """,
            arguments: [room, knockerKeyPattern]
        )
        guard let row else { return WaitingRoomFacts(isWaiting: false, humans: 0) }
        return WaitingRoomFacts(
            isWaiting: row["waiting"],
            retryAt: row["retry_at"],
            roomProfile: row["room_profile"],
            lastProfile: row["last_profile"],
            lastBody: row["last_body"],
            humans: row["humans"],
            hasActiveSession: row["has_active"]
        )
    }

    static func session(id: String, db: Database) throws -> Session? {
        try Session.fetchOne(cached: db, sql: "SELECT * FROM session WHERE id = ?", arguments: [id])
    }

    static func activeSession(room: String, db: Database) throws -> Session? {
        try Session.fetchOne(
            cached: db,
            sql: "SELECT * FROM session WHERE room_name = ? AND state IN \(activeStates)",
            arguments: [room]
        )
    }

    /// The room's humans, and the people knocking at it.
    static func presence(room: String, db: Database) throws -> (humans: Int, knockers: Int) {
        let row = try Row.fetchOne(
            cached: db,
            sql: """
                SELECT coalesce(sum(key NOT LIKE ?1), 0) AS humans, coalesce(sum(key LIKE ?1), 0) AS knockers
                FROM participant WHERE room_name = ?2 AND present = 1
                """,
            arguments: [knockerKeyPattern, room]
        )
        return (row?["humans"] ?? 0, row?["knockers"] ?? 0)
    }

    static func activeCount(db: Database) throws -> Int {
        // Kept by triggers (migration v4-active-count): the same number as counting, without the walk.
        try Int.fetchOne(cached: db, sql: "SELECT n FROM active_count WHERE id = 1") ?? 0
    }

    /// The profile's cap and its active sessions, read only when it has a cap of its own.
    static func profileLoad(_ profile: String, settings: PolicySettings, db: Database) throws -> ProfileLoad? {
        guard let cap = settings.cap(ofProfile: profile) else { return nil }
        let active =
            try Int.fetchOne(
                cached: db,
                sql: "SELECT count(*) FROM session WHERE profile = ? AND state IN \(activeStates)",
                arguments: [profile]
            ) ?? 0
        return ProfileLoad(active: active, cap: cap)
    }

    /// The active sessions an instance runs (or is starting).
    static func localCount(owner: String, db: Database) throws -> Int {
        try Int.fetchOne(
            cached: db,
            sql: "SELECT count(*) FROM session WHERE owner_instance = ? AND state IN \(activeStates)",
            arguments: [owner]
        ) ?? 0
    }

    // MARK: Effects

    /// Writes a plan's effects to `room`, in order, and returns the room's session as they leave it (`active`, or
    /// the one a claim made).
    static func apply(
        _ effects: [RoomEffect],
        room: String,
        url: String?,
        active: Session?,
        launcher: LauncherKind,
        owner: String,
        now: Double,
        db: Database
    ) throws -> Session? {
        var session = active
        for effect in effects {
            switch effect {
            case .clearParticipants:
                try db.executeCached(sql: "DELETE FROM participant WHERE room_name = ?", arguments: [room])
            case .admitKnocker(let key):
                try db.executeCached(
                    sql: "UPDATE participant SET present = 0, updated_at = ? WHERE room_name = ? AND key = ? AND present = 1",
                    arguments: [now, room, key]
                )
            case .recordPresence(let key, let present, let sentAt):
                try db.executeCached(
                    sql: """
                        INSERT INTO participant (room_name, key, present, sent_at, updated_at) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT(room_name, key) DO UPDATE SET present = excluded.present,
                            sent_at = coalesce(excluded.sent_at, sent_at), updated_at = excluded.updated_at
                        """,
                    arguments: [room, key, present, sentAt, now]
                )
            case .clearWaiting:
                try db.executeCached(sql: "UPDATE room SET waiting_since = NULL WHERE name = ?", arguments: [room])
            case .markWaiting(let profile):
                try db.executeCached(
                    sql: """
                        UPDATE room SET waiting_since = coalesce(waiting_since, ?),
                            profile = CASE WHEN service_created = 1 THEN profile ELSE coalesce(?, profile) END
                        WHERE name = ?
                        """,
                    arguments: [now, profile, room]
                )
            case .setRespawnPending(let pending):
                try db.executeCached(sql: "UPDATE room SET respawn_pending = ? WHERE name = ?", arguments: [pending, room])
            case .setBackoff(.failed(let failures, let retryAt)):
                try db.executeCached(sql: "UPDATE room SET failures = ?, retry_at = ? WHERE name = ?", arguments: [failures, retryAt, room])
            case .setBackoff(.reset):
                try db.executeCached(sql: "UPDATE room SET failures = 0, retry_at = NULL WHERE name = ?", arguments: [room])
            case .setBackoff(.unchanged):
                break
            case .markServiceRoom(let profile):
                try db.executeCached(
                    sql: """
                        INSERT INTO room (name, url, last_event_at, profile, service_created) VALUES (?, ?, ?, ?, 1)
                        ON CONFLICT(name) DO UPDATE SET profile = excluded.profile, service_created = 1
                        """,
                    arguments: [room, url, now, profile]
                )
            case .claim(let claim):
                // The unique index of one active session per room is the last line of defence.
                let claimed = newSession(claim, room: room, url: url, launcher: launcher, owner: owner, now: now)
                try claimed.insert(db)
                session = claimed
            case .beginStop(let reason):
                guard let id = session?.id else { break }
                session = try beginStop(id, reason: reason, now: now, db: db)
            case .scheduleStop(let at):
                try db.executeCached(sql: "UPDATE session SET stop_at = ?, updated_at = ? WHERE id = ?", arguments: [at, now, session?.id])
                session?.stopAt = at
            case .cancelScheduledStop:
                try db.executeCached(sql: "UPDATE session SET stop_at = NULL, updated_at = ? WHERE id = ?", arguments: [now, session?.id])
                session?.stopAt = nil
            }
        }
        return session
    }

    static func beginStop(_ id: String, reason: EndReason, now: Double, db: Database) throws -> Session? {
        try db.executeCached(
            sql: """
                UPDATE session SET state = 'stopping', stop_reason = ?, stop_at = NULL, updated_at = ?
                WHERE id = ? AND state IN ('starting','running')
                """,
            arguments: [reason.rawValue, now, id]
        )
        return try Self.session(id: id, db: db)
    }

    /// Plans and applies the claim of the room's next bot, if its humans wait for one and policy allows it now.
    static func claimIfWaiting(
        room: String,
        url: String?,
        launcher: LauncherKind,
        owner: String,
        settings: PolicySettings,
        now: Double,
        db: Database
    ) throws -> Session? {
        let facts = try waitingRoomFacts(room: room, db: db)
        var plan = planWaitingRoom(facts, claim: nil, settings: settings, now: now)
        if let profile = plan.needsClaimFacts {
            plan = planWaitingRoom(
                facts,
                claim: try claimFacts(profile: profile, owner: owner, settings: settings, db: db),
                settings: settings,
                now: now
            )
        }
        return try apply(plan.effects, room: room, url: url, active: nil, launcher: launcher, owner: owner, now: now, db: db)
    }
}
