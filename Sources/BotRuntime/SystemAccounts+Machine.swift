import Foundation
import Policy

#if canImport(Glibc)
import Glibc
#endif

extension SystemAccounts {
    /// This machine's user and group databases, and this process's privileges.
    package static func thisMachine() -> SystemAccounts {
        SystemAccounts(
            user: { name in
                var entry = passwd()
                var result: UnsafeMutablePointer<passwd>?
                var buffer = [CChar](repeating: 0, count: 16_384)
                if getpwnam_r(name, &entry, &buffer, buffer.count, &result) != 0 || result == nil {
                    guard let uid = UInt32(name), getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil
                    else { return nil }
                }
                return (entry.pw_uid, entry.pw_gid, String(cString: entry.pw_dir))
            },
            group: { name in
                var entry = Glibc.group()
                var result: UnsafeMutablePointer<Glibc.group>?
                var buffer = [CChar](repeating: 0, count: 16_384)
                guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
                return entry.gr_gid
            },
            currentUID: geteuid(),
            canSwitchUsers: geteuid() == 0 || hasEffectiveCapabilities([6, 7])
        )
    }

    /// Whether each of these capabilities (by number: 6 is CAP_SETGID, 7 CAP_SETUID) is in this process's effective
    /// set, as `/proc/self/status` shows it.
    static func hasEffectiveCapabilities(_ numbers: [Int]) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
            let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return numbers.allSatisfy { mask & (1 << UInt64($0)) != 0 }
    }
}
