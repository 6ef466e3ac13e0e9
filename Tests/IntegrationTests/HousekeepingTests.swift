import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What keeps a long-running service within its disk, its processes and its connections.
@Suite(.serialized)
struct HousekeepingTests {
    /// Bot logs grew without bound on the database's volume.
    @Test func aBotsLogIsRotatedPastItsLimit() async throws {
        let service = try await ServiceProcess.start([
            "AUTOSPAWN_BOT_COMMAND": ServiceProcess.botCommand("flood 2"), "AUTOSPAWN_BOT_LOG_MAX_BYTES": "65536",
        ])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        let log = service.botLogDirectory + "/\(id).log"
        #expect(try await eventually { FileManager.default.fileExists(atPath: log + ".1") })
        #expect(try await eventually { (try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? .max <= 65536 })
        // The bot keeps writing, at the start of the emptied file; the log API reads across both files.
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await service.request(.GET, "/sessions/\(id)/log?tail=1").text == "flood done\n")
        #expect(try await service.session(id)["state"] as? String == "running")
        await service.shutdown()
    }

    @Test func endedSessionsGoWithTheirFilesAfterTheRetention() async throws {
        // 0.00003 days is 2.6 s.
        let service = try await ServiceProcess.start(["AUTOSPAWN_RETENTION_DAYS": "0.00003", "AUTOSPAWN_REAPER_INTERVAL_S": "0.3"])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { service.liveBots().count == 1 })
        #expect(try await service.webhook(fixture: "daily/meeting-ended.json").string("action") == "stopping")
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        let files = ["\(id).log"].map { service.botLogDirectory + "/" + $0 }
        #expect(files.allSatisfy { FileManager.default.fileExists(atPath: $0) })
        #expect(try await eventually(timeout: 15) { try await service.request(.GET, "/sessions/\(id)").status == 404 })
        #expect(files.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
        // The event id outlives the session: a captured join replayed within the signature tolerance is a duplicate.
        #expect(try await service.webhook(fixture: "daily/participant-joined.json").string("action") == "duplicate")
        await service.shutdown()
    }

    /// Run as PID 1, the service left zombies of its bots' own children; a bot's child that escaped its group
    /// outlived its session.
    @Test func theServiceReapsWhatItsBotsLeaveAndStopsStraysOfEndedSessions() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_BOT_COMMAND": ServiceProcess.botCommand("stray")])
        let id = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { service.liveBots().count == 1 })
        #expect(try await service.webhook(fixture: "daily/meeting-ended.json").string("action") == "stopping")
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        // The stray (`setsid sleep 300`, outside the bot's group) came back to the service, which stopped it.
        #expect(try await eventually(timeout: 10) { Self.processes(withSessionID: id).isEmpty }, "left: \(Self.processes(withSessionID: id))")
        #expect(try await eventually(timeout: 10) { Self.zombieChildren(of: service.process.processIdentifier) == 0 })
        await service.shutdown()
    }

    /// `/bot/status/stream` needs no token and had no limit.
    @Test func openStreamsAreCapped() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_MAX_PUBLIC_STREAMS": "2"])
        // Two streams of one room share one reader; both get the room's status.
        let first = try await EventStreamClient(url: service.baseURL + "/bot/status/stream?room=demo-room")
        let second = try await EventStreamClient(url: service.baseURL + "/bot/status/stream?room=demo-room")
        #expect(await first.wait { $0.contains { $0.event == "status" } })
        #expect(await second.wait { $0.contains { $0.event == "status" } })
        let third = try await service.request(.GET, "/bot/status/stream?room=other-room")
        #expect(third.status == 503)
        #expect(third.string("error") == "too_many_streams")
        // A stream whose client left is noticed at its next write (a keep-alive comes every 8 s at the latest).
        first.close()
        #expect(try await eventually(timeout: 20) { try await service.request(.GET, "/metrics").text.contains("autospawn_status_streams 1") })
        let again = try await EventStreamClient(url: service.baseURL + "/bot/status/stream?room=other-room")
        #expect(again.status == 200)
        #expect(await again.wait { $0.contains { $0.event == "status" } })
        again.close()
        second.close()
        await service.shutdown()
    }

    /// Anonymous status streams and the operator's shared one limit: three anonymous streams made the dashboard's
    /// stream `503 too_many_streams`.
    @Test func anonymousStreamsNeverTakeTheOperatorsPlaces() async throws {
        let token = "operator-token"
        let service = try await ServiceProcess.start([
            "AUTOSPAWN_ADMIN_TOKEN": token, "AUTOSPAWN_MAX_STREAMS": "1", "AUTOSPAWN_MAX_PUBLIC_STREAMS": "2",
        ])
        let anonymous = [
            try await EventStreamClient(url: service.baseURL + "/bot/status/stream?room=room-a"),
            try await EventStreamClient(url: service.baseURL + "/bot/status/stream?room=room-b"),
        ]
        #expect(anonymous.map(\.status) == [200, 200])
        let third = try await service.request(.GET, "/bot/status/stream?room=room-c")
        #expect(third.status == 503)
        #expect(third.string("error") == "too_many_streams")
        let dashboard = try await EventStreamClient(
            url: service.baseURL + "/sessions/stream",
            headers: [("Authorization", "Bearer \(token)")]
        )
        #expect(dashboard.status == 200)
        #expect(await dashboard.wait { $0.contains { $0.event == "summary" } })
        dashboard.close()
        for stream in anonymous { stream.close() }
        await service.shutdown()
    }

    /// `/ready` wrote only a temporary table and passed with a full disk.
    @Test func readyFailsWhenTheDatabasesDiskIsFull() async throws {
        let directory = try ServiceProcess.makeDirectory()
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=24m", "tmpfs", directory.path]
        try mount.run()
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else {
            // Mounting needs root, as CI has it; elsewhere the test says why it did not run.
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("cannot mount a tmpfs: run the suite as root") }
            return
        }
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = ["-l", directory.path]
            try? umount.run()
            umount.waitUntilExit()
        }
        let service = try await ServiceProcess.start(in: directory)
        #expect(try await service.request(.GET, "/ready").status == 200)
        let filler = directory.appendingPathComponent("filler").path
        let fd = open(filler, O_WRONLY | O_CREAT, 0o600)
        let block = [UInt8](repeating: 0, count: 1 << 16)
        while write(fd, block, block.count) > 0 {}
        close(fd)
        let full = try await service.request(.GET, "/ready")
        #expect(full.status == 503)
        #expect(full.string("status") == "disk_full")
        unlink(filler)
        #expect(try await service.request(.GET, "/ready").status == 200)
        await service.shutdown()
    }

    static func processes(withSessionID id: String) -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap(Int32.init).filter { pid in
            LiveProcesses.isAlive(pid) && LiveProcesses.environment(of: pid).contains("AUTOSPAWN_SESSION_ID=\(id)")
        }
    }

    static func zombieChildren(of parent: Int32) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap(Int32.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
                return false
            }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && fields[0] == "Z" && Int32(fields[1]) == parent
        }.count
    }
}
