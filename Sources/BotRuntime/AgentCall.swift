import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import Policy
import Synchronization

/// One phone call's bot on a Pipecat Cloud agent: the base image's WebSocket, `<url>/ws` with `X-Daily-Session-Id`
/// and the body as base64 JSON in the `body` query item (its `handle_websocket`), joined to the call's stream URL on
/// this instance as a bot process would join it. Frames pass both ways unchanged; the agent's socket is the bot's
/// lifetime. The call's key stays in this process: the agent is handed the body, never the stream URL.
struct AgentCall: Sendable {
    let baseURL: String
    let session: Session
    let streamURL: String

    /// The agent's socket, with the session's body in the base image's form.
    var agentURL: String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let body = Data(session.body.utf8).base64EncodedString().addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
        return baseURL + "/ws?body=" + body
    }

    /// How the call's two sockets came to part.
    private enum Parting: Sendable {
        /// The agent's socket ended: its bot hung up or finished, or (with no close frame, or an error's) failed.
        case agentClosed
        /// The agent's connection broke: its bot failed.
        case agentBroke
        /// The service closed the call's socket (the caller hung up, or the call is over), or `hangUp` asked.
        case callEnded
    }

    /// Runs the bot until either side ends: exit 0 when the agent closed its socket or the call ended, 1 when the agent
    /// could not be reached or its connection broke (so a caller still on the line gets a new bot). `hangUp` closes
    /// the agent's socket, as a bot process is sent SIGTERM.
    func run(hangUp: Outcome<Void>, logger: Logger) async -> ExitStatus {
        let log = logger.with(["session_id": "\(session.id)", "room": "\(session.roomName)"])
        var headers = HTTPFields()
        if let name = HTTPField.Name("X-Daily-Session-Id") { headers[name] = session.id }
        let streamURL = streamURL
        do {
            let parting = Mutex<Parting?>(nil)
            let closing = try await WebSocketClient.connect(
                url: agentURL,
                configuration: .init(maxFrameSize: 1 << 16, additionalHeaders: headers),
                logger: logger
            ) { agentIn, agentOut, _ in
                do {
                    _ = try await WebSocketClient.connect(url: streamURL, configuration: .init(maxFrameSize: 1 << 16), logger: logger) {
                        callIn,
                        callOut,
                        _ in
                        let first = await withTaskGroup(of: Parting.self) { group in
                            group.addTask {
                                do {
                                    for try await frame in agentIn { try await callOut.write(.custom(frame.outgoing)) }
                                    return .agentClosed
                                } catch {
                                    return .agentBroke
                                }
                            }
                            group.addTask {
                                do {
                                    for try await frame in callIn { try await agentOut.write(.custom(frame.outgoing)) }
                                } catch {}
                                return .callEnded
                            }
                            group.addTask {
                                _ = await hangUp.wait()
                                return .callEnded
                            }
                            let first = await group.next() ?? .callEnded
                            group.cancelAll()
                            return first
                        }
                        parting.withLock { $0 = first }
                        // Each side hears the other's end as a close: the relay then asks what the bot's end was.
                        try? await callOut.close(.normalClosure, reason: nil)
                        try? await agentOut.close(first == .agentBroke ? .goingAway : .normalClosure, reason: nil)
                    }
                } catch {
                    log.warning("an agent's call could not reach the call's socket", metadata: ["error": "\(error)"])
                    try? await agentOut.close(.goingAway, reason: "the call cannot be reached")
                    parting.withLock { $0 = .agentBroke }
                }
            }
            switch parting.withLock({ $0 }) {
            case .callEnded: return .exited(0)
            case .agentClosed:
                // A socket that died without a close frame, or closed for an error, is a bot that failed.
                let code: WebSocketErrorCode? = closing?.closeCode
                return .exited(code == .normalClosure || code == .goingAway ? 0 : 1)
            case .agentBroke, nil: return .exited(1)
            }
        } catch {
            log.warning("the agent's call socket could not be opened", metadata: ["error": "\(error)"])
            return .exited(1)
        }
    }
}

extension Logger {
    fileprivate func with(_ metadata: Logger.Metadata) -> Logger {
        var logger = self
        for (key, value) in metadata { logger[metadataKey: key] = value }
        return logger
    }
}
