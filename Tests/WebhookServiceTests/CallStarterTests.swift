import Foundation
import Logging
import Policy
import Testing

@testable import WebhookService

/// The call path driven in process: a call waiting for a place stops trying once its request is given up, and says
/// it found no place.
struct CallStarterTests {
    @Test func aWaitingCallWhoseRequestIsGivenUpStopsTrying() async throws {
        let (parts, directory) = try await Self.buildWithOnePlaceTaken()
        defer { try? FileManager.default.removeItem(at: directory) }
        let calls = try #require(parts.calls)
        let call = DialinCall(to: "+15550001111", from: "+15105550199", callID: "c-1", callDomain: "d-1")
        let started = ContinuousClock.now
        let waiting = Task { await Self.error(startingCall: call, with: calls) }
        try await Task.sleep(for: .milliseconds(500))
        waiting.cancel()
        // Before: the cancelled pause was ignored and the next try went to the database, which refuses a cancelled task:
        // the call was answered `database_unavailable` (and logged as a database failure).
        #expect(await waiting.value == "capacity")
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(try await parts.store.activeCount() == 1)
    }

    @Test func aCallGivenUpWhileItAsksTheDatabaseSaysItFoundNoPlace() async throws {
        let (parts, directory) = try await Self.buildWithOnePlaceTaken()
        defer { try? FileManager.default.removeItem(at: directory) }
        let calls = try #require(parts.calls)
        let call = DialinCall(to: "+15550001111", from: "+15105550199", callID: "c-2", callDomain: "d-1")
        // Given up before its first question to the database: the database refuses a cancelled task, and the call
        // must still say it found no place rather than blame the database.
        let answer = await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await Self.error(startingCall: call, with: calls)
        }.value
        #expect(answer == "capacity")
        #expect(try await parts.store.activeCount() == 1)
    }

    /// The error the call's start ends in (`APIError.code`), or nil when it got its room.
    static func error(startingCall call: DialinCall, with calls: CallStarter) async -> String? {
        do {
            _ = try await calls.start(call)
            return nil
        } catch {
            return error.code.rawValue
        }
    }

    /// A service with dial-in and one place, which is taken: a call waits.
    static func buildWithOnePlaceTaken() async throws -> (AutospawnService, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("calls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = try Config.parse([
            "AUTOSPAWN_DB": directory.appendingPathComponent("db.sqlite").path, "AUTOSPAWN_BOT_COMMAND": "true",
            "AUTOSPAWN_DAILY_DOMAIN": "acme", "DAILY_API_KEY": "unused", "DAILY_API_URL": "http://127.0.0.1:9",
            "AUTOSPAWN_DIALIN_SECRET": "YWJj", "AUTOSPAWN_MAX_CONCURRENCY": "1", "AUTOSPAWN_DIALIN_WAIT_S": "60",
        ])
        let (_, parts) = try await buildApplication(config, logger: Logger(label: "test"))
        #expect(try await parts.store.claim(room: "busy", url: nil, now: Date().timeIntervalSince1970) != nil)
        return (parts, directory)
    }
}
