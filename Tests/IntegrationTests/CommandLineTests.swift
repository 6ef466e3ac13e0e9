import DailyDouble
import Foundation
import TestSupport
import Testing

/// `autospawn sign` and `autospawn replay`, run as a user would.
@Suite(.serialized)
struct CommandLineTests {
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        try AutospawnCommand.runBlocking(arguments, environment: environment)
    }

    /// The README's promise: every setting in its Configuration table is also a `serve` flag of the same name.
    @Test func everyDocumentedSettingIsAServeFlag() throws {
        let readme = try String(
            contentsOf: Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("README.md"),
            encoding: .utf8
        )
        let section = readme.components(separatedBy: "## Configuration").dropFirst().first?.components(separatedBy: "\n## ").first ?? ""
        let rows = section.split(separator: "\n").filter { $0.hasPrefix("| `") }
        let names = Set(
            rows.flatMap { row in
                row.split(separator: "|")[0].matches(of: /`((?:AUTOSPAWN|DAILY)_[A-Z_]+)`/).map { String($0.output.1) }
            }
        )
        #expect(names.count > 40)
        let help = try run(["serve", "--help"]).output
        for name in names.sorted() {
            let flag = "--" + name.replacingOccurrences(of: "AUTOSPAWN_", with: "").lowercased().replacingOccurrences(of: "_", with: "-")
            #expect(help.contains(flag + " "), "\(name): no \(flag) in `autospawn serve --help`")
        }
    }

    @Test func signPrintsTheHeadersPythonComputes() throws {
        let vectors = Fixtures.vectors
        for vector in vectors.vectors {
            guard let file = vector.bodyFile else { continue }
            let result = try run(["sign", Fixtures.path(file), "--secret", vector.secret, "--timestamp", vector.timestamp])
            #expect(result.status == 0)
            #expect(result.output == "X-Webhook-Signature: \(vector.signature)\nX-Webhook-Timestamp: \(vector.timestamp)\n")
        }
    }

    @Test func replaySignsEachBodyFreshlyAndPrintsEachAnswer() async throws {
        let service = try await ServiceProcess.start()
        let url = service.baseURL + "/daily/webhook"
        let joined = Fixtures.path("daily/participant-joined.json")
        let ended = Fixtures.path("daily/meeting-ended.json")
        let result = try run(["replay", joined, joined, "--url", url, "--secret", ServiceProcess.secret])
        #expect(result.status == 0)
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("\(joined): 200 ") == true)
        #expect(lines.first?.contains(#""action":"spawned""#) == true)
        #expect(lines.last?.contains(#""action":"duplicate""#) == true)
        // Unsigned, the service (which requires signatures) refuses it, and replay says so in its status.
        let unsigned = try run(["replay", ended, "--url", url])
        #expect(unsigned.status == 1)
        #expect(unsigned.output.contains("401"))
        #expect(try run(["replay", ended, "--url", url, "--secret", ServiceProcess.secret]).output.contains(#""action":"stopping""#))
        await service.shutdown()
    }

    @Test func webhookCommandRegistersListsAndDeletesThroughDaily() async throws {
        let double = try await DailyDouble.start(apiKey: "k")
        defer { Task { await double.stop() } }
        let service = try await ServiceProcess.start()
        let daily = ["DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL]
        let url = service.baseURL + "/daily/webhook"
        let created = try run(["webhook", "create", "--url", url], environment: daily)
        #expect(created.status == 0)
        // Daily's probe reached the running service and was answered 200, or creation would have failed.
        let secretLine = try #require(created.output.split(separator: "\n").first { $0.hasPrefix("AUTOSPAWN_WEBHOOK_SECRET=") })
        let secret = Data(base64Encoded: String(secretLine.dropFirst("AUTOSPAWN_WEBHOOK_SECRET=".count)))
        #expect(secret?.count == 32)
        let listed = try run(["webhook", "list"], environment: daily)
        #expect(listed.output.contains(url))
        #expect(listed.output.contains("participant.joined,participant.left,meeting.ended"))
        #expect(!listed.output.contains(secretLine.dropFirst(25)))  // the secret is printed once, at creation
        let uuid = try #require(listed.output.split(separator: " ").first.map(String.init))
        #expect(try run(["webhook", "delete", uuid], environment: daily).status == 0)
        #expect(try run(["webhook", "list"], environment: daily).output.isEmpty)
        // A URL that does not answer the probe is refused, as Daily refuses it.
        #expect(try run(["webhook", "create", "--url", "http://127.0.0.1:9/daily/webhook"], environment: daily).status != 0)
        await service.shutdown()
    }
}
