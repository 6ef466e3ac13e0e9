import CProcessSpawn
import Foundation
import Policy
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A prewarmed bot process: started from the bot command before any room is known, in a process group of its own,
/// it imports what it needs and then waits on its standard input for its room (`RoomAssignment`, one JSON line).
/// Until then it writes to a file of its own in the pool's folder.
struct WarmBot: Sendable {
    /// A mark of its own in each warm process's environment (a warm process has no session id there).
    static let idVariable = "AUTOSPAWN_WARM_ID"

    let pid: Int32
    /// With `pid`, what tells the process apart (and what the session records).
    let startTime: UInt64
    /// The service's end of the process's standard input.
    let input: BotInput
    /// The process's fd 3, empty until its room comes: then its body (`ProcessLauncher.bodyPath`).
    let body: BotInput
    /// Where its output goes while it is idle.
    let logPath: String
    let startedAt: ContinuousClock.Instant
    /// Tells how the process ended.
    let exit: BotExit

    /// Starts one from `arguments`, its output appended to a file in `directory` that is named for the process
    /// (`<pool>.<pid>.<start time>.log`), so that a file left by a crash can be told from one still in use.
    /// `exited` hears its end, idle or not.
    static func start(
        pool: String,
        arguments: [String],
        environment: [String: String],
        account: BotAccount?,
        directory: String,
        reaper: ChildReaper,
        exited: @escaping @Sendable (Int32, ExitStatus) -> Void
    ) throws -> WarmBot {
        try BotFiles.makePrivateDirectory(directory)
        var ends: [Int32] = [-1, -1]
        guard autospawn_pipe_cloexec(&ends) == 0 else { throw LaunchError(executable: arguments.first ?? "", errno: errno) }
        defer { close(ends[0]) }
        let body: Int32
        do {
            body = try BotFiles.bodyDescriptor("")
        } catch {
            close(ends[1])
            throw error
        }
        let startingLog = directory + "/" + pool + ".starting-" + UUID().uuidString + ".log"
        let pid: Int32
        do {
            pid = try ProcessLauncher.spawn(
                arguments: arguments,
                environment: environment,
                logPath: startingLog,
                input: ends[0],
                body: body,
                account: account
            )
        } catch {
            close(ends[1])
            close(body)
            unlink(startingLog)
            throw error
        }
        reaper.expect(pid)
        let startTime = ProcessTable.startTime(pid: pid) ?? 0
        // The process holds the file open: renaming it moves nothing it writes.
        let logPath = WarmLogName(pool: pool, pid: pid, startTime: startTime).path(in: directory)
        rename(startingLog, logPath)
        let exit = BotExit()
        reaper.watch(pid) { status in
            exit.fulfil(status)
            exited(pid, status)
        }
        return WarmBot(
            pid: pid,
            startTime: startTime,
            input: BotInput(ends[1]),
            body: BotInput(body),
            logPath: logPath,
            startedAt: .now,
            exit: exit
        )
    }

    /// SIGTERM to its group (with its input closed, a bot that waits for a room reads end of input and exits), then
    /// SIGKILL after `grace`; returns once it has ended.
    func stop(grace: Double) async {
        input.close()
        body.close()
        await ProcessBotLauncher.running(pid: pid, startTime: startTime, exit: exit).stop(grace)
        ProcessLauncher.signalGroup(pid, SIGKILL)  // what it left in its group
    }
}

/// The name of a warm bot's file while it is idle: `<pool>.<pid>.<start time>.log`.
struct WarmLogName: Equatable {
    var pool: String
    var pid: Int32
    var startTime: UInt64

    func path(in directory: String) -> String { "\(directory)/\(pool).\(pid).\(startTime).log" }

    /// The parts of a file name of this form, nil for any other file.
    init?(fileName: String) {
        let parts = fileName.split(separator: ".")
        guard parts.count == 4, parts[3] == "log", let pid = Int32(parts[1]), let startTime = UInt64(parts[2]) else { return nil }
        self.init(pool: String(parts[0]), pid: pid, startTime: startTime)
    }

    init(pool: String, pid: Int32, startTime: UInt64) {
        self.pool = pool
        self.pid = pid
        self.startTime = startTime
    }
}

/// The service's end of what a warm bot is given once: its standard input (its room; closing it, or the service's
/// death, gives the bot end of input) and its body's descriptor. Written once, then closed.
final class BotInput: Sendable {
    private let descriptor: Mutex<Int32>

    init(_ descriptor: Int32) { self.descriptor = Mutex(descriptor) }

    deinit { close() }

    /// Writes `bytes` and closes; false when the bot no longer reads (it has died). The write blocks a thread of its
    /// own, never one of Swift's cooperative pool: a room line larger than the pipe's buffer waits for the bot.
    func send(_ bytes: [UInt8]) async -> Bool {
        guard
            let fd = descriptor.withLock({ fd -> Int32? in
                defer { fd = -1 }
                return fd >= 0 ? fd : nil
            })
        else { return false }
        return await onOwnThread {
            // EPIPE when the bot is gone (SIGPIPE is ignored, `WarmPool.init`).
            let sent = writeAll(bytes, to: fd)
            Glibc.close(fd)
            return sent
        }
    }

    func close() {
        descriptor.withLock { fd in
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
    }
}

/// What a warm bot reads on its standard input when it gets a room: one line of JSON.
struct RoomAssignment: Encodable {
    var roomURL: String
    var roomName: String
    /// The bot's meeting token, when one was minted.
    var token: String?
    /// A phone call's stream URL (`AUTOSPAWN_CALL_WS_URL` of a cold bot).
    var wsURL: String?
    var sessionID: String
    /// The session's body, a JSON object.
    var body: JSONValue
    /// Where the same body is: the process's fd 3 (`AUTOSPAWN_BODY_FILE` of a cold bot).
    var bodyFile: String

    enum CodingKeys: String, CodingKey {
        case roomURL = "room_url"
        case roomName = "room_name"
        case token
        case wsURL = "ws_url"
        case sessionID = "session_id"
        case body
        case bodyFile = "body_file"
    }

    init(session: Session, access: BotAccess, bodyFile: String) {
        roomURL = session.roomURL ?? ""
        roomName = session.roomName
        token = access.token
        wsURL = access.streamURL
        sessionID = session.id
        body = (try? JSONValue(parsing: Array(session.body.utf8))) ?? .object([:])
        self.bodyFile = bodyFile
    }

    /// The line: compact JSON (no raw newline can occur in it) and a newline.
    func line() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return Array(try encoder.encode(self)) + [UInt8(ascii: "\n")]
    }
}
