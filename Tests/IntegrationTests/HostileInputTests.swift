import AsyncHTTPClient
import Foundation
import NIOCore
import TestSupport
import Testing

/// Requests from someone who is not Daily, or a broken Daily (issue 4, point 5): none gets a bot, none gets a
/// 5xx, and the service stays healthy.
@Suite(.serialized)
struct HostileInputTests {
    static let settings = ["AUTOSPAWN_REQUEST_TIMEOUT_S": "2"]
    static let join = Fixtures.bytes("daily/participant-joined.json")

    static func signed(_ body: [UInt8], secret: String = ServiceProcess.secret, at time: Double? = nil) -> [(String, String)] {
        TestSigner.headers(body: body, secretBase64: secret, timestamp: time.map { String(Int($0)) })
    }

    func post(_ service: ServiceProcess, _ body: [UInt8], headers: [(String, String)]) async throws -> ServiceProcess.Answer {
        try await service.request(.POST, "/daily/webhook", body: body, headers: headers)
    }

    @Test func forgedTruncatedWrongSecretAndStaleSignaturesStartNothing() async throws {
        let service = try await ServiceProcess.start(Self.settings)
        let now = Date().timeIntervalSince1970
        let valid = Self.signed(Self.join)
        let timestamp = valid[1]
        let forged = [("X-Webhook-Signature", Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()), timestamp]
        let truncated = [("X-Webhook-Signature", String(valid[0].1.dropLast(5))), timestamp]
        let otherBody = Self.signed(Fixtures.bytes("daily/participant-joined-second.json"))
        let refusals: [(String, [(String, String)], String)] = [
            ("forged", forged, "invalid_signature"),
            ("truncated", truncated, "invalid_signature"),
            ("wrong secret", Self.signed(Self.join, secret: Fixtures.vectors.otherSecret), "invalid_signature"),
            ("another body's", otherBody, "invalid_signature"),
            ("stale", Self.signed(Self.join, at: now - 600), "stale_timestamp"),
            ("from the future", Self.signed(Self.join, at: now + 600), "stale_timestamp"),
            ("unsigned", [], "missing_signature"),
            ("no timestamp", [valid[0]], "missing_signature"),
            ("not base64", [("X-Webhook-Signature", "%%%%"), timestamp], "invalid_signature"),
        ]
        for (name, headers, error) in refusals {
            let answer = try await post(service, Self.join, headers: headers)
            #expect(answer.status == 401, "\(name)")
            #expect(answer.string("error") == error, "\(name)")
        }
        #expect(try await service.sessions().isEmpty)
        #expect(service.liveBots().isEmpty)
        // Replayed within the tolerance, as is or signed anew (as Daily's retries are): the event id stops it.
        #expect(try await post(service, Self.join, headers: valid).string("action") == "spawned")
        #expect(try await post(service, Self.join, headers: valid).string("action") == "duplicate")
        #expect(try await post(service, Self.join, headers: Self.signed(Self.join)).string("action") == "duplicate")
        #expect(try await service.sessions().count == 1)
        await service.shutdown()
    }

    @Test func bodiesThatAreNotEventsGetA4xxAndNoBot() async throws {
        let service = try await ServiceProcess.start(Self.settings)
        var bodies: [(String, [UInt8], Set<Int>)] = Fixtures.names(in: "malformed").map { ($0, Fixtures.bytes($0), [400]) }
        bodies.append(("deep array", Array(repeating: UInt8(ascii: "["), count: 60_000), [400]))
        bodies.append(("deep object", Array(String(repeating: #"{"a":"#, count: 12_000).utf8), [400]))
        let deepInPayload =
            #"{"type":"participant.joined","id":"deep","payload":{"room":"demo-room","extra":"#
            + String(repeating: "[", count: 30_000) + String(repeating: "]", count: 30_000) + "}}"
        bodies.append(("deep inside the payload", Array(deepInPayload.utf8), [200, 400]))
        bodies.append(("invalid UTF-8", [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D], [400]))
        bodies.append(("NUL bytes", Array(repeating: 0, count: 100), [400]))
        bodies.append(("empty", [], [400]))
        bodies.append(("just over 64 KiB", Array(repeating: UInt8(ascii: " "), count: 64 * 1024 + 1), [413]))
        bodies.append(("8 MiB", Array(repeating: UInt8(ascii: "a"), count: 8 << 20), [413]))
        bodies += Self.wrongTypes(of: "daily/participant-joined.json").map { ($0.0, $0.1, [200, 400]) }
        var statuses: [Int: Int] = [:]
        for (name, body, expected) in bodies {
            let answer = try await post(service, body, headers: Self.signed(body))
            #expect(expected.contains(answer.status), "\(name): \(answer.status) \(answer.text)")
            statuses[answer.status, default: 0] += 1
        }
        // A body with no length, streamed past the limit, is cut off too.
        var request = HTTPClientRequest(url: service.baseURL + "/daily/webhook")
        request.method = .POST
        let chunk = ByteBuffer(repeating: UInt8(ascii: "a"), count: 1 << 16)
        request.body = .stream((0..<32).map { _ in chunk }.async, length: .unknown)
        let streamed = try await testHTTPClient.execute(request, timeout: .seconds(30))
        #expect(streamed.status.code == 413)
        #expect(try await service.request(.GET, "/health").status == 200)
        // Wrong types only ever leave the fixture's own room: no bot anywhere else.
        #expect(service.liveBotSessions().allSatisfy { $0.room == "demo-room" }, "\(service.liveBotSessions().map(\.room))")
        #expect(service.liveBots().count <= 1)
        #expect(statuses.keys.allSatisfy { $0 < 500 })
        await service.shutdown()
    }

    /// With phone calls on, the server also upgrades to WebSockets: a slow client is cut off all the same.
    @Test(arguments: [false, true])
    func slowClientsAreCutOffWhileOthersAreServed(phoneCalls: Bool) async throws {
        let calls = ["AUTOSPAWN_PUBLIC_URL": "https://bots.example.com", "AUTOSPAWN_TWILIO_AUTH_TOKEN": "token"]
        let service = try await ServiceProcess.start(Self.settings.merging(phoneCalls ? calls : [:]) { $1 })
        let before = service.resources()
        // Heads that never end, and bodies trickled a byte at a time.
        let slowHeads = try (0..<40).map { _ in try RawConnection(port: service.port) }
        let slowBodies = try (0..<10).map { _ in try RawConnection(port: service.port) }
        for connection in slowHeads { connection.send("POST /daily/webhook HTTP/1.1\r\nHost: x\r\n") }
        for connection in slowBodies {
            connection.send("POST /daily/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{")
        }
        // On a thread of its own, so that a busy cooperative pool cannot leave the connections idle.
        let trickle = Task {
            try await onOwnThread {
                for _ in 0..<20 {
                    for connection in slowHeads + slowBodies { connection.send("a") }
                    usleep(250_000)
                }
            }
        }
        // Everyone else is answered meanwhile.
        for index in 0..<20 {
            let body = Fixtures.variant("daily/participant-joined.json", id: "busy-\(index)", participant: "p-\(index)")
            #expect(try await service.webhook(body).status == 200)
        }
        #expect(try await service.request(.GET, "/health").status == 200)
        // A body still incomplete after AUTOSPAWN_REQUEST_TIMEOUT_S is answered 408; a head, closed.
        for connection in slowBodies {
            let answer = try await onOwnThread { connection.read(timeout: 10) { $0.contains("\r\n\r\n") }.text }
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer.prefix(40))")
        }
        for connection in slowHeads { #expect(try await onOwnThread { connection.read(timeout: 4).closed }) }
        try await trickle.value
        #expect(try await service.sessions().count == 1)
        #expect(try await eventually { service.resources().fileDescriptors <= before.fileDescriptors + 8 })
        await service.shutdown()
    }

    @Test func oddPathsAndHeadersGetNo5xx() async throws {
        let service = try await ServiceProcess.start(Self.settings)
        let body = String(decoding: Self.join, as: UTF8.self)
        let signature = Self.signed(Self.join).map { "\($0.0): \($0.1)\r\n" }.joined()
        let length = "Content-Length: \(Self.join.count)\r\n"
        let requests = [
            "GET /daily/webhook HTTP/1.1\r\nHost: x\r\n\r\n",
            "PUT /daily/webhook HTTP/1.1\r\nHost: x\r\n\(length)\r\n\(body)",
            "POST //daily//webhook HTTP/1.1\r\nHost: x\r\n\(length)\r\n\(body)",
            "POST /daily/webhook/.. HTTP/1.1\r\nHost: x\r\n\(length)\r\n\(body)",
            "POST /daily/%77ebhook HTTP/1.1\r\nHost: x\r\n\(length)\r\n\(body)",
            "POST /daily/webhook%00 HTTP/1.1\r\nHost: x\r\n\(length)\r\n\(body)",
            "POST /\(String(repeating: "a", count: 8_000)) HTTP/1.1\r\nHost: x\r\n\r\n",
            "POST /daily/webhook HTTP/1.1\r\nHost: x\r\nX-Junk: \(String(repeating: "b", count: 16_000))\r\n\(length)\r\n\(body)",
            "POST /daily/webhook HTTP/1.1\r\nHost: x\r\n" + (0..<300).map { "X-H\($0): v\r\n" }.joined() + "\(length)\r\n\(body)",
            "POST /daily/webhook HTTP/1.1\r\nHost: x\r\nX-Webhook-Signature: AAAA\r\n\(signature)\(length)\r\n\(body)",
            "POST /daily/webhook HTTP/1.1\r\nHost: x\r\nX-Webhook-Signature: \u{00E9}\u{0000}\r\nX-Webhook-Timestamp: 1\r\n\(length)\r\n\(body)",
            "POST /daily/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n\(body)",
            "POST /daily/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n\(body)",
            "POST /daily/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n\(body)",
            "POST /daily/webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\(length)\r\n5\r\nhello\r\n0\r\n\r\n",
            "POST /daily/webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            "POST /daily/webhook HTTP/1.1\nHost: x\n\(length)\n\(body)",
            "POST /daily/webhook HTTP/1.0\r\n\(length)\r\n\(body)",
            "POST /daily/webhook HTTP/9.9\r\nHost: x\r\n\r\n",
            "post /daily/webhook HTTP/1.1\r\nHost: x\r\n\r\n",
            "POST http://evil.example/daily/webhook HTTP/1.1\r\nHost: x\r\n\(length)\r\n\(body)",
            "POST /sessions/../daily/webhook HTTP/1.1\r\nHost: x\r\n\(length)\r\n\(body)",
            "GET /sessions/%2e%2e%2f%2e%2e%2fetc%2fpasswd/log HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /sessions/../../etc/passwd/log HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /bot/status?room=../../etc HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /bot/status?room=%00 HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /sessions?limit=-5&state=everything HTTP/1.1\r\nHost: x\r\n\r\n",
            "\u{0000}\u{0001}\u{0002} garbage\r\n\r\n",
        ]
        for (index, text) in requests.enumerated() {
            let connection = try RawConnection(port: service.port)
            connection.send(text)
            let status = connection.status(timeout: 5)
            // No answer at all (the connection closed on a request that is not HTTP) is fine; a 5xx is not.
            #expect((status ?? 400) < 500, "request \(index): \(status.map(String.init) ?? "closed")")
        }
        #expect(try await service.request(.GET, "/health").status == 200)
        #expect(service.liveBots().isEmpty)
        #expect(try await service.sessions().isEmpty)
        await service.shutdown()
    }

    /// The fixture with each of its fields, one at a time, replaced by a value of each other JSON type.
    static func wrongTypes(of name: String) -> [(String, [UInt8])] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(Fixtures.bytes(name))) as? [String: Any] else { return [] }
        // Strings are never valid room names, so a bot can only ever start in the fixture's own room.
        let replacements: [Any] = [NSNull(), 0, -1.5, true, "not a room!", String(repeating: "long", count: 2_000), [Any](), [String: Any]()]
        var bodies: [(String, [UInt8])] = []
        func mutate(_ value: Any, path: [String], set: (Any) -> Any) {
            for (index, replacement) in replacements.enumerated() {
                if let data = try? JSONSerialization.data(withJSONObject: set(replacement)) {
                    bodies.append(("\(path.joined(separator: ".")) as #\(index)", Array(data)))
                }
            }
            if let dictionary = value as? [String: Any] {
                for (key, child) in dictionary {
                    mutate(child, path: path + [key]) { replacement in
                        var copy = dictionary
                        copy[key] = replacement
                        return set(copy)
                    }
                }
            }
        }
        for (key, child) in object {
            mutate(child, path: [key]) { replacement in
                var copy = object
                copy[key] = replacement
                // Each body is its own event: ids never collide, so none is a mere duplicate.
                if key != "id" { copy["id"] = "wrong-type-\(UUID().uuidString)" }
                return copy
            }
        }
        return bodies
    }
}
