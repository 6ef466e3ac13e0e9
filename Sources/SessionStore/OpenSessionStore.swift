import Logging
import Policy

/// Opens the store `location` names and runs `body` with it. PostgreSQL's connections and its listener for other
/// replicas' changes run beside `body` (in this task's group) and stop when it returns; its schema is migrated
/// before `body` starts.
package func withSessionStore<T: Sendable>(
    _ location: DatabaseLocation,
    settings: PolicySettings,
    launcher: LauncherKind,
    instanceID: String,
    logger: Logger,
    _ body: (any SessionStorage) async throws -> T
) async throws -> T {
    switch location {
    case .sqlite(let path):
        return try await body(try SQLiteSessionStore(path: path, settings: settings, launcher: launcher, instanceID: instanceID))
    case .postgres(let postgres):
        let store = try PostgresSessionStore(
            location: postgres,
            settings: settings,
            launcher: launcher,
            instanceID: instanceID,
            logger: logger
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.run() }
            defer { group.cancelAll() }
            try await store.migrate()
            return try await body(store)
        }
    }
}
