import Foundation
import TestSupport
import Testing

/// Bots that misbehave (issue 4, point 4): they fail at once and over again, ignore SIGTERM (see
/// `WebhookLifecycleTests`), or print megabytes; and humans who could not get a bot at first.
@Suite(.serialized)
struct BotFaultTests {
    @Test func aRoomWhoseBotKeepsFailingBacksOffInsteadOfStorming() async throws {
        let service = try await ServiceProcess.start([
            "AUTOSPAWN_BOT_COMMAND": ServiceProcess.botCommand("exit 1"),
            "AUTOSPAWN_RESTART_BACKOFF_S": "0.5", "AUTOSPAWN_RESTART_BACKOFF_MAX_S": "2",
        ])
        #expect(try await service.webhook(fixture: "daily/participant-joined.json").string("action") == "spawned")
        // More humans keep joining while the bot keeps failing: none of them may start a bot of its own.
        let started = Date()
        var actions: [String: Int] = [:]
        for index in 0..<40 {
            let body = Fixtures.variant("daily/participant-joined.json", id: "more-\(index)", participant: "p-\(index)")
            let answer = try await service.webhook(body)
            #expect(answer.status == 200)
            actions[answer.string("action") ?? "?", default: 0] += 1
            try await Task.sleep(for: .milliseconds(150))
        }
        // A join that arrives just as a backoff ends may start the room's next bot itself: that is the same restart.
        #expect(Set(actions.keys).isSubset(of: ["rejected", "recorded", "spawned"]), "\(actions)")
        let sessions = try await service.sessions("state=all&room=demo-room").sorted {
            (unixSeconds($0["created_at"]) ?? 0) < (unixSeconds($1["created_at"]) ?? 0)
        }
        // Bots at 0, ~0.8, ~2.1, ~4.4 s, then one every ~2.3 s (0.3 s of life, then 0.5, 1, 2, 2… s of backoff);
        // restarting at once would start three a second.
        let elapsed = Date().timeIntervalSince(started)
        #expect(sessions.count >= 3 && Double(sessions.count) <= 3 + elapsed / 2, "\(sessions.count) sessions in \(elapsed) s")
        #expect(sessions.filter { $0["state"] as? String == "failed" }.allSatisfy { $0["end_reason"] as? String == "bot_failed" })
        // Each wait is at least the backoff: 0.5 s, then doubled, at most 2 s.
        for (index, pair) in zip(sessions, sessions.dropFirst()).enumerated() {
            let ended = try #require(unixSeconds(pair.0["ended_at"]))
            let next = try #require(unixSeconds(pair.1["created_at"]))
            let backoff = min(2, 0.5 * pow(2, Double(index)))
            #expect(next - ended >= backoff - 0.01, "gap \(index): \(next - ended) < \(backoff)")
        }
        // Everybody leaves: the room stops waiting, and no bot is started for nobody.
        for index in 0..<40 {
            let body = Fixtures.variant("daily/participant-left.json", id: "gone-\(index)", participant: "p-\(index)")
            _ = try await service.webhook(body)
        }
        _ = try await service.webhook(Fixtures.variant("daily/participant-left.json", id: "gone-first"))
        try await Task.sleep(for: .seconds(3))
        let settled = try await service.sessions("state=all&room=demo-room").count
        try await Task.sleep(for: .seconds(2.5))
        #expect(try await service.sessions("state=all&room=demo-room").count == settled)
        #expect(service.liveBots().isEmpty)
        await service.shutdown()
    }

    @Test func aHumanRejectedAtCapacityGetsABotOnceCapacityFrees() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_MAX_CONCURRENCY": "1"])
        #expect(try await service.webhook(fixture: "daily/participant-joined.json").string("action") == "spawned")
        let other = try await service.webhook(Fixtures.variant("daily/participant-joined.json", id: "other", room: "other-room"))
        #expect(other.string("action") == "rejected")
        #expect(other.string("reason") == "capacity")
        #expect(try await eventually { service.liveBots().count == 1 })
        // The first call ends: its bot stops and the waiting room gets the free place.
        #expect(try await service.webhook(fixture: "daily/meeting-ended.json").string("action") == "stopping")
        #expect(try await eventually { service.liveBotSessions().map(\.room) == ["other-room"] })
        #expect(try await service.request(.GET, "/sessions").json["active"] as? Int == 1)
        await service.shutdown()
    }

    @Test func aBotPrintingMegabytesNeitherBlocksNorBloatsTheService() async throws {
        // Rotation is its own test (BotFilesTests); here the whole flood stays in one file.
        let service = try await ServiceProcess.start([
            "AUTOSPAWN_BOT_COMMAND": ServiceProcess.botCommand("flood 64"), "AUTOSPAWN_BOT_LOG_MAX_BYTES": "\(256 << 20)",
        ])
        let before = service.resources()
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        // The bot writes to its file, not to a pipe the service must drain: it gets through all 64 MiB.
        let logPath = service.directory.appendingPathComponent("bot-logs/\(id).log").path
        #expect(
            try await eventually(timeout: 60) {
                try await service.request(.GET, "/sessions/\(id)/log?tail=1").text == "flood done\n"
            }
        )
        let size = (try FileManager.default.attributesOfItem(atPath: logPath)[.size] as? Int) ?? 0
        #expect(size > 64 << 20)
        #expect(try await service.request(.GET, "/health").status == 200)
        // The tail of a 64 MiB log is read from its end only.
        let tail = try await service.request(.GET, "/sessions/\(id)/log?tail=3")
        #expect(tail.text.split(separator: "\n").count == 3)
        #expect(tail.text.hasSuffix("flood done\n"))
        let after = service.resources()
        #expect(after.residentKiB - before.residentKiB < 64 << 10, "resident memory grew from \(before.residentKiB) to \(after.residentKiB) KiB")
        #expect(try await service.session(id)["state"] as? String == "running")
        await service.shutdown()
        #expect(service.liveBots().isEmpty)
    }
}
