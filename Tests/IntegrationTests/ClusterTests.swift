import DailyDouble
import Foundation
import PhoneDouble
import Policy
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Replicas of the real service on one PostgreSQL database, each saying it is on a host of its own
/// (`AUTOSPAWN_HOST_ID`), as on separate machines: the cap holds for the cluster, no replica runs more than its own
/// limit, a dead replica's rooms are served elsewhere, and a drain hangs up no call.
@Suite(.serialized, .enabled(if: TestPostgres.isEnabled))
struct ClusterTests {
    /// Starts `count` replicas on a new database.
    func replicas(_ count: Int, _ settings: [String: String] = [:]) async throws -> [ServiceProcess] {
        let database = try await TestPostgres.newDatabase()
        var started: [ServiceProcess] = []
        for index in 0..<count {
            let common = ["AUTOSPAWN_DB": database, "AUTOSPAWN_HOST_ID": "host-\(index)"]
            started.append(try await ServiceProcess.start(common.merging(settings) { $1 }))
        }
        return started
    }

    /// Ends a draining replica's test: the second signal stops its bots now.
    func stopDraining(_ replica: ServiceProcess) async throws {
        replica.signal(SIGTERM)
        _ = try await eventually { try await replica.request(.GET, "/ready").status == 503 }
        replica.signal(SIGINT)
        #expect(await replica.waitForExit() == 0)
    }

    func join(_ room: String, _ index: Int) -> [UInt8] {
        Fixtures.variant("daily/participant-joined.json", id: "join-\(room)-\(index)", room: room, participant: "p-\(room)-\(index)")
    }

    func leave(_ room: String, _ index: Int) -> [UInt8] {
        Fixtures.variant("daily/participant-left.json", id: "leave-\(room)-\(index)", room: room, participant: "p-\(room)-\(index)")
    }

    @Test func aCallsStreamThatReachesAnotherReplicaIsPassedOnToTheReplicaOfItsBot() async throws {
        let token = "cluster-twilio-token"
        let cluster = try await replicas(
            3,
            [
                "AUTOSPAWN_PUBLIC_URL": "https://bots.example.com", "AUTOSPAWN_TWILIO_AUTH_TOKEN": token,
                "AUTOSPAWN_BOT_COMMAND": "\(ServiceProcess.built("phone-double")) echo-bot",
            ]
        )
        let callID = "CA" + UUID().uuidString.lowercased().filter(\.isHexDigit)
        func call(through replica: ServiceProcess) -> CallDouble {
            CallDouble(
                carrier: .twilio,
                callID: callID,
                credentials: .twilio(authToken: token),
                publicURL: "https://bots.example.com",
                serviceURL: replica.baseURL
            )
        }
        // The webhook reaches one replica, which runs the bot; the balancer sends the stream to another.
        guard case .stream(let url, _) = try await call(through: cluster[0]).dial() else {
            Issue.record("no stream")
            return
        }
        let carrier = call(through: cluster[1])
        let stream = try await carrier.connect(url)
        let media = (1...10).map { carrier.frames.media($0, payload: CarrierFrames.silence) }
        for frame in media { stream.send(frame) }
        let sent = carrier.frames.opening + media
        #expect(await stream.waitForReceived(sent.count) == sent)
        #expect(cluster[0].liveBots().count == 1)
        #expect(cluster[1].liveBots().isEmpty && cluster[2].liveBots().isEmpty)
        stream.hangUp(stop: carrier.frames.stop)
        let id = try #require(try await cluster[2].sessions().first?["id"] as? String)
        #expect(try await eventually { try await cluster[2].session(id)["end_reason"] as? String == "caller_hung_up" })
        for replica in cluster { await replica.shutdown() }
    }

    @Test func aBrowsersOfferThatReachesAnotherReplicaIsAnsweredByTheBotOnItsReplica() async throws {
        let cluster = try await replicas(3, ["AUTOSPAWN_BOT_COMMAND": try await WebRTCPeers.botCommand()])
        // The start reaches one replica, which runs the bot; the balancer sends the offer and candidates to another.
        let seen = try await WebRTCPeers.connect(
            to: cluster[0].baseURL,
            ["--via-start", "--trickle", "--signal-url", cluster[1].baseURL, "--seconds", "1"]
        )
        #expect(seen.statuses == [200, 200, 200], "\(seen)")
        #expect(seen.connected)
        #expect(seen.toneFrames > 10)
        let id = try #require(try await cluster[2].sessions().first?["id"] as? String)
        #expect(try await cluster[2].session(id)["transport"] as? String == "webrtc")
        #expect(cluster[1].liveBots().isEmpty && cluster[2].liveBots().isEmpty)
        // The browser hung up: the bot on the first replica exited, and the session is over.
        #expect(try await eventually { try await cluster[2].session(id)["state"] as? String == "ended" })
        #expect(try await eventually { cluster[0].liveBots().isEmpty })
        for replica in cluster { await replica.shutdown() }
    }

    @Test func aThousandJoinsAcrossThreeReplicasKeepOneBotPerRoomTheCapAndEachLocalLimit() async throws {
        let cluster = try await replicas(3, ["AUTOSPAWN_MAX_CONCURRENCY": "24", "AUTOSPAWN_MAX_LOCAL_BOTS": "10"])
        // Sampled while the burst runs: the cluster's active sessions and each replica's bot processes.
        let highest = Mutex((active: 0, local: 0, samples: 0))
        let sampler = Task {
            while !Task.isCancelled {
                let local = cluster.map { $0.liveBots().count }.max() ?? 0
                let active = (try? await cluster[0].request(.GET, "/sessions").json["active"] as? Int) ?? 0
                highest.withLock { $0 = (max($0.active, active), max($0.local, local), $0.samples + 1) }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        // 60 rooms, more than the cap: each replica receives a third of every room's joins.
        let actions = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<1000 {
                let room = "room-\(index % 60)"
                let replica = cluster[index % 3]
                group.addTask { try await replica.webhook(join(room, index)).string("action") ?? "error" }
            }
            return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
        }
        #expect(actions["spawned"] == 24)
        #expect(actions["error"] == nil)
        // Sessions placed on another replica start there; every session ends up with a bot.
        #expect(try await eventually(timeout: 30) { cluster.map { $0.liveBots().count }.reduce(0, +) == 24 })
        // On a loaded machine the burst may be over before the sampler's third look: it looks until then.
        _ = await eventually { highest.withLock { $0.samples } >= 3 }
        sampler.cancel()
        _ = await sampler.value
        let seen = highest.withLock { $0 }
        #expect(seen.samples >= 3)
        #expect(seen.active <= 24)
        #expect(seen.local <= 10)
        let sessions = try await cluster[1].sessions("state=active")
        #expect(sessions.count == 24)
        #expect(Set(sessions.compactMap { $0["room_name"] as? String }).count == 24)
        for replica in cluster { #expect(replica.liveBots().count <= 10) }
        // Every room has one bot at most, whichever replica runs it.
        let rooms = cluster.flatMap { $0.liveBotSessions().map(\.room) }
        #expect(Set(rooms).count == rooms.count)
        for replica in cluster { await replica.shutdown() }
        for replica in cluster { #expect(replica.liveBots().isEmpty) }
    }

    @Test func aFullReplicasRoomIsHandedToAReplicaWithRoom() async throws {
        let cluster = try await replicas(2, ["AUTOSPAWN_MAX_CONCURRENCY": "10", "AUTOSPAWN_MAX_LOCAL_BOTS": "1"])
        let (full, roomy) = (cluster[0], cluster[1])
        // The dashboard's stream on one replica hears of sessions the other one runs (NOTIFY).
        let stream = try await EventStreamClient(url: full.baseURL + "/sessions/stream")
        defer { stream.close() }
        #expect(try await full.webhook(join("first", 0)).string("action") == "spawned")
        #expect(try await eventually { full.liveBots(room: "first").count == 1 })
        // The receiver has no room: it answers spawned, and the other replica runs the bot.
        let answer = try await full.webhook(join("second", 0))
        #expect(answer.string("action") == "spawned")
        #expect(try await eventually(timeout: 10) { roomy.liveBots(room: "second").count == 1 })
        #expect(full.liveBots().count == 1)
        let id = try #require(answer.string("session_id"))
        #expect(try await eventually { try await full.session(id)["state"] as? String == "running" })
        #expect(
            await stream.wait { events in
                events.contains { $0.event == "session" && $0.data.contains(id) && $0.data.contains("running") }
            }
        )
        // Its bot's log is on the replica that runs it; asked of the other, it comes from there.
        #expect(try await eventually { try await full.request(.GET, "/sessions/\(id)/log").text.contains("ready") })
        for replica in cluster { await replica.shutdown() }
    }

    @Test func aKilledReplicasRoomsAreServedElsewhereAndItsBotsEjected() async throws {
        let double = try await DailyDouble.start(apiKey: "k", domain: "acme")
        defer { Task { await double.stop() } }
        let cluster = try await replicas(
            2,
            [
                "DAILY_API_KEY": "k", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_DAILY_DOMAIN": "acme", "AUTOSPAWN_LEASE_S": "2",
                "AUTOSPAWN_MAX_LOCAL_BOTS": "3",
            ]
        )
        let (doomed, survivor) = (cluster[0], cluster[1])
        for room in ["a", "b", "c"] {
            #expect(try await doomed.webhook(join(room, 0)).string("action") == "spawned")
        }
        #expect(try await eventually { doomed.liveBots().count == 3 })
        let orphans = doomed.liveBots()
        defer { for pid in orphans { kill(pid, SIGKILL) } }
        let killedAt = Date()
        doomed.signal(SIGKILL)
        #expect(await doomed.waitForExit() != nil)
        // Within the lease (2 s) and a recovery pass (half a lease) the survivor ends them lost, ejects each bot
        // through Daily and gives each room, whose human is still there, a bot of its own.
        #expect(try await eventually(timeout: 20) { survivor.liveBots().count == 3 })
        let servedAfter = Date().timeIntervalSince(killedAt)
        let ejected = try await double.logged("requests").compactMap { $0["path"]?.string }.filter { $0.hasSuffix("/eject") }
        #expect(Set(ejected) == ["/rooms/a/eject", "/rooms/b/eject", "/rooms/c/eject"])
        let lost = try await survivor.sessions("state=ended").filter { $0["end_reason"] as? String == "lost" }
        #expect(lost.count == 3)
        // The lease and a second, with room for a loaded machine's slower recovery pass.
        #expect(servedAfter < 2 + 1 + 3, "served after \(servedAfter) s")
        await survivor.shutdown()
    }

    @Test func aDrainingReplicaKeepsItsCallsSendsNewRoomsElsewhereAndExitsWhenEmpty() async throws {
        let cluster = try await replicas(2, ["AUTOSPAWN_SHUTDOWN": "drain", "AUTOSPAWN_DRAIN_TIMEOUT_S": "60"])
        let (draining, other) = (cluster[0], cluster[1])
        for room in ["a", "b"] { #expect(try await draining.webhook(join(room, 0)).string("action") == "spawned") }
        #expect(try await eventually { draining.liveBots().count == 2 })
        let bots = Set(draining.liveBots())
        draining.signal(SIGTERM)
        #expect(try await eventually { try await draining.request(.GET, "/ready").status == 503 })
        // The calls go on: the same bots, untouched, while their rooms have humans.
        try await Task.sleep(for: .seconds(2))
        #expect(Set(draining.liveBots()) == bots)
        #expect(draining.process.isRunning)
        // A new room that reaches the draining replica gets its bot on the other one.
        #expect(try await draining.webhook(join("c", 0)).string("action") == "rejected")
        #expect(try await eventually(timeout: 10) { other.liveBots(room: "c").count == 1 })
        #expect(draining.liveBots(room: "c").isEmpty)
        // The humans leave (told to the other replica): the bots stop after the empty-room grace, the drain ends.
        for room in ["a", "b"] { _ = try await other.webhook(leave(room, 0)) }
        #expect(await draining.waitForExit(timeout: 30) == 0)
        #expect(Set(draining.liveBots()).isDisjoint(with: bots))
        for pid in bots { #expect(!LiveProcesses.isAlive(pid)) }
        let ended = try await other.sessions("state=ended").compactMap { $0["end_reason"] as? String }
        #expect(ended.sorted() == ["room_empty", "room_empty"])
        try await stopDraining(other)
    }

    @Test func aSecondSignalCutsADrainShortAndTheRoomsGoElsewhere() async throws {
        let cluster = try await replicas(2, ["AUTOSPAWN_SHUTDOWN": "drain", "AUTOSPAWN_DRAIN_TIMEOUT_S": "600"])
        let (draining, other) = (cluster[0], cluster[1])
        #expect(try await draining.webhook(join("a", 0)).string("action") == "spawned")
        #expect(try await eventually { draining.liveBots().count == 1 })
        draining.signal(SIGTERM)
        #expect(try await eventually { try await draining.request(.GET, "/ready").status == 503 })
        draining.signal(SIGINT)
        #expect(await draining.waitForExit(timeout: 20) == 0)
        #expect(draining.liveBots().isEmpty)
        // The human is still in the room: the other replica gives it a bot.
        #expect(try await eventually(timeout: 10) { other.liveBots(room: "a").count == 1 })
        try await stopDraining(other)
        #expect(other.liveBots().isEmpty)
    }
}
