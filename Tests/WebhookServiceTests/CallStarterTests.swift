import Foundation
import Logging
import Policy
import Testing

@testable import WebhookService

/// The call path driven in process: a call waiting for a place stops trying once its request is given up, and says
/// it found no place.
struct CallStarterTests {
    @Test func aWaitingCallWhoseRequestIsGivenUpStopsTrying() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("calls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = try Config.parse([
            "AUTOSPAWN_DB": directory.appendingPathComponent("db.sqlite").path, "AUTOSPAWN_BOT_COMMAND": "true",
            "AUTOSPAWN_DAILY_DOMAIN": "acme", "DAILY_API_KEY": "unused", "DAILY_API_URL": "http://127.0.0.1:9",
            "AUTOSPAWN_DIALIN_SECRET": "YWJj", "AUTOSPAWN_MAX_CONCURRENCY": "1", "AUTOSPAWN_DIALIN_WAIT_S": "60",
        ])
        let (_, parts) = try await buildApplication(config, logger: Logger(label: "test"))
        let calls = try #require(parts.calls)
        // The one place is taken: the call waits.
        #expect(try await parts.store.claim(room: "busy", url: nil, now: Date().timeIntervalSince1970) != nil)
        let call = DialinCall(to: "+15550001111", from: "+15105550199", callID: "c-1", callDomain: "d-1")
        let started = ContinuousClock.now
        let waiting = Task { () async -> String? in
            do {
                _ = try await calls.start(call)
                return nil
            } catch let failure as RoomStarter.Failure {
                return failure.error
            } catch {
                return "\(error)"
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        waiting.cancel()
        // Before: the cancelled pause was ignored and the next try went to the database, which refuses a cancelled task:
        // the call was answered `database_unavailable` (and logged as a database failure).
        #expect(await waiting.value == "capacity")
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(try await parts.store.activeCount() == 1)
    }
}
