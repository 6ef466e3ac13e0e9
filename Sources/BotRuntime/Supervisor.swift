import Foundation
import Logging
import Policy
import ServiceLifecycle
import SessionStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Starts, watches and stops this instance's bots, and keeps the database's account of them true.
///
/// It is a `Service`: while running it ends due empty-room stops, picks up stops other instances asked for,
/// starts waiting rooms' bots and rotates logs (the `Reaper` and `Recovery` apply the slower rules through
/// it); on graceful shutdown it stops every bot it owns (`shutdown`) and returns.
public actor Supervisor: Service {
    /// What the supervisor needs from the configuration.
    public struct Settings: Sendable {
        /// How bots are started: a process, or an agent request.
        public var launcher: Config.Launcher
        public var logDirectory: String
        public var stopGraceSeconds: Double
        /// A bot's meeting token expires after this (and an agent's request is closed).
        public var maxSessionSeconds: Double
        /// How often scheduled and cross-instance stops and waiting rooms are looked for.
        public var pollInterval: Duration
        /// The name bots join with (their meeting token's `user_name`).
        public var botName: String
        /// The service's variables a bot also gets (the allow-list, `Config.botEnvironment`).
        public var botEnvironment: [String: String]
        /// A bot's log past this is rotated.
        public var botLogMaxBytes: Int
        /// What a graceful shutdown does with the bots.
        public var shutdownMode: Config.ShutdownMode

        public init(
            launcher: Config.Launcher, logDirectory: String, stopGraceSeconds: Double, maxSessionSeconds: Double,
            pollInterval: Duration = .milliseconds(250), botName: String = "Pipecat Bot", botEnvironment: [String: String] = [:],
            botLogMaxBytes: Int = 10 * 1024 * 1024, shutdownMode: Config.ShutdownMode = .stop
        ) {
            self.shutdownMode = shutdownMode
            self.launcher = launcher
            self.logDirectory = logDirectory
            self.stopGraceSeconds = stopGraceSeconds
            self.maxSessionSeconds = maxSessionSeconds
            self.pollInterval = pollInterval
            self.botName = botName
            self.botEnvironment = botEnvironment
            self.botLogMaxBytes = botLogMaxBytes
        }
    }

    /// A bot this instance watches.
    private struct Bot {
        var room: String
        var running: RunningBot
        var stopping = false
    }

    private let store: any SessionStorage
    private let settings: Settings
    private let logger: Logger
    /// With `DAILY_API_KEY`: mints each bot's meeting token.
    private let daily: DailyClient?
    private let metrics: ServiceMetrics
    private var bots: [String: Bot] = [:]
    /// Where the ends of this supervisor's bot processes are heard.
    private let reaper = ChildReaper()
    /// Launches under way, so that `drain` can wait for them.
    private var pendingLaunches: [String: Task<Void, Never>] = [:]
    /// Sessions whose end is being written (retried while the database fails): the reaper leaves them alone.
    private var ending: Set<String> = []
    /// Each bot's log, rotated log and body file.
    nonisolated let files: BotFiles
    /// How this instance's bots are started (`AUTOSPAWN_BOT_COMMAND` or `AUTOSPAWN_AGENT_URL`).
    private let launcher: any BotLauncher
    private let drainingFlag = Atomic<Bool>(false)

    /// The time the rules are judged by.
    let clock: any WallClock

    public init(
        store: any SessionStorage, settings: Settings, logger: Logger, daily: DailyClient? = nil, metrics: ServiceMetrics = .disabled,
        clock: any WallClock = SystemClock()
    ) {
        self.clock = clock
        self.metrics = metrics
        self.store = store
        self.settings = settings
        let files = BotFiles(directory: settings.logDirectory, maxLogBytes: settings.botLogMaxBytes)
        self.files = files
        self.logger = logger
        self.daily = daily
        switch settings.launcher {
        case .process(let template):
            launcher = ProcessBotLauncher(
                template: template, botName: settings.botName, environment: settings.botEnvironment, files: files, reaper: reaper)
        case .agent(let baseURL):
            launcher = AgentBotLauncher(baseURL: baseURL, daily: daily, timeoutSeconds: settings.maxSessionSeconds + 60, logger: logger)
        }
    }

    /// True once shutdown has begun: no new bots are started.
    public nonisolated var isDraining: Bool { drainingFlag.load(ordering: .acquiring) }

    private var now: Double { clock.now() }

    /// The file a session's bot writes to.
    public nonisolated func logPath(for sessionID: String) -> String {
        files.logPath(for: sessionID)
    }

    // MARK: Launching

    /// Starts the session's bot after the caller's answer has gone out; returns at once.
    public nonisolated func launchSoon(_ session: Session) {
        Task { await self.launch(session) }
    }

    /// Starts the session's bot and records its process; a bot that cannot start fails its session.
    public func launch(_ session: Session) async {
        guard bots[session.id] == nil, pendingLaunches[session.id] == nil else { return }
        let task = Task { await self.performLaunch(session) }
        pendingLaunches[session.id] = task
        await task.value
        pendingLaunches[session.id] = nil
    }

    /// The logger for lines about one session: its id and room on each.
    private func logger(for session: Session) -> Logger {
        logger(for: session.id, room: session.roomName)
    }

    private func logger(for sessionID: String, room: String?) -> Logger {
        var logger = logger
        logger[metadataKey: "session_id"] = .string(sessionID)
        if let room = room ?? bots[sessionID]?.room { logger[metadataKey: "room"] = .string(room) }
        return logger
    }

    private func performLaunch(_ session: Session) async {
        let logger = logger(for: session)
        if isDraining {
            await finish(session.id, state: .failed, reason: .shutdown, exitCode: nil)
            return
        }
        var token: String?
        if let daily {
            do {
                token = try await daily.meetingToken(botTokenProperties(session))
            } catch {
                if Task.isCancelled { return }  // given up by the reaper, which ended the session
                logger.error("no meeting token for the bot", metadata: ["error": "\(error)"])
                files.append("autospawn: no meeting token: \(error)\n", for: session.id)
                await finish(session.id, state: .failed, reason: .tokenFailed, exitCode: nil)
                return
            }
        }
        // Stopped or given up while its token was on its way: no bot at all (`markStarted` is the last word).
        if Task.isCancelled { return }
        if let current = try? await store.session(session.id), current.state != .starting {
            if current.state == .stopping { await finish(session.id, state: .ended, reason: .stopRequested, exitCode: nil) }
            return
        }
        let bot: RunningBot
        do {
            bot = try await launcher.start(session, token: token)
        } catch {
            logger.error("bot could not start", metadata: ["error": "\(error)"])
            files.append("autospawn: \(error)\n", for: session.id)
            await finish(session.id, state: .failed, reason: .spawnFailed, exitCode: nil)
            return
        }
        watch(session, bot)
        logger.info("bot started", metadata: ["launcher": "\(launcher.name)", "pid": "\(bot.pid.map(String.init) ?? "none")"])
        await recordStart(session, pid: bot.pid, startTime: bot.startTime)
    }

    /// Records the bot's start (a process, or an agent's open request with pid nil). A session that is no
    /// longer `starting` takes no bot: the new one is stopped at once, so that no bot runs unaccounted for.
    private func recordStart(_ session: Session, pid: Int32?, startTime: UInt64?) async {
        let logger = logger(for: session)
        do {
            if let current = try await store.markStarted(session.id, pid: pid, pidStartTime: startTime, now: now) {
                if session.state == .starting { metrics.spawnLatency(seconds: current.updatedAt - session.createdAt) }
                return
            }
            logger.warning("the session ended or is stopping while its bot started: stopping the bot")
        } catch {
            // The bot runs but the database did not take its pid: stopping it keeps invariant 4 (docs/DESIGN.md).
            logger.error("could not record the bot's start; stopping it", metadata: ["error": "\(error)"])
        }
        terminate(session.id)
    }

    /// The bot's meeting token (README, "The bot's contract"): owner, the bot's name, `autospawn-…` user id, expiring with the session.
    nonisolated func botTokenProperties(_ session: Session) -> [String: JSONValue] {
        [
            "room_name": .string(session.roomName), "is_owner": .bool(true), "user_name": .string(settings.botName),
            "user_id": .string(session.botUserID ?? botUserID(sessionID: session.id)),
            "exp": .number((Date().timeIntervalSince1970 + settings.maxSessionSeconds).rounded(.down)),
        ]
    }

    private func watch(_ session: Session, _ bot: RunningBot) {
        bots[session.id] = Bot(room: session.roomName, running: bot)
        Task {
            let status = await bot.exit.value
            await self.botExited(session.id, pid: bot.pid ?? 0, status: status)
        }
    }

    private func botExited(_ sessionID: String, pid: Int32, status: ExitStatus) async {
        // Whatever the bot left behind in its group goes with it.
        ProcessLauncher.signalGroup(pid, SIGKILL)
        let logger = logger(for: sessionID, room: nil)
        bots[sessionID] = nil
        let (state, reason): (SessionState, EndReason) =
            switch status {
            case .exited(0), .vanished: (.ended, .botExited)
            case .exited, .signaled: (.failed, .botFailed)
            }
        logger.info("bot exited", metadata: ["pid": "\(pid)", "exit_code": "\(status.exitCode.map(String.init) ?? "unknown")"])
        await finish(sessionID, state: state, reason: reason, exitCode: status.exitCode)
    }

    /// Ends a session whose bot will never run (or has stopped), with the end counted and logged, and starts
    /// the room's next session when a human is waiting for it.
    public func end(_ sessionID: String, state: SessionState, reason: EndReason) async {
        await finish(sessionID, state: state, reason: reason, exitCode: nil)
    }

    /// Writes the end, retrying while the database fails (a session left active with no bot holds a slot for
    /// good). If every try fails, the reaper ends it later (`lost`): it is active, has no bot and no launch.
    private func finish(_ sessionID: String, state: SessionState, reason: EndReason, exitCode: Int?) async {
        ending.insert(sessionID)
        defer { ending.remove(sessionID) }
        var delay = Duration.milliseconds(100)
        for attempt in 1...Self.finishAttempts {
            do {
                let ending = try await store.finish(
                    sessionID, state: state, reason: reason, exitCode: exitCode, now: now, claimSuccessor: !isDraining)
                if let ended = ending?.ended {
                    metrics.sessionEnded(state: ended.state.rawValue, reason: (ended.endReason ?? reason).rawValue)
                    logger(for: ended).info(
                        "session ended", metadata: ["state": "\(ended.state.rawValue)", "reason": "\((ended.endReason ?? reason).rawValue)"])
                }
                if let successor = ending?.successor {
                    logger(for: successor).info("a human is waiting: starting the room's next bot")
                    launchSoon(successor)
                }
                return
            } catch {
                logger(for: sessionID, room: nil).error(
                    "could not record the end of a session", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                if attempt < Self.finishAttempts {
                    try? await Task.sleep(for: delay)
                    delay *= 2
                }
            }
        }
    }

    /// Tries at writing a session's end before it is left to the reaper (about 6 s of retries in all).
    static let finishAttempts = 7

    // MARK: Stopping

    /// Stops the session's bot (SIGTERM to its group, SIGKILL after the grace) if this instance watches it.
    public func stop(_ session: Session) {
        if session.state == .stopping { terminate(session.id) }
    }

    /// Asks for a stop through the database (any instance may own the bot) and acts on it when it is ours.
    public func requestStop(_ sessionID: String, reason: EndReason) async throws -> Session? {
        let session = try await store.requestStop(sessionID, reason: reason, now: now)
        if let session, session.state == .stopping, session.ownerInstance == store.instanceID {
            if bots[sessionID] == nil, pendingLaunches[sessionID] == nil, session.pid == nil {
                // Claimed but never launched (or its launch failed): nothing to signal.
                await finish(sessionID, state: .ended, reason: reason, exitCode: nil)
            } else {
                terminate(sessionID)
            }
        }
        return session
    }

    /// SIGTERM to the bot's group (or an agent's eject), SIGKILL after the grace.
    private func terminate(_ sessionID: String) {
        guard var bot = bots[sessionID], !bot.stopping else { return }
        bot.stopping = true
        bots[sessionID] = bot
        let (running, grace) = (bot.running, settings.stopGraceSeconds)
        logger(for: sessionID, room: bot.room).info("stopping bot", metadata: ["pid": "\(running.pid.map(String.init) ?? "none")"])
        Task.detached { await running.stop(grace) }
    }

    // MARK: Adoption

    /// Takes over a live bot process of an instance that is gone: recorded as this instance's, then watched
    /// like any other (and stopped at once if its session was already stopping).
    func adopt(_ session: Session, pid: Int32, startTime: UInt64) async {
        do {
            guard let adopted = try await store.adopt(session.id, pid: pid, pidStartTime: startTime, now: now) else { return }
            logger(for: session).info("adopted bot of an earlier instance", metadata: ["pid": "\(pid)"])
            metrics.reaperAction("adopted")
            watch(session, ProcessBotLauncher.adopted(pid: pid, startTime: startTime))
            if adopted.state == .stopping { terminate(session.id) }
        } catch {
            // Not adopted: stop it rather than leave a bot nobody accounts for.
            logger(for: session).error("could not adopt bot; stopping it", metadata: ["error": "\(error)"])
            ProcessLauncher.signalGroup(pid, SIGKILL)
        }
    }

    // MARK: Service

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.maintain()
        }
        switch settings.shutdownMode {
        case .stop: await drain()
        case .handover: await handOver()
        }
    }

    private func maintain() async {
        while !Task.isCancelled {
            await syncStops()
            await startWaitingRooms()
            rotateLogs()
            try? await Task.sleep(for: settings.pollInterval)
        }
    }

    /// Due empty-room stops, and stops that another instance wrote for a bot of ours.
    func syncStops() async {
        do {
            let now = now
            for session in try await store.scheduledStops() where (session.stopAt ?? .infinity) <= now {
                if let stopping = try await store.beginScheduledStop(session.id, now: now) {
                    _ = try await requestStop(stopping.id, reason: .roomEmpty)
                }
            }
            for session in try await store.ownActiveSessions() where session.state == .stopping {
                if bots[session.id].map({ !$0.stopping }) ?? false { terminate(session.id) }
            }
        } catch {
            logger.error("could not read scheduled stops", metadata: ["error": "\(error)"])
        }
    }

    /// Gives a bot to each room whose humans have waited for one (capacity was full, the room was backing off
    /// after failed bots, or its bot failed) as soon as policy allows.
    func startWaitingRooms() async {
        guard !isDraining else { return }
        do {
            for session in try await store.claimWaitingRooms(now: now) {
                logger(for: session).info("humans are waiting: starting the room's bot")
                launchSoon(session)
            }
        } catch {
            logger.error("could not look for waiting rooms", metadata: ["error": "\(error)"])
        }
    }

    /// Gives up a start that took longer than the start timeout: a launch still waiting (on Daily, say) is
    /// cancelled and its bot never starts; a bot already there is stopped.
    func giveUpStart(_ session: Session) async throws {
        pendingLaunches[session.id]?.cancel()
        logger(for: session).warning("bot did not start in time")
        metrics.reaperAction("start_timeout")
        if bots[session.id] == nil {
            await finish(session.id, state: .failed, reason: .startTimeout, exitCode: nil)
        } else {
            _ = try await requestStop(session.id, reason: .startTimeout)
        }
    }

    /// Ends (`lost`) this instance's `running` or `stopping` sessions that have no bot, no launch under way and
    /// no end being written: their end failed to reach the database, and they would hold a slot for good. The
    /// room waits for its next bot.
    func endSessionsWithoutBots() async {
        do {
            for session in try await store.ownActiveSessions()
            where session.state != .starting && bots[session.id] == nil && pendingLaunches[session.id] == nil
                && !ending.contains(session.id)
            {
                logger(for: session).warning("an active session has no bot: ending it")
                metrics.reaperAction("lost")
                await finish(session.id, state: .failed, reason: .lost, exitCode: nil)
            }
        } catch {
            logger.error("could not look for sessions without bots", metadata: ["error": "\(error)"])
        }
    }

    /// Rotates the logs of this instance's bot processes that have grown past their limit.
    func rotateLogs() {
        for (id, bot) in bots where bot.running.pid != nil {
            if files.rotateIfNeeded(sessionID: id) { metrics.reaperAction("log_rotated") }
        }
    }

    /// As its bots' subreaper, the service inherits what their descendants leave behind: zombies are reaped,
    /// and a live stray whose session is not an active one of this instance (a bot's child that escaped its
    /// process group) is killed, so nothing of an ended session keeps running.
    func stopStrays() {
        let ownSessions = Set(bots.keys).union(pendingLaunches.keys)
        for stray in reaper.reapStrays() {
            guard let sessionID = ProcessTable.environmentValue(pid: stray.pid, "AUTOSPAWN_SESSION_ID"),
                  !ownSessions.contains(sessionID)
            else { continue }
            logger(for: sessionID, room: nil).warning("stopping a stray process of an ended session", metadata: ["pid": "\(stray.pid)"])
            metrics.reaperAction("stray_stopped")
            kill(stray.pid, SIGKILL)
        }
    }

    /// Leaves every bot running for the next instance on this host, which adopts them (`Recovery`): no new bot
    /// starts here, launches under way finish, and the instance stays registered so that its sessions are
    /// judged by whether its process is alive.
    func handOver() async {
        drainingFlag.store(true, ordering: .releasing)
        for task in pendingLaunches.values { await task.value }
        logger.info("handing over: the bots keep running for the next instance", metadata: ["count": "\(bots.count)"])
    }

    /// Stops every bot of this instance (`shutdown`) and waits until each has ended.
    func drain() async {
        drainingFlag.store(true, ordering: .releasing)
        for task in pendingLaunches.values { await task.value }
        let sessions = (try? await store.ownActiveSessions()) ?? []
        logger.info("draining: stopping bots", metadata: ["count": "\(sessions.count)"])
        for session in sessions {
            _ = try? await requestStop(session.id, reason: .shutdown)
        }
        // Ended sessions leave `bots` in botExited; stop waiting once none is left.
        while !bots.isEmpty {
            try? await Task.sleep(for: .milliseconds(50))
        }
        try? await store.deregister(store.instanceID)
    }
}
