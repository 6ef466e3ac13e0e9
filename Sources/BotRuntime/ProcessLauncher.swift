import CProcessSpawn
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How a bot process ended.
public enum ExitStatus: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32)
    /// Not our child (re-adopted after a restart): it is gone, but its status cannot be known.
    case vanished

    /// The `exit_code` to record: the exit status, 128 + the signal (as shells report it), or nil.
    public var exitCode: Int? {
        switch self {
        case .exited(let code): Int(code)
        case .signaled(let signal): 128 + Int(signal)
        case .vanished: nil
        }
    }
}

/// A bot process could not be started.
public struct LaunchError: Error, CustomStringConvertible {
    public let executable: String
    public let errno: Int32

    public var description: String {
        "cannot start \(executable): \(String(cString: strerror(errno)))"
    }
}

/// Starts processes the way bots must run: in a session and process group of their own, stdin from
/// /dev/null, stdout and stderr appended to a file, every signal disposition back at its default, and no
/// file descriptor of the service inherited. So a bot outlives a crash of the service and keeps logging.
public enum ProcessLauncher {
    /// Starts `arguments[0]` (searched in PATH) and returns its pid, which is also its process group id. Its
    /// standard input is `input` when given (a warm bot's pipe), else /dev/null.
    public static func spawn(
        arguments: [String], environment: [String: String], logPath: String, input: Int32? = nil
    ) throws(LaunchError) -> Int32 {
        let executable = arguments.first ?? ""
        var fileActions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&fileActions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&fileActions)
            posix_spawnattr_destroy(&attributes)
        }
        if let input {
            // dup2 clears close-on-exec on the copy: the child gets the pipe as fd 0 only.
            posix_spawn_file_actions_adddup2(&fileActions, input, 0)
        } else {
            posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&fileActions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
        autospawn_spawn_add_closefrom(&fileActions, 3)

        // The service ignores SIGPIPE and may block or ignore SIGTERM/SIGINT for its own shutdown handling;
        // ignored signals survive exec, and a bot that ignores SIGTERM cannot be stopped gently.
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, autospawn_spawn_setsid_flag() | Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, executable, &fileActions, &attributes, argv, envp)
        guard result == 0 else { throw LaunchError(executable: executable, errno: result) }
        return pid
    }

    /// Waits for a child to end. The wait blocks a thread of its own, never one of Swift's cooperative pool.
    public static func waitForExit(pid: Int32) async -> ExitStatus {
        await onOwnThread {
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
    }

    /// Waits for a process that is not our child (adopted after a restart) by looking at /proc.
    public static func pollForExit(pid: Int32, startTime: UInt64, interval: Duration = .milliseconds(200)) async -> ExitStatus {
        while ProcessTable.isAlive(pid: pid, startTime: startTime) {
            try? await Task.sleep(for: interval)
        }
        return .vanished
    }

    /// Makes this process the subreaper of its descendants (prctl PR_SET_CHILD_SUBREAPER): what a bot's own
    /// children leave behind comes back to the service, which reaps it, instead of to init (or, in a container
    /// where the service is PID 1, to nobody that waits). False when the kernel refused.
    @discardableResult
    public static func becomeSubreaper() -> Bool {
        autospawn_become_subreaper() == 0
    }

    /// Sends a signal to a whole process group; false when no process is left in it.
    @discardableResult
    public static func signalGroup(_ group: Int32, _ signal: Int32) -> Bool {
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
