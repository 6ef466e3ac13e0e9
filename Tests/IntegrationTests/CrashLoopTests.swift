import AsyncHTTPClient
import DailyDouble
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `kill -9` of the service in the middle of bursts, over and over (issue 4, point 2).
@Suite(.serialized)
struct CrashLoopTests {
    static let cap = 12
    static let roomsPerRound = 6
    static let settings = [
        "AUTOSPAWN_MAX_CONCURRENCY": "\(cap)", "AUTOSPAWN_EMPTY_GRACE_S": "60", "AUTOSPAWN_RESTART_BACKOFF_S": "0.5",
    ]

    struct Delivery: Sendable {
        var id: String
        var body: [UInt8]
        /// The service's answer, when one arrived before the crash.
        var action: String?
        var sessionID: String?
    }

    @Test func killNineDuringBurstsLosesNothingAndKeepsEveryInvariant() async throws {
        let directory = try ServiceProcess.makeDirectory()
        var service = try await ServiceProcess.start(in: directory, Self.settings)
        var spawned: [String] = []
        var crashesSurvived = 0
        var interrupted = 0  // rounds whose crash came while requests were still in flight
        for round in 0..<5 {
            let events = (0..<240).map { index in
                let id = "r\(round)-e\(index)"
                let body = Fixtures.variant(
                    "daily/participant-joined.json",
                    id: id,
                    room: "crash-\(round)-\(index % Self.roomsPerRound)",
                    participant: "p-\(round)-\(index)"
                )
                return Delivery(id: id, body: body)
            }
            // Most of the burst is still in flight when the crash comes.
            let delivered = await Self.deliverAndKill(events, to: service, afterAnswers: Int.random(in: 5...40))
            if delivered.contains(where: { $0.action == nil }) { interrupted += 1 }
            #expect(await service.waitForExit(timeout: 10) != nil)
            crashesSurvived += 1
            spawned += delivered.compactMap { $0.action == "spawned" ? $0.sessionID : nil }

            service = try await ServiceProcess.start(in: directory, Self.settings)
            // Daily redelivers whatever got no answer; whatever was answered is acted on once only.
            for delivery in delivered {
                let answer = try await service.webhook(delivery.body)
                #expect(answer.status == 200)
                if delivery.action != nil { #expect(answer.string("action") == "duplicate", "\(delivery.id)") }
            }
            // No session that was answered `spawned` is lost.
            for id in spawned {
                #expect(try await service.request(.GET, "/sessions/\(id)").status == 200, "session \(id) lost")
            }
            let rooms = (round + 1) * Self.roomsPerRound
            #expect(try await Self.invariantsHold(service, until: min(Self.cap, rooms)), "round \(round)")
        }
        #expect(crashesSurvived == 5)
        #expect(interrupted >= 3, "only \(interrupted) of 5 crashes came mid-burst")
        await service.shutdown()
        #expect(service.liveBots().isEmpty)
    }

    /// The burst's own client: a connection to a killed service fails in a second, not in the default ten.
    static let burstClient = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(timeout: .init(connect: .seconds(1)))
    )

    /// The soak: `AUTOSPAWN_SOAK_S` seconds of rounds of joins, leaves and ended meetings over 30 rooms, with Daily
    /// failing now and then, a `kill -9` in every round and a restart; every invariant checked after each. On demand
    /// only (README, Soak); its last figures are in RELIABILITY.md.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["AUTOSPAWN_SOAK_S"] != nil))
    func soak() async throws {
        let seconds = Double(ProcessInfo.processInfo.environment["AUTOSPAWN_SOAK_S"] ?? "") ?? 600
        let double = try await DailyDouble.start(apiKey: "soak", domain: "soak", rateLimitPerSecond: 1_000)
        let directory = try ServiceProcess.makeDirectory()
        let settings = Self.settings.merging([
            "DAILY_API_KEY": "soak", "DAILY_API_URL": double.baseURL, "AUTOSPAWN_EMPTY_GRACE_S": "1",
            "AUTOSPAWN_START_TIMEOUT_S": "5",
        ]) { $1 }
        var service = try await ServiceProcess.start(in: directory, settings)
        let deadline = Date().addingTimeInterval(seconds)
        var (events, answered, crashes, redelivered, faults) = (0, 0, 0, 0, 0)
        var spawned: [String] = []
        var round = 0
        while Date() < deadline {
            let events_ = (0..<Int.random(in: 50...300)).map { index in
                let id = "soak-\(round)-\(index)"
                let room = "soak-\(Int.random(in: 0..<30))"
                let participant = "p-\(Int.random(in: 0..<8))"
                let kind = Int.random(in: 0..<100)
                let fixture = kind < 70 ? "daily/participant-joined.json" : kind < 95 ? "daily/participant-left.json" : "daily/meeting-ended.json"
                return Delivery(id: id, body: Fixtures.variant(fixture, id: id, room: room, participant: participant))
            }
            if Bool.random() {
                faults += 1
                let fault =
                    Bool.random()
                    ? #"{"status":500,"count":3,"path":"/meeting-tokens"}"# : #"{"status":429,"count":3,"path":"/meeting-tokens"}"#
                try await double.control("/_double/faults", body: Array(fault.utf8))
            }
            let delivered = await Self.deliverAndKill(events_, to: service, afterAnswers: Int.random(in: 1...events_.count))
            _ = await service.waitForExit(timeout: 10)
            crashes += 1
            events += delivered.count
            answered += delivered.filter { $0.action != nil }.count
            spawned += delivered.compactMap { $0.action == "spawned" ? $0.sessionID : nil }
            service = try await ServiceProcess.start(in: directory, settings)
            for delivery in delivered where delivery.action == nil {
                redelivered += 1
                #expect(try await service.webhook(delivery.body).status == 200)
            }
            #expect(try await Self.invariantsHold(service, until: nil), "round \(round)")
            round += 1
        }
        var lost = 0
        for id in spawned where try await service.request(.GET, "/sessions/\(id)").status != 200 { lost += 1 }
        #expect(lost == 0)
        await service.shutdown()
        #expect(service.liveBots().isEmpty)
        await double.stop()
        print(
            "SOAK seconds=\(Int(seconds)) rounds=\(round) events=\(events) answered_before_crash=\(answered) redelivered=\(redelivered) crashes_survived=\(crashes) daily_faults=\(faults) sessions_spawned=\(spawned.count) sessions_lost=\(lost)"
        )
    }

    /// Sends the events concurrently and `kill -9`s the service once `afterAnswers` of them have been answered.
    static func deliverAndKill(_ events: [Delivery], to service: ServiceProcess, afterAnswers: Int) async -> [Delivery] {
        let (answers, answered) = AsyncStream.makeStream(of: Void.self)
        let burst = Task { await deliver(events, to: service, answered: answered) }
        var seen = 0
        for await _ in answers {
            seen += 1
            if seen == afterAnswers { break }
        }
        service.signal(SIGKILL)
        return await burst.value
    }

    static func deliver(
        _ events: [Delivery],
        to service: ServiceProcess,
        answered: AsyncStream<Void>.Continuation
    ) async -> [Delivery] {
        defer { answered.finish() }
        return await withTaskGroup(of: Delivery.self) { group in
            for event in events {
                group.addTask {
                    var event = event
                    if let answer = try? await service.webhook(event.body, client: burstClient), answer.status == 200 {
                        event.action = answer.string("action")
                        event.sessionID = answer.string("session_id")
                        answered.yield()
                    }
                    return event
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
    }

    /// Checks the invariants of docs/DESIGN.md at every sample, until every active session has its live bot, every live bot
    /// belongs to an active session, and `expected` rooms (when given) have a bot (their humans never left).
    static func invariantsHold(_ service: ServiceProcess, until expected: Int?) async throws -> Bool {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let active = try await service.sessions("state=active&limit=1000")
            let bots = service.liveBotSessions()
            // Invariants 1 and 2, and never two bot processes in one room.
            let activeRooms = active.compactMap { $0["room_name"] as? String }
            #expect(Set(activeRooms).count == activeRooms.count, "two active sessions in one room")
            #expect(active.count <= cap, "\(active.count) active sessions over the cap")
            #expect(Dictionary(grouping: bots, by: \.room).values.allSatisfy { $0.count == 1 }, "two bots in one room")
            // Invariant 4: accounted for, both ways.
            let activeByID = Dictionary(
                uniqueKeysWithValues: active.compactMap { session in
                    (session["id"] as? String).map { ($0, session) }
                }
            )
            let botsAreActive = bots.allSatisfy { activeByID[$0.sessionID] != nil }
            let sessionsHaveBots = active.allSatisfy { session in
                bots.contains { $0.sessionID == session["id"] as? String && Int($0.pid) == session["pid"] as? Int }
            }
            if botsAreActive && sessionsHaveBots && (expected.map { active.count == $0 } ?? true) { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}
