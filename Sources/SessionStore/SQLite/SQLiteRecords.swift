import GRDB
import Policy

// The SQLite backend's mapping of the domain's records (Policy) to its tables. Reading is column by column:
// GRDB's Codable decoding cost more than the query itself on the webhook path.

extension Session: FetchableRecord, PersistableRecord {
    package static let databaseTableName = "session"

    package init(row: Row) throws {
        func known<Value: RawRepresentable<String>>(_ column: String) throws -> Value? {
            guard let text: String = row[column] else { return nil }
            guard let value = Value(rawValue: text) else {
                throw DatabaseError(message: "session \(row["id"] as String? ?? "?") has an unknown \(column) \(text)")
            }
            return value
        }
        guard let state: SessionState = try known("state"), let launcher: LauncherKind = try known("launcher"),
            let transport: Transport = try known("transport")
        else {
            throw DatabaseError(message: "session \(row["id"] as String? ?? "?") has no state, launcher or transport")
        }
        self.init(
            id: row["id"],
            roomName: row["room_name"],
            roomURL: row["room_url"],
            state: state,
            launcher: launcher,
            createdAt: row["created_at"],
            updatedAt: row["updated_at"],
            endedAt: row["ended_at"],
            endReason: try known("end_reason"),
            exitCode: row["exit_code"],
            pid: row["pid"],
            pidStartTime: row["pid_start_time"],
            ownerInstance: placedOwner(row["owner_instance"]),
            stopAt: row["stop_at"],
            stopReason: try known("stop_reason"),
            body: row["body"],
            botUserID: row["bot_user_id"],
            placedAt: row["placed_at"],
            profile: row["profile"],
            transport: transport
        )
    }

    package func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["room_name"] = roomName
        container["room_url"] = roomURL
        container["state"] = state
        container["launcher"] = launcher
        container["created_at"] = createdAt
        container["updated_at"] = updatedAt
        container["ended_at"] = endedAt
        container["end_reason"] = endReason
        container["exit_code"] = exitCode
        container["pid"] = pid
        container["pid_start_time"] = pidStartTime
        container["owner_instance"] = ownerInstance ?? unplacedOwner
        container["stop_at"] = stopAt
        container["stop_reason"] = stopReason
        container["body"] = body
        container["bot_user_id"] = botUserID
        container["placed_at"] = placedAt
        container["profile"] = profile
        container["transport"] = transport.rawValue
    }
}

extension ServiceInstance: FetchableRecord, PersistableRecord {
    package static let databaseTableName = "instance"
}

extension SessionState: DatabaseValueConvertible {}
extension EndReason: DatabaseValueConvertible {}
extension LauncherKind: DatabaseValueConvertible {}
