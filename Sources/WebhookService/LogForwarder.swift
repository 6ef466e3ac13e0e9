import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import Policy
import SessionStore

/// Reads a bot's log on the instance that ran it: each replica keeps its own bots' logs, and another replica's
/// `GET /sessions/{id}/log` is answered with what the owner answers (`AUTOSPAWN_ADVERTISE_URL`).
struct LogForwarder: Sendable {
    /// Marks a request one instance forwarded to another: it is answered from local files, never forwarded again.
    static let forwardedHeader = HTTPField.Name("X-Autospawn-Forwarded")!
    let store: any SessionStorage
    let http: HTTPClient
    /// The longest the owner may take to answer.
    var timeout: TimeAmount = .seconds(5)

    /// The owner's answer (status and text); nil when the log is this instance's to read (its own session, one no
    /// instance took, or an owner no longer registered, whose files can only be here if anywhere).
    func ownersAnswer(for session: Session, tail: Int, authorization: String?) async -> (status: Int, text: String)?? {
        guard session.isPlaced, session.ownerInstance != store.instanceID,
            let owner = try? await store.otherInstances().first(where: { $0.id == session.ownerInstance })
        else { return nil }
        guard let base = owner.advertiseURL else { return .some(nil) }
        var request = HTTPClientRequest(url: "\(base)/sessions/\(session.id)/log?tail=\(tail)")
        request.headers.add(name: Self.forwardedHeader.rawName, value: "1")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        do {
            let response = try await http.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
            return .some((Int(response.status.code), String(buffer: body)))
        } catch {
            return .some(nil)
        }
    }
}

extension Config {
    /// How other instances reach this one: `AUTOSPAWN_ADVERTISE_URL`, or `http://<host>:<port>` with the address
    /// it listens on (the machine's name when that is every address).
    func advertisedURL(port: Int) -> String {
        if let advertiseURL { return advertiseURL }
        let everyAddress = ["0.0.0.0", "::", "[::]", ""].contains(host)
        let name = everyAddress ? ProcessInfo.processInfo.hostName : host
        return "http://\(name.contains(":") && !name.hasPrefix("[") ? "[\(name)]" : name):\(port)"
    }
}
