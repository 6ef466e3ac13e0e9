import DailyDouble
import Foundation
import Policy
import TestSupport
import Testing

/// Daily failing in every way the double can (issue 4, point 3): 500s, 429s, answers slower than the start
/// timeout, and nobody listening at all. Webhooks keep being answered at once, sessions that cannot start
/// fail with a reason, nothing leaks, and the rooms get their bots once Daily is back.
@Suite(.serialized)
struct DailyFaultTests {
    @Test func theServiceRidesOutDailyFaultsAndRecoversByItself() async throws {
        var double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        let service = try await ServiceProcess.start([
            "DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_START_TIMEOUT_S": "3",
            "AUTOSPAWN_REAPER_INTERVAL_S": "0.3", "AUTOSPAWN_RESTART_BACKOFF_S": "0.5",
            "AUTOSPAWN_RESTART_BACKOFF_MAX_S": "2", "AUTOSPAWN_MAX_CONCURRENCY": "20",
        ])
        // Warm up (first connections, first bot), then take the measure of the process.
        #expect(try await service.webhook(Fixtures.variant("daily/participant-joined.json", id: "warm", room: "warm")).status == 200)
        #expect(try await eventually { service.liveBots(room: "warm").count == 1 })
        _ = try await service.webhook(Fixtures.variant("daily/meeting-ended.json", id: "warm-end", room: "warm"))
        #expect(try await eventually { service.liveBots().isEmpty })
        let before = service.resources()

        var rooms: [String] = []
        let faults: [(name: String, fault: String?)] = [
            ("500", #"{"status":500,"count":100000}"#),
            ("429", #"{"status":429,"count":100000}"#),
            // Slower than the start timeout by a margin a loaded machine (CI, tests in parallel) does not eat up.
            ("slow", #"{"delay_s":8,"count":100000}"#),
            ("refused", nil),
        ]
        for (name, fault) in faults {
            if let fault {
                try await double.control("/_double/faults", body: Array(fault.utf8))
            } else {
                await double.stop()  // connections are refused from now on
            }
            var ids: [String] = []
            for index in 0..<3 {
                let room = "fault-\(name)-\(index)"
                rooms.append(room)
                let started = Date()
                let answer = try await service.webhook(Fixtures.variant("daily/participant-joined.json", id: room, room: room))
                // The answer never waits on Daily: launching happens after it. Bounded by the slow fault's delay, not by a
                // guess at how fast a loaded machine answers.
                #expect(Date().timeIntervalSince(started) < 6, "\(name): the webhook waited on Daily")
                #expect(answer.status == 200)
                #expect(answer.string("action") == "spawned")
                ids.append(try #require(answer.string("session_id")))
            }
            for id in ids {
                #expect(try await eventually { try await service.session(id)["state"] as? String == "failed" }, "\(name)")
                let reason = try await service.session(id)["end_reason"] as? String
                #expect(["token_failed", "start_timeout"].contains(reason), "\(name): \(reason ?? "none")")
            }
            // (Rooms of earlier faults may have their bots by now: Daily is well again for them.)
            let phaseRooms = Set(rooms.suffix(3))
            #expect(!service.liveBotSessions().contains { phaseRooms.contains($0.room) }, "\(name): a bot started without its token")
            #expect(try await service.request(.GET, "/health").status == 200)
            if fault != nil {
                try await double.control("/_double/faults", method: .DELETE, body: [])
            } else {
                double = try await DailyDouble.start(apiKey: "k", domain: "acme", port: double.port)
            }
        }
        // Daily is back: every room whose human is still there gets its bot by itself (after its backoff).
        #expect(try await eventually(timeout: 30) { Set(service.liveBotSessions().map(\.room)) == Set(rooms) })
        for room in rooms {
            _ = try await service.webhook(Fixtures.variant("daily/meeting-ended.json", id: "end-\(room)", room: room))
        }
        #expect(try await eventually { service.liveBots().isEmpty })
        #expect(try await eventually { try await service.request(.GET, "/sessions").json["active"] as? Int == 0 })
        // Nothing leaked: descriptors back to where they were (a few pooled connections aside), memory bounded.
        let after = service.resources()
        #expect(after.fileDescriptors <= before.fileDescriptors + 8, "descriptors: \(before.fileDescriptors) -> \(after.fileDescriptors)")
        #expect(after.residentKiB - before.residentKiB < 32 << 10, "memory: \(before.residentKiB) -> \(after.residentKiB) KiB")
        await service.shutdown()
        await double.stop()
    }
}
