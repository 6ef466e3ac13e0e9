import Policy
import Synchronization

/// How a bot ended, once it has: set once by what hears the end (the child reaper's thread, an agent's request),
/// awaited by any number of waiters. A waiter that is cancelled stops waiting and the bot runs on: a handover
/// leaves its bots to the next instance, and the supervisor's watches of them end with its `run()`.
package final class BotExit: Sendable {
    private enum State {
        case running(waiters: [UInt64: CheckedContinuation<ExitStatus?, Never>])
        case ended(ExitStatus)
    }

    private let state = Mutex(State.running(waiters: [:]))
    private let nextWaiter = Atomic<UInt64>(0)

    package init() {}

    /// The status, once the bot has ended.
    package var status: ExitStatus? {
        state.withLock { state in
            if case .ended(let status) = state { return status }
            return nil
        }
    }

    /// Records the end (the first one heard counts) and wakes every waiter.
    package func fulfil(_ status: ExitStatus) {
        state.withLock { state in
            guard case .running(let waiters) = state else { return }
            state = .ended(status)
            for waiter in waiters.values { waiter.resume(returning: status) }
        }
    }

    /// How the bot ended, once it has; nil when the waiting task is cancelled first.
    package func wait() async -> ExitStatus? {
        let id = nextWaiter.add(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                state.withLock { state in
                    switch state {
                    case .ended(let status):
                        continuation.resume(returning: status)
                    case .running(var waiters):
                        // Cancelled before this waiter was recorded: the handler found nothing to end.
                        if Task.isCancelled {
                            continuation.resume(returning: nil)
                        } else {
                            waiters[id] = continuation
                            state = .running(waiters: waiters)
                        }
                    }
                }
            }
        } onCancel: {
            state.withLock { state in
                guard case .running(var waiters) = state, let waiter = waiters.removeValue(forKey: id) else { return }
                state = .running(waiters: waiters)
                waiter.resume(returning: nil)
            }
        }
    }
}
