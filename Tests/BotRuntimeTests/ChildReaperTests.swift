import BotRuntime
import Foundation
import Policy
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One thread hears every bot's end (pidfds in one poll): statuses must be exact, however many end at once.
struct ChildReaperTests {
    private func threads() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
    }

    @Test func everyChildsExitStatusIsReportedWhenManyEndTogether() async throws {
        let reaper = ChildReaper()
        let before = threads()
        var children: [(pid: Int32, expected: Policy.ExitStatus)] = []
        for index in 0..<60 {
            let code = Int32(index % 7)
            let arguments = index % 5 == 4 ? ["sh", "-c", "sleep 0.3; kill -TERM $$"] : ["sh", "-c", "sleep 0.3; exit \(code)"]
            let pid = try ProcessLauncher.spawn(arguments: arguments, environment: ["PATH": "/usr/bin:/bin"], logPath: "/dev/null")
            children.append((pid, index % 5 == 4 ? .signaled(SIGTERM) : .exited(code)))
        }
        let statuses = await withTaskGroup(of: (Int32, Policy.ExitStatus).self) { group in
            for child in children { group.addTask { (child.pid, await reaper.exit(of: child.pid).wait() ?? .vanished) } }
            // While sixty children run, the waiting costs one thread, not one each (as the old waiter's way did).
            try? await Task.sleep(for: .milliseconds(150))
            // (Other tests run alongside and start threads too: the old way would have added sixty here.)
            #expect(threads() < before + 45)
            return await group.reduce(into: [Int32: Policy.ExitStatus]()) { $0[$1.0] = $1.1 }
        }
        for child in children { #expect(statuses[child.pid] == child.expected, "pid \(child.pid)") }
    }

    @Test func aChildThatEndedBeforeItWasWatchedIsStillReported() async throws {
        let reaper = ChildReaper()
        let pid = try ProcessLauncher.spawn(arguments: ["sh", "-c", "exit 3"], environment: ["PATH": "/usr/bin:/bin"], logPath: "/dev/null")
        try await Task.sleep(for: .milliseconds(200))
        #expect(await reaper.exit(of: pid).wait() == .exited(3))
    }
}
