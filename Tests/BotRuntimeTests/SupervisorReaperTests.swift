import Foundation
import Logging
import Policy
import SessionStore
import Testing
@testable import BotRuntime

/// The reaper's safety nets, driven directly on a real store.
struct SupervisorReaperTests {
    /// When ending a session failed on a database error, it stayed active with no bot for good, holding a slot.
    @Test func anActiveSessionWithoutABotIsEndedLostAndItsRoomWaits() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("reaper-\(UUID().uuidString).sqlite").path
        let settings = PolicySettings(
            maxConcurrency: 5, botName: "Pipecat Bot", roomFilter: try RoomFilter(pattern: ".*"), emptyGraceSeconds: 20,
            restartBackoff: RestartBackoff(baseSeconds: 0.01, maxSeconds: 0.01))
        let store = try SessionStore(path: path, settings: settings, launcher: "process", instanceID: "me")
        // A human joined, the session was claimed and its bot recorded; then the bot's end never reached the
        // database. This instance watches no bot for it.
        let join = RoomEvent(
            id: "join", kind: .participantJoined, roomName: "call", roomURL: "https://d.daily.co/call",
            participant: .init(sessionID: "human", userID: nil, userName: "Human"))
        let session = try #require(try await store.record(join, now: Date().timeIntervalSince1970).session)
        _ = try await store.markStarted(session.id, pid: 999_999, pidStartTime: 1, now: Date().timeIntervalSince1970)
        let supervisor = Supervisor(
            store: store,
            settings: .init(
                launcher: .process(arguments: ["true"]), logDirectory: FileManager.default.temporaryDirectory.path,
                stopGraceSeconds: 1, startTimeoutSeconds: 60, maxSessionSeconds: 3600, reaperIntervalSeconds: 60),
            logger: Logger(label: "test"))
        _ = try await store.register(ServiceInstance(id: "me", pid: getpid(), pidStartTime: ProcessTable.current().startTime, startedAt: 0))

        await supervisor.endSessionsWithoutBots()
        let ended = try #require(try await store.session(session.id))
        #expect(ended.state == .failed)
        #expect(ended.endReason == "lost")
        // The human is still there: the room waits for its next bot.
        try await Task.sleep(for: .milliseconds(50))
        let next = try await store.claimWaitingRooms(now: Date().timeIntervalSince1970)
        #expect(next.map(\.roomName) == ["call"])
    }
}
