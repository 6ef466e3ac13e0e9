import Foundation
import HTTPTypes
import Hummingbird
import Policy
import ServiceLifecycle
import SessionStore

/// Server-Sent Events: `/bot/status/stream` for a room's bot status, `/sessions/stream` for the dashboard.
///
/// Each stream wakes on this process's committed changes (`SessionFeed`), and also every `pollInterval`
/// to re-read the database, so that changes made by another instance on the same file reach it too. It
/// writes only what changed, a comment line now and then so that proxies keep it open and a client that
/// left is noticed, and ends when the client goes or the service shuts down.
struct LiveStreams: Sendable {
    let store: SessionStore
    let recent: RecentWebhooks
    let maxConcurrency: Int
    let status: @Sendable (String) async throws -> BotStatus
    var pollInterval: Duration = .seconds(2)
    /// Polls between two keep-alive comments.
    var keepAliveEvery = 8

    /// `GET /bot/status/stream?room=`: `event: status` with `/bot/status`'s body each time the room's status,
    /// session or participant count changes, the first at once.
    func botStatus(room: String) -> Response {
        let changes = store.changes.subscribe()
        return eventStream { send in
            var last: BotStatus?
            try await wakeUps(changes: changes, matching: { $0.room == room }) { poll in
                let current = try await status(room)
                if current != last {
                    try await send("status", current)
                    last = current
                } else if poll % keepAliveEvery == keepAliveEvery - 1 {
                    try await send(nil, nil as BotStatus?)
                }
            }
        }
    }

    /// `GET /sessions/stream`: `event: summary` (`{"active","max_concurrency"}`), `event: session` (a
    /// `Session` each time one changes) and `event: webhook` (each webhook answered, the last 50 first).
    func sessions() -> Response {
        let changes = store.changes.subscribe()
        let webhooks = recent.subscribe()
        return eventStream { send in
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
                        let humans = try await store.humans(inRooms: Set((active + ended).map(\.roomName)))
                        var sent = false
                        for session in (ended.reversed() + active) {
                            let view = SessionView(session, participants: humans[session.roomName] ?? 0)
                            if shown[session.id] != view {
                                try await send("session", view)
                                shown[session.id] = view
                                sent = true
                            }
                        }
                        let summary = Summary(active: try await store.activeCount(), maxConcurrency: maxConcurrency)
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
    private func wakeUps(
        changes: AsyncStream<RoomChange>, matching: @escaping @Sendable (RoomChange) -> Bool,
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
        _ produce: @escaping @Sendable (_ send: @escaping @Sendable (String?, (any Encodable & Sendable)?) async throws -> Void) async throws -> Void
    ) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: ResponseBody { writer in
                let (chunks, output) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .unbounded)
                let send: @Sendable (String?, (any Encodable & Sendable)?) async throws -> Void = { event, value in
                    output.yield(ByteBuffer(string: Self.frame(event: event, value: value)))
                }
                // Written first, so the client knows the stream is open before anything changes.
                try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                let producer = Task {
                    try? await cancelWhenGracefulShutdown { try await produce(send) }
                    output.finish()
                }
                defer { producer.cancel() }
                do {
                    for await chunk in chunks { try await writer.write(chunk) }
                } catch {
                    // The client went away.
                    producer.cancel()
                    return
                }
                try await writer.finish(nil)
            })
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

        enum CodingKeys: String, CodingKey {
            case active
            case maxConcurrency = "max_concurrency"
        }
    }
}
