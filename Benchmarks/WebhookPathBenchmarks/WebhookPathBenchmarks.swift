import Benchmark
import Foundation
import Policy
import SessionStore
import WebhookService

// The parts of the webhook path, one benchmark each: what one event costs in time and allocations before and
// inside the store. The end-to-end figures (HTTP, the process, the bots) come from bench/load.py.

/// A webhook body replayed from Tests/Fixtures, as Daily sends it.
private func fixture(_ name: String) -> [UInt8] {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let url = root.appendingPathComponent("Tests/Fixtures").appendingPathComponent(name)
    guard let data = try? Data(contentsOf: url) else { fatalError("missing fixture \(url.path)") }
    return [UInt8](data)
}

private let secret = [UInt8]("benchmark-webhook-secret".utf8)

/// Policy settings as `serve` has them by default, with room for every session a benchmark claims.
private func policySettings(maxConcurrency: Int) -> PolicySettings {
    guard let filter = try? RoomFilter(pattern: ".*") else { fatalError("the catch-all room filter must compile") }
    return PolicySettings(maxConcurrency: maxConcurrency, botName: "autospawn-bot", roomFilter: filter, emptyGraceSeconds: 30)
}

/// A store on a new file, and the count of events given to it so far (each benchmark iteration sends new ones).
private final class StoreUnderTest {
    let store: SQLiteSessionStore
    var events = 0

    init(folder: URL, maxConcurrency: Int) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        store = try SQLiteSessionStore(
            path: folder.appendingPathComponent("autospawn.sqlite").path,
            settings: policySettings(maxConcurrency: maxConcurrency),
            launcher: .process,
            instanceID: "benchmark"
        )
    }
}

private func temporaryFolder() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("autospawn-bench-\(UUID().uuidString)")
}

private func join(room: String, participant: Int, id: String) -> RoomEvent {
    RoomEvent(
        id: id,
        kind: .participantJoined,
        roomName: room,
        roomURL: "https://bench.daily.co/\(room)",
        participant: .init(sessionID: "p-\(participant)", userID: "user-\(participant)", userName: "Human \(participant)"),
        sentAt: 1_700_000_000
    )
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        timeUnits: .nanoseconds,
        maxDuration: .seconds(3),
        maxIterations: 1_000_000
    )

    let joined = fixture("daily/participant-joined.json")
    let timestamp = "1708972280"
    let signature = SignatureVerifier.sign(body: joined, secret: secret, timestamp: timestamp)
    let verifier = SignatureVerifier(secrets: [secret], toleranceSeconds: 300, requireSignature: true)

    Benchmark("SignatureVerifier.verify (valid, 1 secret)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(verifier.verify(body: joined, signature: signature, timestamp: timestamp, now: 1_708_972_281))
        }
    }

    let normaliser = EventNormaliser(domain: "bench")
    Benchmark("EventNormaliser.normalise (Daily shape)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? normaliser.normalise(joined))
        }
    }

    let simplified = fixture("simplified/participant-joined.json")
    Benchmark("EventNormaliser.normalise (simplified shape)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? normaliser.normalise(simplified))
        }
    }

    let settings = policySettings(maxConcurrency: 10)
    let event = join(room: "demo-room", participant: 1, id: "e-1")
    let room = RoomSnapshot(activeState: nil, humans: 1, activeSessions: 3)
    Benchmark("Policy.screen + decide (first human joins)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(screen(event, settings: settings))
            blackHole(decide(.participantJoined, room: room, settings: settings, now: 1_708_972_281))
        }
    }

    // One transaction per event: the id, the room, the participant, the decision and the claim of a new session.
    let claimFolder = temporaryFolder()
    Benchmark("SessionStore.record (join, claims a new room)") { (benchmark: Benchmark, state: StoreUnderTest) in
        let now = Date().timeIntervalSince1970
        for _ in benchmark.scaledIterations {
            state.events += 1
            let room = "room-\(state.events)"
            blackHole(try await state.store.record(join(room: room, participant: 1, id: "join-\(room)"), now: now))
        }
    } setup: {
        try StoreUnderTest(folder: claimFolder, maxConcurrency: 10_000_000)
    } teardown: {
        try? FileManager.default.removeItem(at: claimFolder)
    }

    // The common case under load: another human joins a room whose bot is already there.
    let busyFolder = temporaryFolder()
    Benchmark("SessionStore.record (join, room has its bot)") { (benchmark: Benchmark, state: StoreUnderTest) in
        let now = Date().timeIntervalSince1970
        for _ in benchmark.scaledIterations {
            state.events += 1
            let event = join(room: "busy-room", participant: state.events, id: "join-\(state.events)")
            blackHole(try await state.store.record(event, now: now))
        }
    } setup: {
        let state = try StoreUnderTest(folder: busyFolder, maxConcurrency: 10)
        _ = try await state.store.record(join(room: "busy-room", participant: 0, id: "first"), now: Date().timeIntervalSince1970)
        return state
    } teardown: {
        try? FileManager.default.removeItem(at: busyFolder)
    }
}
