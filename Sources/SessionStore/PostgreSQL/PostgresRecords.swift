import Policy
import PostgresNIO

// The PostgreSQL backend's reading of the domain's records (Policy) from its rows, column by column.

/// A row that does not make a record: a value the domain does not know.
struct PostgresRecordError: Error, CustomStringConvertible {
    let description: String
}

extension Session {
    init(postgres row: PostgresRow) throws {
        let columns = row.makeRandomAccess()
        let id = try columns["id"].decode(String.self)
        func known<Value: RawRepresentable<String>>(_ column: String) throws -> Value? {
            guard let text = try columns[column].decode(String?.self) else { return nil }
            guard let value = Value(rawValue: text) else {
                throw PostgresRecordError(description: "session \(id) has an unknown \(column) \(text)")
            }
            return value
        }
        guard let state: SessionState = try known("state"), let launcher: LauncherKind = try known("launcher"),
            let transport: Transport = try known("transport")
        else {
            throw PostgresRecordError(description: "session \(id) has no state, launcher or transport")
        }
        self.init(
            id: id,
            roomName: try columns["room_name"].decode(String.self),
            roomURL: try columns["room_url"].decode(String?.self),
            state: state,
            launcher: launcher,
            createdAt: try columns["created_at"].decode(Double.self),
            updatedAt: try columns["updated_at"].decode(Double.self),
            endedAt: try columns["ended_at"].decode(Double?.self),
            endReason: try known("end_reason"),
            exitCode: try columns["exit_code"].decode(Int?.self),
            pid: try columns["pid"].decode(Int32?.self),
            pidStartTime: try columns["pid_start_time"].decode(Int64?.self).map { UInt64(bitPattern: $0) },
            ownerInstance: placedOwner(try columns["owner_instance"].decode(String.self)),
            stopAt: try columns["stop_at"].decode(Double?.self),
            stopReason: try known("stop_reason"),
            body: try columns["body"].decode(String.self),
            botUserID: try columns["bot_user_id"].decode(String?.self),
            placedAt: try columns["placed_at"].decode(Double?.self),
            profile: try columns["profile"].decode(String.self),
            transport: transport
        )
    }
}

extension ServiceInstance {
    init(postgres row: PostgresRow) throws {
        let columns = row.makeRandomAccess()
        self.init(
            id: try columns["id"].decode(String.self),
            pid: try columns["pid"].decode(Int32.self),
            pidStartTime: UInt64(bitPattern: try columns["pid_start_time"].decode(Int64.self)),
            startedAt: try columns["started_at"].decode(Double.self),
            hostID: try columns["host_id"].decode(String.self),
            leaseUntil: try columns["lease_until"].decode(Double.self),
            advertiseURL: try columns["advertise_url"].decode(String?.self)
        )
    }
}
