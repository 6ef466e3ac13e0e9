import Foundation

/// How a phone call waits for a place for its bot: the caller already hears ringing or hold music, so at capacity
/// the call waits (`AUTOSPAWN_DIALIN_WAIT_S`) rather than being refused. Daily's dial-in and the carriers' calls
/// wait alike.
struct PlaceWait: Sendable {
    /// `AUTOSPAWN_DIALIN_WAIT_S`.
    let seconds: Double

    /// How often a waiting call tries: places free on other instances too, which this one does not hear.
    static let retryInterval = Duration.milliseconds(200)

    /// A waiting call whose request was given up: it found no place.
    static let givenUp = APIError(.serviceUnavailable, .capacity)

    /// Runs `attempt` until it answers; nil when the wait is over first. `waits` is told once, when the call
    /// begins to wait. A database failure is `503 database_unavailable`, unless the request was given up meanwhile
    /// (the database refuses a cancelled task's questions; no place was found, and the database is not to blame).
    func run<Answer: Sendable>(
        waits: () -> Void,
        _ attempt: () async throws -> Answer?
    ) async throws(APIError) -> Answer? {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        var waited = false
        while true {
            do {
                if let answer = try await attempt() { return answer }
            } catch let failure as APIError {
                throw failure
            } catch {
                if Task.isCancelled { throw Self.givenUp }
                throw APIError(.serviceUnavailable, .databaseUnavailable)
            }
            guard ContinuousClock.now < deadline else { return nil }
            if !waited {
                waits()
                waited = true
            }
            do {
                try await Task.sleep(for: min(Self.retryInterval, deadline - ContinuousClock.now))
            } catch {
                // The request was given up (the server is shutting down): no more tries, and no database to blame.
                throw Self.givenUp
            }
        }
    }
}
