import Policy
import PostgresNIO

extension PostgresSessionStore {
    /// Records an event and applies what `Policy.planEvent` makes of it in one transaction (see the type's comment
    /// for the locks), in as few round trips as the rules allow: the event id and the room's lock in one statement,
    /// the room's facts in one more, then the plan's effects. The event must already have passed `Policy.screen`.
    package func record(_ event: RoomEvent, now: Double, mayClaim: Bool) async throws -> EventOutcome {
        let (settings, launcher, owner) = (settings, launcher, instanceID)
        let arriving = arrivingProfile(for: event, settings: settings)
        return try await transaction { tx in
            let room = event.roomName
            let key = event.presenceChange?.key ?? ""
            let admitted = event.admittedKnockerKey ?? ""
            // Invariant 3 and the room's lock: no row when the id was seen before.
            guard
                let roomRow = try await tx.rows(
                    """
                    WITH fresh AS (
                        INSERT INTO seen_event (id, received_at) VALUES (\(event.id), \(now)) ON CONFLICT DO NOTHING RETURNING id)
                    INSERT INTO room (name, url, last_event_at) SELECT \(room), \(event.roomURL), \(now) FROM fresh
                    ON CONFLICT (name) DO UPDATE SET url = coalesce(excluded.url, room.url), last_event_at = excluded.last_event_at
                    RETURNING retry_at, waiting_since, CASE WHEN room.service_created THEN room.profile END
                    """
                ).first
            else {
                return EventOutcome(decision: nil, action: .duplicate, reason: "duplicate_event", session: nil)
            }
            let (retryAt, waitingSince, madeFor) = try roomRow.decode((Double?, Double?, String?).self)
            tx.changed(room)
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
                LEFT JOIN session ON session.room_name = \(room) AND session.state IN \(unescaped: activeStates)
                """
            ).first
            guard let snapshotRow else { throw PostgresRecordError(description: "no snapshot of room \(room)") }
            let columns = snapshotRow.makeRandomAccess()
            let active = try columns["id"].bytes == nil ? nil : Session(postgres: snapshotRow)
            let recordedPresent = try columns["recorded_present"].decode(Bool?.self)
            let facts = RoomFacts(
                activeState: active?.state,
                stopScheduled: active?.stopAt != nil,
                humans: try columns["humans"].decode(Int.self),
                knockers: try columns["knockers"].decode(Int.self),
                recorded: try recordedPresent.map {
                    RecordedPresence(present: $0, sentAt: try columns["recorded_sent_at"].decode(Double?.self))
                },
                admittedKnockerPresent: try columns["admitted"].decode(Bool.self),
                activeSessions: try columns["active_sessions"].decode(Int.self),
                retryAt: retryAt,
                isWaiting: waitingSince != nil,
                madeFor: madeFor
            )
            var plan = planEvent(event, facts: facts, claim: nil, arriving: arriving, mayClaim: mayClaim, settings: settings, now: now)
            if let profile = plan.needsClaimFacts {
                // Plan again on the count read under its lock: another replica may have taken the last place.
                let claim = try await Self.claimFacts(profile: profile, owner: owner, settings: settings, tx)
                plan = planEvent(event, facts: facts, claim: claim, arriving: arriving, mayClaim: mayClaim, settings: settings, now: now)
            }
            let session = try await Self.apply(
                plan.effects,
                room: room,
                url: event.roomURL,
                active: active,
                launcher: launcher,
                owner: owner,
                now: now,
                tx
            )
            let decision = plan.decision
            let (action, reason) = decision.answer(to: event.kind)
            return EventOutcome(decision: decision, action: action, reason: reason, session: session)
        }
    }
}
