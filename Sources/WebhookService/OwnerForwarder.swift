import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import Policy
import SessionStore

/// Asks the instance that runs a session's bot (`AUTOSPAWN_ADVERTISE_URL`) what only it can answer: each replica keeps
/// its own bots' logs (`GET /sessions/{id}/log`) and its own bots' sockets (a browser's offer and candidates).
struct OwnerForwarder: Sendable {
    /// Marks a request one instance forwarded to another: it is answered there, never forwarded again.
    static let forwardedHeader = HTTPField.Name("X-Autospawn-Forwarded")!
    let store: any SessionStorage
    let http: HTTPClient
    /// The longest the owner may take to answer.
    var timeout: TimeAmount = .seconds(5)

    /// The owner's answer (status and body); nil when the session is this instance's to answer (its own, one no
    /// instance took, or an owner no longer registered, whose files can only be here if anywhere), and nil inside
    /// when the owner cannot be reached.
    func ownersAnswer(
        for session: Session,
        method: HTTPMethod = .GET,
        path: String,
        body: [UInt8]? = nil,
        authorization: String?,
        timeout: TimeAmount? = nil
    ) async -> (status: Int, body: ByteBuffer)?? {
        guard session.isPlaced, session.ownerInstance != store.instanceID,
            let owner = try? await store.otherInstances().first(where: { $0.id == session.ownerInstance })
        else { return nil }
        guard let base = owner.advertiseURL else { return .some(nil) }
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: Self.forwardedHeader.rawName, value: "1")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await http.execute(request, timeout: timeout ?? self.timeout)
            return .some((Int(response.status.code), try await response.body.collect(upTo: 64 * 1024 * 1024)))
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
