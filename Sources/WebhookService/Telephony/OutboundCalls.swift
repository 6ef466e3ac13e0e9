import BotRuntime
import Foundation
import Logging
import Policy
import SessionStore

/// Calls the service places (`POST /v1/calls`): its place is claimed first, then the carrier is asked to call.
/// Twilio calls the number and, when the callee answers, asks the call webhook, which joins the claimed session
/// (the webhook URL names the call: `?call=`). Daily's dial-out is a room with `enable_dialout` whose bot dials,
/// given Pipecat Cloud's `dialout_settings`.
struct OutboundCalls: Sendable {
    let store: any SessionStorage
    let supervisor: Supervisor
    let profiles: BotProfiles
    let publicURL: String?
    /// With `AUTOSPAWN_TWILIO_ACCOUNT_SID` and `AUTOSPAWN_TWILIO_AUTH_TOKEN`.
    let twilio: TwilioClient?
    /// With `DAILY_API_KEY`.
    let rooms: RoomStarter?
    let logger: Logger

    /// A call asked for: `{"carrier":"twilio"|"daily","to","from"?,"profile"?,"body"?}`.
    struct Request: Sendable, Equatable {
        enum Carrier: String, Sendable { case twilio, daily }
        var carrier: Carrier
        var to: String
        var from: String?
        var profile: String?
        var body: [String: JSONValue]

        init(_ document: JSONValue) throws(APIError) {
            func invalid(_ field: String) -> APIError { APIError(.badRequest, .invalidCall, fields: ["field": .string(field)]) }
            guard document.object != nil else { throw APIError(.badRequest, .malformedJSON) }
            guard let carrier = document["carrier"]?.string.flatMap(Carrier.init(rawValue:)) else { throw invalid("carrier") }
            guard let to = document["to"]?.string, Self.isNumber(to) else { throw invalid("to") }
            self.carrier = carrier
            self.to = to
            switch document["from"] {
            case nil, .null?: from = nil
            case .string(let number)? where Self.isNumber(number): from = number
            default: throw invalid("from")
            }
            switch document["profile"] {
            case nil, .null?: profile = nil
            case .string(let name)?: profile = name
            default: throw APIError(.badRequest, .invalidProfile)
            }
            guard let body = (document["body"] ?? .object([:])).object else { throw APIError(.badRequest, .invalidBody) }
            self.body = body
        }

        /// A phone number (`+` and 1 to 20 digits) or a SIP address (`sip:` and 1 to 120 of `[A-Za-z0-9@._:;=+-]`):
        /// what a carrier dials (openapi.yaml's patterns). It reaches a form and a bot's body, never a command line.
        static func isNumber(_ text: String) -> Bool {
            if text.hasPrefix("+") {
                let digits = text.dropFirst()
                return (1...20).contains(digits.count) && digits.allSatisfy { $0.isASCII && $0.isNumber }
            }
            guard text.hasPrefix("sip:") else { return false }
            let address = text.dropFirst(4)
            return (1...120).contains(address.count)
                && address.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "@._:;=+-".contains($0)) }
        }
    }

    /// What the caller is answered: `201 {"session_id","call_id"?,"room_url"?}`.
    struct Placed: Sendable {
        var sessionID: String
        var callID: String?
        var roomURL: String?

        var answer: [String: JSONValue] {
            var answer: [String: JSONValue] = ["session_id": .string(sessionID)]
            if let callID { answer["call_id"] = .string(callID) }
            if let roomURL { answer["room_url"] = .string(roomURL) }
            return answer
        }
    }

    func place(_ request: Request) async throws(APIError) -> Placed {
        switch request.carrier {
        case .twilio: try await placeWithTwilio(request)
        case .daily: try await placeWithDaily(request)
        }
    }

    private func placeWithTwilio(_ request: Request) async throws(APIError) -> Placed {
        guard let twilio, let publicURL else { throw APIError(.notFound, .carrierNotConfigured) }
        guard let from = request.from else { throw APIError(.badRequest, .invalidCall, fields: ["field": .string("from")]) }
        let profile = try profiles.chosen(request.profile)
        let call = PhoneCall(
            carrier: .twilio,
            callID: "out-" + UUID().uuidString.lowercased().filter(\.isHexDigit),
            from: from,
            to: request.to,
            isOutbound: true
        )
        let body = JSONValue.object(profile.body(mergedWith: request.body).merging(["call": call.bodyField]) { $1 }).text
        let claimed: Session?
        do {
            claimed = try await store.claim(
                room: call.roomName,
                url: nil,
                profile: profile.name,
                body: body,
                transport: .twilio,
                now: Date().timeIntervalSince1970
            )
        } catch {
            throw APIError(.serviceUnavailable, .databaseUnavailable)
        }
        guard let session = claimed else { throw APIError(.serviceUnavailable, .capacity) }
        let sid: String
        do {
            sid = try await twilio.call(to: request.to, from: from, url: publicURL + "/telephony/twilio/call?call=\(call.callID)")
        } catch {
            logger.warning("Twilio did not place a call", metadata: ["session_id": "\(session.id)", "error": "\(error)"])
            await supervisor.end(session.id, state: .ended, reason: .callFailed)
            throw APIError(.badGateway, .carrierRefused)
        }
        logger.info("a call is placed", metadata: ["session_id": "\(session.id)", "room": "\(call.roomName)", "call_sid": "\(sid)"])
        // The bot is ready when the callee answers; a call nobody answers ends `no_answer` (`CallRelay`).
        supervisor.launchSoon(session, isCall: true)
        return Placed(sessionID: session.id, callID: sid)
    }

    private func placeWithDaily(_ request: Request) async throws(APIError) -> Placed {
        guard let rooms else { throw APIError(.notFound, .dailyNotConfigured) }
        var dialout: [String: JSONValue] = ["phoneNumber": .string(request.to)]
        if let from = request.from { dialout["callerId"] = .string(from) }
        var body = request.body
        body["dialout_settings"] = .array([.object(dialout)])
        do {
            let started = try await rooms.start(
                profile: request.profile,
                roomProperties: ["enable_dialout": .bool(true)],
                tokenProperties: [:],
                body: body
            )
            return Placed(sessionID: started.sessionId, roomURL: started.dailyRoom)
        } catch  where error.code == .atCapacity {
            throw APIError(.serviceUnavailable, .capacity)
        }
    }
}
