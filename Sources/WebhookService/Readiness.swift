import BotRuntime
import Foundation
import SessionStore

#if canImport(Glibc)
import Glibc
#endif

/// What `GET /ready` checks: the service takes new bots, the database file takes a write, and the volumes of
/// the database and of the bot logs have room (SQLite can still rewrite its WAL on a full disk for a while, so
/// a write alone does not show it).
struct Readiness: Sendable {
    /// Below this much free space a volume counts as full.
    static let minimumFreeBytes: UInt64 = 8 * 1024 * 1024

    let store: any SessionStorage
    let supervisor: Supervisor
    /// The folders whose volumes must have room: the database's and the bot logs'.
    let folders: [String]

    /// nil when ready, else the reason (`draining`, `database_unavailable`, `disk_full`).
    func problem() async -> String? {
        if supervisor.isDraining { return "draining" }
        for folder in folders {
            if let free = Self.freeBytes(folder), free < Self.minimumFreeBytes { return "disk_full" }
        }
        guard await store.isWritable(now: Date().timeIntervalSince1970) else { return "database_unavailable" }
        return nil
    }

    /// Bytes an unprivileged writer may still use on the volume of `path` (or of its nearest existing parent).
    static func freeBytes(_ path: String) -> UInt64? {
        var candidate = path.isEmpty ? "." : path
        var info = statvfs()
        while statvfs(candidate, &info) != 0 {
            let parent = (candidate as NSString).deletingLastPathComponent
            if parent == candidate || parent.isEmpty {
                guard statvfs(".", &info) == 0 else { return nil }
                break
            }
            candidate = parent
        }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize)
    }
}
