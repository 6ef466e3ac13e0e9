import Foundation
import Logging
import Policy
import SessionStore

#if canImport(Glibc)
import Glibc
#endif

/// Crash recovery: registers this instance (with its host and lease), then takes over the sessions of instances
/// that are gone (`Policy.isInstanceAlive`: by lease for other hosts, by process on this one).
///
/// - An instance of this host that is gone: each bot process still alive (pid and start time both match, or
///   found by its `AUTOSPAWN_SESSION_ID` when its pid never reached the database) is adopted; the rest end `lost`.
/// - An instance of another host whose lease expired: its processes are not this host's to touch. Its sessions
///   end `lost`, each bot's user is ejected from its room through Daily (a bot on a half-dead machine must not
///   stay beside its successor), and rooms with humans wait for a new bot.
/// - Bot processes on this host whose session is no longer active, or belongs to another host's instance (this
///   machine was taken for dead and came back), are stopped: no bot outlives its session unaccounted for.
///
/// `start` once before serving (registers; `InstanceLease` keeps the lease from then on, and the `Reaper` runs
/// recovery again every half lease: an instance may die meanwhile).
package struct Recovery: Sendable {
    let store: any SessionStorage
    let supervisor: Supervisor
    let daily: DailyClient?
    let metrics: ServiceMetrics
    let logger: Logger
    let clock: any WallClock
    /// `AUTOSPAWN_HOST_ID`.
    let hostID: String
    /// `AUTOSPAWN_LEASE_S`.
    let leaseSeconds: Double
    /// How other instances reach this one (nil until it listens on a port chosen at start-up).
    let advertiseURL: String?
    /// Comes once this instance has registered and made its first pass (`start`): the lease and the reaper begin
    /// after it.
    package let started: Outcome<Void>

    package init(
        store: any SessionStorage,
        supervisor: Supervisor,
        daily: DailyClient? = nil,
        metrics: ServiceMetrics = .disabled,
        logger: Logger,
        clock: any WallClock = SystemClock(),
        hostID: String = ProcessTable.hostIdentity(),
        leaseSeconds: Double = 10,
        advertiseURL: String? = nil,
        started: Outcome<Void> = Outcome()
    ) {
        self.started = started
        self.advertiseURL = advertiseURL
        self.store = store
        self.supervisor = supervisor
        self.daily = daily
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        self.hostID = hostID
        self.leaseSeconds = leaseSeconds
    }

    /// Registers this instance and takes over or ends what earlier instances left, once, before the service serves.
    package func start() async throws {
        try await register()
        try await run()
        started.fulfil(())
    }

    /// Registers this instance with its process, host and a first lease.
    package func register() async throws {
        let me = ProcessTable.current()
        let now = clock.now()
        _ = try await store.register(
            ServiceInstance(
                id: store.instanceID,
                pid: me.pid,
                pidStartTime: me.startTime,
                startedAt: now,
                hostID: hostID,
                leaseUntil: now + leaseSeconds,
                advertiseURL: advertiseURL
            )
        )
    }

    package func run() async throws {
        let others = try await store.otherInstances()
        let live = Self.liveInstances(others, of: store, hostID: hostID, now: clock.now())
        var hostOf: [String: String] = [store.instanceID: hostID]
        for other in others { hostOf[other.id] = other.hostID }
        // Daily's rate limit is the domain's: each live instance takes its share.
        await daily?.shareRateLimit(among: live.count)
        for session in try await store.unownedActiveSessions(liveInstances: live) {
            if let owner = session.ownerInstance, let host = hostOf[owner], !host.isEmpty, host != hostID {
                await loseElsewhere(session)
            } else {
                await recover(session)
            }
        }
        // Dead instances stay registered (retention removes them): their host tells whose their bots were.
        try await stopStaleBots(hostOf: hostOf)
    }

    /// The ids of the live instances among `others`, and this one's (`Policy.isInstanceAlive`: by lease on other
    /// hosts, by process on this one).
    package static func liveInstances(_ others: [ServiceInstance], of store: any SessionStorage, hostID: String, now: Double) -> Set<String> {
        var live: Set<String> = [store.instanceID]
        for other in others {
            let processAlive = ProcessTable.isAlive(pid: other.pid, startTime: other.pidStartTime)
            if isInstanceAlive(other, thisHost: hostID, processAlive: processAlive, now: now) { live.insert(other.id) }
        }
        return live
    }

    /// Whether another live instance shares this one's store (`AUTOSPAWN_SHUTDOWN=auto` drains then, else hands over).
    package static func othersAlive(store: any SessionStorage, hostID: String, now: Double) async -> Bool {
        // When the store cannot say, draining is the choice that leaves no room without a bot for long.
        guard let others = try? await store.otherInstances() else { return true }
        return liveInstances(others, of: store, hostID: hostID, now: now).count > 1
    }

    private func logger(for session: Session) -> Logger {
        var logger = logger
        logger[metadataKey: "session_id"] = .string(session.id)
        logger[metadataKey: "room"] = .string(session.roomName)
        return logger
    }

    /// A session of an instance on this host that is gone: its launcher finds its bot, which is adopted, or it is lost.
    private func recover(_ session: Session) async {
        guard isAdoptable(session) else {
            // A call's bot went with its relay: stopped if it still runs; the carrier's <Redirect> gets a new one.
            logger(for: session).warning("a call's instance is gone: its bot is stopped and the call gets a new one")
            await supervisor.stopLeftBot(session)
            metrics.reaperAction("lost")
            await supervisor.end(session.id, state: .failed, reason: .lost)
            return
        }
        guard await !supervisor.recover(session) else { return }
        logger(for: session).warning("bot of an earlier instance is gone")
        metrics.reaperAction("lost")
        await supervisor.end(session.id, state: .failed, reason: .lost)
    }

    /// A session of an instance on another host whose lease expired: ended, its bot ejected, its processes left
    /// to that host (which stops them if it comes back).
    private func loseElsewhere(_ session: Session) async {
        logger(for: session).warning("the instance of another host that ran this bot stopped renewing its lease: ending it")
        await eject(session)
        metrics.reaperAction("lost")
        await supervisor.end(session.id, state: .failed, reason: .lost)
    }

    private func eject(_ session: Session) async {
        guard session.transport == .daily, let daily, let userID = session.botUserID else { return }
        do {
            try await daily.eject(room: session.roomName, userIDs: [userID])
        } catch {
            logger(for: session).warning("could not eject the lost bot", metadata: ["error": "\(error)"])
        }
    }

    /// Stops the bot processes of this host whose session (in this database) is over: this machine was taken for
    /// dead and came back, or the bot outlived its end. A session whose owner ran on another host is that host's
    /// to judge (its processes are not ours, even where a test runs both "hosts" on one machine).
    private func stopStaleBots(hostOf: [String: String]) async throws {
        for bot in supervisor.botsOnThisHost() {
            guard let session = try await store.session(bot.sessionID), !session.state.isActive else { continue }
            let ownerHost = session.ownerInstance.flatMap { hostOf[$0] } ?? ""
            guard ownerHost.isEmpty || ownerHost == hostID else { continue }
            logger(for: session).warning(
                "stopping a bot whose session is over or another host's",
                metadata: ["pid": "\(bot.handle.pid.map(String.init) ?? "none")"]
            )
            metrics.reaperAction("stale_stopped")
            bot.launcher.kill(bot.handle)
        }
    }
}
