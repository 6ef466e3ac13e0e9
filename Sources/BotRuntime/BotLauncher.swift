import Foundation
import Logging
import Policy

#if canImport(Glibc)
import Glibc
#endif

/// What a running bot is, as its launcher knows it and the database records it.
package enum BotHandle: Sendable, Equatable {
    /// A process on this host (its group leader): the pid, and the start time that tells it apart after a restart.
    case process(pid: Int32, startTime: UInt64)
    /// An agent's open request: nothing to find after a restart, its bot is ejected instead.
    case request

    /// The bot's process, nil for an agent's open request.
    package var pid: Int32? {
        if case .process(let pid, _) = self { return pid }
        return nil
    }

    /// The process's start time, with `pid` what tells it apart after a restart.
    package var startTime: UInt64? {
        if case .process(_, let startTime) = self { return startTime }
        return nil
    }
}

/// A bot that runs: how its end is heard and how it is made to stop.
package struct RunningBot: Sendable {
    package var handle: BotHandle
    package var pid: Int32? { handle.pid }
    package var startTime: UInt64? { handle.startTime }
    /// Tells how the bot ended.
    package var exit: BotExit
    /// Asks the bot to stop, and makes it stop once `grace` seconds have passed; returns when it has ended.
    package var stop: @Sendable (_ grace: Double) async -> Void
    /// A warm bot's room, given once the session has recorded the process (so that a crash in between leaves no
    /// process unaccounted for); nil for a bot started with its room.
    package var assignRoom: (@Sendable () async -> Void)?

    package init(
        handle: BotHandle,
        exit: BotExit,
        assignRoom: (@Sendable () async -> Void)? = nil,
        stop: @escaping @Sendable (_ grace: Double) async -> Void
    ) {
        self.handle = handle
        self.exit = exit
        self.stop = stop
        self.assignRoom = assignRoom
    }
}

/// How bots are started, stopped and found again: a process on this host, or a Pipecat Cloud agent. The supervisor
/// does the rest (tokens, recording, watching, ending) the same way for every launcher, and `Recovery` asks the
/// launcher about the bots of an instance that died. A new launcher is a type of this protocol, its kind
/// (`LauncherKind`, `Config.Launcher` and its profile fields) and its case in `BotLaunchers` (docs/DESIGN.md).
/// What a bot is given to reach its caller: a Daily room's meeting token (when one was minted), or a phone call's
/// stream URL (`ws_url`, on the instance that launched it, carrying a key only this session's bot has).
package struct BotAccess: Sendable, Equatable {
    package var token: String?
    package var streamURL: String?

    package init(token: String? = nil, streamURL: String? = nil) {
        self.token = token
        self.streamURL = streamURL
    }
}

package protocol BotLauncher: Sendable {
    /// The sessions' `launcher`.
    var kind: LauncherKind { get }
    /// Starts the session's bot, with what it reaches its caller by. The bot stops by its `stop`.
    func start(_ session: Session, access: BotAccess) async throws -> RunningBot
    /// The bot of a session whose instance on this host is gone, if it still runs: it is adopted. Nil when it is
    /// gone (the session ends `lost`), once whatever it left is cleared up (an agent's bot is ejected).
    func recover(_ session: Session) async -> RunningBot?
    /// The bots of this launcher that run on this host, by session id, whosever they are (`Recovery` stops those whose
    /// session is over).
    func botsOnThisHost() -> [(sessionID: String, handle: BotHandle)]
    /// Stops a bot found on this host at once: its session is over.
    func kill(_ handle: BotHandle)
}

/// `AUTOSPAWN_BOT_COMMAND`: a process per bot, in its own session and process group, with the allow-listed
/// environment, its output in its log file and its body in a file of its own.
package struct ProcessBotLauncher: BotLauncher {
    package var kind: LauncherKind { .process }
    let template: [String]
    let botName: String
    /// The service's variables a bot also gets (`Config.botEnvironment`).
    let environment: [String: String]
    let files: BotFiles
    /// `AUTOSPAWN_BOT_USER`: the user its processes run as; nil: the service's.
    let account: BotAccount?
    /// Where the ends of the processes this launcher starts are heard.
    let reaper: ChildReaper

    package init(
        template: [String],
        botName: String,
        environment: [String: String],
        files: BotFiles,
        account: BotAccount?,
        reaper: ChildReaper
    ) {
        self.template = template
        self.botName = botName
        self.environment = environment
        self.files = files
        self.account = account
        self.reaper = reaper
    }

    package func start(_ session: Session, access: BotAccess) async throws -> RunningBot {
        let command = BotCommand(
            template: template,
            session: session,
            access: access,
            botName: botName,
            bodyFile: ProcessLauncher.bodyPath
        )
        // The allow-list and the bot's own variables; never the service's environment (its keys).
        let environment = environment.merging(command.environment) { $1 }
        try BotFiles.makePrivateDirectory(files.directory)
        let body = try BotFiles.bodyDescriptor(session.body)
        defer { close(body) }
        let pid = try ProcessLauncher.spawn(
            arguments: command.arguments,
            environment: environment,
            logPath: files.logPath(for: session.id),
            body: body,
            account: account
        )
        reaper.expect(pid)
        let startTime = ProcessTable.startTime(pid: pid) ?? 0
        return Self.running(pid: pid, startTime: startTime, exit: reaper.exit(of: pid))
    }

    /// The bot process of an earlier instance, found alive by its recorded pid and start time, or by its
    /// `AUTOSPAWN_SESSION_ID` when its pid never reached the database.
    package func recover(_ session: Session) async -> RunningBot? {
        var found: ProcessTable.Entry?
        if let pid = session.pid, let startTime = session.pidStartTime, ProcessTable.isAlive(pid: pid, startTime: startTime) {
            found = ProcessTable.entry(pid: pid)
        } else if session.pid == nil {
            found = ProcessTable.groupLeaders(withEnvironment: "AUTOSPAWN_SESSION_ID", equalTo: session.id).first
        }
        return found.map { Self.running(pid: $0.pid, startTime: $0.startTime, exit: reaper.exit(of: $0.pid, adoptedWithStartTime: $0.startTime)) }
    }

    /// Process-group leaders carrying `AUTOSPAWN_SESSION_ID` (one pass over /proc).
    package func botsOnThisHost() -> [(sessionID: String, handle: BotHandle)] {
        ProcessTable.groupLeaders(carrying: "AUTOSPAWN_SESSION_ID").map { bot in
            (bot.value, .process(pid: bot.entry.pid, startTime: bot.entry.startTime))
        }
    }

    package func kill(_ handle: BotHandle) {
        if case .process(let pid, _) = handle { ProcessLauncher.signalGroup(pid, SIGKILL) }
    }

    /// SIGTERM to the group, SIGKILL after the grace.
    static func running(pid: Int32, startTime: UInt64, exit: BotExit) -> RunningBot {
        RunningBot(handle: .process(pid: pid, startTime: startTime), exit: exit) { grace in
            ProcessLauncher.signalGroup(pid, SIGTERM)
            await awaitExit(exit, grace: grace) { ProcessLauncher.signalGroup(pid, SIGKILL) }
        }
    }
}

/// `AUTOSPAWN_BOT_COMMAND` with `AUTOSPAWN_WARM_BOTS`: a bot is an idle process of the pool when there is one, given
/// its room on its standard input; otherwise it is started cold, as without a pool.
package struct WarmBotLauncher: BotLauncher {
    package var kind: LauncherKind { .process }
    let pool: WarmPool
    let cold: ProcessBotLauncher

    package init(pool: WarmPool, cold: ProcessBotLauncher) {
        self.pool = pool
        self.cold = cold
    }

    package func start(_ session: Session, access: BotAccess) async throws -> RunningBot {
        guard let warm = await pool.take() else { return try await cold.start(session, access: access) }
        let line: [UInt8]
        do {
            line = try RoomAssignment(session: session, access: access, bodyFile: ProcessLauncher.bodyPath).line()
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

    /// A warm bot given its room is a process like a cold one.
    package func recover(_ session: Session) async -> RunningBot? { await cold.recover(session) }
    package func botsOnThisHost() -> [(sessionID: String, handle: BotHandle)] { cold.botsOnThisHost() }
    package func kill(_ handle: BotHandle) { cold.kill(handle) }
}

/// `AUTOSPAWN_AGENT_URL`: the Pipecat Cloud base-image contract. `POST <url>/bot` with the body, the room in
/// headers; the open request is the bot's lifetime. Stopping ejects the bot's user from the room through
/// Daily; an agent that keeps the request open past the grace has it cancelled.
package struct AgentBotLauncher: BotLauncher {
    package var kind: LauncherKind { .agent }
    let baseURL: String
    let daily: DailyClient?
    let timeoutSeconds: Double
    let logger: Logger

    package init(baseURL: String, daily: DailyClient?, timeoutSeconds: Double, logger: Logger) {
        self.baseURL = baseURL
        self.daily = daily
        self.timeoutSeconds = timeoutSeconds
        self.logger = logger
    }

    package func start(_ session: Session, access: BotAccess) async throws -> RunningBot {
        if let streamURL = access.streamURL { return startCall(session, streamURL: streamURL) }
        let request = AgentRequest(baseURL: baseURL, session: session, token: access.token ?? "", timeoutSeconds: timeoutSeconds)
        let (logger, daily) = (logger, daily)
        let exit = BotExit()
        // The open request is the bot: it runs as long as the bot does, whoever watches it (a supervisor that hands
        // over or is cancelled stops watching, not the bot), and the stop cancels it past the grace.
        let opened = Task {
            let status = await request.run(logger: logger)
            exit.fulfil(status)
        }
        let (room, userID) = (session.roomName, session.botUserID ?? botUserID(sessionID: session.id))
        return RunningBot(handle: .request, exit: exit) { grace in
            await Self.eject(room: room, userID: userID, daily: daily, logger: logger)
            await awaitExit(exit, grace: grace) { opened.cancel() }
        }
    }

    /// A phone call's bot: the agent's socket joined to the call's. Stopping it closes the agent's socket (its bot hears
    /// the call end), and drops it past the grace.
    private func startCall(_ session: Session, streamURL: String) -> RunningBot {
        let call = AgentCall(baseURL: baseURL, session: session, streamURL: streamURL)
        let (logger, exit, hangUp) = (logger, BotExit(), Outcome<Void>())
        let joined = Task { exit.fulfil(await call.run(hangUp: hangUp, logger: logger)) }
        return RunningBot(handle: .request, exit: exit) { grace in
            hangUp.fulfil(())
            await awaitExit(exit, grace: grace) { joined.cancel() }
        }
    }

    /// The open request died with its instance: the agent's bot is made to leave, and the session is lost. A call's
    /// bot went with the socket that joined it to its call: there is nothing to eject.
    package func recover(_ session: Session) async -> RunningBot? {
        guard session.transport == .daily else { return nil }
        await Self.eject(room: session.roomName, userID: session.botUserID ?? botUserID(sessionID: session.id), daily: daily, logger: logger)
        return nil
    }

    /// An agent's bots run elsewhere.
    package func botsOnThisHost() -> [(sessionID: String, handle: BotHandle)] { [] }
    package func kill(_ handle: BotHandle) {}

    private static func eject(room: String, userID: String, daily: DailyClient?, logger: Logger) async {
        do {
            try await daily?.eject(room: room, userIDs: [userID])
        } catch {
            logger.error("could not eject the agent's bot", metadata: ["room": "\(room)", "error": "\(error)"])
        }
    }
}

/// Waits for a bot to end; if it has not after `grace` seconds, `escalate` (SIGKILL, or closing an agent's
/// request) makes it, and the wait goes on until it has. A cancelled wait returns at once and escalates nothing.
func awaitExit(_ exit: BotExit, grace: Double, escalate: @escaping @Sendable () -> Void) async {
    let endedInGrace = await withTaskGroup(of: Bool.self) { group in
        group.addTask { await exit.wait() != nil }
        group.addTask {
            try? await Task.sleep(for: .seconds(grace))
            return false
        }
        let first = await group.next() ?? false
        group.cancelAll()
        return first
    }
    guard !endedInGrace, !Task.isCancelled else { return }
    escalate()
    _ = await exit.wait()
}
