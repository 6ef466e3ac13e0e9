import Foundation
import Policy
import PostgresNIO

/// The PostgreSQL backend's half of `Policy`'s plans: loaders of the facts a plan is made from, and the writer of the
/// effects it returns, both inside the caller's transaction, which holds the room's lock. No rule lives here.
extension PostgresSessionStore {
    // MARK: Facts

    /// What a claim for a bot of `profile` is weighed against, read under the lock of the count of active sessions,
    /// which keeps every other claim (this instance's own count among them) out until the commit (invariant 2).
    static func claimFacts(
        profile: String,
        owner: String,
        settings: PolicySettings,
        _ tx: PostgresTransaction
    ) async throws
        -> ClaimFacts
    {
        ClaimFacts(
            activeSessions: try await activeCount(tx, locking: true),
            profileLoad: try await profileLoad(profile, settings: settings, tx),
            localSessions: try await localCount(owner: owner, tx)
        )
    }

    /// The room as a claim of its next bot weighs it.
    static func waitingRoomFacts(room: String, _ tx: PostgresTransaction) async throws -> WaitingRoomFacts {
        guard
            let row = try await tx.rows(
                """
                SELECT room.retry_at, room.waiting_since IS NOT NULL, room.profile, last.profile, last.body,
                       (SELECT count(*) FROM participant WHERE room_name = \(room) AND present AND key NOT LIKE \(knockerKeyPattern)),
                       EXISTS (SELECT 1 FROM session WHERE room_name = \(room) AND state IN \(unescaped: activeStates))
                FROM room LEFT JOIN (
                    SELECT profile, body FROM session WHERE room_name = \(room) ORDER BY created_at DESC LIMIT 1) AS last ON TRUE
                WHERE room.name = \(room)
                """
            ).first
        else { return WaitingRoomFacts(isWaiting: false, humans: 0) }
        let (retryAt, waiting, roomProfile, lastProfile, lastBody, humans, hasActive) =
            try row.decode((Double?, Bool, String?, String?, String?, Int, Bool).self)
        return WaitingRoomFacts(
            isWaiting: waiting,
            retryAt: retryAt,
            roomProfile: roomProfile,
            lastProfile: lastProfile,
            lastBody: lastBody,
            humans: humans,
            hasActiveSession: hasActive
        )
    }

    // MARK: Effects

    /// Writes a plan's effects to `room`, in order, and returns the room's session as they leave it (`active`, or
    /// the one a claim made). Every replica hears of the room; a wait or a claim that no instance runs yet wakes
    /// every replica's placement.
    static func apply(
        _ effects: [RoomEffect],
        room: String,
        url: String?,
        active: Session?,
        launcher: LauncherKind,
        owner: String,
        now: Double,
        _ tx: PostgresTransaction
    ) async throws -> Session? {
        var session = active
        if !effects.isEmpty { tx.changed(room) }
        for effect in effects {
            switch effect {
            case .clearParticipants:
                try await tx.execute("DELETE FROM participant WHERE room_name = \(room)")
            case .admitKnocker(let key):
                try await tx.execute(
                    "UPDATE participant SET present = FALSE, updated_at = \(now) WHERE room_name = \(room) AND key = \(key) AND present"
                )
            case .recordPresence(let key, let present, let sentAt):
                try await tx.execute(
                    """
                    INSERT INTO participant (room_name, key, present, sent_at, updated_at)
                    VALUES (\(room), \(key), \(present), \(sentAt), \(now))
                    ON CONFLICT (room_name, key) DO UPDATE SET present = excluded.present,
                        sent_at = coalesce(excluded.sent_at, participant.sent_at), updated_at = excluded.updated_at
                    """
                )
            case .clearWaiting:
                try await tx.execute("UPDATE room SET waiting_since = NULL WHERE name = \(room)")
            case .markWaiting(let profile):
                try await tx.execute(
                    """
                    UPDATE room SET waiting_since = coalesce(waiting_since, \(now)),
                        profile = CASE WHEN service_created THEN profile ELSE coalesce(\(profile), profile) END
                    WHERE name = \(room)
                    """
                )
                tx.wantPlacement()
            case .setRespawnPending(let pending):
                try await tx.execute("UPDATE room SET respawn_pending = \(pending) WHERE name = \(room)")
            case .setBackoff(.failed(let failures, let retryAt)):
                try await tx.execute("UPDATE room SET failures = \(failures), retry_at = \(retryAt) WHERE name = \(room)")
            case .setBackoff(.reset):
                try await tx.execute("UPDATE room SET failures = 0, retry_at = NULL WHERE name = \(room)")
            case .setBackoff(.unchanged):
                break
            case .markServiceRoom(let profile):
                try await tx.execute(
                    """
                    INSERT INTO room (name, url, last_event_at, profile, service_created) VALUES (\(room), \(url), \(now), \(profile), TRUE)
                    ON CONFLICT (name) DO UPDATE SET profile = excluded.profile, service_created = TRUE
                    """
                )
            case .claim(let claim):
                // The unique index of one active session per room is the last line of defence.
                let claimed = newSession(claim, room: room, url: url, launcher: launcher, owner: owner, now: now)
                try await tx.execute(
                    """
                    INSERT INTO session (id, room_name, room_url, state, launcher, created_at, updated_at, owner_instance, body,
                        bot_user_id, placed_at, profile, transport)
                    VALUES (\(claimed.id), \(room), \(url), 'starting', \(claimed.launcher.rawValue), \(now), \(now),
                        \(claimed.ownerInstance ?? unplacedOwner), \(claimed.body), \(claimed.botUserID), \(claimed.placedAt), \(claimed.profile),
                        \(claimed.transport.rawValue))
                    """
                )
                if !claim.placedHere { tx.wantPlacement() }
                session = claimed
            case .beginStop(let reason):
                guard let id = session?.id else { break }
                session = try await beginStop(id, reason: reason, now: now, tx)
            case .scheduleStop(let at):
                try await tx.execute("UPDATE session SET stop_at = \(at), updated_at = \(now) WHERE id = \(session?.id)")
                session?.stopAt = at
            case .cancelScheduledStop:
                try await tx.execute("UPDATE session SET stop_at = NULL, updated_at = \(now) WHERE id = \(session?.id)")
                session?.stopAt = nil
            }
        }
        return session
    }

    static func beginStop(_ id: String, reason: EndReason, now: Double, _ tx: PostgresTransaction) async throws -> Session? {
        try await tx.execute(
            """
            UPDATE session SET state = 'stopping', stop_reason = \(reason.rawValue), stop_at = NULL, updated_at = \(now)
            WHERE id = \(id) AND state IN ('starting','running')
            """
        )
        return try await session(id: id, tx)
    }

    /// Plans and applies the claim of the room's next bot, if its humans wait for one and policy allows it now. The
    /// caller holds the room's lock.
    static func claimIfWaiting(
        room: String,
        url: String?,
        launcher: LauncherKind,
        owner: String,
        settings: PolicySettings,
        now: Double,
        _ tx: PostgresTransaction
    ) async throws -> Session? {
        let facts = try await waitingRoomFacts(room: room, tx)
        var plan = planWaitingRoom(facts, claim: nil, settings: settings, now: now)
        if let profile = plan.needsClaimFacts {
            let claim = try await claimFacts(profile: profile, owner: owner, settings: settings, tx)
            plan = planWaitingRoom(facts, claim: claim, settings: settings, now: now)
        }
        return try await apply(plan.effects, room: room, url: url, active: nil, launcher: launcher, owner: owner, now: now, tx)
    }
}
