import Foundation
import Policy
import Synchronization

/// A room whose state may have changed in a transaction that has committed: its session as the transaction
/// left it (nil when the change did not touch a session: participants only).
package struct RoomChange: Sendable, Equatable {
    package var room: String
    package var session: Session?
}

/// Tells this process's listeners (status streams, the dashboard, the supervisor's placement) about committed
/// changes, as they happen. On PostgreSQL it also tells other replicas' changes (`NOTIFY`); on SQLite changes made
/// by another process on the same file are not heard, and listeners that must see them also read the database now
/// and then (`SessionStorage.hearsOtherInstances`).
package final class SessionFeed: Sendable {
    private let listeners = Listeners<RoomChange>()
    private let placementListeners = Listeners<Void>()

    package init() {}

    /// Every change from now on, until the stream is dropped. A slow listener loses the oldest changes first
    /// (it re-reads the state it shows, so only the newest matters).
    package func subscribe() -> AsyncStream<RoomChange> {
        listeners.subscribe(keeping: 256)
    }

    /// A signal each time a bot may be placed somewhere it could not be before: a session waits for an instance
    /// with room, a room waits for a bot, or a place freed. Signals that come while the listener is busy count once.
    package func placementWakeups() -> AsyncStream<Void> {
        placementListeners.subscribe(keeping: 1)
    }

    func wantPlacement() {
        placementListeners.yield([()])
    }

    func publish(_ changes: [RoomChange]) {
        guard !changes.isEmpty else { return }
        listeners.yield(changes)
    }

    func publish(_ sessions: [Session?]) {
        publish(sessions.compactMap { $0.map { RoomChange(room: $0.roomName, session: $0) } })
    }
}

/// The streams of one kind of listener, each until it is dropped.
private final class Listeners<Element: Sendable>: Sendable {
    private let continuations = Mutex<[UUID: AsyncStream<Element>.Continuation]>([:])

    /// A stream that keeps the newest `keeping` elements its listener has not read yet.
    func subscribe(keeping: Int) -> AsyncStream<Element> {
        let (stream, continuation) = AsyncStream.makeStream(of: Element.self, bufferingPolicy: .bufferingNewest(keeping))
        let id = UUID()
        continuations.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.continuations.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    func yield(_ elements: [Element]) {
        for continuation in continuations.withLock({ Array($0.values) }) {
            for element in elements { continuation.yield(element) }
        }
    }
}
