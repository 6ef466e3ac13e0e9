import Foundation
import Logging
import Policy
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The PostgreSQL backend: the store of a cluster, whose replicas share one database.
///
/// The invariants of docs/DESIGN.md hold by row locks taken in one order: a transaction that changes a room first
/// locks the room's row (so one room's events, ends and claims run one after another, whichever replica runs
/// them), then, to claim, the row that counts active sessions (so no two replicas take the last place), and the
/// unique index of one active session per room stays the last line of defence. Waiting rooms are claimed with
/// `FOR UPDATE SKIP LOCKED`, so replicas looking for work do not queue behind each other. Committed changes are
/// announced with `NOTIFY` (`PostgresChangeAnnouncer`); every replica's `changes` hears them.
package final class PostgresSessionStore: SessionStorage, Service {
    package let location: PostgresLocation
    let client: PostgresClient
    let settings: PolicySettings
    let launcher: LauncherKind
    let logger: Logger
    package let instanceID: String
    /// Committed changes of every replica, as `NOTIFY` tells them.
    package let changes = SessionFeed()
    package var hearsOtherInstances: Bool { true }
    /// Tells the other replicas what this one changed, after each commit.
    let announcer = PostgresChangeAnnouncer()
    /// Finishes once `run()` has started the connections: nothing may lease one before.
    private let running: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation) = AsyncStream.makeStream()

    /// The `NOTIFY` channel of changed rooms.
    static let changesChannel = "autospawn_changes"
    /// How long start-up waits for the database (it may be starting beside the service, as in compose).
    package static let startupTimeout: Duration = .seconds(30)
    /// Connections this replica keeps at most (PostgreSQL's `max_connections` is shared by every replica).
    static let maximumConnections = 10

    package init(
        location: PostgresLocation,
        settings: PolicySettings,
        launcher: LauncherKind,
        instanceID: String,
        logger: Logger
    ) throws(SessionStoreError) {
        self.location = location
        self.settings = settings
        self.launcher = launcher
        self.instanceID = instanceID
        self.logger = logger
        do {
            var configuration = try Self.clientConfiguration(location)
            configuration.options.maximumConnections = Self.maximumConnections
            configuration.options.connectTimeout = .seconds(5)
            client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        } catch {
            throw SessionStoreError(path: location.description, underlying: error)
        }
    }

    /// The connections' background work and the listener for other replicas' changes, until cancelled. Nothing
    /// reaches the database before this runs; the database is migrated once it does (`migrate()`).
    package func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                self.running.continuation.finish()
                await self.client.run()
            }
            group.addTask { await self.listenForChanges() }
            group.addTask {
                await self.announcer.run(
                    channel: Self.changesChannel,
                    instance: self.instanceID,
                    send: { query in _ = try await self.read { tx in try await tx.execute(query) } },
                    logger: self.logger
                )
            }
        }
    }

    /// Applies the migrations this database lacks; replicas that start together wait for each other's. Waits for
    /// `run()` to have started.
    package func migrate(within timeout: Duration = PostgresSessionStore.startupTimeout) async throws(SessionStoreError) {
        for await _ in running.stream {}
        do {
            let logger = logger
            try await withConnection(deadline: timeout) { connection in
                try await PostgresSchema.migrate(connection, logger: logger)
            }
        } catch {
            throw SessionStoreError(path: location.description, underlying: Self.describing(error))
        }
    }

    static func session(id: String, _ tx: PostgresTransaction) async throws -> Session? {
        try await tx.rows("SELECT * FROM session WHERE id = \(id)").first.map(Session.init(postgres:))
    }

    static func activeSession(room: String, _ tx: PostgresTransaction) async throws -> Session? {
        try await tx.rows(
            "SELECT * FROM session WHERE room_name = \(room) AND state IN \(unescaped: activeStates)"
        ).first.map(Session.init(postgres:))
    }

    /// The room's humans, and the people knocking at it.
    static func presence(room: String, _ tx: PostgresTransaction) async throws -> (humans: Int, knockers: Int) {
        let row = try await tx.rows(
            """
            SELECT count(*) FILTER (WHERE key NOT LIKE \(knockerKeyPattern)), count(*) FILTER (WHERE key LIKE \(knockerKeyPattern))
            FROM participant WHERE room_name = \(room) AND present
            """
        ).first
        return try row?.decode((Int, Int).self) ?? (0, 0)
    }

    /// The count of active sessions, kept by a trigger; `locking` holds its row until the transaction ends, which
    /// a claim must (invariant 2).
    static func activeCount(_ tx: PostgresTransaction, locking: Bool) async throws -> Int {
        let count: Int? =
            locking
            ? try await tx.value("SELECT n FROM active_count WHERE id = 1 FOR UPDATE")
            : try await tx.value("SELECT n FROM active_count WHERE id = 1")
        return count ?? 0
    }

    /// Locks the room's row (inserting it when new) and returns what a session's end weighs of it.
    static func lockRoom(_ room: String, url: String?, _ tx: PostgresTransaction) async throws -> (failures: Int, respawnPending: Bool) {
        try await tx.execute(
            "INSERT INTO room (name, url, last_event_at) VALUES (\(room), \(url), 0) ON CONFLICT (name) DO NOTHING"
        )
        tx.changed(room)
        guard
            let row = try await tx.rows(
                "SELECT failures, respawn_pending FROM room WHERE name = \(room) FOR UPDATE"
            ).first
        else { return (0, false) }
        let (failures, respawnPending) = try row.decode((Int, Bool).self)
        return (failures, respawnPending)
    }

    /// The profile's cap and its active sessions, read only when it has a cap of its own. Claims hold the count's
    /// lock, so the number cannot change before the claim commits.
    static func profileLoad(_ profile: String, settings: PolicySettings, _ tx: PostgresTransaction) async throws -> ProfileLoad? {
        guard let cap = settings.cap(ofProfile: profile) else { return nil }
        let active =
            try await tx.value(
                "SELECT count(*) FROM session WHERE profile = \(profile) AND state IN \(unescaped: activeStates)",
                as: Int.self
            ) ?? 0
        return ProfileLoad(active: active, cap: cap)
    }

    /// The active sessions an instance runs (or is starting).
    static func localCount(owner: String, _ tx: PostgresTransaction) async throws -> Int {
        try await tx.value(
            "SELECT count(*) FROM session WHERE owner_instance = \(owner) AND state IN \(unescaped: activeStates)",
            as: Int.self
        ) ?? 0
    }
}
