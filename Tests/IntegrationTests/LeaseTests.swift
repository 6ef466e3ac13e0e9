import DailyDouble
import Foundation
import Policy
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Two instances on one database that say they are on different hosts (`AUTOSPAWN_HOST_ID`): each judges the
/// other by its lease, never by a pid it could not see on a real second machine.
@Suite(.serialized)
struct LeaseTests {
    @Test func anotherHostsInstanceThatDiesLosesItsSessionsAndItsHostStopsTheBotWhenItComesBack() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        // The reaper's other rules run every 30 s, longer than the test waits: recovery keeps its own pace (half a
        // lease), so the dead instance is found anyway.
        let common = [
            "DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_LEASE_S": "1", "AUTOSPAWN_REAPER_INTERVAL_S": "30",
            "AUTOSPAWN_RESTART_BACKOFF_S": "0.5",
        ]
        let a = try await ServiceProcess.start(common.merging(["AUTOSPAWN_HOST_ID": "host-a"]) { $1 })
        let b = try await ServiceProcess.start(in: a.directory, common.merging(["AUTOSPAWN_HOST_ID": "host-b"]) { $1 })
        let first = try #require(try await a.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { try await a.session(first)["state"] as? String == "running" })
        let firstPid = try #require(try await a.session(first)["pid"] as? Int).asPID

        a.signal(SIGKILL)
        #expect(await a.waitForExit() != nil)
        // Host B takes A for dead once its lease has expired: the session is lost, its bot ejected through Daily,
        // and the human still in the room gets a bot on B. A's process is not B's to touch.
        #expect(try await eventually(timeout: 15) { try await b.session(first)["end_reason"] as? String == "lost" })
        let requests = try await double.logged("requests").map { "\($0["method"]?.string ?? "") \($0["path"]?.string ?? "")" }
        #expect(requests.contains("POST /rooms/demo-room/eject"))
        #expect(
            try await eventually(timeout: 15) {
                try await b.sessions("state=active").contains { ($0["id"] as? String) != first && ($0["room_name"] as? String) == "demo-room" }
            }
        )
        #expect(LiveProcesses.isAlive(firstPid))

        // Host A comes back: the bot of its lost session is stopped; B's bot stays.
        let back = try await ServiceProcess.start(in: a.directory, common.merging(["AUTOSPAWN_HOST_ID": "host-a"]) { $1 })
        #expect(try await eventually(timeout: 10) { !LiveProcesses.isAlive(firstPid) })
        let successor = try #require(try await b.sessions("state=active").first)
        #expect(successor["state"] as? String == "running")
        await back.shutdown()
        await b.shutdown()
        #expect(b.liveBots().isEmpty)
    }

    @Test func aLeaseIsRenewedWhileTheInstanceLives() async throws {
        let common = ["AUTOSPAWN_LEASE_S": "0.5", "AUTOSPAWN_REAPER_INTERVAL_S": "0.3"]
        let a = try await ServiceProcess.start(common.merging(["AUTOSPAWN_HOST_ID": "host-a"]) { $1 })
        let b = try await ServiceProcess.start(in: a.directory, common.merging(["AUTOSPAWN_HOST_ID": "host-b"]) { $1 })
        let id = try #require(try await a.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        // Many leases long: A keeps its lease, so B never takes its session.
        try await Task.sleep(for: .seconds(3))
        #expect(try await b.session(id)["state"] as? String == "running")
        #expect(try await b.session(id)["end_reason"] == nil)
        await b.shutdown()
        await a.shutdown()
    }
}

extension Int {
    var asPID: Int32 { Int32(truncatingIfNeeded: self) }
}
