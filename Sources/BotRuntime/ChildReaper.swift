import CProcessSpawn
import Foundation
import Policy
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Waits for the ends of all bot processes on one thread: each child's pidfd goes into one poll(2) set. A
/// blocked thread per bot, as before, meant hundreds of threads under load, with their stacks and malloc
/// arenas in the service's memory (BENCHMARKS.md). Where pidfds are missing (Linux before 5.3), it falls back to
/// a thread per child.
package final class ChildReaper: Sendable {
    private struct Waiter {
        let descriptor: Int32
        /// False for a process of an earlier instance: not this process's child, its status is not ours to take.
        let reaps: Bool
        let onExit: @Sendable (ExitStatus) -> Void
    }

    private struct State {
        var waiters: [Int32: Waiter] = [:]
        /// Children started but not yet waited for (`expect`), so that the stray reaper leaves them alone.
        var expected: Set<Int32> = []
        var running = false
    }

    private let state = Mutex(State())
    /// Written to when a child is added, so that the poll starts over with it in the set.
    private let wakeup: Int32

    package init() {
        wakeup = autospawn_wakeup_open()
    }

    deinit {
        if wakeup >= 0 { close(wakeup) }
    }

    /// Notes a child just started, before anyone waits for it: until `exit(of:)` has its status, the child is
    /// this reaper's, and `reapStrays` does not touch it.
    package func expect(_ pid: Int32) {
        state.withLock { _ = $0.expected.insert(pid) }
    }

    /// True when the child is one this reaper waits for (or was told to expect).
    package func isTracked(_ pid: Int32) -> Bool {
        state.withLock { $0.waiters[pid] != nil || $0.expected.contains(pid) }
    }

    /// The end of the process `pid`, as a `BotExit`: a child of this process (its status), or, given its start time, a
    /// process of an earlier instance found alive after a restart (`vanished`: not ours to wait for, its end is seen
    /// but not its status).
    package func exit(of pid: Int32, adoptedWithStartTime startTime: UInt64? = nil) -> BotExit {
        let exit = BotExit()
        watch(pid, adoptedWithStartTime: startTime) { exit.fulfil($0) }
        return exit
    }

    /// Calls `onExit` on this reaper's thread when the process `pid` has ended.
    package func watch(
        _ pid: Int32,
        adoptedWithStartTime startTime: UInt64? = nil,
        onExit: @escaping @Sendable (ExitStatus) -> Void
    ) {
        let descriptor = autospawn_pidfd_open(pid)
        guard descriptor >= 0, wakeup >= 0 else {
            // Without pidfds (Linux before 5.3): a thread per process, which waits for a child and looks at /proc for
            // an adopted process.
            let thread = Thread { [self] in
                if let startTime {
                    while ProcessTable.isAlive(pid: pid, startTime: startTime) { usleep(200_000) }
                    onExit(.vanished)
                } else {
                    onExit(ProcessLauncher.blockingWait(pid: pid))
                }
                state.withLock { _ = $0.expected.remove(pid) }
            }
            thread.stackSize = 256 * 1024
            thread.start()
            return
        }
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)  // a bot started meanwhile must not inherit it
        let start = state.withLock { state in
            state.waiters[pid] = Waiter(descriptor: descriptor, reaps: startTime == nil, onExit: onExit)
            state.expected.remove(pid)
            defer { state.running = true }
            return !state.running
        }
        if start {
            let thread = Thread { [self] in pollForever() }
            thread.name = "autospawn-reaper"
            thread.stackSize = 256 * 1024
            thread.start()
        } else {
            autospawn_wakeup_signal(wakeup)
        }
    }

    /// Reaps every zombie child of this process that it does not track: descendants of bots re-parented to the
    /// service (its own subreaper, `Subreaper.enable`) would otherwise stay zombies, as under a PID 1 that never
    /// waits. Returns the live untracked children (strays) for the caller to judge.
    package func reapStrays() -> [ProcessTable.Child] {
        var live: [ProcessTable.Child] = []
        for child in ProcessTable.children(of: getpid()) {
            if child.isZombie {
                // Under the lock: a child this reaper waits for (or expects) is left to it.
                state.withLock { state in
                    guard state.waiters[child.pid] == nil, !state.expected.contains(child.pid) else { return }
                    var status: Int32 = 0
                    _ = waitpid(child.pid, &status, WNOHANG)
                }
            } else if !isTracked(child.pid) {
                live.append(child)
            }
        }
        return live
    }

    private func pollForever() {
        while true {
            // With no bot left the thread ends; the next bot starts another.
            let current = state.withLock { state -> [(Int32, Int32, Bool)]? in
                if state.waiters.isEmpty {
                    state.running = false
                    return nil
                }
                return state.waiters.map { ($0.key, $0.value.descriptor, $0.value.reaps) }
            }
            guard let watched = current else { return }
            var descriptors = [pollfd(fd: wakeup, events: Int16(POLLIN), revents: 0)]
            descriptors += watched.map { pollfd(fd: $0.1, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&descriptors, nfds_t(descriptors.count), -1)
            if ready < 0 {
                if errno != EINTR { usleep(10_000) }  // ENOMEM passes; the descriptors are ours and valid
                continue
            }
            if descriptors[0].revents != 0 {
                autospawn_wakeup_drain(wakeup)
            }
            for (index, (pid, descriptor, reaps)) in watched.enumerated() where descriptors[index + 1].revents != 0 {
                var status: Int32 = 0
                // A process that is not ours ended when its descriptor became readable.
                let result = reaps ? waitpid(pid, &status, WNOHANG) : -1
                if result == 0 { continue }  // readable yet not waitable: look again on the next round
                let ended: ExitStatus
                if result == pid {
                    let signal = status & 0x7F
                    ended = signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
                } else {
                    ended = .vanished
                }
                let waiter = state.withLock { state in state.waiters.removeValue(forKey: pid) }
                close(descriptor)
                waiter?.onExit(ended)
            }
        }
    }
}
