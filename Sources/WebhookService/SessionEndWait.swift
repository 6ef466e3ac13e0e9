import Policy
import SessionStore

extension SessionStorage {
    /// How long a bot's socket closing waits for the bot's own end (its exit) to be recorded, which says why it left.
    static var botExitWait: Duration { .seconds(2) }

    /// The session once it has ended, waiting up to `botExitWait` for its bot's exit to be recorded; nil while it
    /// still runs.
    func ended(_ id: String) async -> Session? {
        let deadline = ContinuousClock.now + Self.botExitWait
        while ContinuousClock.now < deadline {
            if let session = try? await session(id), !session.state.isActive { return session }
            try? await Task.sleep(for: .milliseconds(25))
        }
        return nil
    }
}
