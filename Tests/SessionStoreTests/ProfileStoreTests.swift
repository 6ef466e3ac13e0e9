import Policy
import SessionStore
import Testing

/// Two profiles chosen by room: `sales` (an agent, its own cap of 1, a body) and `support` (a process, no cap).
func salesAndSupport() throws -> BotProfiles {
    BotProfiles(
        [
            BotProfile(
                name: "sales",
                rooms: try RoomFilter(pattern: "sales-.*"),
                launcher: .agent(baseURL: "http://agent"),
                botName: "Sales Bot",
                body: ["persona": .string("sales")],
                maxConcurrency: 1
            ),
            BotProfile(
                name: "support",
                rooms: try RoomFilter(pattern: "support-.*"),
                launcher: .process(arguments: ["bot"]),
                botName: "Support Bot"
            ),
        ],
        fromFile: true
    )
}

struct ProfileStoreTests {
    @Test(arguments: StoreBackend.available) func eachRoomGetsItsProfilesBotBodyAndCap(backend: StoreBackend) async throws {
        let store = try await backend.makeStore(profiles: try salesAndSupport())
        let sales = try #require(try await store.record(event(room: "sales-1"), now: 1).session)
        #expect(sales.profile == "sales")
        #expect(sales.launcher == .agent)
        #expect(sales.body == #"{"persona":"sales"}"#)
        let refused = try await store.record(event(room: "sales-2"), now: 2)
        #expect(refused.action == .rejected)
        #expect(refused.reason == "profile_capacity")
        let support = try #require(try await store.record(event(room: "support-1"), now: 3).session)
        #expect(support.profile == "support")
        #expect(support.launcher == .process)
        #expect(support.body == "{}")
        #expect(try await store.session(sales.id)?.profile == "sales")
    }

    @Test(arguments: StoreBackend.available) func aRoomRefusedByItsProfilesCapGetsThatProfilesBotOnceOneEnds(backend: StoreBackend) async throws {
        let store = try await backend.makeStore(profiles: try salesAndSupport())
        let first = try #require(try await store.record(event(room: "sales-1"), now: 1).session)
        _ = try await store.record(event(room: "sales-2"), now: 2)
        // Another profile's place frees nothing for sales.
        let support = try #require(try await store.record(event(room: "support-1"), now: 3).session)
        _ = try await store.finish(support.id, state: .ended, reason: .roomEmpty, now: 4)
        #expect(try await store.claimWaitingRooms(now: 5).isEmpty)
        let ending = try await store.finish(first.id, state: .ended, reason: .roomEmpty, exitCode: nil, now: 6, claimSuccessor: false)
        #expect(ending?.successor == nil)
        let next = try #require(try await store.claimWaitingRooms(now: 7).first)
        #expect(next.roomName == "sales-2")
        #expect(next.profile == "sales")
        #expect(next.body == #"{"persona":"sales"}"#)
    }

    @Test(arguments: StoreBackend.available) func aRoomTheServiceMadeKeepsItsProfileAndCountsAsItsOwn(backend: StoreBackend) async throws {
        let store = try await backend.makeStore(profiles: try salesAndSupport())
        let made = try #require(
            try await store.claim(room: "support-made", url: "https://d.daily.co/support-made", profile: "sales", body: "{}", now: 1)
        )
        #expect(made.profile == "sales")
        #expect(try await store.isServiceRoom("support-made"))
        #expect(try await !store.isServiceRoom("support-1"))
        // The sales cap is taken, by a direct claim too.
        #expect(try await store.claim(room: "other", url: nil, profile: "sales", body: "{}", now: 2) == nil)
        // Its bot fails while a human is in: the room's next bot is still of the profile it was made for, although its
        // name matches another profile's rooms.
        _ = try await store.record(event(room: "support-made"), now: 3)
        _ = try await store.finish(made.id, state: .failed, reason: .botFailed, exitCode: 1, now: 4)
        let next = try #require(try await store.claimWaitingRooms(now: 100).first)
        #expect(next.roomName == "support-made")
        #expect(next.profile == "sales")
    }
}
