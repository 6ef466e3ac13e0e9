import DailyDouble
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Policy
import TestSupport
import Testing
import WebhookService

/// The routes driven in process (no socket), as Hummingbird's template does.
struct RouterTests {
    func makeApp(_ settings: [String: String] = [:]) async throws -> some ApplicationProtocol {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("router-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let environment = [
            "AUTOSPAWN_DB": directory.appendingPathComponent("db.sqlite").path, "AUTOSPAWN_BOT_COMMAND": "true",
            "AUTOSPAWN_DAILY_DOMAIN": "acme",
        ].merging(settings) { $1 }
        return try await buildApplication(try Config.parse(environment), logger: Logger(label: "test")).0
    }

    @Test func healthAndReadiness() async throws {
        try await makeApp().test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    /// Building the application reads nothing remote: Daily's domain is read when it runs, before its server starts,
    /// and a key Daily refuses stops it there, naming the setting.
    @Test func theDailyDomainIsReadWhenTheApplicationRunsNotWhenItIsBuilt() async throws {
        let double = try await DailyDouble.start(apiKey: "right-key")
        defer { Task { await double.stop() } }
        let app = try await makeApp(["AUTOSPAWN_DAILY_DOMAIN": "", "DAILY_API_KEY": "wrong-key", "DAILY_API_URL": double.baseURL])
        #expect(try await double.logged("requests").isEmpty)
        let error = await #expect(throws: ConfigError.self) { try await app.test(.router) { _ in } }
        #expect(error?.variable == "DAILY_API_KEY")
    }

    /// A known path with a method it does not serve was answered 404.
    @Test func aKnownPathWithAnotherMethodIs405WithAllow() async throws {
        try await makeApp().test(.router) { client in
            for (uri, method, allow) in [
                ("/ready", HTTPRequest.Method.post, "GET, HEAD"), ("/daily/webhook", .get, "POST"),
                ("/sessions/abc", .put, "DELETE, GET, HEAD"), ("/start", HTTPRequest.Method(rawValue: "TRACE")!, "POST"),
                ("/sessions/stream", .options, "GET, HEAD"),
            ] {
                try await client.execute(uri: uri, method: method) { response in
                    #expect(response.status == .methodNotAllowed, "\(method) \(uri)")
                    #expect(response.headers[.allow] == allow, "\(method) \(uri)")
                }
            }
            try await client.execute(uri: "/no/such/path", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/health", method: .head) { response in
                #expect(response.status == .ok)
            }
        }
    }

    /// `room=` (empty) and URLs that are no Daily room are refused as rooms.
    @Test func aRoomIsANameOrADailyRoomURL() async throws {
        try await makeApp().test(.router) { client in
            for room in ["", "https://example.com/demo-room", "http://acme.daily.co/demo-room", "a%20b"] {
                try await client.execute(uri: "/bot/status?room=\(room)", method: .get) { response in
                    #expect(response.status == .badRequest, "\(room)")
                }
            }
            for room in ["demo-room", "https://acme.daily.co/demo-room", "https://other.daily.co/demo-room"] {
                try await client.execute(uri: "/bot/status?room=\(room)", method: .get) { response in
                    #expect(response.status == .ok, "\(room)")
                }
            }
        }
    }

    @Test func bodiesOverSixtyFourKiBAre413() async throws {
        try await makeApp().test(.router) { client in
            let body = ByteBuffer(repeating: UInt8(ascii: " "), count: 64 * 1024 + 1)
            try await client.execute(uri: "/daily/webhook", method: .post, body: body) { response in
                #expect(response.status == .contentTooLarge)
                #expect(String(buffer: response.body) == #"{"error":"body_too_large","ok":false}"#)
            }
        }
    }

    @Test func unknownEventTypesAreAcknowledged() async throws {
        try await makeApp().test(.router) { client in
            try await client.execute(
                uri: "/daily/webhook",
                method: .post,
                body: ByteBuffer(bytes: Fixtures.bytes("daily/recording-started.json"))
            ) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"action":"ignored","ok":true,"reason":"unknown_type"}"#)
            }
        }
    }

    @Test func sessionListValidatesItsQuery() async throws {
        try await makeApp().test(.router) { client in
            try await client.execute(uri: "/sessions", method: .get) { response in
                #expect(String(buffer: response.body) == #"{"active":0,"max_concurrency":5,"sessions":[]}"#)
            }
            for (query, error) in [("state=running", "invalid_state"), ("limit=0", "invalid_limit"), ("room=../x", "invalid_room")] {
                try await client.execute(uri: "/sessions?\(query)", method: .get) { response in
                    #expect(response.status == .badRequest)
                    #expect(String(buffer: response.body).contains(error))
                }
            }
            try await client.execute(uri: "/sessions/unknown", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func adminTokenIsRequiredWhenSet() async throws {
        try await makeApp(["AUTOSPAWN_ADMIN_TOKEN": "t0ken"]).test(.router) { client in
            try await client.execute(uri: "/sessions", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
            }
            try await client.execute(uri: "/sessions", method: .get, headers: [.authorization: "Bearer t0ken"]) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/bot/status?room=demo-room", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""room_url":"https://acme.daily.co/demo-room""#))
            }
        }
    }
}
