import Foundation
import TestSupport
import Testing

/// Signatures, limits, switches and guards, against the real server.
@Suite(.serialized)
struct HTTPSurfaceTests {
    @Test func forgedStaleAndUnsignedEventsAreRefusedAndChangeNothing() async throws {
        let service = try await ServiceProcess.start()
        let body = Fixtures.bytes("daily/participant-joined.json")
        let forged = TestSigner.headers(body: body, secretBase64: Fixtures.vectors.otherSecret)
        #expect(try await service.request(.POST, "/daily/webhook", body: body, headers: forged).string("error") == "invalid_signature")
        let tampered = TestSigner.headers(body: body + [0x20], secretBase64: ServiceProcess.secret)
        #expect(try await service.request(.POST, "/daily/webhook", body: body, headers: tampered).status == 401)
        let stale = try await service.webhook(body, timestamp: String(Int(Date().timeIntervalSince1970) - 3600))
        #expect(stale.status == 401)
        #expect(stale.string("error") == "stale_timestamp")
        let unsigned = try await service.webhook(body, signed: false)
        #expect(unsigned.status == 401)
        #expect(unsigned.string("error") == "missing_signature")
        #expect(try await service.sessions().isEmpty)
        // The same event, signed properly and in milliseconds, still counts: the refusals recorded nothing.
        let millis = try await service.webhook(body, timestamp: String(Int(Date().timeIntervalSince1970 * 1000)))
        #expect(millis.string("action") == "spawned")
        // The probe is answered 200 unsigned, as Daily needs when a webhook is created.
        let probe = try await service.webhook(fixture: "daily/probe.json", signed: false)
        #expect(probe.status == 200)
        #expect(probe.string("reason") == "probe")
        await service.shutdown()
    }

    @Test func oversizedAndMalformedBodiesAreRefused() async throws {
        let service = try await ServiceProcess.start()
        let huge = [UInt8](repeating: UInt8(ascii: " "), count: 64 * 1024 + 1)
        #expect(try await service.webhook(huge).status == 413)
        for name in Fixtures.names(in: "malformed") {
            let answer = try await service.webhook(fixture: name)
            #expect(answer.status == 400, "\(name)")
        }
        // Authentication comes first: an unsigned body is refused before anyone reads it.
        #expect(try await service.webhook(fixture: "malformed/not-json.txt", signed: false).status == 401)
        #expect(try await service.sessions().isEmpty)
        #expect(try await service.request(.GET, "/health").status == 200)
        await service.shutdown()
    }

    @Test func webhookSwitchedOffAnswers404() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_WEBHOOK": "0"])
        #expect(try await service.webhook(fixture: "daily/participant-joined.json").status == 404)
        await service.shutdown()
    }

    @Test func adminTokenGuardsTheSessionAPIButNotStatus() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_ADMIN_TOKEN": "s3cret-admin"])
        #expect(try await service.request(.GET, "/sessions").status == 401)
        #expect(try await service.request(.GET, "/sessions", headers: [("Authorization", "Bearer wrong")]).status == 401)
        #expect(try await service.request(.GET, "/sessions", headers: [("Authorization", "Bearer s3cret-admin")]).status == 200)
        #expect(try await service.request(.GET, "/bot/status?room=demo-room").json["status"] as? String == "absent")
        #expect(try await service.request(.GET, "/bot/status").status == 400)
        #expect(try await service.request(.GET, "/ready").status == 200)
        #expect(!service.log.contains("s3cret-admin"))
        await service.shutdown()
    }

    @Test func badConfigurationExitsWithStatusTwoNamingTheVariable() async throws {
        let cases: [(String, String, String)] = [
            ("AUTOSPAWN_MAX_CONCURRENCY", "many", "AUTOSPAWN_MAX_CONCURRENCY"),
            ("AUTOSPAWN_ALLOWED_ROOM_REGEX", "([", "AUTOSPAWN_ALLOWED_ROOM_REGEX"),
            ("AUTOSPAWN_WEBHOOK_SECRET", "not base64!", "AUTOSPAWN_WEBHOOK_SECRET"),
            ("AUTOSPAWN_AGENT_URL", "http://127.0.0.1:9/", "AUTOSPAWN_AGENT_URL"),  // and a bot command: both
            ("DAILY_API_URL", "ftp://daily", "DAILY_API_URL"),
        ]
        for (variable, value, named) in cases {
            let error = await #expect(throws: HarnessError.self) {
                _ = try await ServiceProcess.start([variable: value])
            }
            #expect(error?.description.contains("exited with 2") == true, "\(variable)")
            #expect(error?.description.contains("autospawn: \(named):") == true, "\(variable)")
        }
    }
}
