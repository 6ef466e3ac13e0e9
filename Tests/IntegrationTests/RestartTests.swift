import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Crashes, restarts and shutdown of the real service on one database file.
@Suite(.serialized)
struct RestartTests {
    @Test func restartAfterKill9AdoptsLiveBotsAndEndsLostOnes() async throws {
        let first = try await ServiceProcess.start()
        let kept = try #require(try await first.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        let other = Fixtures.variant("daily/participant-joined.json", id: "join-lost", room: "lost-room")
        let lost = try #require(try await first.webhook(other).string("session_id"))
        #expect(try await eventually { first.liveBots().count == 2 })
        let lostPid = try #require(first.liveBots(room: "lost-room").first)

        first.signal(SIGKILL)
        #expect(await first.waitForExit() != nil)
        // The bots outlive the crash; one of them dies while no service watches.
        #expect(first.liveBots().count == 2)
        kill(-lostPid, SIGKILL)
        #expect(await eventually { first.liveBots(room: "lost-room").isEmpty })

        let second = try await ServiceProcess.start(in: first.directory)
        #expect(try await second.session(kept)["state"] as? String == "running")
        #expect(try await second.session(lost)["state"] as? String == "failed")
        #expect(try await second.session(lost)["end_reason"] as? String == "lost")
        // The adopted bot is watched and can be stopped by the new instance.
        #expect(try await second.webhook(fixture: "daily/meeting-ended.json").string("action") == "stopping")
        #expect(try await eventually { try await second.session(kept)["state"] as? String == "ended" })
        #expect(second.liveBots(room: "demo-room").isEmpty)
        // The human of the room whose bot was lost is still there: after the backoff, the room gets a new bot.
        #expect(try await eventually { second.liveBots(room: "lost-room").count == 1 })
        // Nothing was lost: the event ids seen before the crash are still known.
        #expect(try await second.webhook(fixture: "daily/participant-joined.json").string("action") == "duplicate")
        await second.shutdown()
    }

    @Test func sigtermStopsEveryBotAndExitsZero() async throws {
        let service = try await ServiceProcess.start()
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { service.liveBots().count == 1 })
        service.signal(SIGTERM)
        #expect(await service.waitForExit() == 0)
        #expect(service.liveBots().isEmpty)
        let next = try await ServiceProcess.start(in: service.directory)
        let session = try await next.session(id)
        #expect(session["state"] as? String == "ended")
        #expect(session["end_reason"] as? String == "shutdown")
        await next.shutdown()
    }

    @Test func twoServicesOnOneDatabaseStartOneBotPerRoom() async throws {
        let first = try await ServiceProcess.start(["AUTOSPAWN_MAX_CONCURRENCY": "3"])
        let second = try await ServiceProcess.start(in: first.directory, ["AUTOSPAWN_MAX_CONCURRENCY": "3"])
        let actions = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<80 {
                let room = "room-\(index % 5)"
                let body = Fixtures.variant("daily/participant-joined.json", id: "j-\(index)", room: room, participant: "p-\(index)")
                let service = index % 2 == 0 ? first : second
                group.addTask { try await service.webhook(body).string("action") ?? "none" }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(actions.filter { $0 == "spawned" }.count == 3)
        #expect(try await eventually { first.liveBots().count == 3 })
        for room in 0..<5 { #expect(first.liveBots(room: "room-\(room)").count <= 1) }
        #expect(try await first.request(.GET, "/sessions").json["active"] as? Int == 3)
        await second.shutdown()
        await first.shutdown()
        #expect(first.liveBots().isEmpty)
    }
}
