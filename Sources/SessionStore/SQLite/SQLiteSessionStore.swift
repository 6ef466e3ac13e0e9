import Foundation
import GRDB
import Policy

/// The SQLite backend: sessions, participants and seen event ids in one SQLite file (WAL).
///
/// Every change that an invariant of docs/DESIGN.md depends on happens inside one `BEGIN IMMEDIATE` transaction,
/// which takes SQLite's write lock before reading: the count of active sessions and the room's state that a
/// decision is based on cannot change before the decision is written, even with other processes on the file.
package final class SQLiteSessionStore: SessionStorage {
    package let path: String
    let pool: DatabasePool
    let commits: GroupCommit
    let settings: PolicySettings
    let launcher: LauncherKind
    /// The instance that owns the sessions this store creates.
    package let instanceID: String
    /// Committed changes of this process, for its live views.
    package let changes = SessionFeed()
    /// Other processes on the file are not heard: live views poll.
    package var hearsOtherInstances: Bool { false }

    /// The longest a write waits for another process's write lock before it fails (a webhook is then answered 503).
    package static let busyTimeoutSeconds: Double = 5

    package init(path: String, settings: PolicySettings, launcher: LauncherKind, instanceID: String) throws(SessionStoreError) {
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

    /// Records an event (its id, the room's activity and participant set) and applies what `Policy.planEvent` makes
    /// of it, all in one transaction. The event must already have passed `Policy.screen`.
    /// - Parameter mayClaim: false while this instance drains: the event is recorded as usual, but a room that
    ///   would get a bot waits for another instance instead.
    package func record(_ event: RoomEvent, now: Double, mayClaim: Bool) async throws -> EventOutcome {
        let (settings, launcher, owner) = (settings, launcher, instanceID)
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
            let (facts, active) = try Self.roomFacts(for: event, db: db)
            var plan = planEvent(event, facts: facts, claim: nil, arriving: arriving, mayClaim: mayClaim, settings: settings, now: now)
            if let profile = plan.needsClaimFacts {
                let claim = try Self.claimFacts(profile: profile, owner: owner, settings: settings, db: db)
                plan = planEvent(event, facts: facts, claim: claim, arriving: arriving, mayClaim: mayClaim, settings: settings, now: now)
            }
            let session = try Self.apply(
                plan.effects,
                room: event.roomName,
                url: event.roomURL,
                active: active,
                launcher: launcher,
                owner: owner,
                now: now,
                db: db
            )
            let (action, reason) = plan.decision.answer(to: event.kind)
            return EventOutcome(decision: plan.decision, action: action, reason: reason, session: session)
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
}
