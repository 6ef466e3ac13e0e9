import Policy
import PropertyBased
import Testing

/// Whatever the room's state, `decide` never spawns past the cap, beside an active bot, or during a backoff.
struct DecidePropertyTests {
    @Test func aSpawnIsOnlyEverDecidedWhenEveryRuleAllowsIt() async {
        let states = Gen.element(of: [SessionState?.none] + SessionState.allCases.map(Optional.some))
        let kinds = Gen.element(of: RoomEvent.Kind.allCases)
        await propertyCheck(
            count: 2_000,
            input: kinds,
            states,
            Gen.int(in: 0...12),
            Gen.int(in: 0...12),
            Gen.int(in: -5...5).optional(),
            Gen.bool
        ) { kind, state, humans, active, retryIn, stopScheduled in
            let settings = PolicySettings(
                maxConcurrency: 5,
                botName: "Pipecat Bot",
                roomFilter: try! RoomFilter(pattern: ".*"),
                emptyGraceSeconds: 20
            )
            let activeState: SessionState? = state ?? nil
            let room = RoomSnapshot(
                activeState: activeState,
                stopScheduled: stopScheduled,
                humans: humans,
                activeSessions: active,
                retryAt: retryIn.flatMap { $0 }.map { 100 + Double($0) }
            )
            guard let kind else { return }
            if decide(kind, room: room, settings: settings, now: 100) == .spawn {
                #expect(kind == .participantJoined)
                #expect(active < 5)
                #expect(!(activeState?.isActive ?? false))
                #expect((room.retryAt ?? 0) <= 100)
            }
        }
    }
}
