import AsyncHTTPClient
import DailyDouble
import Foundation
import Policy
import Testing
import TestSupport

/// The service with a Daily API key, against the project's local double of Daily's REST API.
@Suite(.serialized)
struct DailyIntegrationTests {
    /// The double's request log: the requests Daily would have received.
    func dailyRequests(_ double: DailyDouble.Running) async throws -> [JSONValue] {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: double.baseURL + "/_double/log"), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 16 << 20)
        guard case .array(let requests)? = try JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView))["requests"]
        else { return [] }
        return requests
    }

    @Test func domainComesFromTheAPIRootAndEachBotGetsItsOwnToken() async throws {
        let double = try await DailyDouble.start(apiKey: "test-key", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start([
            "DAILY_API_KEY": "test-key", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_DAILY_DOMAIN": "",
        ])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await service.session(id)["room_url"] as? String == "https://acme.daily.co/demo-room")
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)/log").text.contains("ready") })
        let log = try await service.request(.GET, "/sessions/\(id)/log").text
        #expect(log.contains("env DAILY_ROOM_TOKEN=eyJ"))

        let tokenRequest = try #require(try await dailyRequests(double).first { $0["path"]?.string == "/meeting-tokens" })
        let properties = try #require(tokenRequest["body"]?["properties"])
        #expect(properties["room_name"] == .string("demo-room"))
        #expect(properties["is_owner"] == .bool(true))
        #expect(properties["user_name"] == .string("Pipecat Bot"))
        let userID = try #require(properties["user_id"]?.string)
        #expect(userID == "autospawn-" + String(id.filter { $0 != "-" }.prefix(26)))
        #expect(userID.count == 36)
        let expiry = try #require(properties["exp"]?.number)
        #expect(abs(expiry - (Date().timeIntervalSince1970 + 14_400)) < 60)
        // The token never shows in the service's log or its read API.
        let token = try #require(log.split(separator: "\n").first { $0.hasPrefix("env DAILY_ROOM_TOKEN=") }?.dropFirst(21))
        #expect(!service.log.contains(String(token)))
        #expect(!(try await service.request(.GET, "/sessions?state=all").text.contains(String(token))))
        #expect(!service.log.contains("test-key"))
        await service.shutdown()
    }

    @Test func botWithoutATokenFailsItsSession() async throws {
        let double = try await DailyDouble.start(apiKey: "right-key")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start(["DAILY_API_KEY": "wrong-key", "DAILY_API_URL": double.baseURL])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "failed" })
        #expect(try await service.session(id)["end_reason"] as? String == "token_failed")
        #expect(service.liveBots().isEmpty)
        await service.shutdown()
    }

    @Test func aKeyDailyRefusesStopsStartUpNamingIt() async throws {
        let double = try await DailyDouble.start(apiKey: "right-key")
        defer { Task { await double.stop() } }
        let error = await #expect(throws: HarnessError.self) {
            _ = try await ServiceProcess.start([
                "DAILY_API_KEY": "wrong-key", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_DAILY_DOMAIN": "",
            ])
        }
        #expect(error?.description.contains("exited with 2") == true)
        #expect(error?.description.contains("autospawn: DAILY_API_KEY:") == true)
        #expect(error?.description.contains("wrong-key") == false)
    }
}
