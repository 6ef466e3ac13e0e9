import Logging
import PostgresNIO
import Synchronization

/// Tells the other replicas (`NOTIFY`) which rooms this one changed and when a bot may be placed, after the
/// transactions commit and in batches. A `NOTIFY` inside each transaction serialised every commit behind
/// PostgreSQL's one notification lock, fsync included (BENCHMARKS.md); a notification lost with a crash costs a
/// listener only its next poll.
final class PostgresChangeAnnouncer: Sendable {
    private struct Pending {
        var rooms: Set<String> = []
        var placement = false
    }

    /// PostgreSQL's limit on a payload is 8,000 bytes: rooms are sent in payloads of at most this many.
    static let payloadBytes = 7_000
    private let pending = Mutex(Pending())
    private let wakeups: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation) =
        AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))

    /// Notes what a committed transaction changed; sent at the next turn of `run`.
    func announce(rooms: Set<String>, placement: Bool) {
        guard !rooms.isEmpty || placement else { return }
        pending.withLock {
            $0.rooms.formUnion(rooms)
            $0.placement = $0.placement || placement
        }
        wakeups.continuation.yield()
    }

    /// Sends what was announced, batch by batch, until cancelled.
    func run(channel: String, instance: String, send: @Sendable (PostgresQuery) async throws -> Void, logger: Logger) async {
        for await _ in wakeups.stream {
            let batch = pending.withLock { pending in
                defer { pending = Pending() }
                return pending
            }
            do {
                for payload in Self.payloads(instance: instance, rooms: batch.rooms) {
                    try await send("SELECT pg_notify(\(channel), \(payload))")
                }
                if batch.placement { try await send("SELECT pg_notify(\(channel), \(PostgresTransaction.placementPayload))") }
            } catch {
                logger.warning("could not tell the other replicas of changes", metadata: ["error": "\(error)"])
            }
        }
    }

    /// "<instance>\t<room>\t<room>…", each under `payloadBytes`.
    static func payloads(instance: String, rooms: Set<String>) -> [String] {
        var payloads: [String] = []
        var current = instance
        for room in rooms.sorted() {
            if current.utf8.count + 1 + room.utf8.count > payloadBytes && current != instance {
                payloads.append(current)
                current = instance
            }
            current += "\t" + room
        }
        if current != instance { payloads.append(current) }
        return payloads
    }
}
