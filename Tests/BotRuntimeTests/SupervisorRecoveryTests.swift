import Foundation
import Logging
import Policy
import SessionStore
import TestSupport
import Testing

@testable import BotRuntime

#if canImport(Glibc)
import Glibc
#endif

/// Recovery after a crash, driven directly: a store left behind by a dead instance, and real processes.
struct SupervisorRecoveryTests {
    func makeStore(_ path: String, instance: String) throws -> SQLiteSessionStore {
        let settings = PolicySettings(
            maxConcurrency: 5,
            botName: "Pipecat Bot",
            roomFilter: try RoomFilter(pattern: ".*"),
            emptyGraceSeconds: 20
        )
        return try SQLiteSessionStore(path: path, settings: settings, launcher: .process, instanceID: instance)
    }

    func makeSupervisor(_ store: SQLiteSessionStore) -> Supervisor {
        Supervisor(
            store: store,
            settings: .init(
                launcher: .process(arguments: ["true"]),
                logDirectory: FileManager.default.temporaryDirectory.path,
                stopGraceSeconds: 1,
                maxSessionSeconds: 3600
            ),
            logger: Logger(label: "test")
        )
    }

    @Test func aBotIsFoundAgainByItsProfilesLauncherOrElseByOneOfItsKind() throws {
        let settings = Supervisor.Settings(
            launcher: .process(arguments: ["true"]),
            logDirectory: FileManager.default.temporaryDirectory.path,
            stopGraceSeconds: 1,
            maxSessionSeconds: 3600
        )
        let launchers = BotLaunchers(
            settings: settings,
            files: BotFiles(directory: settings.logDirectory, maxLogBytes: 1024),
            reaper: ChildReaper(),
            daily: nil,
            metrics: .disabled,
            logger: Logger(label: "test")
        )
        func session(profile: String, launcher: LauncherKind) -> Session {
            Session(
                id: "s",
                roomName: "r",
                roomURL: nil,
                state: .running,
                launcher: launcher,
                createdAt: 0,
                updatedAt: 0,
                ownerInstance: "gone",
                profile: profile
            )
        }
        #expect(launchers.launcher(of: session(profile: "default", launcher: .process))?.kind == .process)
        // The profiles file changed: an agent's session of a profile this instance lacks is still an agent's.
        #expect(launchers.launcher(of: session(profile: "removed", launcher: .agent))?.kind == .agent)
        #expect(launchers.ofEveryKind.map(\.kind) == LauncherKind.allCases)
    }

    @Test func botWhosePidNeverReachedTheDatabaseIsFoundAndAdopted() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("recovery-\(UUID().uuidString).sqlite").path
        // The crashed instance claimed two rooms; it started one bot and died before recording its pid.
        let crashed = try makeStore(path, instance: "crashed")
        let started = try #require(try await crashed.claim(room: "started", url: "https://d.daily.co/started", now: 1))
        let never = try #require(try await crashed.claim(room: "never", url: "https://d.daily.co/never", now: 1))
        let pid = try ProcessLauncher.spawn(
            arguments: ["sleep", "30"],
            environment: ["PATH": "/usr/bin:/bin", "AUTOSPAWN_SESSION_ID": started.id],
            logPath: FileManager.default.temporaryDirectory.appendingPathComponent("\(started.id).log").path
        )
        let reaper = Task { await ProcessLauncher.waitForExit(pid: pid) }

        let next = try makeStore(path, instance: "next")
        let supervisor = makeSupervisor(next)
        try await whileRunning(supervisor) {
            try await Recovery(store: next, supervisor: supervisor, logger: Logger(label: "test")).run()

            let adopted = try #require(try await next.session(started.id))
            #expect(adopted.state == .running)
            #expect(adopted.pid == pid)
            #expect(adopted.ownerInstance == "next")
            let lost = try #require(try await next.session(never.id))
            #expect(lost.state == .failed)
            #expect(lost.endReason == .lost)

            // The adopted bot can be stopped by the new owner.
            _ = try await supervisor.requestStop(started.id, reason: .stopRequested)
            #expect(await reaper.value == .signaled(SIGTERM))
            #expect(try await eventually { try await next.session(started.id)?.state == .ended })
        }
    }

    /// Runs `body` while the supervisor runs: its launches, watches and stops are children of its `run()`.
    func whileRunning(_ supervisor: Supervisor, _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await supervisor.run() }
            do {
                try await body()
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
        }
    }

    @Test func sessionsOfALiveInstanceAreLeftAlone() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("recovery-\(UUID().uuidString).sqlite").path
        let alive = try makeStore(path, instance: "alive")
        // This test process plays the live instance that owns the session.
        let me = ProcessTable.current()
        _ = try await alive.register(ServiceInstance(id: "alive", pid: me.pid, pidStartTime: me.startTime, startedAt: 1))
        let session = try #require(try await alive.claim(room: "busy", url: nil, now: 1))
        let other = try makeStore(path, instance: "other")
        try await Recovery(store: other, supervisor: makeSupervisor(other), logger: Logger(label: "test")).run()
        #expect(try await other.session(session.id)?.state == .starting)
        #expect(try await other.session(session.id)?.ownerInstance == "alive")
    }
}
