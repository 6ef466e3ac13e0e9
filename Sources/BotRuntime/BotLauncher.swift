import Foundation
import Logging
import Policy

#if canImport(Glibc)
import Glibc
#endif

/// A bot that runs: how its end is heard and how it is made to stop.
public struct RunningBot: Sendable {
    /// The bot's process (its group leader), nil for an agent's open request.
    public var pid: Int32?
    /// The process's start time, with `pid` what tells it apart after a restart.
    public var startTime: UInt64?
    /// Ends with the bot.
    public var exit: Task<ExitStatus, Never>
    /// Asks the bot to stop, and makes it stop once `grace` seconds have passed; returns when it has ended.
    public var stop: @Sendable (_ grace: Double) async -> Void
    /// A warm bot's room, given once the session has recorded the process (so that a crash in between leaves no
    /// process unaccounted for); nil for a bot started with its room.
    public var assignRoom: (@Sendable () async -> Void)?

    public init(
        pid: Int32?, startTime: UInt64?, exit: Task<ExitStatus, Never>, assignRoom: (@Sendable () async -> Void)? = nil,
        stop: @escaping @Sendable (_ grace: Double) async -> Void
    ) {
        self.pid = pid
        self.startTime = startTime
        self.exit = exit
        self.stop = stop
        self.assignRoom = assignRoom
    }
}

/// How bots are started: a process on this host, or a Pipecat Cloud agent. The supervisor does the rest
/// (tokens, recording, watching, ending) the same way for both.
public protocol BotLauncher: Sendable {
    /// `process` or `agent`: the session's `launcher`.
    var name: String { get }
    /// Starts the session's bot, with its meeting token when one was minted.
    func start(_ session: Session, token: String?) async throws -> RunningBot
}

/// `AUTOSPAWN_BOT_COMMAND`: a process per bot, in its own session and process group, with the allow-listed
/// environment, its output in its log file and its body in a file of its own.
public struct ProcessBotLauncher: BotLauncher {
    public let name = "process"
    let template: [String]
    let botName: String
    /// The service's variables a bot also gets (`Config.botEnvironment`).
    let environment: [String: String]
    let files: BotFiles
    /// `AUTOSPAWN_BOT_USER`: the user its processes run as; nil: the service's.
    let account: BotAccount?
    /// Where the ends of the processes this launcher starts are heard.
    let reaper: ChildReaper

    public init(
        template: [String], botName: String, environment: [String: String], files: BotFiles, account: BotAccount?,
        reaper: ChildReaper
    ) {
        self.template = template
        self.botName = botName
        self.environment = environment
        self.files = files
        self.account = account
        self.reaper = reaper
    }

    public func start(_ session: Session, token: String?) async throws -> RunningBot {
        let command = BotCommand(
            template: template, session: session, token: token, botName: botName, bodyFile: ProcessLauncher.bodyPath)
        // The allow-list and the bot's own variables; never the service's environment (its keys).
        let environment = environment.merging(command.environment) { $1 }
        try BotFiles.makePrivateDirectory(files.directory)
        let body = try BotFiles.bodyDescriptor(session.body)
        defer { close(body) }
        let pid = try ProcessLauncher.spawn(
            arguments: command.arguments, environment: environment, logPath: files.logPath(for: session.id), body: body,
            account: account)
        reaper.expect(pid)
        let startTime = ProcessTable.startTime(pid: pid) ?? 0
        return Self.running(pid: pid, startTime: startTime, exit: Task { [reaper] in await reaper.exit(of: pid) })
    }

    /// A bot process of an earlier instance, found alive after a restart: not this process's child, so its end
    /// is seen in /proc.
    public static func adopted(pid: Int32, startTime: UInt64) -> RunningBot {
        running(pid: pid, startTime: startTime, exit: Task { await ProcessLauncher.pollForExit(pid: pid, startTime: startTime) })
    }

    /// SIGTERM to the group, SIGKILL after the grace.
    static func running(pid: Int32, startTime: UInt64, exit: Task<ExitStatus, Never>) -> RunningBot {
        RunningBot(pid: pid, startTime: startTime, exit: exit) { grace in
            ProcessLauncher.signalGroup(pid, SIGTERM)
            await awaitExit(exit, grace: grace) { ProcessLauncher.signalGroup(pid, SIGKILL) }
        }
    }
}

/// `AUTOSPAWN_BOT_COMMAND` with `AUTOSPAWN_WARM_BOTS`: a bot is an idle process of the pool when there is one, given
/// its room on its standard input; otherwise it is started cold, as without a pool.
public struct WarmBotLauncher: BotLauncher {
    public let name = "process"
    let pool: WarmPool
    let cold: ProcessBotLauncher

    public init(pool: WarmPool, cold: ProcessBotLauncher) {
        self.pool = pool
        self.cold = cold
    }

    public func start(_ session: Session, token: String?) async throws -> RunningBot {
        guard let warm = await pool.take() else { return try await cold.start(session, token: token) }
        let line: [UInt8]
        do {
            line = try RoomAssignment(session: session, token: token, bodyFile: ProcessLauncher.bodyPath).line()
        } catch {
            await warm.stop(grace: 0)
            throw error
        }
        // Its fd 3 holds the body before the room line tells it to read it.
        _ = await warm.body.send(Array(session.body.utf8))
        // The file moves, not the descriptor: the process writes on into what is now the session's log, with what
        // it printed while warming at its start (as a cold bot's log has), and no pipe through the service.
        rename(warm.logPath, cold.files.logPath(for: session.id))
        var bot = ProcessBotLauncher.running(pid: warm.pid, startTime: warm.startTime, exit: warm.exit)
        bot.assignRoom = { _ = await warm.input.send(line) }
        return bot
    }
}

/// `AUTOSPAWN_AGENT_URL`: the Pipecat Cloud base-image contract. `POST <url>/bot` with the body, the room in
/// headers; the open request is the bot's lifetime. Stopping ejects the bot's user from the room through
/// Daily; an agent that keeps the request open past the grace has it cancelled.
public struct AgentBotLauncher: BotLauncher {
    public let name = "agent"
    let baseURL: String
    let daily: DailyClient?
    let timeoutSeconds: Double
    let logger: Logger

    public init(baseURL: String, daily: DailyClient?, timeoutSeconds: Double, logger: Logger) {
        self.baseURL = baseURL
        self.daily = daily
        self.timeoutSeconds = timeoutSeconds
        self.logger = logger
    }

    public func start(_ session: Session, token: String?) async throws -> RunningBot {
        let request = AgentRequest(baseURL: baseURL, session: session, token: token ?? "", timeoutSeconds: timeoutSeconds)
        let (logger, daily) = (logger, daily)
        let exit = Task { await request.run(logger: logger) }
        let (room, userID) = (session.roomName, session.botUserID ?? botUserID(sessionID: session.id))
        return RunningBot(pid: nil, startTime: nil, exit: exit) { grace in
            do {
                try await daily?.eject(room: room, userIDs: [userID])
            } catch {
                logger.error("could not eject the agent's bot", metadata: ["room": "\(room)", "error": "\(error)"])
            }
            await awaitExit(exit, grace: grace) { exit.cancel() }
        }
    }
}

/// Waits for a bot to end; if it has not after `grace` seconds, `escalate` (SIGKILL, or closing an agent's
/// request) makes it, and the wait goes on until it has.
func awaitExit(_ exit: Task<ExitStatus, Never>, grace: Double, escalate: @escaping @Sendable () -> Void) async {
    await withTaskGroup(of: Void.self) { group in
        group.addTask { _ = await exit.value }
        group.addTask {
            try? await Task.sleep(for: .seconds(grace))
            if !Task.isCancelled { escalate() }
        }
        await group.next()
        group.cancelAll()
    }
}
