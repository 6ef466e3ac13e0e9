import Policy
import PostgresNIO

/// Phone calls' stream tokens: one per active session, single-use, until its time.
extension PostgresSessionStore {
    package func issueStreamToken(_ id: String, digest: String, until: Double) async throws -> Bool {
        try await transaction { tx in
            try await !tx.rows(
                """
                UPDATE session SET stream_token = \(digest), stream_token_until = \(until)
                WHERE id = \(id) AND state IN \(unescaped: activeStates) RETURNING id
                """
            ).isEmpty
        }
    }

    package func redeemStreamToken(digest: String, now: Double) async throws -> Session? {
        try await transaction { tx in
            try await Self.sessions(
                tx,
                """
                UPDATE session SET stream_token = NULL, stream_token_until = NULL
                WHERE stream_token = \(digest) AND stream_token_until >= \(now) AND state IN \(unescaped: activeStates)
                RETURNING *
                """
            ).first
        }
    }
}
