import DailyDouble
import Foundation
import Policy
import TestSupport
import Testing

/// Invariant 5 over a whole run (issue 4, point 6): no log line and no answer of a read API holds the API key,
/// the webhook or dial-in secret, the admin token, any meeting token the run minted, or a call's forwarding key.
@Suite(.serialized)
struct SecretsScanTests {
    /// In both log formats, at the most talkative level.
    @Test(arguments: ["text", "json"])
    func noLogLineAndNoReadAnswerOfAFullRunHoldsASecret(logFormat: String) async throws {
        let apiKey = "sk-scan-\(UUID().uuidString)"
        let adminToken = "admin-\(UUID().uuidString)"
        let dialinSecret = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let double = try await DailyDouble.start(apiKey: apiKey, domain: "acme")
        let service = try await ServiceProcess.start([
            "DAILY_API_KEY": apiKey, "DAILY_API_URL": double.baseURL, "AUTOSPAWN_ADMIN_TOKEN": adminToken,
            "AUTOSPAWN_MAX_CONCURRENCY": "10", "AUTOSPAWN_LOG_FORMAT": logFormat, "AUTOSPAWN_LOG_LEVEL": "trace",
            "AUTOSPAWN_DIALIN_SECRET": dialinSecret,
        ])
        let auth = [("Authorization", "Bearer \(adminToken)")]
        var tokens: Set<String> = []

        // A full run: joins by webhook (one while Daily fails once), /start, /daily, refusals, stops.
        for room in ["scan-a", "scan-b"] {
            _ = try await service.webhook(Fixtures.variant("daily/participant-joined.json", id: "join-\(room)", room: room))
        }
        try await double.control("/_double/faults", body: Array(#"{"status":500,"count":1,"path":"/meeting-tokens"}"#.utf8))
        _ = try await service.webhook(Fixtures.variant("daily/participant-joined.json", id: "join-scan-c", room: "scan-c"))
        let started = try await service.request(.POST, "/start", body: Fixtures.bytes("start/pipecat-start.json"), headers: auth)
        #expect(started.status == 200)
        tokens.formUnion([started.string("dailyToken")].compactMap { $0 })
        #expect(try await service.request(.GET, "/daily", headers: auth).status == 302)
        let call = Fixtures.bytes("dialin/call.json")
        let called = try await service.request(
            .POST,
            "/daily/dialin",
            body: call,
            headers: TestSigner.headers(body: call, secretBase64: dialinSecret, prefix: "X-Pinless")
        )
        #expect(called.status == 200)
        #expect(try await service.request(.GET, "/sessions").status == 401)
        #expect(try await service.webhook(Fixtures.bytes("daily/participant-joined.json"), signed: false).status == 401)
        #expect(try await eventually { service.liveBots().count == 6 })
        var botTokens: Set<String> = []
        var callKey = ""
        for pid in service.liveBots() {
            for entry in LiveProcesses.environment(of: pid) {
                if entry.hasPrefix("DAILY_ROOM_TOKEN=") { botTokens.insert(String(entry.dropFirst("DAILY_ROOM_TOKEN=".count))) }
                if entry.hasPrefix("AUTOSPAWN_BODY="), let body = try? JSONSerialization.jsonObject(with: Data(entry.dropFirst(15).utf8)),
                    let key = (body as? [String: Any])?["daily_api_key"] as? String
                {
                    callKey = key
                }
            }
        }
        tokens.formUnion(botTokens)
        #expect(tokens.count == 7)  // the caller's token from /start, and one per bot
        #expect(!callKey.isEmpty)

        // Every read answer.
        var answers: [String] = []
        let all = try await service.request(.GET, "/sessions?state=all", headers: auth)
        answers.append(all.text)
        let sessions = all.json["sessions"] as? [[String: any Sendable]] ?? []
        #expect(sessions.count == 6)
        for session in sessions {
            let id = session["id"] as? String ?? ""
            let room = session["room_name"] as? String ?? ""
            answers.append(try await service.request(.GET, "/sessions/\(id)", headers: auth).text)
            #expect(
                try await eventually {
                    try await service.request(.GET, "/sessions/\(id)/log?tail=1000", headers: auth).text.contains("ready")
                }
            )
            answers.append(try await service.request(.GET, "/sessions/\(id)/log?tail=1000", headers: auth).text)
            answers.append(try await service.request(.GET, "/bot/status?room=\(room)").text)
        }
        for path in ["/health", "/ready", "/sessions?state=active", "/metrics"] {
            answers.append(try await service.request(.GET, path, headers: auth).text)
        }
        // The bots did print their tokens (the test bot echoes its environment): the log API must not pass them on.
        let logFiles = try FileManager.default.contentsOfDirectory(atPath: service.directory.appendingPathComponent("bot-logs").path)
        let onDisk = try logFiles.map { try String(contentsOf: service.directory.appendingPathComponent("bot-logs/\($0)"), encoding: .utf8) }
        #expect(botTokens.count == 6)
        #expect(botTokens.allSatisfy { token in onDisk.contains { $0.contains(token) } })
        #expect(onDisk.contains { $0.contains(callKey) })  // the call's bot printed its body

        for room in ["scan-a", "scan-b", "scan-c", DialinCall.roomName(forCall: "0f3c2a5e-8d7b-4c1a-9e6f-2b4d8a1c7e90")] {
            _ = try await service.webhook(Fixtures.variant("daily/meeting-ended.json", id: "end-\(room)", room: room))
        }
        await service.shutdown()
        await double.stop()

        let serviceOutput = try FileManager.default.contentsOfDirectory(atPath: service.directory.path)
            .filter { $0.hasPrefix("service") }
            .map { try String(contentsOf: service.directory.appendingPathComponent($0), encoding: .utf8) }
        #expect(serviceOutput.joined().contains("bot started"))  // the log was really read
        let scanned = serviceOutput + answers
        let secrets = [apiKey, ServiceProcess.secret, adminToken, dialinSecret, callKey] + tokens.sorted()
        for secret in secrets {
            let leaks = scanned.filter { $0.contains(secret) }
            #expect(leaks.isEmpty, "\(secret.prefix(12))… found in: \(leaks.map { String($0.prefix(200)) })")
        }
    }
}
