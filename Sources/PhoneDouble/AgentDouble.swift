import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import Synchronization

/// A local stand-in for a Pipecat Cloud agent's phone calls: the base image's `GET /ws` WebSocket, the session in
/// `X-Daily-Session-Id` and the body as base64 JSON in the `body` query item. Its bot is the echo bot, answering on
/// the socket the service opened (`record` may name `{session_id}`).
package final class AgentDouble: Sendable {
    /// One socket the service opened.
    package struct Connection: Sendable, Equatable {
        package var sessionID: String?
        /// The body, decoded from the query item; nil when there was none or it was not base64 of JSON.
        package var body: String?
    }

    private let server: LocalServer
    private let box: Box

    private init(server: LocalServer, box: Box) {
        self.server = server
        self.box = box
    }

    /// `AUTOSPAWN_AGENT_URL`.
    package var baseURL: String { server.baseURL }

    /// The sockets opened so far, oldest first.
    package var connections: [Connection] { box.connections.withLock { $0 } }

    package func stop() async { await server.stop() }

    /// Starts the agent; each call's bot behaves as `behaviour` says, except that a failure closes the socket with an
    /// error (the base image's server when its bot raises) instead of killing a process.
    package static func start(behaviour: EchoBot.Behaviour = .init()) async throws -> AgentDouble {
        let box = Box()
        let server = HTTPServerBuilder.http1WebSocketUpgrade { request, _, _ in
            guard request.method == .get, let path = request.path, let parts = URLComponents(string: path), parts.path == "/ws" else {
                return .dontUpgrade
            }
            let sessionID = HTTPField.Name("X-Daily-Session-Id").flatMap { request.headerFields[$0] }
            let body = parts.queryItems?.first { $0.name == "body" }?.value
                .flatMap { Data(base64Encoded: $0) }
                .flatMap { (try? JSONSerialization.jsonObject(with: $0)) != nil ? String(decoding: $0, as: UTF8.self) : nil }
            box.connections.withLock { $0.append(Connection(sessionID: sessionID, body: body)) }
            var ownBehaviour = behaviour
            ownBehaviour.record = behaviour.record?.replacingOccurrences(of: "{session_id}", with: sessionID ?? "none")
            let echo = EchoBot.Echo(behaviour: ownBehaviour)
            return .upgrade([:]) { inbound, outbound, _ in
                if try await echo.answer(inbound, outbound) == .failed { throw AgentBotFailed() }
            }
        }
        return AgentDouble(server: try await LocalServer.start(name: "agent-double", router: Router(), server: server), box: box)
    }

    private struct AgentBotFailed: Error {}

    private final class Box: Sendable {
        let connections = Mutex<[Connection]>([])
    }
}
