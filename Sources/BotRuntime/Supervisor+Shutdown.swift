import Foundation
import Logging
import Policy
import SessionStore

/// What SIGTERM does with this instance's bots (`AUTOSPAWN_SHUTDOWN`).
extension Supervisor {
    /// Leaves every bot running for the next instance on this host, which adopts them (`Recovery`): no new bot
    /// starts here, launches under way finish, and the instance stays registered so that its sessions are
    /// judged by whether its process is alive.
    func handOver() async {
        drainingFlag.store(true, ordering: .releasing)
        for task in pendingLaunches.values { await task.value }
        logger.info("handing over: the bots keep running for the next instance", metadata: ["count": "\(bots.count)"])
    }

    /// Lets the calls end by themselves: `/ready` answers 503 and no bot is placed here (rooms that want one wait
    /// for another instance), while this instance's bots run on, their stops still applied, until none is left or
    /// `drainTimeoutSeconds` pass (or `stopNow()`); then the rest are stopped and their rooms served elsewhere.
    /// A phone call that reaches the instance meanwhile (before the load balancer heeds `/ready`) still gets its bot
    /// here, and the drain waits for it too: its caller is on hold, with no room another instance would serve.
    func drain() async {
        drainKeepsCalls.store(true, ordering: .releasing)
        drainingFlag.store(true, ordering: .releasing)
        for task in pendingLaunches.values { await task.value }
        let deadline = now + settings.drainTimeoutSeconds
        logger.info(
            "draining: the bots run until their calls end; a second SIGTERM or SIGINT stops them now",
            metadata: ["count": "\(bots.count)", "drain_timeout_s": "\(settings.drainTimeoutSeconds)"]
        )
        while !(bots.isEmpty && pendingLaunches.isEmpty) && now < deadline && !stopNowRequested && !Task.isCancelled {
            await syncStops()
            rotateLogs()
            try? await Task.sleep(for: settings.pollInterval)
        }
        // From here on, a call is refused (`takesCalls`) rather than given a bot that would be stopped at once.
        drainKeepsCalls.store(false, ordering: .releasing)
        if !bots.isEmpty {
            logger.info(
                stopNowRequested ? "drain cut short: stopping the bots" : "drain timeout passed: stopping the bots left",
                metadata: ["count": "\(bots.count)"]
            )
        }
        await stopEveryBot()
    }

    /// Ends a drain at once: its bots are stopped (a second SIGTERM or SIGINT).
    package func stopNow() {
        stopNowRequested = true
    }

    /// The shutdown under way began with a SIGINT (Ctrl+C): the bots are stopped, whatever `AUTOSPAWN_SHUTDOWN` says.
    package func interrupt() {
        interrupted = true
    }

    /// Stops every bot of this instance (`shutdown`: rooms with humans wait for another instance) and waits until
    /// each has ended.
    func stopEveryBot() async {
        drainingFlag.store(true, ordering: .releasing)
        for task in pendingLaunches.values { await task.value }
        let sessions = (try? await store.ownActiveSessions()) ?? []
        logger.info("stopping bots", metadata: ["count": "\(sessions.count)"])
        for session in sessions {
            _ = try? await requestStop(session.id, reason: .shutdown)
        }
        await waitForNoBots()
    }

    /// Returns once no bot of this instance is left (`botExited` tells), at once when none is, or when the supervisor is
    /// cancelled rather than shut down (its watches are cancelled with it: the next instance recovers the bots).
    func waitForNoBots() async {
        guard !bots.isEmpty, !Task.isCancelled else { return }
        await withCheckedContinuation { whenNoBots.append($0) }
    }
}
