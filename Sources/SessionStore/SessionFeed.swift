import Policy
import Foundation
import Synchronization

/// A room whose state may have changed in a transaction that has committed: its session as the transaction
/// left it (nil when the change did not touch a session: participants only).
public struct RoomChange: Sendable, Equatable {
    public var room: String
    public var session: Session?
}

/// Tells this process's listeners (status streams, the dashboard, metrics) about committed changes, as they
/// happen. Changes made by another process on the same database are not heard: listeners that must see them
/// also read the database now and then.
public final class SessionFeed: Sendable {
    private let listeners = Mutex<[UUID: AsyncStream<RoomChange>.Continuation]>([:])
    private let placementListeners = Mutex<[UUID: AsyncStream<Void>.Continuation]>([:])

    public init() {}

    /// Every change from now on, until the stream is dropped. A slow listener loses the oldest changes first
    /// (it re-reads the state it shows, so only the newest matters).
    public func subscribe() -> AsyncStream<RoomChange> {
        let (stream, continuation) = AsyncStream.makeStream(of: RoomChange.self, bufferingPolicy: .bufferingNewest(256))
        let id = UUID()
        listeners.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.listeners.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    /// A signal each time a bot may be placed somewhere it could not be before: a session waits for an instance
    /// with room, a room waits for a bot, or a place freed. Signals that come while the listener is busy count once.
    public func placementWakeups() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        placementListeners.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.placementListeners.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    func wantPlacement() {
        for continuation in placementListeners.withLock({ Array($0.values) }) { continuation.yield() }
    }

    func publish(_ changes: [RoomChange]) {
        guard !changes.isEmpty else { return }
        let current = listeners.withLock { Array($0.values) }
        for continuation in current {
            for change in changes { continuation.yield(change) }
        }
    }

    func publish(_ sessions: [Session?]) {
        publish(sessions.compactMap { $0.map { RoomChange(room: $0.roomName, session: $0) } })
    }
}
