import AsyncHTTPClient
import Foundation
import NIOCore
import Policy

/// Twilio's REST API, for outbound calls: `POST /2010-04-01/Accounts/{AccountSid}/Calls.json` (form `To`, `From`,
/// `Url`, `Method`; Basic `AccountSid:AuthToken`; telephony-reference.md §2).
struct TwilioClient: Sendable {
    let baseURL: String
    let accountSID: String
    let authToken: String
    let http: HTTPClient

    /// Twilio refused the call, or could not be reached.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Asks Twilio to call `to` from `from`; when the callee answers, Twilio asks `url` what to do. The call's `sid`.
    func call(to: String, from: String, url: String) async throws(Failure) -> String {
        var request = HTTPClientRequest(url: "\(baseURL)/2010-04-01/Accounts/\(accountSID)/Calls.json")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Basic " + Data("\(accountSID):\(authToken)".utf8).base64EncodedString())
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: FormFields([("To", to), ("From", from), ("Url", url), ("Method", "POST")]).encoded))
        let status: UInt
        let text: String
        do {
            let response = try await http.execute(request, timeout: .seconds(15))
            status = response.status.code
            text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        } catch {
            throw Failure(description: "Twilio could not be reached: \(error)")
        }
        // Twilio's error bodies say why (`{"code","message",...}`); its key is in no answer.
        guard (200..<300).contains(status), let sid = (try? JSONValue(parsing: Array(text.utf8)))?["sid"]?.string else {
            let message = (try? JSONValue(parsing: Array(text.utf8)))?["message"]?.string ?? "status \(status)"
            throw Failure(description: "Twilio refused the call: \(message)")
        }
        return sid
    }
}
