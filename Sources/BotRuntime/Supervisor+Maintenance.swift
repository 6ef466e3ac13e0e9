import Foundation
import Logging
import Policy
import ServiceLifecycle
import SessionStore

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor as a `Service`: its poll loop and the rules it applies for the `Reaper`.
extension Supervisor {

    package func run() async throws {
        await withDiscardingTaskGroup { botWork in
            // Every launch, watch and stop, for as long as the supervisor runs, its shutdown included.
            botWork.addTask { await self.performWork() }
            await maintainUntilShutdown()
            await shutDown()
            inbox.continuation.finish()
            // Handed over, the bots run on for the next instance: their watches end here, not the bots.
            if handsOver { botWork.cancelAll() }
        }
    }

    /// The poll loop, placements as they are heard of and the warm pools, until the graceful shutdown.
    private func maintainUntilShutdown() async {
        if let gate = settings.upkeepAfter, await gate.wait() == nil { return }
        let wakeups = store.changes.placementWakeups()
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.maintain() }
                // A place freed or a bot waits for one, here or on another instance: placed in milliseconds,
                // not at the next poll.
                group.addTask {
                    for await _ in wakeups { await self.placeBots() }
                }
                // Its idle processes are stopped when it ends, whatever the shutdown does with the bots.
                for pool in self.warmPools { group.addTask { await pool.run() } }
            }
        }
    }

    /// What the shutdown does with the bots (`AUTOSPAWN_SHUTDOWN`, a SIGINT).
    private func shutDown() async {
        let configured = settings.shutdownMode
        let othersAlive = configured == .auto && !interrupted ? await settings.otherInstancesAlive() : false
        let mode = Config.shutdownMode(configured: configured, interrupted: interrupted, othersAlive: othersAlive)
        if mode == .handover { handsOver = true }
        switch mode {
        case .stop: await stopEveryBot()
        case .handover: await handOver()
        case .drain, .auto: await drain()
        }
    }

    private func maintain() async {
        while !Task.isCancelled {
            await syncStops()
            await placeBots()
            rotateLogs()
            try? await Task.sleep(for: settings.pollInterval)
        }
    }

    /// Rooms whose humans wait for a bot, and sessions that wait for an instance with room for theirs.
    func placeBots() async {
        await startWaitingRooms()
        await placeWaitingSessions()
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

    /// Takes the sessions that wait for an instance with room for their bot (their receiver had none), as many as
    /// this instance's limit allows, and ends those stopped before any instance took them.
    func placeWaitingSessions() async {
        guard !isDraining else { return }
        do {
            for session in try await store.placeWaitingSessions(now: now) {
                logger(for: session).info("placed here: starting the bot of a session another instance had no room for")
                metrics.reaperAction("placed")
                launchSoon(session)
            }
            for session in try await store.unplacedSessions() where session.state == .stopping {
                await stop(session)
            }
        } catch {
            logger.error("could not look for sessions to place", metadata: ["error": "\(error)"])
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
    func stopStrays() async {
        let ownSessions = Set(bots.keys).union(pendingLaunches.keys)
        var liveWarmMarks: Set<String>?
        for stray in reaper.reapStrays() {
            if let sessionID = ProcessTable.environmentValue(pid: stray.pid, "AUTOSPAWN_SESSION_ID") {
                guard !ownSessions.contains(sessionID) else { continue }
                logger(for: sessionID, room: nil).warning("stopping a stray process of an ended session", metadata: ["pid": "\(stray.pid)"])
            } else if let mark = ProcessTable.environmentValue(pid: stray.pid, WarmBot.idVariable) {
                // A warm bot's stray knows no session, only the mark of the process it came from: it stays while that
                // process is idle or a bot of this instance (adopted ones included, whose mark is read the same way).
                if liveWarmMarks == nil { liveWarmMarks = await warmMarks() }
                guard liveWarmMarks?.contains(mark) == false, pendingLaunches.isEmpty else { continue }
                logger.warning("stopping a stray process of a warm bot that has ended", metadata: ["pid": "\(stray.pid)"])
            } else {
                continue
            }
            metrics.reaperAction("stray_stopped")
            kill(stray.pid, SIGKILL)
        }
    }

    /// The marks of this instance's live warm processes: its bots that started warm and the pool's idle ones.
    private func warmMarks() async -> Set<String> {
        var pids = bots.values.compactMap(\.running.pid)
        for pool in warmPools { pids += await pool.idlePIDs }
        return Set(pids.compactMap { ProcessTable.environmentValue(pid: $0, WarmBot.idVariable) })
    }
}
