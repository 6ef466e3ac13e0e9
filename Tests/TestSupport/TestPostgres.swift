import Foundation
import Logging
import Policy
import PostgresNIO

/// The PostgreSQL server the tests use: `AUTOSPAWN_TEST_POSTGRES` (`.ci/postgres start` prints it). Without it the
/// PostgreSQL cases are left out of a local run, so the README's test command needs no PostgreSQL; in CI (`CI` set)
/// they are always in, and fail when no server was given.
package enum TestPostgres {
    package static var serverURL: String? {
        ProcessInfo.processInfo.environment["AUTOSPAWN_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// True when the PostgreSQL cases run: a server is given, or this is CI, where they must.
    package static var isEnabled: Bool {
        serverURL != nil || !(ProcessInfo.processInfo.environment["CI"] ?? "").isEmpty
    }

    package struct NotConfigured: Error, CustomStringConvertible {
        package init() {}
        package var description: String {
            "AUTOSPAWN_TEST_POSTGRES is not set: start a server with eval \"$(.ci/postgres start)\""
        }
    }

    /// The URL of a new, empty database on the test server.
    package static func newDatabase() async throws -> String {
        guard let serverURL, case .postgres(let server) = try DatabaseLocation.parse(serverURL) else { throw NotConfigured() }
        let name = "autospawn_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let logger = Logger(label: "test-postgres")
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: server.host,
                port: server.port,
                username: server.user,
                password: server.password,
                database: server.database,
                tls: .disable
            ),
            id: 1,
            logger: logger
        )
        do {
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        let password = server.password.map { ":\($0)" } ?? ""
        return "postgres://\(server.user)\(password)@\(server.host):\(server.port)/\(name)?sslmode=disable"
    }
}
