import Logging
import Policy
import PostgresNIO

/// One transaction on one leased connection: the statements of one store method, and the rooms it changed, which
/// are announced once it has committed (`PostgresChangeAnnouncer`) so that every replica's live views hear of them.
final class PostgresTransaction {
    let connection: PostgresConnection
    let logger: Logger
    private(set) var changedRooms: Set<String> = []
    /// A bot may now be placed where it could not be before (see `SessionFeed.placementWakeups`).
    private(set) var wantsPlacement = false

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await connection.query(query, logger: logger).collect()
    }

    func execute(_ query: PostgresQuery) async throws {
        _ = try await rows(query)
    }

    /// The first column of the first row, or nil when there is no row (or it is NULL).
    func value<Value: PostgresDecodable>(_ query: PostgresQuery, as type: Value.Type = Value.self) async throws -> Value? {
        guard let row = try await rows(query).first else { return nil }
        let cell = row.makeRandomAccess()[0]
        return cell.bytes == nil ? nil : try cell.decode(Value.self)
    }

    /// Notes that the room changed: every replica hears of it once this transaction commits.
    func changed(_ room: String) {
        changedRooms.insert(room)
    }

    /// The payload that wakes every replica's placement (a change's payload always holds a tab).
    static let placementPayload = "place"

    func wantPlacement() {
        wantsPlacement = true
    }
}

extension PSQLError {
    /// The SQLSTATE the server answered with, if it did.
    var sqlState: String? { serverInfo?[.sqlState] }

    /// A deadlock or serialization failure: the transaction was rolled back and may simply run again.
    var isRetryable: Bool { sqlState == "40P01" || sqlState == "40001" }

    /// What a person can act on: the server's code and message, never the query's values.
    var summary: String {
        if let serverInfo {
            return "\(serverInfo[.sqlState] ?? "?") \(serverInfo[.message] ?? "")"
        }
        return "\(code)"
    }
}

/// No connection to the database within the time an operation may wait.
struct PostgresUnavailable: Error, CustomStringConvertible {
    let location: PostgresLocation
    let waited: Duration

    var description: String { "no connection to \(location) within \(waited.components.seconds) s" }
}
