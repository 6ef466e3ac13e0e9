import DailyDouble
import Foundation
import Policy
import TestSupport
import Testing

/// `AUTOSPAWN_PROFILES` with the real service: each room gets its profile's bot (command, name, body, environment,
/// cap), `/start` and Pipecat Cloud's path start the profile they name, a bad file stops start-up.
@Suite(.serialized)
struct ProfileTests {
    /// The fixture's profiles file, with the test bot's path filled in, written into a new service folder.
    func profilesFile(_ fixture: String = "profiles/sales-and-support.yaml") throws -> (directory: URL, path: String) {
        let directory = try ServiceProcess.makeDirectory()
        let text = String(decoding: Fixtures.bytes(fixture), as: UTF8.self)
            .replacingOccurrences(of: "@BOT@", with: Fixtures.path("bots/test-bot.sh"))
        let path = directory.appendingPathComponent("profiles.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return (directory, path)
    }

    func join(_ room: String, participant: String = "p1") -> [UInt8] {
        Fixtures.variant("daily/participant-joined.json", id: UUID().uuidString, room: room, participant: participant)
    }

    func log(_ service: ServiceProcess, _ id: String) async throws -> String {
        var text = ""
        _ = try await eventually {
            text = try await service.request(.GET, "/sessions/\(id)/log").text
            return text.contains("ready")
        }
        return text
    }

    @Test func twoProfilesChosenByRoomRunTheirOwnCommandsNamesBodiesEnvironmentsAndCaps() async throws {
        let (directory, path) = try profilesFile()
        let service = try await ServiceProcess.start(
            in: directory,
            [
                "AUTOSPAWN_PROFILES": path, "AUTOSPAWN_BOT_COMMAND": "", "SUPPORT_KEY": "support-secret",
            ]
        )
        let sales = try #require(try await service.webhook(join("sales-1")).string("session_id"))
        let refused = try await service.webhook(join("sales-2"))
        #expect(refused.string("action") == "rejected")
        #expect(refused.string("reason") == "profile_capacity")
        let support = try #require(try await service.webhook(join("support-1")).string("session_id"))
        let nobody = try await service.webhook(join("demo-room"))
        #expect(nobody.string("action") == "ignored")
        #expect(nobody.string("reason") == "no_profile")

        let salesLog = try await log(service, sales)
        #expect(salesLog.contains("argv: run sales"))
        #expect(salesLog.contains("env AUTOSPAWN_BOT_NAME=Sales Bot"))
        #expect(salesLog.contains(#"env AUTOSPAWN_BODY={"language":"en","persona":"sales"}"#))
        #expect(!salesLog.contains("support-secret"))
        let supportLog = try await log(service, support)
        #expect(supportLog.contains("argv: env support"))
        #expect(supportLog.contains("env AUTOSPAWN_BOT_NAME=Pipecat Bot"))
        #expect(supportLog.contains("environ SUPPORT_KEY=support-secret"))
        #expect(supportLog.contains("env AUTOSPAWN_BODY={}"))

        #expect(try await service.session(sales)["profile"] as? String == "sales")
        #expect(try await service.request(.GET, "/bot/status?room=support-1").string("profile") == "support")
        let metrics = PrometheusText.series(try await service.request(.GET, "/metrics").text)
        #expect(metrics[#"autospawn_bots_started_total{profile="sales"}"#] == 1)
        #expect(metrics[#"autospawn_bots_started_total{profile="support"}"#] == 1)

        // The sales bot's room empties: the room that waited for a sales bot gets one.
        _ = try await service.webhook(
            Fixtures.variant("daily/participant-left.json", id: UUID().uuidString, room: "sales-1", participant: "p1")
        )
        #expect(
            try await eventually {
                try await service.sessions("state=active").contains { $0["room_name"] as? String == "sales-2" && $0["profile"] as? String == "sales" }
            }
        )
        await service.shutdown()
    }

    @Test func startAndPipecatCloudsPathStartTheProfileTheyNameWithTheBodyLaidOverItsOwn() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let (directory, path) = try profilesFile()
        let service = try await ServiceProcess.start(
            in: directory,
            [
                "AUTOSPAWN_PROFILES": path, "DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_MAX_CONCURRENCY": "10",
            ]
        )
        let start = Fixtures.bytes("start/pipecat-start.json")
        // `"profile"` in the body; the caller's body wins key by key over the profile's.
        var named = try #require(try JSONSerialization.jsonObject(with: Data(start)) as? [String: Any])
        named["profile"] = "sales"
        let sales = try await service.request(.POST, "/start", body: Array(try JSONSerialization.data(withJSONObject: named)))
        #expect(sales.status == 200)
        let salesID = try #require(sales.string("sessionId"))
        #expect(try await service.session(salesID)["profile"] as? String == "sales")
        #expect(try await log(service, salesID).contains(#"env AUTOSPAWN_BODY={"language":"en","persona":"helpful"}"#))
        #expect(try await log(service, salesID).contains("env AUTOSPAWN_BOT_NAME=Sales Bot"))

        let cloud = try await service.request(.POST, "/v1/public/support/start", body: start)
        #expect(cloud.status == 200)
        #expect(cloud.string("dailyRoom")?.hasPrefix("https://acme.daily.co/pipecat-") == true)
        let supportID = try #require(cloud.string("sessionId"))
        #expect(try await service.session(supportID)["profile"] as? String == "support")

        let plain = try await service.request(.POST, "/start", body: start)
        #expect(try await service.session(try #require(plain.string("sessionId")))["profile"] as? String == "default")

        let unknown = try await service.request(.POST, "/v1/public/nope/start", body: start)
        #expect(unknown.status == 404)
        #expect(unknown.string("error") == "unknown_profile")
        // The sales profile's cap is 1: its next start is refused like one at the service's cap.
        #expect(try await service.request(.POST, "/v1/public/sales/start", body: start).status == 429)
        await service.shutdown()
    }

    @Test func withoutADefaultProfileAStartMustNameOne() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let (directory, path) = try profilesFile()
        let service = try await ServiceProcess.start(
            in: directory,
            [
                "AUTOSPAWN_PROFILES": path, "AUTOSPAWN_BOT_COMMAND": "", "DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL,
            ]
        )
        let answer = try await service.request(.POST, "/start", body: Fixtures.bytes("start/pipecat-start.json"))
        #expect(answer.status == 400)
        #expect(answer.string("error") == "profile_required")
        #expect(try await double.logged("requests").filter { $0["path"]?.string == "/rooms" }.isEmpty)
        await service.shutdown()
    }

    @Test func aRoomTheServiceMadeIsServedWhateverTheRoomFilterSays() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start([
            "DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_ALLOWED_ROOM_REGEX": "support-.*",
        ])
        let started = try await service.request(.POST, "/start", body: Fixtures.bytes("start/pipecat-start.json"))
        let id = try #require(started.string("sessionId"))
        let room = try #require(started.string("dailyRoom")?.split(separator: "/").last.map(String.init))
        #expect(try await eventually { try await service.session(id)["state"] as? String == "running" })
        let joined = try await service.webhook(join(room))
        #expect(joined.string("action") == "recorded")
        #expect(try await service.session(id)["participants"] as? Int == 1)
        // The caller leaves: the bot goes after the empty-room grace, as in any room.
        _ = try await service.webhook(
            Fixtures.variant("daily/participant-left.json", id: UUID().uuidString, room: room, participant: "p1")
        )
        #expect(try await eventually { try await service.session(id)["end_reason"] as? String == "room_empty" })
        // A room the service did not make is still filtered.
        #expect(try await service.webhook(join("other-room")).string("reason") == "room_not_allowed")
        await service.shutdown()
    }

    @Test func aBadProfilesFileStopsStartUpWithOneLineNamingTheFileTheProfileAndTheField() async throws {
        let (directory, path) = try profilesFile("profiles/unquoted-number.yaml")
        let error = await #expect(throws: HarnessError.self) {
            _ = try await ServiceProcess.start(in: directory, ["AUTOSPAWN_PROFILES": path])
        }
        #expect(error?.description.contains("exited with 2") == true)
        #expect(error?.description.contains("autospawn: AUTOSPAWN_PROFILES: \(path): profile 'phone', field 'dialin'") == true)
    }

    /// Yams expanded the aliases of a "billion laughs" file while parsing it: start-up never finished (2 GB in 20 s).
    @Test func aProfilesFileWithAnchorsOrAliasesIsRefusedAtOnce() async throws {
        let (directory, path) = try profilesFile("profiles/billion-laughs.yaml")
        let started = ContinuousClock.now
        let error = await #expect(throws: HarnessError.self) {
            _ = try await ServiceProcess.start(in: directory, ["AUTOSPAWN_PROFILES": path])
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(error?.description.contains("exited with 2") == true)
        #expect(error?.description.contains("autospawn: AUTOSPAWN_PROFILES: \(path): uses a YAML anchor or alias (line 6)") == true)
    }

    @Test func aProfilesFileOverOneMebibyteIsRefusedUnread() async throws {
        let directory = try ServiceProcess.makeDirectory()
        let path = directory.appendingPathComponent("profiles.yaml").path
        let comment = "# " + String(repeating: "x", count: 1000) + "\n"
        try String(repeating: comment, count: 1100).write(toFile: path, atomically: true, encoding: .utf8)
        let error = await #expect(throws: HarnessError.self) {
            _ = try await ServiceProcess.start(in: directory, ["AUTOSPAWN_PROFILES": path])
        }
        #expect(error?.description.contains("autospawn: AUTOSPAWN_PROFILES: \(path): is larger than 1 MiB") == true)
    }
}
