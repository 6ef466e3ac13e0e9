import Foundation
import Hummingbird
import Logging
import Policy
import ServiceLifecycle
import Synchronization

/// A local stand-in for Twilio's REST API, for outbound calls: `POST /2010-04-01/Accounts/{sid}/Calls.json` with the
/// account's Basic credentials is answered `201 {"sid":…}` and the call is recorded; nothing is dialled (a test plays
/// the callee with a `CallDouble` of that sid, sent to the call's `Url`).
package final class TwilioAPIDouble: Sendable {
    /// A call Twilio was asked to place.
    package struct PlacedCall: Sendable, Equatable {
        package var sid: String
        package var to: String
        package var from: String
        /// Where Twilio asks what to do once the callee answers.
        package var url: String
    }

    package let port: Int
    private let calls: Box
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(port: Int, calls: Box, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.calls = calls
        self.group = group
        self.task = task
    }

    /// `AUTOSPAWN_TWILIO_API_URL`.
    package var baseURL: String { "http://127.0.0.1:\(port)" }

    /// The calls placed so far, oldest first.
    package var placed: [PlacedCall] { calls.calls.withLock { $0 } }

    package func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Starts the double for the account `accountSID` with `authToken`; `refuse` answers every call 400.
    package static func start(accountSID: String, authToken: String, refuse: Bool = false) async throws -> TwilioAPIDouble {
        let placed = Box()
        let router = Router()
        router.post("2010-04-01/Accounts/:account/Calls.json") { request, context -> Response in
            let expected = "Basic " + Data("\(accountSID):\(authToken)".utf8).base64EncodedString()
            guard context.parameters.get("account") == accountSID, request.headers[.authorization] == expected else {
                return Self.json(.unauthorized, #"{"code":20003,"message":"Authenticate","status":401}"#)
            }
            var request = request
            let body = try await request.collectBody(upTo: 1 << 16)
            guard !refuse, let form = FormFields(encoded: Array(body.readableBytesView)), let to = form["To"], let from = form["From"],
                let url = form["Url"]
            else {
                return Self.json(.badRequest, #"{"code":21205,"message":"Url is not a valid URL","status":400}"#)
            }
            let sid = "CA" + UUID().uuidString.lowercased().filter(\.isHexDigit)
            placed.calls.withLock { $0.append(PlacedCall(sid: sid, to: to, from: from, url: url)) }
            return Self.json(.created, #"{"sid":"\#(sid)","status":"queued","to":"\#(to)","from":"\#(from)"}"#)
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "twilio-double"),
            onServerRunning: { channel in
                if let port = channel.localAddress?.port { continuation.yield(port) }
                continuation.finish()
            },
            logger: Logger(label: "twilio-double")
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "twilio-double")))
        // The double outlives this call: stopped by `stop()`, which ends this task.
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        for await port in ports { return TwilioAPIDouble(port: port, calls: placed, group: group, task: task) }
        try await task.value
        throw CancellationError()
    }

    private static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private final class Box: Sendable {
        let calls = Mutex<[PlacedCall]>([])
    }
}
