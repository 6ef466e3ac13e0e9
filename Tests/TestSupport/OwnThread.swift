import Foundation

/// Runs blocking work (a poll loop, a wait on a pipe) on a thread of its own and awaits its result.
///
/// Swift's cooperative pool has as many threads as the machine has cores (two in CI): a test that blocks one of
/// them for seconds stalls every other test's tasks, among them ones that must keep a connection busy to stay
/// within the service's idle timeout.
package func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
