import AsyncHTTPClient
import Foundation
import TestSupport
import Testing

/// Bursts of webhooks against the real service (issue 4, point 1).
@Suite(.serialized)
struct BurstTests {
    @Test func aThousandConcurrentJoinsForOneRoomGiveOneSessionAndOneBot() async throws {
        let service = try await ServiceProcess.start()
        let actions = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<1000 {
                let body = Fixtures.variant("daily/participant-joined.json", id: "burst-\(index)", participant: "p-\(index)")
                group.addTask { try await service.webhook(body).string("action") ?? "error" }
            }
            return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
        }
        #expect(actions == ["spawned": 1, "recorded": 999])
        #expect(try await eventually { service.liveBots().count == 1 })
        try await Task.sleep(for: .milliseconds(500))
        #expect(service.liveBots().count == 1)
        let sessions = try await service.sessions()
        #expect(sessions.count == 1)
        #expect(sessions.first?["participants"] as? Int == 1000)
        await service.shutdown()
        #expect(service.liveBots().isEmpty)
    }

    @Test func aHundredRoomsUnderACapOfTenNeverHaveElevenActive() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_MAX_CONCURRENCY": "10"])
        // Sample the active count while the burst runs: it must never pass the cap.
        // Its own connection pool, so its requests do not queue behind the burst's.
        let samplerClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let sampler = Task {
            var (highest, samples) = (0, 0)
            while !Task.isCancelled {
                if let active = try? await service.request(.GET, "/sessions", client: samplerClient).json["active"] as? Int {
                    highest = max(highest, active)
                    samples += 1
                }
                try? await Task.sleep(for: .milliseconds(5))
            }
            return (highest, samples)
        }
        let spawned = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<2000 {
                let room = "room-\(index % 100)"
                let body = Fixtures.variant("daily/participant-joined.json", id: "j-\(index)", room: room, participant: "p-\(index)")
                group.addTask { try await service.webhook(body).string("action") == "spawned" }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        sampler.cancel()
        let (highest, samples) = await sampler.value
        try await samplerClient.shutdown()
        #expect(samples >= 3)  // the count was really watched during the burst (a loaded machine answers fewer reads)
        #expect(highest <= 10)
        #expect(spawned == 10)
        #expect(try await service.request(.GET, "/sessions").json["active"] as? Int == 10)
        #expect(try await eventually { service.liveBots().count == 10 })
        let rooms = try await service.sessions().compactMap { $0["room_name"] as? String }
        #expect(Set(rooms).count == 10)
        await service.shutdown()
    }
}
