import DailyDouble
import Foundation
import NIOHTTP1
import PhoneDouble
import Policy
import Synchronization
import TestSupport
import Testing

/// The running service against `openapi.yaml`: every answer it gives below has a documented status, content
/// type, headers and body shape, and every documented answer is one it gives (but for the one listed in
/// `notProduced`). Routes are compared in `OpenAPIRoutesTests`.
@Suite(.serialized)
struct OpenAPIConformanceTests {
    /// Documented answers that no run here can produce, and why.
    static let notProduced: Set<String> = [
        // Need a database that fails mid-request.
        "POST /daily/webhook 503", "POST /start 503", "POST /v1/public/{profile}/start 503", "GET /daily 503",
        // The same check as `/start`'s 409 (RoomStarter), which is produced; a stop within Daily's answer to
        // `/daily` would need the session id, which `/daily` gives only in its redirect.
        "GET /daily 409",
        // The same checks as `/start`'s 409 and 504 (RoomStarter.launch), which are produced.
        "POST /daily/dialin 409", "POST /daily/dialin 504",
        // `draining` comes only once a drain's calls are over, and `database_unavailable` needs a failing database:
        // the same check as `/daily/dialin`'s 503, which is produced.
        "POST /telephony/{carrier}/call 503",
        // A Daily dial-out's room is RoomStarter's, whose 409 and 504 `/start` produces.
        "POST /v1/calls 409", "POST /v1/calls 504",
        // A browser's signalling: `database_unavailable` needs a failing database, and `draining` (a new connection's)
        // an instance past its drain's calls, the check `/daily/dialin`'s 503 makes.
        "POST /api/offer 503", "PATCH /api/offer 503", "POST /sessions/{id}/api/offer 503", "PATCH /sessions/{id}/api/offer 503",
        // The same forward (`BrowserCalls.forwardIfElsewhere`) as `POST /api/offer`'s 502, which is produced: each waits
        // out the forward's timeout.
        "PATCH /api/offer 502", "POST /sessions/{id}/api/offer 502", "PATCH /sessions/{id}/api/offer 502",
    ]

    static let form = "application/x-www-form-urlencoded"

    /// The answers seen, checked as they come.
    final class Recorder: @unchecked Sendable {
        let document: OpenAPIDocument
        /// Sections of the test run at once: each records here.
        private let answers = Mutex<Set<String>>([])
        var produced: Set<String> { answers.withLock { $0 } }

        init() throws { document = try OpenAPIDocument() }

        func check(_ method: String, _ path: String, _ answer: ServiceProcess.Answer, sourceLocation: SourceLocation = #_sourceLocation) {
            guard let operation = document.operation(method: method, path: path) else {
                Issue.record("\(method) \(path) is not in openapi.yaml", sourceLocation: sourceLocation)
                return
            }
            answers.withLock { _ = $0.insert("\(operation) \(answer.status)") }
            let problems = document.problems(operation: operation, status: answer.status, headers: answer.headers, body: answer.text)
            #expect(problems.isEmpty, "\(method) \(path): \(problems)", sourceLocation: sourceLocation)
        }

        /// A request through the service, checked.
        @discardableResult
        func call(
            _ service: ServiceProcess,
            _ method: HTTPMethod,
            _ path: String,
            body: [UInt8]? = nil,
            headers: [(String, String)] = [],
            contentType: String? = "application/json",
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> ServiceProcess.Answer {
            let answer = try await service.request(method, path, body: body, headers: headers, contentType: contentType)
            check(method.rawValue, path, answer, sourceLocation: sourceLocation)
            return answer
        }

        /// A stream's first events, each checked against the schema its event name has in the document.
        func stream(_ service: ServiceProcess, _ path: String, headers: [(String, String)], expecting names: Set<String>) async throws {
            let stream = try await EventStreamClient(url: service.baseURL + path, headers: headers)
            defer { stream.close() }
            let operation = try #require(document.operation(method: "GET", path: path))
            answers.withLock { _ = $0.insert("\(operation) \(stream.status)") }
            #expect(stream.status == 200)
            #expect(stream.contentType == "text/event-stream")
            #expect(await stream.wait { events in names.isSubset(of: Set(events.map(\.event))) }, "\(path): \(stream.events)")
            let schemas = document.streamEvents(of: operation)
            for event in stream.events {
                let schema = try #require(schemas[event.event], "\(path): event '\(event.event)' is not documented")
                let value = try JSONSerialization.jsonObject(with: Data(event.data.utf8))
                let problems = document.validate(value, against: schema, at: "\(path) \(event.event)")
                #expect(problems.isEmpty, "\(problems)")
            }
        }

        /// A body trickled in past `AUTOSPAWN_REQUEST_TIMEOUT_S`.
        func trickle(_ service: ServiceProcess, _ path: String, method: String = "POST", headers: String = "") async throws {
            let connection = try RawConnection(port: service.port)
            connection.send("\(method) \(path) HTTP/1.1\r\nHost: x\r\n\(headers)Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{")
            // A byte every 50 ms: never silent for the idle timeout (the same setting), however busy the
            // machine running the tests is (its own thread, not the cooperative pool's); answered 408 once the
            // setting has passed.
            let text = try await onOwnThread {
                var text = ""
                let deadline = Date().addingTimeInterval(15)
                while !text.contains("\r\n\r\n"), Date() < deadline {
                    connection.send(" ")
                    usleep(50_000)
                    text += connection.read(timeout: 0.01) { $0.contains("\r\n\r\n") }.text
                }
                return text + connection.read(timeout: 1) { $0.hasSuffix("}") }.text
            }
            let (head, body) = Self.split(text)
            check(method, path, ServiceProcess.Answer(status: Self.status(head), text: body, headers: Self.headers(head)))
        }

        static func split(_ raw: String) -> (String, String) {
            guard let range = raw.range(of: "\r\n\r\n") else { return (raw, "") }
            return (String(raw[..<range.lowerBound]), String(raw[range.upperBound...]))
        }

        static func status(_ head: String) -> Int {
            Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        }

        static func headers(_ head: String) -> [String: String] {
            var headers: [String: String] = [:]
            for line in head.split(separator: "\r\n").dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            return headers
        }
    }

    @Test func everyAnswerIsDocumentedAndEveryDocumentedAnswerIsGiven() async throws {
        let recorder = try Recorder()
        // The phone calls' and the browsers' sections have services of their own: they run beside the rest.
        async let phones: Void = phoneCalls(recorder)
        async let browsers: Void = browserCalls(recorder)
        let token = "conformance-token"
        let auth = [("Authorization", "Bearer \(token)")]
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start([
            "DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_ADMIN_TOKEN": token,
            "AUTOSPAWN_MAX_CONCURRENCY": "2", "AUTOSPAWN_REQUEST_TIMEOUT_S": "2",
        ])

        try await recorder.call(service, .GET, "/health")
        try await recorder.call(service, .GET, "/ready")

        // Webhooks.
        let joined = try await recorder.call(
            service,
            .POST,
            "/daily/webhook",
            body: Fixtures.bytes("daily/participant-joined.json"),
            headers: TestSigner.headers(body: Fixtures.bytes("daily/participant-joined.json"), secretBase64: ServiceProcess.secret)
        )
        let id = try #require(joined.string("session_id"))
        try await recorder.call(service, .POST, "/daily/webhook", body: Fixtures.bytes("daily/participant-joined.json"))
        let malformed = Fixtures.bytes("malformed/not-json.txt")
        try await recorder.call(
            service,
            .POST,
            "/daily/webhook",
            body: malformed,
            headers: TestSigner.headers(body: malformed, secretBase64: ServiceProcess.secret)
        )
        try await recorder.call(service, .POST, "/daily/webhook", body: [UInt8](repeating: 0x20, count: 64 * 1024 + 1))
        try await recorder.trickle(service, "/daily/webhook")

        // Status.
        try await recorder.call(service, .GET, "/bot/status?room=demo-room")
        try await recorder.call(service, .GET, "/bot/status")
        try await recorder.call(service, .GET, "/bot/status/stream")
        try await recorder.stream(service, "/bot/status/stream?room=demo-room", headers: [], expecting: ["status"])

        // Sessions.
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)", headers: auth).json["state"] as? String == "running" })
        try await recorder.call(service, .GET, "/sessions?state=all", headers: auth)
        try await recorder.call(service, .GET, "/sessions?state=bogus", headers: auth)
        try await recorder.call(service, .GET, "/sessions")
        try await recorder.stream(service, "/sessions/stream", headers: auth, expecting: ["summary", "session", "webhook"])
        try await recorder.call(service, .GET, "/sessions/stream")
        try await recorder.call(service, .GET, "/sessions/\(id)", headers: auth)
        try await recorder.call(service, .GET, "/sessions/no-such-session", headers: auth)
        try await recorder.call(service, .GET, "/sessions/\(id)")
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)/log", headers: auth).text.contains("ready") })
        try await recorder.call(service, .GET, "/sessions/\(id)/log?tail=5", headers: auth)
        try await recorder.call(service, .GET, "/sessions/\(id)/log?tail=0", headers: auth)
        try await recorder.call(service, .GET, "/sessions/no-such-session/log", headers: auth)
        try await recorder.call(service, .GET, "/sessions/\(id)/log")

        // Rooms the service makes: one more bot fills the cap of 2.
        let start = Fixtures.bytes("start/pipecat-start.json")
        try await recorder.call(service, .POST, "/start", body: start, headers: auth)
        try await recorder.call(service, .GET, "/daily", headers: auth)  // 429
        // Pipecat Cloud's path answers as `/start` does, and 404 for a profile there is none of.
        let cloud = "/v1/public/default/start"
        try await recorder.call(service, .POST, "/v1/public/nope/start", body: start, headers: auth)
        for path in ["/start", cloud] {
            try await recorder.call(service, .POST, path, body: start, headers: auth)  // 429
            try await recorder.call(service, .POST, path, body: Fixtures.bytes("start/malformed.json"), headers: auth)
            try await recorder.call(service, .POST, path, body: start)
            try await recorder.call(service, .POST, path, body: [UInt8](repeating: 0x20, count: 1024 * 1024 + 1), headers: auth)
            try await recorder.trickle(service, path, headers: "Authorization: Bearer \(token)\r\n")
        }
        try await recorder.call(service, .GET, "/daily")

        // Stopping: 202, then 409 once it has ended; 404 for none.
        try await recorder.call(service, .DELETE, "/sessions/\(id)", headers: auth)
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)", headers: auth).json["state"] as? String == "ended" })
        try await recorder.call(service, .DELETE, "/sessions/\(id)", headers: auth)
        try await recorder.call(service, .DELETE, "/sessions/no-such-session", headers: auth)
        try await recorder.call(service, .DELETE, "/sessions/\(id)")

        // A free slot again: Daily refusing makes /start and /daily 502; then /daily redirects.
        for path in ["/start", cloud, "/daily"] {
            try await double.control("/_double/faults", body: Array(#"{"status":400,"count":1,"path":"/rooms"}"#.utf8))
            try await recorder.call(service, path == "/daily" ? .GET : .POST, path, body: path == "/daily" ? nil : start, headers: auth)
        }
        try await recorder.call(service, .GET, "/daily", headers: auth)

        // Operations.
        for path in ["/metrics", "/", "/dashboard.css", "/dashboard.js", "/client", "/client.js", "/client/config"] {
            try await recorder.call(service, .GET, path, headers: auth)
            try await recorder.call(service, .GET, path)
        }
        await service.shutdown()

        // Without Daily and with the webhook switched off.
        let keyless = try await ServiceProcess.start(["AUTOSPAWN_WEBHOOK": "0"])
        try await recorder.call(keyless, .POST, "/start", body: start)
        try await recorder.call(keyless, .POST, cloud, body: start)
        try await recorder.call(keyless, .GET, "/daily")
        try await recorder.call(keyless, .POST, "/daily/webhook", body: Fixtures.bytes("daily/participant-joined.json"))
        try await recorder.call(keyless, .POST, "/daily/dialin", body: Fixtures.bytes("dialin/call.json"))
        try await recorder.call(keyless, .POST, "/daily/dialin-api/dialin/pinlessCallUpdate", body: Fixtures.bytes("dialin/call.json"))
        try await recorder.call(keyless, .POST, "/telephony/twilio/call", body: Array("CallSid=CA1".utf8), contentType: Self.form)
        await keyless.shutdown()

        // Daily slower than the start timeout (504), a stop while Daily makes the room (409), not JSON (415),
        // and every stream slot taken (503).
        let slow = try await ServiceProcess.start([
            "DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_ADMIN_TOKEN": token,
            "AUTOSPAWN_START_TIMEOUT_S": "2", "AUTOSPAWN_REAPER_INTERVAL_S": "0.3", "AUTOSPAWN_MAX_STREAMS": "1",
            "AUTOSPAWN_MAX_PUBLIC_STREAMS": "1",
        ])
        for path in ["/start", cloud] {
            try await recorder.call(slow, .POST, path, body: start, headers: auth, contentType: "text/plain")
        }
        for path in ["/start", cloud, "/daily"] {
            try await double.control("/_double/faults", body: Array(#"{"delay_s":3.5,"count":1,"path":"/rooms"}"#.utf8))
            try await recorder.call(slow, path == "/daily" ? .GET : .POST, path, body: path == "/daily" ? nil : start, headers: auth)
        }
        for path in ["/start", cloud] {
            try await double.control("/_double/faults", body: Array(#"{"delay_s":1.5,"count":1,"path":"/rooms"}"#.utf8))
            let stopped = Task { try await recorder.call(slow, .POST, path, body: start, headers: auth) }
            #expect(
                try await eventually {
                    guard
                        let id = try await slow.request(.GET, "/sessions", headers: auth).json["sessions"]
                            .flatMap({ ($0 as? [[String: any Sendable]])?.first?["id"] as? String })
                    else { return false }
                    return try await slow.request(.DELETE, "/sessions/\(id)", headers: auth).status == 202
                }
            )
            #expect(try await stopped.value.status == 409)
        }
        try await recorder.call(slow, .POST, cloud, body: start, headers: auth)
        // The anonymous streams and the operator's have a limit each.
        let held = try await EventStreamClient(url: slow.baseURL + "/bot/status/stream?room=demo-room")
        try await recorder.call(slow, .GET, "/bot/status/stream?room=demo-room")
        let heldByOperator = try await EventStreamClient(url: slow.baseURL + "/sessions/stream", headers: auth)
        try await recorder.call(slow, .GET, "/sessions/stream", headers: auth)
        held.close()
        heldByOperator.close()
        await slow.shutdown()

        // Draining: a bot that ignores SIGTERM keeps the service draining for the stop grace.
        let draining = try await ServiceProcess.start([
            "AUTOSPAWN_BOT_COMMAND": ServiceProcess.botCommand("ignore-term"), "AUTOSPAWN_STOP_GRACE_S": "3",
        ])
        let drainingID = try #require(try await draining.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await draining.session(drainingID)["state"] as? String == "running" })
        #expect(try await eventually { try await draining.request(.GET, "/sessions/\(drainingID)/log").text.contains("ready") })
        draining.signal(SIGTERM)
        #expect(try await eventually { try await draining.request(.GET, "/ready").status == 503 })
        try await recorder.call(draining, .GET, "/ready")
        await draining.shutdown()

        // Two instances on one database, on "hosts" of their own: a bot's log is read where the bot runs, and is
        // unavailable while its instance is registered but gone (until its lease runs out).
        let owner = try await ServiceProcess.start(["AUTOSPAWN_HOST_ID": "host-owner"])
        let ownedID = try #require(try await owner.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await owner.request(.GET, "/sessions/\(ownedID)/log").text.contains("ready") })
        let reader = try await ServiceProcess.start(in: owner.directory, ["AUTOSPAWN_HOST_ID": "host-reader"])
        let forwarded = try await recorder.call(reader, .GET, "/sessions/\(ownedID)/log")
        #expect(forwarded.text.contains("ready"))
        let ownersBots = owner.liveBots()
        owner.signal(SIGKILL)
        _ = await owner.waitForExit()
        try await recorder.call(reader, .GET, "/sessions/\(ownedID)/log")
        for pid in ownersBots { kill(pid, SIGKILL) }
        await reader.shutdown()

        try await phones
        try await browsers

        let documented = recorder.document.documentedAnswers
        let missing = documented.subtracting(recorder.produced).subtracting(Self.notProduced)
        #expect(missing.isEmpty, "documented but never answered: \(missing.sorted())")
        #expect(Self.notProduced.isSubset(of: documented))
    }

    /// A browser's signalling, its bots the echo bot answering offers (no peer connects): every answer of the offer
    /// routes, on one instance and on two sharing a database (the bot's instance gone: 502).
    func browserCalls(_ recorder: Recorder) async throws {
        let token = "conformance-token"
        let auth = [("Authorization", "Bearer \(token)")]
        let settings = [
            "AUTOSPAWN_ADMIN_TOKEN": token, "AUTOSPAWN_MAX_CONCURRENCY": "1", "AUTOSPAWN_REQUEST_TIMEOUT_S": "2",
            "AUTOSPAWN_START_TIMEOUT_S": "1",
            "AUTOSPAWN_BOT_COMMAND": "\(ServiceProcess.built("phone-double")) echo-bot --answer-offers",
        ]
        /// The sessions' ids (the admin token reads them).
        func sessionIDs(_ service: ServiceProcess, _ state: String = "all") async throws -> [String] {
            let list = try await service.request(.GET, "/sessions?state=\(state)", headers: auth).json["sessions"] as? [[String: any Sendable]]
            return (list ?? []).compactMap { $0["id"] as? String }
        }
        let offer = Array(#"{"sdp":"v=0\r\n","type":"offer"}"#.utf8)
        let candidates = { (id: String) in Array(#"{"pc_id":"\#(id)","candidates":[{"candidate":""}]}"#.utf8) }
        let service = try await ServiceProcess.start(settings)
        let answered = try await recorder.call(service, .POST, "/api/offer", body: offer, headers: auth)  // 200
        let pcID = try #require(answered.string("pc_id"))
        let id = try #require(try await sessionIDs(service).first)
        let renegotiation = Array(#"{"sdp":"v=0\r\n","type":"offer","pc_id":"\#(pcID)"}"#.utf8)
        try await recorder.call(service, .POST, "/api/offer", body: renegotiation, headers: auth)  // 200: the same session
        try await recorder.call(service, .POST, "/api/offer", body: offer, headers: auth)  // 429: the one place is taken
        try await recorder.call(service, .PATCH, "/api/offer", body: candidates(pcID), headers: auth)  // 200
        try await recorder.call(service, .PATCH, "/api/offer", body: candidates("pc-unknown"), headers: auth)  // 404
        try await recorder.call(service, .POST, "/sessions/\(id)/api/offer", body: renegotiation, headers: auth)  // 200
        try await recorder.call(service, .PATCH, "/sessions/\(id)/api/offer", body: candidates(pcID), headers: auth)  // 200
        for path in ["/api/offer", "/sessions/\(id)/api/offer"] {
            for method in [HTTPMethod.POST, .PATCH] {
                try await recorder.call(service, method, path, body: offer)  // 401
                try await recorder.call(service, method, path, body: Array(#"{"sdp":1}"#.utf8), headers: auth)  // 400
                try await recorder.call(service, method, path, body: offer, headers: auth, contentType: "text/plain")  // 415
                try await recorder.call(service, method, path, body: [UInt8](repeating: 0x20, count: 1024 * 1024 + 1), headers: auth)
                try await recorder.trickle(service, path, method: method.rawValue, headers: "Authorization: Bearer \(token)\r\n")
            }
            try await recorder.call(service, .POST, "/sessions/no-such-session/api/offer", body: offer, headers: auth)  // 404
            try await recorder.call(service, .PATCH, "/sessions/no-such-session/api/offer", body: candidates(pcID), headers: auth)
        }
        _ = try await service.request(.DELETE, "/sessions/\(id)", headers: auth)
        #expect(try await eventually { try await sessionIDs(service, "active").isEmpty })
        let unknownProfile = Array(#"{"sdp":"v=0\r\n","type":"offer","request_data":{"profile":"nope"}}"#.utf8)
        try await recorder.call(service, .POST, "/api/offer", body: unknownProfile, headers: auth)  // 404
        await service.shutdown()

        // A bot that answers no offer: 504, for a new connection and for a started one's offer.
        let silent = try await ServiceProcess.start(
            settings.merging(["AUTOSPAWN_BOT_COMMAND": "\(ServiceProcess.built("phone-double")) echo-bot"]) { $1 }
        )
        try await recorder.call(silent, .POST, "/api/offer", body: offer, headers: auth)  // 504
        #expect(try await eventually { try await sessionIDs(silent, "active").isEmpty })
        let started = try await silent.request(.POST, "/start", body: Array(#"{"transport":"webrtc"}"#.utf8), headers: auth)
        let startedID = try #require(started.string("sessionId"))
        try await recorder.call(silent, .POST, "/sessions/\(startedID)/api/offer", body: offer, headers: auth)  // 504
        await silent.shutdown()

        // Two instances on one database: the connection's bot runs on one, which dies while still registered (its lease
        // outlasts the test). Each forward to it waits its timeout (the HTTP client retries the connection meanwhile).
        let owner = try await ServiceProcess.start(settings.merging(["AUTOSPAWN_HOST_ID": "host-owner", "AUTOSPAWN_LEASE_S": "60"]) { $1 })
        let ownersAnswer = try await owner.request(.POST, "/api/offer", body: offer, headers: auth)
        let ownedPC = try #require(ownersAnswer.string("pc_id"))
        let other = try await ServiceProcess.start(
            in: owner.directory,
            settings.merging(["AUTOSPAWN_HOST_ID": "host-other", "AUTOSPAWN_LEASE_S": "60"]) { $1 }
        )
        let ownersBots = owner.liveBots()
        owner.signal(SIGKILL)
        _ = await owner.waitForExit()
        let renegotiateOwned = Array(#"{"sdp":"v=0\r\n","type":"offer","pc_id":"\#(ownedPC)"}"#.utf8)
        try await recorder.call(other, .POST, "/api/offer", body: renegotiateOwned, headers: auth)  // 502
        for pid in ownersBots { kill(pid, SIGKILL) }
        await other.shutdown()
    }

    /// Phone calls: carriers' webhooks, calls the service places, and Daily's dial-in.
    func phoneCalls(_ recorder: Recorder) async throws {
        let token = "conformance-token"
        let auth = [("Authorization", "Bearer \(token)")]
        let malformed = Fixtures.bytes("malformed/not-json.txt")
        // A carrier's call webhook: answered with TwiML, or refused.
        let twilioToken = "the conformance test's twilio token"
        let carrier = try await ServiceProcess.start([
            "AUTOSPAWN_PUBLIC_URL": "https://bots.example.com", "AUTOSPAWN_TWILIO_AUTH_TOKEN": twilioToken,
            "AUTOSPAWN_REQUEST_TIMEOUT_S": "2",
        ])
        let twilio = CallDouble(
            carrier: .twilio,
            callID: "CA0123",
            credentials: .twilio(authToken: twilioToken),
            publicURL: "https://bots.example.com"
        )
        for fields in [[("CallSid", "CA0123"), ("From", "+15105550199"), ("To", "+15550001111")], [("From", "+15105550199")]] {
            let form = FormFields(fields)
            let headers = try twilio.signatureHeaders(url: "https://bots.example.com/telephony/twilio/call", fields: form, body: [])
            try await recorder.call(
                carrier,
                .POST,
                "/telephony/twilio/call",
                body: Array(form.encoded.utf8),
                headers: headers,
                contentType: Self.form
            )
        }
        try await recorder.call(carrier, .POST, "/telephony/twilio/call", body: Array("CallSid=CA0123".utf8), contentType: Self.form)
        try await recorder.call(
            carrier,
            .POST,
            "/telephony/twilio/call",
            body: [UInt8](repeating: 0x61, count: 64 * 1024 + 1),
            contentType: Self.form
        )
        try await recorder.trickle(carrier, "/telephony/twilio/call")
        await carrier.shutdown()

        // Calls the service places: through Twilio's double, at capacity, refused by Twilio, asked for wrongly.
        let accountSID = "AC" + String(repeating: "1", count: 32)
        let twilioAPI = try await TwilioAPIDouble.start(accountSID: accountSID, authToken: twilioToken)
        let refusingAPI = try await TwilioAPIDouble.start(accountSID: accountSID, authToken: "not the token")
        defer {
            Task {
                await twilioAPI.stop()
                await refusingAPI.stop()
            }
        }
        let placing: [String: String] = [
            "AUTOSPAWN_PUBLIC_URL": "https://bots.example.com", "AUTOSPAWN_TWILIO_AUTH_TOKEN": twilioToken,
            "AUTOSPAWN_TWILIO_ACCOUNT_SID": accountSID, "AUTOSPAWN_ADMIN_TOKEN": token, "AUTOSPAWN_MAX_CONCURRENCY": "1",
            "AUTOSPAWN_REQUEST_TIMEOUT_S": "2",
        ]
        let placer = try await ServiceProcess.start(placing.merging(["AUTOSPAWN_TWILIO_API_URL": twilioAPI.baseURL]) { $1 })
        let outbound = Array(#"{"carrier":"twilio","to":"+15550002222","from":"+15550001111"}"#.utf8)
        try await recorder.call(placer, .POST, "/v1/calls", body: outbound, headers: auth)  // 201
        try await recorder.call(placer, .POST, "/v1/calls", body: outbound, headers: auth)  // 503: capacity
        try await recorder.call(placer, .POST, "/v1/calls", body: outbound)  // 401
        try await recorder.call(placer, .POST, "/v1/calls", body: Array(#"{"carrier":"fax","to":"+1"}"#.utf8), headers: auth)
        let unknownProfile = Array(#"{"carrier":"twilio","to":"+15550002222","from":"+15550001111","profile":"nope"}"#.utf8)
        try await recorder.call(placer, .POST, "/v1/calls", body: unknownProfile, headers: auth)
        try await recorder.call(placer, .POST, "/v1/calls", body: outbound, headers: auth, contentType: "text/plain")
        try await recorder.call(placer, .POST, "/v1/calls", body: [UInt8](repeating: 0x20, count: 64 * 1024 + 1), headers: auth)
        try await recorder.trickle(placer, "/v1/calls", headers: "Authorization: Bearer \(token)\r\n")
        await placer.shutdown()
        let refused = try await ServiceProcess.start(placing.merging(["AUTOSPAWN_TWILIO_API_URL": refusingAPI.baseURL]) { $1 })
        try await recorder.call(refused, .POST, "/v1/calls", body: outbound, headers: auth)  // 502
        await refused.shutdown()

        // Dial-in: a call that Daily fails to make a room for, one that gets its room, one at capacity; what is not
        // a call; and the call's bot forwarding it.
        let dialinSecret = Base64.encode(Array("the conformance test's dial-in secret".utf8))
        // A key that no word of a bot's log contains (the log is redacted of it).
        let phoneKey = "conformance-daily-key"
        let phoneDouble = try await DailyDouble.start(apiKey: phoneKey, domain: "acme")
        defer { Task { await phoneDouble.stop() } }
        let dialin = try await ServiceProcess.start([
            "DAILY_API_KEY": phoneKey, "DAILY_API_URL": phoneDouble.baseURL, "AUTOSPAWN_ADMIN_TOKEN": token,
            "AUTOSPAWN_DIALIN_SECRET": dialinSecret, "AUTOSPAWN_MAX_CONCURRENCY": "1", "AUTOSPAWN_DIALIN_WAIT_S": "0.5",
            "AUTOSPAWN_REQUEST_TIMEOUT_S": "2",
        ])
        let signed = { (body: [UInt8]) in TestSigner.headers(body: body, secretBase64: dialinSecret, prefix: "X-Pinless") }
        let call = Fixtures.bytes("dialin/call.json")
        try await phoneDouble.control("/_double/faults", body: Array(#"{"status":400,"count":1,"path":"/rooms"}"#.utf8))
        try await recorder.call(dialin, .POST, "/daily/dialin", body: call, headers: signed(call))  // 502
        let answered = try await recorder.call(dialin, .POST, "/daily/dialin", body: call, headers: signed(call))
        let callSession = try #require(answered.json["session_id"] as? String)
        let other = Fixtures.bytes("dialin/call-sip-headers.json")
        try await recorder.call(dialin, .POST, "/daily/dialin", body: other, headers: signed(other))  // 503: capacity
        try await recorder.call(dialin, .POST, "/daily/dialin", body: Fixtures.bytes("daily/probe.json"))
        try await recorder.call(dialin, .POST, "/daily/dialin", body: call)
        let notACall = Fixtures.bytes("dialin/call-without-call-id.json")
        try await recorder.call(dialin, .POST, "/daily/dialin", body: notACall, headers: signed(notACall))
        try await recorder.call(dialin, .POST, "/daily/dialin", body: malformed, headers: signed(malformed))
        try await recorder.call(dialin, .POST, "/daily/dialin", body: [UInt8](repeating: 0x20, count: 64 * 1024 + 1))
        try await recorder.trickle(dialin, "/daily/dialin")
        let forward = "/daily/dialin-api/dialin/pinlessCallUpdate"
        let key = try #require(try await dialin.botBody(callSession)["daily_api_key"]?.string)
        let callRoom = try await phoneDouble.room("dialin-0f3c2a5e-8d7b-4c1a-9e6f-2b4d8a1c7e90")
        let update = Array(
            JSONValue.object([
                "callId": .string("0f3c2a5e-8d7b-4c1a-9e6f-2b4d8a1c7e90"), "callDomain": .string("7c1e9b2a-3d4f-4e5a-8b6c-9d0e1f2a3b4c"),
                "sipUri": callRoom["config"]?["sip_uri"]?["endpoint"] ?? .null,
            ]).text.utf8
        )
        let elsewhere = Array(
            #"{"callId":"0f3c2a5e-8d7b-4c1a-9e6f-2b4d8a1c7e90","callDomain":"d","sipUri":"sip:x@sip.daily.co"}"#.utf8
        )
        try await recorder.call(dialin, .POST, forward, body: update, headers: [("Authorization", "Bearer nope")])
        try await recorder.call(dialin, .POST, forward, body: elsewhere, headers: [("Authorization", "Bearer \(key)")])  // 403
        try await recorder.call(dialin, .POST, forward, body: malformed, headers: [("Authorization", "Bearer \(key)")])
        try await recorder.call(dialin, .POST, forward, body: [UInt8](repeating: 0x20, count: 64 * 1024 + 1))
        try await recorder.trickle(dialin, forward)
        // The double holds no such call: Daily refuses it (502); then one it holds is handed over (200).
        try await recorder.call(dialin, .POST, forward, body: update, headers: [("Authorization", "Bearer \(key)")])
        try await recorder.call(dialin, .DELETE, "/sessions/\(callSession)", headers: auth)
        #expect(
            try await eventually { try await dialin.request(.GET, "/sessions/\(callSession)", headers: auth).json["state"] as? String == "ended" }
        )
        try await recorder.call(dialin, .POST, forward, body: update, headers: [("Authorization", "Bearer \(key)")])  // 404
        try await recorder.call(dialin, .POST, "/daily/dialin", body: call, headers: signed(call))  // 409: call_over
        _ = try await AutospawnCommand.run(
            ["dialin", "configure", "--url", dialin.baseURL + "/daily/dialin", "--secret", dialinSecret],
            environment: ["DAILY_API_KEY": phoneKey, "DAILY_API_URL": phoneDouble.baseURL]
        )
        let placed = try await phoneDouble.control("/_double/dialin/call", body: Array("{}".utf8))
        let placedSession = try #require(placed["body"]?["session_id"]?.string)
        let placedKey = try #require(try await dialin.botBody(placedSession)["daily_api_key"]?.string)
        let placedRoom = try await phoneDouble.room("dialin-\(placed["call_id"]?.string ?? "")")
        let placedUpdate = JSONValue.object([
            "callId": placed["call_id"] ?? .null, "callDomain": .string("double-acme"),
            "sipUri": placedRoom["config"]?["sip_uri"]?["endpoint"] ?? .null,
        ])
        try await recorder.call(
            dialin,
            .POST,
            forward,
            body: Array(placedUpdate.text.utf8),
            headers: [("Authorization", "Bearer \(placedKey)")]
        )
        await dialin.shutdown()
    }
}
