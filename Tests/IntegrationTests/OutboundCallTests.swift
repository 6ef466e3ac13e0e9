import DailyDouble
import Foundation
import PhoneDouble
import Policy
import TestSupport
import Testing

/// `POST /v1/calls`: calls the service places, through Twilio (its REST API's double) and Daily's dial-out, with the
/// real service and real bot processes.
@Suite(.timeLimit(.minutes(2)))
struct OutboundCallTests {
    static let accountSID = "AC" + String(repeating: "0", count: 32)

    static func start(twilio: TwilioAPIDouble, _ settings: [String: String] = [:]) async throws -> ServiceProcess {
        try await PhoneCallTests.start(
            [
                "AUTOSPAWN_TWILIO_ACCOUNT_SID": accountSID, "AUTOSPAWN_TWILIO_API_URL": twilio.baseURL,
            ].merging(settings) { $1 }
        )
    }

    static func place(_ service: ServiceProcess, _ request: String) async throws -> ServiceProcess.Answer {
        try await service.request(.POST, "/v1/calls", body: Array(request.utf8))
    }

    @Test func aCallPlacedThroughTwilioJoinsItsClaimedSessionWhenTheCalleeAnswers() async throws {
        let twilio = try await TwilioAPIDouble.start(accountSID: Self.accountSID, authToken: PhoneCallTests.twilioToken)
        defer { Task { await twilio.stop() } }
        let service = try await Self.start(twilio: twilio)
        let answer = try await Self.place(service, #"{"carrier":"twilio","to":"+15550002222","from":"+15550001111"}"#)
        #expect(answer.status == 201)
        let sessionID = try #require(answer.json["session_id"] as? String)
        let placed = try #require(twilio.placed.first)
        #expect(answer.json["call_id"] as? String == placed.sid)
        #expect((placed.to, placed.from) == ("+15550002222", "+15550001111"))
        #expect(placed.url.hasPrefix("https://bots.example.com/telephony/twilio/call?call=out-"))
        // The callee answers: Twilio asks the webhook in `Url`, which streams the call to the session claimed for it.
        let callee = CallDouble(
            carrier: .twilio,
            callID: placed.sid,
            from: placed.from,
            to: placed.to,
            credentials: .twilio(authToken: PhoneCallTests.twilioToken),
            publicURL: PhoneCallTests.publicURL,
            serviceURL: service.baseURL
        )
        let path = String(placed.url.dropFirst(PhoneCallTests.publicURL.count))
        guard case .stream(let url, let redirect) = try await callee.dial(path: path) else {
            Issue.record("no stream")
            return
        }
        #expect(redirect == placed.url)
        let stream = try await callee.connect(url)
        stream.send(callee.frames.media(1, payload: CarrierFrames.silence))
        #expect(await stream.waitForReceived(3) == callee.frames.opening + [callee.frames.media(1, payload: CarrierFrames.silence)])
        let sessions = try await service.sessions()
        #expect(sessions.count == 1)
        #expect(sessions.first?["id"] as? String == sessionID)
        stream.hangUp(stop: callee.frames.stop)
        #expect(try await eventually { try await service.session(sessionID)["end_reason"] as? String == "caller_hung_up" })
        await service.shutdown()
    }

    @Test func aCallNobodyAnswersEndsWithItsBot() async throws {
        let twilio = try await TwilioAPIDouble.start(accountSID: Self.accountSID, authToken: PhoneCallTests.twilioToken)
        defer { Task { await twilio.stop() } }
        let service = try await Self.start(twilio: twilio, ["AUTOSPAWN_START_TIMEOUT_S": "1"])
        let answer = try await Self.place(service, #"{"carrier":"twilio","to":"+15550002222","from":"+15550001111"}"#)
        let sessionID = try #require(answer.json["session_id"] as? String)
        #expect(try await eventually { try await service.session(sessionID)["end_reason"] as? String == "no_answer" })
        #expect(try await eventually { service.liveBots().isEmpty })
        await service.shutdown()
    }

    @Test func aCallTwilioRefusesEndsItsSessionAndSaysWhy() async throws {
        let twilio = try await TwilioAPIDouble.start(accountSID: Self.accountSID, authToken: "another-token")
        defer { Task { await twilio.stop() } }
        let service = try await Self.start(twilio: twilio)
        let answer = try await Self.place(service, #"{"carrier":"twilio","to":"+15550002222","from":"+15550001111"}"#)
        #expect(answer.status == 502)
        #expect(answer.json["error"] as? String == "carrier_refused")
        #expect(!answer.text.contains(PhoneCallTests.twilioToken))
        let session = try #require(try await service.sessions().first)
        #expect(session["end_reason"] as? String == "call_failed")
        #expect(service.liveBots().isEmpty)
        await service.shutdown()
    }

    @Test func aCallIsRefusedAtCapacityOrWhenItsRequestIsWrong() async throws {
        let twilio = try await TwilioAPIDouble.start(accountSID: Self.accountSID, authToken: PhoneCallTests.twilioToken)
        defer { Task { await twilio.stop() } }
        let service = try await Self.start(twilio: twilio, ["AUTOSPAWN_MAX_CONCURRENCY": "1"])
        let call = #"{"carrier":"twilio","to":"+15550002222","from":"+15550001111"}"#
        #expect(try await Self.place(service, call).status == 201)
        let full = try await Self.place(service, call)
        #expect(full.status == 503)
        #expect(full.json["error"] as? String == "capacity")
        #expect(twilio.placed.count == 1)
        for (request, field) in [
            (#"{"carrier":"fax","to":"+1555"}"#, "carrier"), (#"{"carrier":"twilio","to":"5550002222"}"#, "to"),
            (#"{"carrier":"twilio","to":"+15550002222"}"#, "from"),
        ] {
            let refused = try await Self.place(service, request)
            #expect(refused.status == 400, "\(request)")
            #expect(refused.json["field"] as? String == field, "\(request)")
        }
        // Daily is not set up here: no route to it.
        #expect(try await Self.place(service, #"{"carrier":"daily","to":"+15550002222"}"#).status == 404)
        await service.shutdown()
    }

    @Test func aDailyDialOutIsARoomWithDialOutAndItsBotIsToldWhomToCall() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start(["DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL])
        let answer = try await Self.place(service, #"{"carrier":"daily","to":"+15550002222","from":"+15550001111","body":{"lang":"en"}}"#)
        #expect(answer.status == 201)
        let sessionID = try #require(answer.json["session_id"] as? String)
        let roomURL = try #require(answer.json["room_url"] as? String)
        let room = try await double.room(String(roomURL.split(separator: "/").last ?? ""))
        #expect(room["config"]?["enable_dialout"] == .bool(true))
        let body = try await service.botBody(sessionID)
        #expect(body["dialout_settings"] == .array([.object(["phoneNumber": .string("+15550002222"), "callerId": .string("+15550001111")])]))
        #expect(body["lang"] == .string("en"))
        await service.shutdown()
    }
}
