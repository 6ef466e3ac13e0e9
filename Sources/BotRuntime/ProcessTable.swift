import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What `/proc` says about processes: enough to tell a bot apart from a process that reused its pid.
package enum ProcessTable {
    /// A process's identity: pid, its start time in clock ticks since boot, and its process group.
    package struct Entry: Sendable, Equatable {
        package var pid: Int32
        package var startTime: UInt64
        package var processGroup: Int32
    }

    /// The live (not zombie) process with this pid, or nil.
    package static func entry(pid: Int32) -> Entry? {
        guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state), so field N is fields[N - 3].
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X",
            let group = Int32(fields[2]), let start = UInt64(fields[19])
        else { return nil }
        return Entry(pid: pid, startTime: start, processGroup: group)
    }

    /// The parent of a live process, or nil.
    package static func parent(of pid: Int32) -> Int32? {
        guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    /// Whether a live process runs the same program as this one (another instance of the service on this host), by
    /// its command name: `/proc/<pid>/comm` is readable whoever owns the process, even a non-dumpable one, which
    /// its executable's link is not.
    package static func runsThisProgram(pid: Int32) -> Bool {
        func command(_ pid: String) -> String? { try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) }
        guard let own = command("self"), let other = command("\(pid)") else { return false }
        return own == other
    }

    /// The start time of a live process, or nil.
    package static func startTime(pid: Int32) -> UInt64? {
        entry(pid: pid)?.startTime
    }

    /// True when `pid` is alive and is the same process that started at `startTime`.
    package static func isAlive(pid: Int32, startTime: UInt64) -> Bool {
        entry(pid: pid)?.startTime == startTime
    }

    /// Live process-group leaders whose environment holds `variable=value` (a bot whose pid never reached the
    /// database before a crash still carries its session id in `AUTOSPAWN_SESSION_ID`).
    package static func groupLeaders(withEnvironment variable: String, equalTo value: String) -> [Entry] {
        groupLeaders(carrying: variable).filter { $0.value == value }.map(\.entry)
    }

    /// Live process-group leaders whose environment sets `variable`, with its value (one pass over /proc).
    package static func groupLeaders(carrying variable: String) -> [(entry: Entry, value: String)] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return names.compactMap { name in
            guard let pid = Int32(name), let entry = entry(pid: pid), entry.processGroup == pid,
                let value = environmentValue(pid: pid, variable)
            else { return nil }
            return (entry, value)
        }
    }

    /// A child process of some parent, zombie or not.
    package struct Child: Sendable, Equatable {
        package var pid: Int32
        package var isZombie: Bool
    }

    /// Every child of `parent`, zombies included (one pass over /proc).
    package static func children(of parent: Int32) -> [Child] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var children: [Child] = []
        for name in names {
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, Int32(fields[1]) == parent else { continue }
            children.append(Child(pid: pid, isZombie: fields[0] == "Z"))
        }
        return children
    }

    /// The value of one variable in a live process's environment, or nil.
    package static func environmentValue(pid: Int32, _ variable: String) -> String? {
        guard let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        let prefix = Array("\(variable)=".utf8)
        for entry in environment.split(separator: 0) where entry.starts(with: prefix) {
            return String(decoding: entry.dropFirst(prefix.count), as: UTF8.self)
        }
        return nil
    }

    /// Names this machine for as long as it runs: its host name and the kernel's boot id (a machine restarted is
    /// another host: none of its old processes can be alive).
    package static func hostIdentity() -> String {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count) == 0 ? String(cString: name) : "unknown"
        let boot =
            (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "no-boot-id"
        return host + "/" + boot
    }

    /// The pid and start time of this process.
    package static func current() -> Entry {
        let pid = getpid()
        return entry(pid: pid) ?? Entry(pid: pid, startTime: 0, processGroup: getpgrp())
    }
}
