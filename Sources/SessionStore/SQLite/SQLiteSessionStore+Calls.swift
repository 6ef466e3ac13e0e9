import GRDB
import Policy

/// Phone calls' stream tokens: one per active session, single-use, until its time.
extension SQLiteSessionStore {
    package func issueStreamToken(_ id: String, digest: String, until: Double) async throws -> Bool {
        try await transaction { db in
            try db.executeCached(
                sql: "UPDATE session SET stream_token = ?, stream_token_until = ? WHERE id = ? AND state IN \(activeStates)",
                arguments: [digest, until, id]
            )
            return db.changesCount > 0
        }
    }

    package func redeemStreamToken(digest: String, now: Double) async throws -> Session? {
        try await transaction { db in
            guard
                let session = try Session.fetchOne(
                    cached: db,
                    sql: "SELECT * FROM session WHERE stream_token = ? AND stream_token_until >= ? AND state IN \(activeStates)",
                    arguments: [digest, now]
                )
            else { return nil }
            try db.executeCached(sql: "UPDATE session SET stream_token = NULL, stream_token_until = NULL WHERE id = ?", arguments: [session.id])
            return session
        }
    }
}
