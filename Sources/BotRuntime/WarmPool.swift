import Foundation
import Logging
import Policy
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `AUTOSPAWN_WARM_BOTS`: idle bot processes of one bot command, kept ready so that a room's bot has done its
/// imports before the room exists. They are not sessions: no cap counts them and `/sessions` does not show them.
///
/// `run()` keeps the pool at its size (a replacement after each `take()`; after a death while idle, the restart
/// backoff first) and, when cancelled, stops the idle processes. A later profile gets a pool of its own: each is
/// named (`pool`), in its files and its metrics.
package actor WarmPool {
    /// The pool's name: `default` for `AUTOSPAWN_BOT_COMMAND`.
    package nonisolated let name: String
    /// Idle processes it keeps.
    package nonisolated let size: Int
    let arguments: [String]
    /// The allow-listed environment, `AUTOSPAWN_BOT_NAME` and `AUTOSPAWN_WARM=1`: no room, no session.
    let environment: [String: String]
    /// `AUTOSPAWN_BOT_USER`: the user its processes run as.
    let account: BotAccount?
    /// Where idle processes write (`<bot log dir>/warm`).
    nonisolated let directory: String
    let reaper: ChildReaper
    let backoff: RestartBackoff
    let stopGraceSeconds: Double
    let metrics: ServiceMetrics
    let logger: Logger

    /// Idle processes, oldest (most likely done importing) first.
    private var idle: [WarmBot] = []
    private var closed = false
    /// Deaths while idle in a row, and the earliest time of the next start after them.
    private var failures = 0
    private var notBefore: ContinuousClock.Instant?
    /// What `run()` acts on: a place to refill, or a process that ended (heard on the child reaper's thread).
    private enum Event {
        case refill
        case exited(Int32, ExitStatus)
    }
    private let events: AsyncStream<Event>
    private let wake: AsyncStream<Event>.Continuation
    private let idleGauge = Atomic<Int>(0)

    package init(
        name: String = "default",
        size: Int,
        arguments: [String],
        botName: String,
        environment: [String: String],
        account: BotAccount? = nil,
        logDirectory: String,
        reaper: ChildReaper,
        backoff: RestartBackoff,
        stopGraceSeconds: Double,
        metrics: ServiceMetrics,
        logger: Logger
    ) {
        // Writing a room to a bot that has just died must give EPIPE, not kill the service.
        signal(SIGPIPE, SIG_IGN)
        self.name = name
        self.size = size
        self.arguments = arguments
        self.account = account
        self.environment = environment.merging(["AUTOSPAWN_BOT_NAME": botName, "AUTOSPAWN_WARM": "1"]) { $1 }
        directory = logDirectory + "/warm"
        self.reaper = reaper
        self.backoff = backoff
        self.stopGraceSeconds = stopGraceSeconds
        self.metrics = metrics
        var logger = logger
        logger[metadataKey: "pool"] = .string(name)
        self.logger = logger
        (events, wake) = AsyncStream.makeStream(of: Event.self)
    }

    /// Idle processes now (for `/metrics` and the dashboard, read without waiting for the actor).
    package nonisolated var idleCount: Int { idleGauge.load(ordering: .relaxed) }

    /// The idle processes' pids.
    var idlePIDs: [Int32] { idle.map(\.pid) }

    /// The oldest idle process, which is no longer the pool's; nil when none is idle (the bot is started cold).
    func take() -> WarmBot? {
        guard !closed, !idle.isEmpty else { return nil }
        let bot = idle.removeFirst()
        publish()
        metrics.warmBotAssigned(pool: name)
        wake.yield(.refill)
        return bot
    }

    /// Keeps the pool full until cancelled, then stops every idle process and returns once they have ended.
    package func run() async {
        await removeLeftovers()
        await withDiscardingTaskGroup { group in
            refill(&group)
            for await event in events {
                if Task.isCancelled { break }
                switch event {
                case .refill: refill(&group)
                case .exited(let pid, let status): exited(pid, status: status)
                }
            }
            await stopIdle()
        }
    }

    /// Starts processes until the pool is full, unless deaths while idle ask for a wait first.
    private func refill(_ group: inout DiscardingTaskGroup) {
        while !closed, idle.count < size, !Task.isCancelled {
            if let notBefore, ContinuousClock.now < notBefore {
                group.addTask { [wake] in
                    try? await Task.sleep(until: notBefore, clock: .continuous)
                    wake.yield(.refill)
                }
                return
            }
            do {
                // Each process's mark, inherited by whatever it starts: how its strays are told apart (`Supervisor.stopStrays`).
                let marked = environment.merging([WarmBot.idVariable: UUID().uuidString.lowercased()]) { $1 }
                let bot = try WarmBot.start(
                    pool: name,
                    arguments: arguments,
                    environment: marked,
                    account: account,
                    directory: directory,
                    reaper: reaper
                ) { [wake] pid, status in
                    wake.yield(.exited(pid, status))
                }
                idle.append(bot)
                publish()
                metrics.warmBotStarted(pool: name)
            } catch {
                logger.error("could not start a warm bot", metadata: ["error": "\(error)"])
                failed(ranFor: 0)
            }
        }
    }

    /// A process of the pool has ended: if it was still idle, it died waiting, and the next start may wait.
    private func exited(_ pid: Int32, status: ExitStatus) {
        guard let index = idle.firstIndex(where: { $0.pid == pid }) else { return }
        let bot = idle.remove(at: index)
        publish()
        bot.input.close()
        ProcessLauncher.signalGroup(bot.pid, SIGKILL)  // what it left in its group
        guard !closed else {
            unlink(bot.logPath)
            return
        }
        metrics.warmBotDiedIdle(pool: name)
        // Its output says why: kept (the last one only) for whoever looks into it.
        let kept = "\(directory)/\(name).died.log"
        rename(bot.logPath, kept)
        logger.warning(
            "a warm bot died while idle",
            metadata: ["pid": "\(bot.pid)", "exit_code": "\(status.exitCode.map(String.init) ?? "unknown")", "log": "\(kept)"]
        )
        failed(ranFor: bot.startedAt.duration(to: .now) / .seconds(1))
        wake.yield(.refill)
    }

    private func failed(ranFor seconds: Double) {
        failures = backoff.failures(after: failures, ranFor: seconds)
        notBefore = .now + .seconds(backoff.delay(failures: failures))
    }

    /// Stops every idle process (end of input, SIGTERM, SIGKILL after the grace) and starts no more.
    private func stopIdle() async {
        closed = true
        let stopping = idle
        idle = []
        publish()
        if !stopping.isEmpty { logger.info("stopping warm bots", metadata: ["count": "\(stopping.count)"]) }
        await withDiscardingTaskGroup { group in
            for bot in stopping {
                group.addTask { [stopGraceSeconds] in
                    await bot.stop(grace: stopGraceSeconds)
                    unlink(bot.logPath)
                }
            }
        }
    }

    /// What earlier instances left of their idle processes (they were killed): the files of processes that are gone
    /// (they read end of input and exited), and the processes that are not (they ignored it), which are stopped as
    /// at a shutdown. An idle process whose parent is a live instance of the service belongs to it (instances on one
    /// host may share the folder): it stays.
    private func removeLeftovers() async {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        await withDiscardingTaskGroup { group in
            for fileName in names {
                guard let file = WarmLogName(fileName: fileName), file.pool == name else { continue }
                let path = file.path(in: directory)
                guard ProcessTable.isAlive(pid: file.pid, startTime: file.startTime) else {
                    unlink(path)
                    continue
                }
                if let parent = ProcessTable.parent(of: file.pid), ProcessTable.runsThisProgram(pid: parent) { continue }
                logger.warning("stopping an idle warm bot an earlier instance left running", metadata: ["pid": "\(file.pid)"])
                group.addTask { [stopGraceSeconds, reaper] in
                    let exit = reaper.exit(of: file.pid, adoptedWithStartTime: file.startTime)
                    await ProcessBotLauncher.running(pid: file.pid, startTime: file.startTime, exit: exit).stop(stopGraceSeconds)
                    unlink(path)
                }
            }
        }
    }

    private func publish() {
        idleGauge.store(idle.count, ordering: .relaxed)
        metrics.warmBotsIdle(pool: name, count: idle.count)
    }
}
