import CProcessSpawn
import Foundation
import Policy

#if canImport(Glibc)
import Glibc
#endif

/// A bot process could not be started.
package struct LaunchError: Error, CustomStringConvertible {
    package let executable: String
    package let errno: Int32

    package var description: String {
        "cannot start \(executable): \(String(cString: strerror(errno)))"
    }
}

/// Starts processes the way bots must run: in a session and process group of their own, stdin from
/// /dev/null, stdout and stderr appended to a file, every signal disposition back at its default, no file
/// descriptor of the service inherited, and, with `AUTOSPAWN_BOT_USER`, as that user. So a bot outlives a crash of
/// the service, keeps logging, and reaches nothing of the service's.
package enum ProcessLauncher {
    /// Where a bot finds the descriptor `spawn` gives it as `body`.
    package static let bodyPath = "/dev/fd/3"

    /// Starts `arguments[0]` (searched in the bot's PATH) and returns its pid, which is also its process group id.
    /// Its standard input is `input` when given (a warm bot's pipe), else /dev/null; `body` becomes its fd 3
    /// (`bodyPath`); `account` is the user it runs as (nil: the service's).
    package static func spawn(
        arguments: [String],
        environment: [String: String],
        logPath: String,
        input: Int32? = nil,
        body: Int32? = nil,
        account: BotAccount? = nil
    ) throws(LaunchError) -> Int32 {
        let executable = arguments.first ?? ""
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = executable.withCString { file in
            (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").withCString { searchPath in
                logPath.withCString { log in
                    argv.withUnsafeBufferPointer { argv in
                        envp.withUnsafeBufferPointer { envp in
                            var request = autospawn_spawn_request(
                                file: file,
                                search_path: searchPath,
                                argv: argv.baseAddress,
                                envp: envp.baseAddress,
                                input_fd: input ?? -1,
                                log_path: log,
                                body_fd: body ?? -1,
                                switch_user: account == nil ? 0 : 1,
                                uid: account?.uid ?? 0,
                                gid: account?.gid ?? 0
                            )
                            return autospawn_spawn(&request, &pid)
                        }
                    }
                }
            }
        }
        guard result == 0 else { throw LaunchError(executable: executable, errno: result) }
        return pid
    }

    /// Makes this process non-dumpable (prctl PR_SET_DUMPABLE 0): a process of the same user, a bot among them, can
    /// then neither read its `/proc/<pid>/environ`, memory or descriptors nor attach to it. False when the kernel refused.
    @discardableResult
    package static func makeUndumpable() -> Bool {
        autospawn_make_undumpable() == 0
    }

    /// Waits for a child to end. The wait blocks a thread of its own, never one of Swift's cooperative pool.
    package static func waitForExit(pid: Int32) async -> ExitStatus {
        await onOwnThread { blockingWait(pid: pid) }
    }

    /// Waits for a child to end, blocking the calling thread.
    static func blockingWait(pid: Int32) -> ExitStatus {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, 0)
            if result == pid { break }
            if result == -1 && errno == EINTR { continue }
            return .vanished
        }
        let signal = status & 0x7F
        return signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
    }

    /// Makes this process the subreaper of its descendants (prctl PR_SET_CHILD_SUBREAPER): what a bot's own
    /// children leave behind comes back to the service, which reaps it, instead of to init (or, in a container
    /// where the service is PID 1, to nobody that waits). False when the kernel refused.
    @discardableResult
    package static func becomeSubreaper() -> Bool {
        autospawn_become_subreaper() == 0
    }

    /// Sends a signal to a whole process group; false when no process is left in it.
    @discardableResult
    package static func signalGroup(_ group: Int32, _ signal: Int32) -> Bool {
        guard group > 1 else { return false }
        return kill(-group, signal) == 0
    }
}

/// Runs blocking work (a wait, a write to a pipe) on a thread of its own with a small stack and returns its result:
/// Swift's cooperative pool has a thread per core, and one blocked there stalls every task.
func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: work()) }
        thread.stackSize = 256 * 1024
        thread.start()
    }
}
