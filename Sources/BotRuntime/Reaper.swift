import Logging
import Policy
import ServiceLifecycle
import SessionStore

/// The reaper: every `AUTOSPAWN_REAPER_INTERVAL_S`, the rules that keep the database's account of the bots
/// true and the service within its limits. Stuck starts (`start_timeout`), sessions past the maximum length
/// (`max_duration`), active sessions without a bot (`lost`), retention, crash recovery of instances that died
/// meanwhile, strays of ended sessions, and, with a key, rooms where Daily's presence shows only bots
/// (`orphaned`).
package struct Reaper: Service {
    package struct Settings: Sendable {
        package var interval: Double
        package var startTimeoutSeconds: Double
        package var maxSessionSeconds: Double
        /// A room silent this long is checked against Daily's presence.
        package var orphanAfterSeconds: Double
        package var botNames: [String]
        /// Ended sessions older than this are deleted with their files.
        package var retentionSeconds: Double
        /// `AUTOSPAWN_SIGNATURE_TOLERANCE_S`: seen event ids outlive it (`retentionCutoffs`).
        package var signatureToleranceSeconds: Double
        /// How often recovery looks for dead instances, apart from the other rules: half a lease, so that a dead
        /// instance's rooms are served within about its lease and a second.
        package var recoveryInterval: Double
        /// `AUTOSPAWN_SPAWN_ON`: with `knock`, knockers (whom presence does not show) keep a silent room's bot.
        package var spawnOn: Config.SpawnOn
        /// `AUTOSPAWN_KNOCK_WAIT_S`: with `knock`, a bot without a human in its room this long ends `knock_timeout`.
        package var knockWaitSeconds: Double

        /// The limits on a session's age (`timeLimitReached`).
        package var timeLimits: TimeLimits {
            TimeLimits(
                startTimeoutSeconds: startTimeoutSeconds,
                maxSessionSeconds: maxSessionSeconds,
                spawnOn: spawnOn,
                knockWaitSeconds: knockWaitSeconds
            )
        }

        package init(
            interval: Double,
            startTimeoutSeconds: Double,
            maxSessionSeconds: Double,
            orphanAfterSeconds: Double = 60,
            botNames: [String] = ["Pipecat Bot"],
            retentionSeconds: Double = 7 * 86_400,
            signatureToleranceSeconds: Double = 300,
            recoveryInterval: Double? = nil,
            spawnOn: Config.SpawnOn = .join,
            knockWaitSeconds: Double = 120
        ) {
            self.spawnOn = spawnOn
            self.knockWaitSeconds = knockWaitSeconds
            self.recoveryInterval = min(interval, recoveryInterval ?? interval)
            self.interval = interval
            self.startTimeoutSeconds = startTimeoutSeconds
            self.maxSessionSeconds = maxSessionSeconds
            self.orphanAfterSeconds = orphanAfterSeconds
            self.botNames = botNames
            self.retentionSeconds = retentionSeconds
            self.signatureToleranceSeconds = signatureToleranceSeconds
        }
    }

    let store: any SessionStorage
    let supervisor: Supervisor
    let recovery: Recovery
    let settings: Settings
    let daily: DailyClient?
    let metrics: ServiceMetrics
    let logger: Logger
    let clock: any WallClock

    package init(
        store: any SessionStorage,
        supervisor: Supervisor,
        recovery: Recovery,
        settings: Settings,
        daily: DailyClient? = nil,
        metrics: ServiceMetrics = .disabled,
        logger: Logger,
        clock: any WallClock = SystemClock()
    ) {
        self.store = store
        self.supervisor = supervisor
        self.recovery = recovery
        self.settings = settings
        self.daily = daily
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
    }

    package func run() async throws {
        // After the first recovery (`Recovery.start`, before the server starts), never beside it.
        guard await recovery.started.wait() != nil else { return }
        await cancelWhenGracefulShutdown {
            var lastPass = ContinuousClock.now - .seconds(settings.interval)
            while !Task.isCancelled {
                if ContinuousClock.now - lastPass >= .seconds(settings.interval) {
                    lastPass = ContinuousClock.now
                    await pass()
                } else {
                    await recover()
                }
                try? await Task.sleep(for: .milliseconds(Int64(max(0.05, settings.recoveryInterval) * 1000)))
            }
        }
    }

    /// Recovery alone, between full passes.
    func recover() async {
        do {
            try await recovery.run()
        } catch {
            logger.error("recovery failed", metadata: ["error": "\(error)"])
        }
    }

    /// One pass of every rule.
    package func pass() async {
        let now = clock.now()
        do {
            try await applyTimeLimits(now: now)
            await supervisor.endSessionsWithoutBots()
            try await prune(now: now)
            try await recovery.run()
            await supervisor.stopStrays()
            await stopOrphans(now: now)
        } catch {
            logger.error("reaper pass failed", metadata: ["error": "\(error)"])
        }
    }

    /// The start timeout and the maximum length, for this instance's sessions.
    func applyTimeLimits(now: Double) async throws {
        for session in try await store.ownActiveSessions() {
            switch timeLimitReached(by: session, limits: settings.timeLimits, now: now) {
            case .startTimeout?:
                try await supervisor.giveUpStart(session)
            case .maxDuration?:
                logger.info(
                    "session reached its maximum length: stopping its bot",
                    metadata: ["session_id": "\(session.id)", "room": "\(session.roomName)"]
                )
                metrics.reaperAction("max_duration")
                _ = try await supervisor.requestStop(session.id, reason: .maxDuration)
            case .knockWait?:
                let room = try await store.roomStatus(session.roomName)
                let waitIsOver = knockWaitIsOver(
                    spawnOn: settings.spawnOn,
                    serviceRoom: try await store.isServiceRoom(session.roomName),
                    humans: room.humans,
                    stopScheduled: session.stopAt != nil,
                    ageSeconds: now - session.createdAt,
                    knockWaitSeconds: settings.knockWaitSeconds
                )
                if waitIsOver {
                    logger.info(
                        "nobody let the knocker in: stopping the bot that came for them",
                        metadata: ["session_id": "\(session.id)", "room": "\(session.roomName)"]
                    )
                    metrics.reaperAction("knock_timeout")
                    _ = try await supervisor.requestStop(session.id, reason: .knockTimeout)
                }
            case nil:
                break
            }
        }
    }

    /// Retention: ended sessions older than `retentionSeconds` go with their files, and what else no longer
    /// matters with them (`SessionStorage.prune`).
    func prune(now: Double) async throws {
        let cutoffs = retentionCutoffs(
            now: now,
            retentionSeconds: settings.retentionSeconds,
            signatureToleranceSeconds: settings.signatureToleranceSeconds
        )
        let removed = try await store.prune(endedBefore: cutoffs.endedBefore, seenBefore: cutoffs.seenBefore)
        for id in removed { supervisor.files.remove(sessionID: id) }
        if !removed.isEmpty { metrics.reaperAction("pruned") }
    }

    /// Asks Daily who is in each silent room (at most once per `orphanAfterSeconds` a room, paced by the
    /// client's limiter) and stops the bots of rooms where only bots remain (`orphaned`). A room Daily no
    /// longer knows counts as empty; a room Daily cannot be asked about now is left for the next pass.
    func stopOrphans(now: Double) async {
        guard let daily else { return }
        do {
            for session in try await store.silentSessions(now: now, silentFor: settings.orphanAfterSeconds) {
                let present: [DailyPresence]
                do {
                    present = try await daily.presence(session.roomName)
                } catch {
                    logger.warning("presence check failed", metadata: ["room": "\(session.roomName)", "error": "\(error)"])
                    continue
                }
                metrics.reaperAction("presence_check")
                try await store.markPresenceChecked(room: session.roomName, now: clock.now())
                let humans = present.filter {
                    !isBot(.init(sessionID: $0.id, userID: $0.userId, userName: $0.userName), botNames: settings.botNames)
                }
                let knockers =
                    humans.isEmpty && settings.spawnOn == .knock
                    ? try await store.roomStatus(session.roomName).knockers : 0
                if isOrphaned(humansPresent: humans.count, knockers: knockers, spawnOn: settings.spawnOn) {
                    logger.info(
                        "only bots left in the room: stopping its bot",
                        metadata: ["session_id": "\(session.id)", "room": "\(session.roomName)"]
                    )
                    metrics.reaperAction("orphaned")
                    _ = try await supervisor.requestStop(session.id, reason: .orphaned)
                }
            }
        } catch {
            logger.error("orphan check failed", metadata: ["error": "\(error)"])
        }
    }
}
