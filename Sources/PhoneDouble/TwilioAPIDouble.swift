import Foundation
import Hummingbird
import Logging
import Policy
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

    private let server: LocalServer
    private let calls: Box

    private init(server: LocalServer, calls: Box) {
        self.server = server
        self.calls = calls
    }

    /// `AUTOSPAWN_TWILIO_API_URL`.
    package var baseURL: String { server.baseURL }

    /// The calls placed so far, oldest first.
    package var placed: [PlacedCall] { calls.calls.withLock { $0 } }

    package func stop() async { await server.stop() }

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
        return TwilioAPIDouble(server: try await LocalServer.start(name: "twilio-double", router: router), calls: placed)
    }

    private static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private final class Box: Sendable {
        let calls = Mutex<[PlacedCall]>([])
    }
}
