import Foundation
import Logging
import Policy
import PostgresNIO
import Synchronization

/// The connections: the client's configuration from the URL, transactions and reads on the pool, and the listener
/// for other replicas' changes.
extension PostgresSessionStore {
    static func clientConfiguration(_ location: PostgresLocation) throws -> PostgresClient.Configuration {
        if let socket = location.unixSocketPath {
            return .init(unixSocketPath: socket, username: location.user, password: location.password, database: location.database)
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        // As libpq: `prefer` and `require` encrypt without checking the certificate (unless a root certificate is
        // given, which `require` then checks like `verify-ca`); `verify-ca` checks the signer, `verify-full` the name too.
        switch location.sslMode {
        case .disable, .allow, .prefer, .require:
            tls.certificateVerification =
                location.sslMode == .require && location.sslRootCertificate != nil
                ? .noHostnameVerification : .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        if let root = location.sslRootCertificate { tls.trustRoots = .file(root) }
        let mode: PostgresClient.Configuration.TLS =
            switch location.sslMode {
            case .disable: .disable
            case .allow, .prefer: .prefer(tls)
            case .require, .verifyCA, .verifyFull: .require(tls)
            }
        return .init(
            host: location.host,
            port: location.port,
            username: location.user,
            password: location.password,
            database: location.database,
            tls: mode
        )
    }

    /// postgres-nio keeps a server's message out of an error's text; ours shows its code and message (never a value).
    static func describing(_ error: any Error) -> any Error {
        if let error = error as? PSQLError { return PostgresRecordError(description: error.summary) }
        return error
    }

    // MARK: Transactions

    /// Runs `body` in one transaction on one connection; a deadlock or serialization failure runs it again.
    /// Rooms it marks changed are announced as it commits.
    func transaction<T: Sendable>(
        deadline: Duration? = nil,
        _ body: @escaping @Sendable (PostgresTransaction) async throws -> T
    ) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let (result, rooms, wantsPlacement) = try await withConnection(deadline: deadline) {
                    [logger, instanceID] connection -> (T, Set<String>, Bool) in
                    let transaction = PostgresTransaction(connection: connection, logger: logger)
                    try await connection.query("BEGIN", logger: logger)
                    do {
                        let result = try await body(transaction)
                        try await connection.query("COMMIT", logger: logger)
                        return (result, transaction.changedRooms, transaction.wantsPlacement)
                    } catch {
                        _ = try? await connection.query("ROLLBACK", logger: logger)
                        throw error
                    }
                }
                // This replica's listeners hear at once; the others through NOTIFY (the listener skips our own).
                changes.publish(rooms.map { RoomChange(room: $0, session: nil) })
                if wantsPlacement { changes.wantPlacement() }
                announcer.announce(rooms: rooms, placement: wantsPlacement)
                return result
            } catch let error as PSQLError where error.isRetryable && attempt < 5 {
                logger.debug("transaction retried", metadata: ["sqlstate": "\(error.sqlState ?? "")"])
                continue
            } catch {
                throw Self.describing(error)
            }
        }
    }

    /// Reads outside a transaction of ours (each statement sees what was committed when it began).
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresTransaction) async throws -> T) async throws -> T {
        do {
            return try await withConnection { [logger] connection in
                try await body(PostgresTransaction(connection: connection, logger: logger))
            }
        } catch {
            throw Self.describing(error)
        }
    }

    /// Runs `body` on a connection of the pool. Without a deadline it waits as long as the pool lets it: while the
    /// server cannot be reached the pool fails its waiting operations once it has given up connecting (its circuit
    /// breaker), and a webhook is then answered 503 and retried by Daily. With one (readiness, start-up) it gives up
    /// the wait after `deadline`, never a transaction under way. Operations take no timer of their own: one per
    /// operation cost more than the query on this path (BENCHMARKS.md).
    func withConnection<T: Sendable>(
        deadline: Duration? = nil,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        guard let deadline else { return try await client.withConnection { connection in try await body(connection) } }
        let lease = LeaseGate()
        let (location, client) = (location, client)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await client.withConnection { connection in
                    guard lease.take() else { throw CancellationError() }
                    return try await body(connection)
                }
            }
            group.addTask {
                try await Task.sleep(for: deadline)
                if lease.giveUp() { throw PostgresUnavailable(location: location, waited: deadline) }
                return nil
            }
            while let next = try await group.next() {
                if let result = next {
                    group.cancelAll()
                    return result
                }
            }
            throw CancellationError()
        }
    }

    static func sessions(_ transaction: PostgresTransaction, _ query: PostgresQuery) async throws -> [Session] {
        try await transaction.rows(query).map(Session.init(postgres:))
    }

    /// Hears every replica's committed changes (this one's too) and tells `changes`; reconnects after a failure.
    func listenForChanges() async {
        while !Task.isCancelled {
            do {
                try await withConnection(deadline: Self.startupTimeout) { [instanceID, changes] connection in
                    try await connection.listen(on: Self.changesChannel) { notifications in
                        for try await notification in notifications {
                            if notification.payload == PostgresTransaction.placementPayload {
                                changes.wantPlacement()
                                continue
                            }
                            // "<instance>\t<room>\t…": a replica's own changes were told when they committed.
                            let parts = notification.payload.split(separator: "\t")
                            guard parts.count >= 2, parts[0] != instanceID else { continue }
                            changes.publish(parts.dropFirst().map { RoomChange(room: String($0), session: nil) })
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("listening for other replicas' changes failed; retrying", metadata: ["error": "\(Self.describing(error))"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}

/// Where a wait for a connection stands: whichever of the lease and the deadline comes first settles it.
private final class LeaseGate: Sendable {
    private enum State { case waiting, leased, givenUp }
    private let state = Mutex(State.waiting)

    /// The connection came: true when it may be used (the wait was not given up first).
    func take() -> Bool {
        state.withLock { state in
            if state == .givenUp { return false }
            state = .leased
            return true
        }
    }

    /// The deadline passed: true when the wait is given up (no connection came first).
    func giveUp() -> Bool {
        state.withLock { state in
            if state == .leased { return false }
            state = .givenUp
            return true
        }
    }
}
