import BotRuntime
import Foundation
import HTTPTypes
import Hummingbird
import Policy
import ServiceLifecycle
import SessionStore
import Synchronization

/// Server-Sent Events: `/bot/status/stream` for a room's bot status, `/sessions/stream` for the dashboard.
///
/// Each stream wakes on committed changes (`SessionFeed`: this process's, and on PostgreSQL every replica's), and
/// also every `pollInterval` to re-read the database, so that changes made by another instance on the same SQLite
/// file reach it within a second too. It
/// writes only what changed, a comment line now and then so that proxies keep it open and a client that
/// left is noticed, and ends when the client goes or the service shuts down.
struct LiveStreams: Sendable {
    let store: any SessionStorage
    let recent: RecentWebhooks
    let maxConcurrency: Int
    let status: @Sendable (String) async throws -> BotStatus
    /// Open `/bot/status/stream`s, at most `AUTOSPAWN_MAX_PUBLIC_STREAMS`: they need no token, so they have a limit of
    /// their own and can never take the operator's places.
    let publicSlots: StreamSlots
    /// Open `/sessions/stream`s (the operator's dashboard), at most `AUTOSPAWN_MAX_STREAMS`.
    let operatorSlots: StreamSlots
    /// One reader per room, however many streams watch it.
    let rooms: RoomStatusReaders
    var pollInterval: Duration
    /// This instance's idle bots, shown in the summary.
    let warmPools: [WarmPool]
    /// Polls between two keep-alive comments (about every 8 s).
    var keepAliveEvery: Int

    init(
        store: any SessionStorage,
        recent: RecentWebhooks,
        maxConcurrency: Int,
        maxStreams: Int,
        maxPublicStreams: Int,
        warmPools: [WarmPool] = [],
        status: @escaping @Sendable (String) async throws -> BotStatus
    ) {
        self.warmPools = warmPools
        self.store = store
        self.recent = recent
        self.maxConcurrency = maxConcurrency
        self.status = status
        self.publicSlots = StreamSlots(limit: maxPublicStreams)
        self.operatorSlots = StreamSlots(limit: maxStreams)
        self.rooms = RoomStatusReaders()
        // PostgreSQL tells of other replicas' changes; on SQLite only a poll sees other processes' writes.
        pollInterval = store.hearsOtherInstances ? .seconds(2) : .seconds(1)
        keepAliveEvery = store.hearsOtherInstances ? 4 : 8
    }

    /// `GET /bot/status/stream?room=`: `event: status` with `/bot/status`'s body each time the room's status,
    /// session or participant count changes, the first at once.
    func botStatus(room: String) async throws(APIError) -> Response {
        guard publicSlots.take() else { throw APIError(.serviceUnavailable, .tooManyStreams) }
        let (subscriber, updates) = await rooms.subscribe(room) { publish in
            var last: BotStatus?
            try await wakeUps(changes: store.changes.subscribe(), matching: { $0.room == room }) { poll in
                let current = try await status(room)
                if current != last {
                    await publish(current)
                    last = current
                } else if poll % keepAliveEvery == keepAliveEvery - 1 {
                    await publish(nil)
                }
            }
        }
        return eventStream(
            onEnd: { [rooms, publicSlots] in
                publicSlots.release()
                // The stream's end is told synchronously; the room's reader (an actor) hears of it right after.
                Task { await rooms.unsubscribe(room, subscriber) }
            },
            { send in
                for await update in updates {
                    if let update { try await send("status", update) } else { try await send(nil, nil as BotStatus?) }
                }
            }
        )
    }

    /// `GET /sessions/stream`: `event: summary` (`{"active","max_concurrency","warm_bots","warm_idle"}`), `event: session` (a
    /// `Session` each time one changes) and `event: webhook` (each webhook answered, the last 50 first).
    func sessions() throws(APIError) -> Response {
        guard operatorSlots.take() else { throw APIError(.serviceUnavailable, .tooManyStreams) }
        let changes = store.changes.subscribe()
        let webhooks = recent.subscribe()
        return eventStream(onEnd: operatorSlots.release) { send in
            for entry in webhooks.recent { try await send("webhook", entry) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await entry in webhooks.updates { try await send("webhook", entry) }
                }
                group.addTask {
                    var lastSummary: Summary?
                    var shown: [String: SessionView] = [:]
                    try await wakeUps(changes: changes, matching: { _ in true }) { poll in
                        // Re-read rather than trust the change: another instance may have moved on since.
                        let active = try await store.sessions(SessionQuery(states: .active, limit: 1000))
                        let ended = try await store.sessions(SessionQuery(states: .ended, limit: 20))
                        var sent = false
                        for view in try await SessionView.of(ended.reversed() + active, store: store) {
                            if shown[view.id] != view {
                                try await send("session", view)
                                shown[view.id] = view
                                sent = true
                            }
                        }
                        let summary = Summary(
                            active: try await store.activeCount(),
                            maxConcurrency: maxConcurrency,
                            warmBots: warmPools.reduce(0) { $0 + $1.size },
                            warmIdle: warmPools.reduce(0) { $0 + $1.idleCount }
                        )
                        if summary != lastSummary {
                            try await send("summary", summary)
                            lastSummary = summary
                            sent = true
                        }
                        if !sent, poll % keepAliveEvery == keepAliveEvery - 1 { try await send(nil, nil as Summary?) }
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    /// Runs `body` once at once, then on every matching change and every poll interval, until cancelled. The
    /// argument counts the polls.
    func wakeUps(
        changes: AsyncStream<RoomChange>,
        matching: @escaping @Sendable (RoomChange) -> Bool,
        _ body: (Int) async throws -> Void
    ) async throws {
        let (wakes, wake) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
        let interval = pollInterval
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await change in changes where matching(change) { wake.yield(-1) }
            }
            group.addTask {
                var polls = 0
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    wake.yield(polls)
                    polls += 1
                }
            }
            wake.yield(-1)
            for await poll in wakes {
                try await body(poll)
            }
            group.cancelAll()
        }
    }

    /// A `text/event-stream` response whose body `produce` writes, with `send(event, value)` (a nil event
    /// writes a keep-alive comment). It ends when the client leaves (a write fails) or at graceful shutdown.
    private func eventStream(
        onEnd: @escaping @Sendable () -> Void,
        _ produce: @escaping @Sendable (_ send: @escaping @Sendable (String?, (any Encodable & Sendable)?) async throws -> Void) async throws -> Void
    ) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: ResponseBody { writer in
                defer { onEnd() }
                let (chunks, output) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .unbounded)
                let send: @Sendable (String?, (any Encodable & Sendable)?) async throws -> Void = { event, value in
                    output.yield(ByteBuffer(string: Self.frame(event: event, value: value)))
                }
                // Written first, so the client knows the stream is open before anything changes.
                try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                let clientLeft = await withTaskGroup(of: Void.self, returning: Bool.self) { group in
                    group.addTask {
                        try? await cancelWhenGracefulShutdown { try await produce(send) }
                        output.finish()
                    }
                    do {
                        for await chunk in chunks { try await writer.write(chunk) }
                        return false
                    } catch {
                        group.cancelAll()
                        return true
                    }
                }
                if !clientLeft { try await writer.finish(nil) }
            }
        )
    }

    static func frame(event: String?, value: (any Encodable & Sendable)?) -> String {
        guard let event, let value else { return ": keep-alive\n\n" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return "event: \(event)\ndata: \(String(decoding: data, as: UTF8.self))\n\n"
    }

    struct Summary: Codable, Sendable, Equatable {
        var active: Int
        var maxConcurrency: Int
        /// `AUTOSPAWN_WARM_BOTS` of this instance, and how many of them are idle now.
        var warmBots: Int
        var warmIdle: Int

        enum CodingKeys: String, CodingKey {
            case active
            case maxConcurrency = "max_concurrency"
            case warmBots = "warm_bots"
            case warmIdle = "warm_idle"
        }
    }
}

/// Counts open streams against their limit.
final class StreamSlots: Sendable {
    private let open = Mutex(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Takes a slot; false when all are taken.
    func take() -> Bool {
        open.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func release() { open.withLock { $0 -= 1 } }

    var count: Int { open.withLock { $0 } }
}

/// One reader task per watched room: it reads the room's status when something changes and hands each new
/// status (or nil, a keep-alive tick) to every stream of the room. It stops when the room's last stream ends.
actor RoomStatusReaders {
    typealias Publish = @Sendable (BotStatus?) async -> Void

    private struct Reader {
        var id: UUID
        var task: Task<Void, Never>
        var subscribers: [UUID: AsyncStream<BotStatus?>.Continuation] = [:]
        var last: BotStatus?
    }

    private var readers: [String: Reader] = [:]

    /// Rooms being read now (for tests and metrics).
    var roomCount: Int { readers.count }

    /// A stream of the room's statuses, starting with the latest known one; `read` is the room's reader, started
    /// with the first subscriber.
    func subscribe(
        _ room: String,
        read: @escaping @Sendable (_ publish: @escaping Publish) async throws -> Void
    ) -> (UUID, AsyncStream<BotStatus?>) {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: BotStatus?.self, bufferingPolicy: .bufferingNewest(8))
        if readers[room] == nil {
            let readerID = UUID()
            // One reader per room, shared by its streams: it outlives the request that started it and ends with the
            // last stream (`unsubscribe`) or the database (`finish`).
            let task = Task {
                do {
                    try await read { status in
                        await self.publish(room, status)
                    }
                } catch {
                    // Cancelled with the last stream, or the database failed: the streams end.
                }
                await self.finish(room, readerID)
            }
            readers[room] = Reader(id: readerID, task: task)
        }
        readers[room]?.subscribers[id] = continuation
        if let last = readers[room]?.last { continuation.yield(last) }
        return (id, stream)
    }

    func unsubscribe(_ room: String, _ id: UUID) {
        readers[room]?.subscribers[id]?.finish()
        readers[room]?.subscribers[id] = nil
        if readers[room]?.subscribers.isEmpty == true {
            readers[room]?.task.cancel()
            readers[room] = nil
        }
    }

    /// The reader has stopped (its last stream went, or the database failed): its streams end with it.
    private func finish(_ room: String, _ readerID: UUID) {
        guard let reader = readers[room], reader.id == readerID else { return }
        for continuation in reader.subscribers.values { continuation.finish() }
        readers[room] = nil
    }

    private func publish(_ room: String, _ status: BotStatus?) {
        guard var reader = readers[room] else { return }
        if let status { reader.last = status }
        readers[room] = reader
        for continuation in reader.subscribers.values { continuation.yield(status) }
    }
}
