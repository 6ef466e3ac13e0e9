import Logging
import Policy
import SessionStore

#if canImport(Glibc)
import Glibc
#endif

/// Crash recovery: registers this instance, then takes over the sessions of instances that are gone. A bot
/// process still alive (pid and start time both match, or found by its `AUTOSPAWN_SESSION_ID` when its pid
/// never reached the database) is adopted; the rest end `lost`, and their rooms wait for a new bot. An agent's
/// request died with its instance: its bot is ejected and the session ends `lost`.
///
/// Run before serving and again on every reaper pass (an instance may die meanwhile).
public struct Recovery: Sendable {
    let store: any SessionStorage
    let supervisor: Supervisor
    let daily: DailyClient?
    let metrics: ServiceMetrics
    let logger: Logger
    let clock: any WallClock

    public init(
        store: any SessionStorage, supervisor: Supervisor, daily: DailyClient? = nil, metrics: ServiceMetrics = .disabled,
        logger: Logger, clock: any WallClock = SystemClock()
    ) {
        self.store = store
        self.supervisor = supervisor
        self.daily = daily
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
    }

    public func run() async throws {
        let me = ProcessTable.current()
        let others = try await store.register(
            ServiceInstance(id: store.instanceID, pid: me.pid, pidStartTime: me.startTime, startedAt: clock.now()))
        var live: Set<String> = [store.instanceID]
        for other in others where ProcessTable.isAlive(pid: other.pid, startTime: other.pidStartTime) {
            live.insert(other.id)
        }
        for session in try await store.unownedActiveSessions(liveInstances: live) {
            await recover(session)
        }
        for other in others where !live.contains(other.id) {
            try await store.deregister(other.id)
        }
    }

    private func recover(_ session: Session) async {
        var logger = logger
        logger[metadataKey: "session_id"] = .string(session.id)
        logger[metadataKey: "room"] = .string(session.roomName)
        if session.launcher == .agent {
            if let userID = session.botUserID { _ = try? await daily?.eject(room: session.roomName, userIDs: [userID]) }
            metrics.reaperAction("lost")
            await supervisor.end(session.id, state: .failed, reason: .lost)
            return
        }
        var found: ProcessTable.Entry?
        if let pid = session.pid, let startTime = session.pidStartTime, ProcessTable.isAlive(pid: pid, startTime: startTime) {
            found = ProcessTable.entry(pid: pid)
        } else if session.pid == nil {
            found = ProcessTable.groupLeaders(withEnvironment: "AUTOSPAWN_SESSION_ID", equalTo: session.id).first
        }
        guard let found else {
            logger.warning("bot of an earlier instance is gone")
            metrics.reaperAction("lost")
            await supervisor.end(session.id, state: .failed, reason: .lost)
            return
        }
        await supervisor.adopt(session, pid: found.pid, startTime: found.startTime)
    }
}
