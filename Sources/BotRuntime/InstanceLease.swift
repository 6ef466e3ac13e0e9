import Logging
import ServiceLifecycle
import SessionStore

/// Keeps this instance's lease in the database (`AUTOSPAWN_LEASE_S`), renewed three times per lease, so that
/// instances on other hosts know it is alive. It shuts down after the `Supervisor` (whose drain may take long,
/// and must not look like a death). On a handover it leaves a last lease of `handoverSeconds`: its bots wait that
/// long for the next instance on this host before other hosts take them for lost. Otherwise it deregisters.
package struct InstanceLease: Service {
    let store: any SessionStorage
    /// Registers the instance again if its row has gone.
    let recovery: Recovery
    let leaseSeconds: Double
    /// `AUTOSPAWN_HANDOVER_WAIT_S`.
    let handoverSeconds: Double
    /// Whether the shutdown hands the bots over (the supervisor has shut down before this asks).
    let handsOver: @Sendable () async -> Bool
    let logger: Logger
    let clock: any WallClock

    package init(
        store: any SessionStorage,
        recovery: Recovery,
        leaseSeconds: Double,
        handoverSeconds: Double,
        handsOver: @escaping @Sendable () async -> Bool,
        logger: Logger,
        clock: any WallClock = SystemClock()
    ) {
        self.handsOver = handsOver
        self.store = store
        self.recovery = recovery
        self.leaseSeconds = leaseSeconds
        self.handoverSeconds = handoverSeconds
        self.logger = logger
        self.clock = clock
    }

    package func run() async throws {
        // Registered by `Recovery.start` (before the server starts); nothing to keep if start-up failed.
        guard await recovery.started.wait() != nil else { return }
        let period = Duration.milliseconds(Int64(max(0.1, leaseSeconds / 3) * 1000))
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await renew(for: leaseSeconds)
                try? await Task.sleep(for: period)
            }
        }
        if await handsOver() {
            await renew(for: handoverSeconds)
        } else {
            do {
                try await store.deregister(store.instanceID)
            } catch {
                logger.error("could not deregister this instance", metadata: ["error": "\(error)"])
            }
        }
    }

    private func renew(for seconds: Double) async {
        do {
            if try await !store.renewLease(until: clock.now() + seconds) {
                // Another instance may have taken this one for dead and ended its sessions (its bots are then
                // stopped as stale); it registers again and goes on.
                logger.warning("this instance's registration is gone: registering again")
                try await recovery.register()
            }
        } catch {
            logger.error("could not renew this instance's lease", metadata: ["error": "\(error)"])
        }
    }
}
