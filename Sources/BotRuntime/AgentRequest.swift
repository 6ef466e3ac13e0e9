import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Policy

/// One agent bot: the `POST <url>/bot` request of the Pipecat Cloud base image, open while the bot runs.
struct AgentRequest: Sendable {
    let baseURL: String
    let session: Session
    let token: String
    let timeoutSeconds: Double

    /// Sends the request and waits for its answer: 2xx is a bot that finished, anything else a failure
    /// (the HTTP status as exit code, or 1 when there was no answer). Cancelling it closes the request.
    func run(logger: Logger) async -> ExitStatus {
        var request = HTTPClientRequest(url: baseURL + "/bot")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "X-Daily-Room-Url", value: session.roomURL ?? "")
        request.headers.add(name: "X-Daily-Room-Token", value: token)
        request.headers.add(name: "X-Daily-Session-Id", value: session.id)
        request.body = .bytes(ByteBuffer(string: session.body))
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(Int64(timeoutSeconds)))
            _ = try? await response.body.collect(upTo: 1 << 20)
            let status = Int32(response.status.code)
            return (200..<300).contains(status) ? .exited(0) : .exited(status)
        } catch {
            logger.warning("agent request ended without an answer", metadata: ["session_id": "\(session.id)", "error": "\(error)"])
            return .exited(1)
        }
    }
}
