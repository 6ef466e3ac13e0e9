import Policy
import PostgresNIO

extension PostgresSessionStore {
    /// Records an event, decides, and claims or releases the room in one transaction (see the type's comment for
    /// the locks), in as few round trips as the rules allow: the event id and the room's lock in one statement, the
    /// room's snapshot in one more, then the participant's change and what the decision writes. The event must
    /// already have passed `Policy.screen`.
    public func record(_ event: RoomEvent, now: Double, mayClaim: Bool) async throws -> EventOutcome {
        let (settings, launcher, owner) = (settings, launcher, instanceID)
        let arriving = arrivingProfile(for: event, settings: settings)
        return try await transaction { tx in
            let room = event.roomName
            // Invariant 3 and the room's lock: no row when the id was seen before.
            guard let roomRow = try await tx.rows(
                """
                WITH fresh AS (
                    INSERT INTO seen_event (id, received_at) VALUES (\(event.id), \(now)) ON CONFLICT DO NOTHING RETURNING id)
                INSERT INTO room (name, url, last_event_at) SELECT \(room), \(event.roomURL), \(now) FROM fresh
                ON CONFLICT (name) DO UPDATE SET url = coalesce(excluded.url, room.url), last_event_at = excluded.last_event_at
                RETURNING retry_at, waiting_since, CASE WHEN room.service_created THEN room.profile END
                """
            ).first else {
                return EventOutcome(decision: nil, action: .duplicate, reason: "duplicate_event", session: nil)
            }
            let (retryAt, waitingSince, madeFor) = try roomRow.decode((Double?, Double?, String?).self)
            tx.changed(room)
            let change = event.presenceChange
            let key = change?.key ?? ""
            let admitted = event.admittedKnockerKey ?? ""
            // The room as it was: the participant's record, its humans and knockers (and whether the one who joins was
            // one of them), its active session, the service's count.
            let snapshotRow = try await tx.rows(
                """
                SELECT (SELECT present FROM participant WHERE room_name = \(room) AND key = \(key)) AS recorded_present,
                       (SELECT sent_at FROM participant WHERE room_name = \(room) AND key = \(key)) AS recorded_sent_at,
                       (SELECT count(*) FROM participant
                        WHERE room_name = \(room) AND present AND key NOT LIKE \(knockerKeyPattern)) AS humans,
                       (SELECT count(*) FROM participant
                        WHERE room_name = \(room) AND present AND key LIKE \(knockerKeyPattern)) AS knockers,
                       EXISTS (SELECT 1 FROM participant WHERE room_name = \(room) AND key = \(admitted) AND present) AS admitted,
                       (SELECT n FROM active_count WHERE id = 1) AS active_sessions,
                       session.*
                FROM (SELECT 1) AS one
                LEFT JOIN session ON session.room_name = \(room) AND session.state IN ('starting','running','stopping')
                """
            ).first
            guard let snapshotRow else { throw PostgresRecordError(description: "no snapshot of room \(room)") }
            let columns = snapshotRow.makeRandomAccess()
            let active = try columns["id"].bytes == nil ? nil : Session(postgres: snapshotRow)
            var humans = try columns["humans"].decode(Int.self)
            var knockers = try columns["knockers"].decode(Int.self)
            let recordedPresent = try columns["recorded_present"].decode(Bool?.self)
            let recorded = try recordedPresent.map {
                RecordedPresence(present: $0, sentAt: try columns["recorded_sent_at"].decode(Double?.self))
            }
            var addedHuman = false
            if event.kind == .meetingEnded {
                try await tx.execute("DELETE FROM participant WHERE room_name = \(room)")
                humans = 0
                knockers = 0
            }
            if try columns["admitted"].decode(Bool.self) {
                // Let in: no longer at the door.
                try await tx.execute(
                    "UPDATE participant SET present = FALSE, updated_at = \(now) WHERE room_name = \(room) AND key = \(admitted)")
                knockers -= 1
            }
            if let change,
               let present = presenceAfter(joining: change.joining, isPerJoin: change.isPerJoin, recorded: recorded, sentAt: event.sentAt)
            {
                try await tx.execute(
                    """
                    INSERT INTO participant (room_name, key, present, sent_at, updated_at)
                    VALUES (\(room), \(key), \(present), \(event.sentAt), \(now))
                    ON CONFLICT (room_name, key) DO UPDATE SET present = excluded.present,
                        sent_at = coalesce(excluded.sent_at, participant.sent_at), updated_at = excluded.updated_at
                    """)
                let delta = (present ? 1 : 0) - (recorded?.present == true ? 1 : 0)
                if key.hasPrefix(RoomEvent.knockerKeyPrefix) { knockers += delta } else { humans += delta }
                addedHuman = present
            }
            if humans == 0 && waitingSince != nil {
                // Nobody is left to wait for a bot.
                try await tx.execute("UPDATE room SET waiting_since = NULL WHERE name = \(room)")
            }
            var snapshot = RoomSnapshot(
                activeState: active?.state, stopScheduled: active?.stopAt != nil, humans: humans, knockers: knockers,
                activeSessions: try columns["active_sessions"].decode(Int.self), retryAt: retryAt,
                joinAddedHuman: addedHuman, mayClaim: mayClaim)
            var decision = decide(event.kind, room: snapshot, settings: settings, now: now)
            // The room's profile matters only to a claim or a wait (worked out before the transaction); a room the
            // service made keeps the profile it was made for.
            let profile = decision == .spawn || decision.marksRoomWaiting ? madeFor ?? arriving ?? BotProfile.defaultName : nil
            if decision == .spawn, let profile {
                // Decide again on the count read under its lock: another replica may have taken the last place.
                snapshot.activeSessions = try await Self.activeCount(tx, locking: true)
                snapshot.profileLoad = try await Self.profileLoad(profile, settings: settings, tx)
                decision = decide(event.kind, room: snapshot, settings: settings, now: now)
            }
            var session = active
            switch decision {
            case .spawn:
                let profile = profile ?? BotProfile.defaultName
                session = try await Self.claim(
                    room: room, url: event.roomURL, profile: profile, launcher: launcher, owner: owner,
                    body: settings.profiles.named(profile)?.bodyText ?? "{}", settings: settings, now: now, tx)
            case .stop(let reason):
                if let active { session = try await Self.beginStop(active.id, reason: reason, now: now, tx) }
            case .scheduleStop(let at):
                try await tx.execute("UPDATE session SET stop_at = \(at), updated_at = \(now) WHERE id = \(active?.id)")
                session?.stopAt = at
            case .cancelScheduledStop:
                try await tx.execute("UPDATE session SET stop_at = NULL, updated_at = \(now) WHERE id = \(active?.id)")
                session?.stopAt = nil
            case .spawnAfterStop:
                try await tx.execute("UPDATE room SET respawn_pending = TRUE WHERE name = \(room)")
            case .reject:
                try await Self.markWaiting(room: room, profile: profile, now: now, tx)
                tx.wantPlacement()
            case .record, .ignore:
                break
            }
            if event.kind == .meetingEnded {
                try await tx.execute("UPDATE room SET respawn_pending = FALSE WHERE name = \(room)")
            }
            let (action, reason) = decision.answer(to: event.kind)
            return EventOutcome(decision: decision, action: action, reason: reason, session: session)
        }
    }
}
