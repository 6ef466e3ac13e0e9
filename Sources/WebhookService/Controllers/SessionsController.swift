import BotRuntime
import Foundation
import Hummingbird
import Policy
import SessionStore

/// The operator's routes (behind `AUTOSPAWN_ADMIN_TOKEN`): the sessions, one session, its stop and its bot's log,
/// their live stream, and `/metrics`.
struct SessionsController: Sendable {
    let parts: AutospawnService
    let streams: LiveStreams
    let redactor: SecretRedactor
    let maxConcurrency: Int

    var store: any SessionStorage { parts.store }

    func addRoutes(to admin: RouterGroup<BasicRequestContext>) {
        admin.get("metrics") { _, _ -> Response in try await metrics() }
        admin.get("sessions/stream") { _, _ in try streams.sessions() }
        admin.get("sessions") { request, _ -> Response in try await sessions(request) }
        admin.get("sessions/:id") { _, context -> Response in
            json(.ok, try await view(try await session(context)))
        }
        admin.delete("sessions/:id") { _, context -> Response in
            guard let id = context.parameters.get("id"), let session = try await parts.supervisor.requestStop(id, reason: .stopRequested)
            else { throw APIError(.notFound, .sessionNotFound) }
            guard session.state.isActive else { throw APIError(.conflict, .sessionFinished) }
            return json(.accepted, try await view(try await store.session(id) ?? session))
        }
        admin.get("sessions/:id/log") { request, context -> Response in try await log(request, of: try await session(context)) }
    }

    private func metrics() async throws -> Response {
        // The gauges that are states, not events, are read when asked for.
        parts.metrics.sessions(active: try await store.activeCount(), capacity: maxConcurrency)
        parts.metrics.statusStreams(streams.publicSlots.count + streams.operatorSlots.count)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: parts.registry.emitToBuffer()))
        )
    }

    /// `?state=&room=&limit=`.
    private func sessions(_ request: Request) async throws -> Response {
        let parameters = request.uri.queryParameters
        var query = SessionQuery()
        if let state = parameters.get("state") {
            guard let states = SessionQuery.States(rawValue: state) else { throw APIError(.badRequest, .invalidState) }
            query.states = states
        }
        if let room = parameters.get("room") {
            guard let name = EventNormaliser.roomName(fromNameOrURL: room) else { throw APIError(.badRequest, .invalidRoom) }
            query.roomName = name
        }
        if let limit = parameters.get("limit") {
            guard let value = Int(limit), (1...1000).contains(value) else { throw APIError(.badRequest, .invalidLimit) }
            query.limit = value
        }
        let sessions = try await store.sessions(query)
        return json(
            .ok,
            SessionList(
                sessions: try await SessionView.of(sessions, store: store),
                active: try await store.activeCount(),
                maxConcurrency: maxConcurrency
            )
        )
    }

    private func session(_ context: BasicRequestContext) async throws -> Session {
        guard let id = context.parameters.get("id"), let session = try await store.session(id) else {
            throw APIError(.notFound, .sessionNotFound)
        }
        return session
    }

    private func view(_ session: Session) async throws -> SessionView {
        try await SessionView.of([session], store: store)[0]
    }

    /// `?tail=`: the last lines of the bot's log, from the instance that ran it, redacted.
    private func log(_ request: Request, of session: Session) async throws -> Response {
        var lines = 100
        if let tail = request.uri.queryParameters.get("tail") {
            guard let value = Int(tail), (1...100_000).contains(value) else { throw APIError(.badRequest, .invalidTail) }
            lines = value
        }
        // A call's bot was given a key to forward its call with (Daily's dial-in) or to reach its stream with (a
        // carrier's call), and may print its body or its environment.
        let callKey =
            session.transport.hasBotSocket
            ? parts.callKeys.botKey(forSession: session.id)
            : parts.calls.flatMap { calls in DialinCall.callID(ofRoom: session.roomName).map(calls.keys.key(forCall:)) }
        if request.headers[OwnerForwarder.forwardedHeader] == nil,
            let answer = await parts.owners.ownersAnswer(
                for: session,
                path: "/sessions/\(session.id)/log?tail=\(lines)",
                authorization: request.headers[.authorization]
            )
        {
            // Another instance ran this bot: its answer, or 502 when it cannot be reached.
            guard let answer else { throw APIError(.badGateway, .logUnavailable) }
            return Response(
                status: .init(code: answer.status),
                headers: [.contentType: answer.status == 200 ? "text/plain; charset=utf-8" : "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: redactor.redact(String(buffer: answer.body), also: [callKey ?? ""])))
            )
        }
        // The bot wrote this file, and it holds its own meeting token: hand out none of it.
        let path = parts.supervisor.logPath(for: session.id)
        let text = redactor.redact(LogTail.lastLines(of: [path + ".1", path], count: lines), also: [callKey ?? ""])
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text))
        )
    }
}

/// The end of a bot's log file.
enum LogTail {
    /// The last `count` lines of the files taken as one, oldest first (a rotated log, then the current one),
    /// reading at most the last 4 MiB of each.
    static func lastLines(of paths: [String], count: Int) -> String {
        var lines: [Substring] = []
        for path in paths {
            guard let handle = FileHandle(forReadingAtPath: path) else { continue }
            defer { try? handle.close() }
            let size = (try? handle.seekToEnd()) ?? 0
            let window: UInt64 = 4 * 1024 * 1024
            try? handle.seek(toOffset: size > window ? size - window : 0)
            let data = (try? handle.readToEnd()) ?? Data()
            var part = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            if part.last == "" { part.removeLast() }
            lines += part
        }
        return lines.suffix(count).joined(separator: "\n") + (lines.isEmpty ? "" : "\n")
    }
}
