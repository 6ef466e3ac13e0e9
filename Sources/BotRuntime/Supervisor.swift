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
/// It is a `Service` (`+Maintenance`): while running it ends due empty-room stops, picks up stops other instances
/// asked for, starts waiting rooms' bots, takes sessions that wait for an instance with room, and rotates logs
/// (the `Reaper` and `Recovery` apply the slower rules through it); on graceful shutdown it drains, hands over or
/// stops its bots as `AUTOSPAWN_SHUTDOWN` says (`+Shutdown`).
package actor Supervisor: Service {
    /// A bot this instance watches.
    struct Bot {
        var room: String
        var running: RunningBot
        var stopping = false
    }

    let store: any SessionStorage
    let settings: Settings
    let logger: Logger
    let metrics: ServiceMetrics
    var bots: [String: Bot] = [:]
    /// Where the ends of this supervisor's bot processes are heard.
    let reaper = ChildReaper()
    /// Launches under way, so that `drain` can wait for them.
    var pendingLaunches: [String: Task<Void, Never>] = [:]
    /// The bot work `run()` does as its children (`Work`).
    nonisolated let inbox = AsyncStream.makeStream(of: Work.self)
    /// Shutdowns waiting for the last bot to end (`waitForNoBots`).
    var whenNoBots: [CheckedContinuation<Void, Never>] = []
    /// Sessions whose end is being written (retried while the database fails): the reaper leaves them alone.
    var ending: Set<String> = []
    /// Each bot's log, rotated log and body file.
    nonisolated let files: BotFiles
    /// How each profile's bots are started, with their meeting tokens.
    nonisolated let launchers: BotLaunchers
    /// The warm pools of the profiles that keep idle processes (`AUTOSPAWN_WARM_BOTS`, a profile's `warm_bots`).
    package nonisolated var warmPools: [WarmPool] { launchers.warmPools }
    let drainingFlag = Atomic<Bool>(false)
    /// True while a drain lets its calls end (`AUTOSPAWN_SHUTDOWN=drain`): a phone call may still get its bot here.
    let drainKeepsCalls = Atomic<Bool>(false)
    /// Set by a second SIGTERM or SIGINT while draining: stop the bots now.
    var stopNowRequested = false
    /// The shutdown began with a SIGINT: it stops the bots.
    var interrupted = false
    /// The shutdown hands the bots over to the next instance (the lease then leaves a handover lease).
    package internal(set) var handsOver = false

    /// The time the rules are judged by.
    let clock: any WallClock

    package init(
        store: any SessionStorage,
        settings: Settings,
        logger: Logger,
        daily: DailyClient? = nil,
        metrics: ServiceMetrics = .disabled,
        clock: any WallClock = SystemClock()
    ) {
        self.clock = clock
        self.metrics = metrics
        self.store = store
        self.settings = settings
        let files = BotFiles(directory: settings.logDirectory, maxLogBytes: settings.botLogMaxBytes)
        self.files = files
        self.logger = logger
        launchers = BotLaunchers(settings: settings, files: files, reaper: reaper, daily: daily, metrics: metrics, logger: logger)
    }

    /// True once shutdown has begun: no new bots are started.
    package nonisolated var isDraining: Bool { drainingFlag.load(ordering: .acquiring) }

    /// Whether a phone call may get its bot here now: not after shutdown has begun, but during a drain, which waits for
    /// it as for any call here. A caller on hold has no room with humans that another instance would serve later.
    package nonisolated var takesCalls: Bool { !isDraining || drainKeepsCalls.load(ordering: .acquiring) }

    var now: Double { clock.now() }

    /// The file a session's bot writes to.
    package nonisolated func logPath(for sessionID: String) -> String {
        files.logPath(for: sessionID)
    }

    // MARK: Launching

    /// Starts the session's bot after the caller's answer has gone out (a child of `run()`); returns at once.
    /// - Parameter isCall: a phone call's session, which a drain still starts (`takesCalls`).
    package nonisolated func launchSoon(_ session: Session, isCall: Bool = false) {
        inbox.continuation.yield(.launch(session, isCall: isCall))
    }

    /// Stops the session's bot, or ends a session no instance had taken, after the caller's answer has gone out.
    package nonisolated func stopSoon(_ session: Session) {
        inbox.continuation.yield(.stopSession(session))
    }

    /// Starts the session's bot and records its process; a bot that cannot start fails its session. Only a session
    /// placed on this instance gets its bot here: one that waits for an instance with room is taken by
    /// `placeWaitingSessions` (here or elsewhere) first.
    package func launch(_ session: Session, isCall: Bool = false) async {
        guard session.ownerInstance == store.instanceID else { return }
        guard bots[session.id] == nil, pendingLaunches[session.id] == nil else { return }
        // Decided now, while the drain (which waits for launches under way) cannot end meanwhile.
        let mayStart = !isDraining || (isCall && takesCalls)
        // A task of its own, awaited here, so that the reaper can give up this one launch (`giveUpStart`).
        let task = Task { await self.performLaunch(session, mayStart: mayStart) }
        pendingLaunches[session.id] = task
        await task.value
        pendingLaunches[session.id] = nil
    }

    /// The logger for lines about one session: its id and room on each.
    func logger(for session: Session) -> Logger {
        logger(for: session.id, room: session.roomName)
    }

    func logger(for sessionID: String, room: String?) -> Logger {
        var logger = logger
        logger[metadataKey: "session_id"] = .string(sessionID)
        if let room = room ?? bots[sessionID]?.room { logger[metadataKey: "room"] = .string(room) }
        return logger
    }

    private func performLaunch(_ session: Session, mayStart: Bool) async {
        let logger = logger(for: session)
        if !mayStart {
            await finish(session.id, state: .failed, reason: .shutdown, exitCode: nil)
            return
        }
        let access: BotAccess
        do {
            access = try await launchers.access(for: session)
        } catch {
            if Task.isCancelled { return }  // given up by the reaper, which ended the session
            logger.error("no meeting token for the bot", metadata: ["error": "\(error)"])
            files.append("autospawn: no meeting token: \(error)\n", for: session.id)
            await finish(session.id, state: .failed, reason: .tokenFailed, exitCode: nil)
            return
        }
        // Stopped or given up while its token was on its way: no bot at all (`markStarted` is the last word).
        if Task.isCancelled { return }
        if let current = try? await store.session(session.id), current.state != .starting {
            if current.state == .stopping { await finish(session.id, state: .ended, reason: .stopRequested, exitCode: nil) }
            return
        }
        let bot: RunningBot
        do {
            bot = try await launchers.start(session, access: access)
        } catch {
            logger.error("bot could not start", metadata: ["error": "\(error)"])
            files.append("autospawn: \(error)\n", for: session.id)
            await finish(session.id, state: .failed, reason: .spawnFailed, exitCode: nil)
            return
        }
        watch(session, bot)
        logger.info(
            "bot started",
            metadata: [
                "launcher": "\(session.launcher.rawValue)", "profile": "\(session.profile)", "pid": "\(bot.pid.map(String.init) ?? "none")",
                "warm": "\(bot.assignRoom != nil)",
            ]
        )
        if await recordStart(session, pid: bot.pid, startTime: bot.startTime), let assignRoom = bot.assignRoom {
            await assignRoom()
        }
    }

    /// Records the bot's start (a process, or an agent's open request with pid nil). A session that is no
    /// longer `starting` takes no bot: the new one is stopped at once, so that no bot runs unaccounted for.
    /// True when it was recorded.
    private func recordStart(_ session: Session, pid: Int32?, startTime: UInt64?) async -> Bool {
        let logger = logger(for: session)
        do {
            if let current = try await store.markStarted(session.id, pid: pid, pidStartTime: startTime, now: now) {
                if session.state == .starting { metrics.spawnLatency(seconds: current.updatedAt - session.createdAt) }
                metrics.botStarted(profile: session.profile)
                return true
            }
            logger.warning("the session ended or is stopping while its bot started: stopping the bot")
        } catch {
            // The bot runs but the database did not take its pid: stopping it keeps invariant 4 (docs/DESIGN.md).
            logger.error("could not record the bot's start; stopping it", metadata: ["error": "\(error)"])
        }
        terminate(session.id)
        return false
    }

    private func watch(_ session: Session, _ bot: RunningBot) {
        bots[session.id] = Bot(room: session.roomName, running: bot)
        inbox.continuation.yield(.watch(session, bot))
    }

    private func botExited(_ sessionID: String, pid: Int32, status: ExitStatus) async {
        // Whatever the bot left behind in its group goes with it.
        ProcessLauncher.signalGroup(pid, SIGKILL)
        let logger = logger(for: sessionID, room: nil)
        bots[sessionID] = nil
        if bots.isEmpty {
            for waiter in whenNoBots { waiter.resume() }
            whenNoBots = []
        }
        let (state, reason) = status.sessionEnd
        logger.info("bot exited", metadata: ["pid": "\(pid)", "exit_code": "\(status.exitCode.map(String.init) ?? "unknown")"])
        await finish(sessionID, state: state, reason: reason, exitCode: status.exitCode)
    }

    /// Ends a session whose bot will never run (or has stopped), with the end counted and logged, and starts
    /// the room's next session when a human is waiting for it.
    package func end(_ sessionID: String, state: SessionState, reason: EndReason) async {
        await finish(sessionID, state: state, reason: reason, exitCode: nil)
    }

    /// Writes the end, retrying while the database fails (a session left active with no bot holds a slot for
    /// good). If every try fails, the reaper ends it later (`lost`): it is active, has no bot and no launch.
    func finish(_ sessionID: String, state: SessionState, reason: EndReason, exitCode: Int?) async {
        ending.insert(sessionID)
        defer { ending.remove(sessionID) }
        var delay = Duration.milliseconds(100)
        for attempt in 1...Self.finishAttempts {
            do {
                let ending = try await store.finish(
                    sessionID,
                    state: state,
                    reason: reason,
                    exitCode: exitCode,
                    now: now,
                    claimSuccessor: !isDraining
                )
                if let ended = ending?.ended {
                    metrics.sessionEnded(
                        state: ended.state.rawValue,
                        reason: (ended.endReason ?? reason).rawValue,
                        profile: ended.profile,
                        transport: ended.transport.rawValue
                    )
                    logger(for: ended).info(
                        "session ended",
                        metadata: ["state": "\(ended.state.rawValue)", "reason": "\((ended.endReason ?? reason).rawValue)"]
                    )
                }
                if let successor = ending?.successor {
                    logger(for: successor).info("a human is waiting: starting the room's next bot")
                    launchSoon(successor)
                }
                return
            } catch {
                logger(for: sessionID, room: nil).error(
                    "could not record the end of a session",
                    metadata: ["error": "\(error)", "attempt": "\(attempt)"]
                )
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

    /// Stops the session's bot (SIGTERM to its group, SIGKILL after the grace) if this instance watches it; a
    /// session no instance had taken yet has no bot, and ends here.
    package func stop(_ session: Session) async {
        guard session.state == .stopping else { return }
        if session.isPlaced {
            terminate(session.id)
        } else {
            await finish(session.id, state: .ended, reason: session.stopReason ?? .stopRequested, exitCode: nil)
        }
    }

    /// Asks for a stop through the database (any instance may own the bot) and acts on it when it is ours.
    package func requestStop(_ sessionID: String, reason: EndReason) async throws -> Session? {
        let session = try await store.requestStop(sessionID, reason: reason, now: now)
        if let session, session.state == .stopping, !session.isPlaced {
            await finish(sessionID, state: .ended, reason: reason, exitCode: nil)
        } else if let session, session.state == .stopping, session.ownerInstance == store.instanceID {
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
    func terminate(_ sessionID: String) {
        guard var bot = bots[sessionID], !bot.stopping else { return }
        bot.stopping = true
        bots[sessionID] = bot
        let (running, grace) = (bot.running, settings.stopGraceSeconds)
        logger(for: sessionID, room: bot.room).info("stopping bot", metadata: ["pid": "\(running.pid.map(String.init) ?? "none")"])
        inbox.continuation.yield(.stop(running, grace: grace))
    }

    // MARK: Bot work

    /// What `run()` does with the bots, each a child task of it.
    enum Work: Sendable {
        case launch(Session, isCall: Bool)
        /// Waits for the bot's end, then ends its session.
        case watch(Session, RunningBot)
        /// SIGTERM (or an agent's eject), SIGKILL after the grace.
        case stop(RunningBot, grace: Double)
        case stopSession(Session)
    }

    /// Every launch, watch and stop, each a child of `run()`'s task group until the supervisor's shutdown is over.
    nonisolated func performWork() async {
        await withDiscardingTaskGroup { group in
            for await work in inbox.stream {
                group.addTask { await self.perform(work) }
            }
        }
    }

    private func perform(_ work: Work) async {
        switch work {
        case .launch(let session, let isCall):
            await launch(session, isCall: isCall)
        case .watch(let session, let bot):
            // Nil: the watch was cancelled, as a handover does; the bot runs on for the next instance.
            guard let status = await bot.exit.wait() else { return }
            await botExited(session.id, pid: bot.pid ?? 0, status: status)
        case .stop(let bot, let grace):
            await bot.stop(grace)
        case .stopSession(let session):
            await stop(session)
        }
    }

    // MARK: Adoption

    /// Asks the session's launcher for the bot of an instance of this host that is gone, and adopts it when it still
    /// runs. False when it is gone (the caller ends the session `lost`).
    func recover(_ session: Session) async -> Bool {
        guard let launcher = launchers.launcher(of: session), let bot = await launcher.recover(session) else { return false }
        await adopt(session, bot, from: launcher)
        return true
    }

    /// Stops the bot an instance of this host that is gone left, if it still runs, without adopting it.
    func stopLeftBot(_ session: Session) async {
        guard let launcher = launchers.launcher(of: session), let bot = await launcher.recover(session) else { return }
        launcher.kill(bot.handle)
    }

    /// Takes over a live bot of an instance that is gone: recorded as this instance's, then watched like any other
    /// (and stopped at once if its session was already stopping).
    private func adopt(_ session: Session, _ bot: RunningBot, from launcher: any BotLauncher) async {
        do {
            guard let pid = bot.pid, let startTime = bot.startTime,
                let adopted = try await store.adopt(session.id, pid: pid, pidStartTime: startTime, now: now)
            else { return }
            logger(for: session).info("adopted bot of an earlier instance", metadata: ["pid": "\(pid)"])
            metrics.reaperAction("adopted")
            watch(session, bot)
            if adopted.state == .stopping { terminate(session.id) }
        } catch {
            // Not adopted: stop it rather than leave a bot nobody accounts for.
            logger(for: session).error("could not adopt bot; stopping it", metadata: ["error": "\(error)"])
            launcher.kill(bot.handle)
        }
    }

    /// Every bot on this host that a launcher of this service started, whosever it is, with a way to stop it at once.
    nonisolated func botsOnThisHost() -> [(sessionID: String, handle: BotHandle, launcher: any BotLauncher)] {
        launchers.ofEveryKind.flatMap { launcher in launcher.botsOnThisHost().map { ($0.sessionID, $0.handle, launcher) } }
    }
}
