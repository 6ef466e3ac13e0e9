import Foundation
import Synchronization

/// One webhook as the dashboard lists it (no participant names or ids: a room and what was done).
struct WebhookEntry: Encodable, Sendable, Equatable {
    /// Seconds since 1970; written as RFC 3339 only when a stream sends it, off the webhook's path.
    var at: Double
    var type: String
    var room: String?
    var action: String
    var reason: String
    var sessionID: String?

    enum CodingKeys: String, CodingKey {
        case at, type, room, action, reason
        case sessionID = "session_id"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rfc3339(at), forKey: .at)
        try container.encode(type, forKey: .type)
        try container.encodeIfPresent(room, forKey: .room)
        try container.encode(action, forKey: .action)
        try container.encode(reason, forKey: .reason)
        try container.encodeIfPresent(sessionID, forKey: .sessionID)
    }
}

/// The last webhooks this process answered, kept in memory for the dashboard, and told to its open streams.
final class RecentWebhooks: Sendable {
    private struct State {
        var entries: [WebhookEntry] = []
        var listeners: [UUID: AsyncStream<WebhookEntry>.Continuation] = [:]
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int = 50) {
        self.capacity = capacity
    }

    func append(_ entry: WebhookEntry) {
        let listeners = state.withLock { state in
            state.entries.append(entry)
            if state.entries.count > capacity { state.entries.removeFirst(state.entries.count - capacity) }
            return Array(state.listeners.values)
        }
        for listener in listeners { listener.yield(entry) }
    }

    /// The kept entries, oldest first, and every entry from now on.
    func subscribe() -> (recent: [WebhookEntry], updates: AsyncStream<WebhookEntry>) {
        let (stream, continuation) = AsyncStream.makeStream(of: WebhookEntry.self, bufferingPolicy: .bufferingNewest(capacity))
        let id = UUID()
        let recent = state.withLock { state in
            state.listeners[id] = continuation
            return state.entries
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.listeners.removeValue(forKey: id) }
        }
        return (recent, stream)
    }
}
