import Policy
import Synchronization

/// How a bot ended, once it has: set once by what hears the end (the child reaper's thread, an agent's request).
/// A waiter that is cancelled stops waiting and the bot runs on: a handover leaves its bots to the next instance,
/// and the supervisor's watches of them end with its `run()`.
package typealias BotExit = Outcome<ExitStatus>

/// A value that comes once, awaited by any number of waiters, each of which may be cancelled.
package final class Outcome<Value: Sendable>: Sendable {
    private enum State {
        case running(waiters: [UInt64: CheckedContinuation<Value?, Never>])
        case ended(Value)
    }

    private let state = Mutex(State.running(waiters: [:]))
    private let nextWaiter = Atomic<UInt64>(0)

    package init() {}

    /// The value, once it has come.
    package var value: Value? {
        state.withLock { state in
            if case .ended(let value) = state { return value }
            return nil
        }
    }

    /// Records the value (the first one counts) and wakes every waiter.
    package func fulfil(_ value: Value) {
        state.withLock { state in
            guard case .running(let waiters) = state else { return }
            state = .ended(value)
            for waiter in waiters.values { waiter.resume(returning: value) }
        }
    }

    /// The value, once it has come; nil when the waiting task is cancelled first.
    package func wait() async -> Value? {
        let id = nextWaiter.add(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                state.withLock { state in
                    switch state {
                    case .ended(let value):
                        continuation.resume(returning: value)
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
