import Policy
import SessionStore
import Testing

/// Knockers (`waiting-participant.*`) in the store: counted apart from the room's humans on both backends, bringing
/// the room's bot only with `AUTOSPAWN_SPAWN_ON=knock`, and off the door once let in.
struct KnockStoreTests {
    @Test(arguments: StoreBackend.available) func withJoinAKnockerIsCountedAndBringsNoBot(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        let knocked = try await store.record(event(.waitingParticipantJoined, participant: "k1"), now: 1)
        #expect(knocked.action == .recorded)
        #expect(knocked.reason == "knocker")
        #expect(knocked.session == nil)
        let status = try await store.roomStatus("room")
        #expect(status.knockers == 1)
        #expect(status.humans == 0)
        #expect(try await store.humans(inRooms: ["room"]).isEmpty)
        #expect(try await store.presence(inRooms: ["room", "other"]) == ["room": RoomPresence(humans: 0, knockers: 1)])
        // Let in: a human, and no longer at the door.
        let joined = try await store.record(event(.participantJoined, participant: "k1"), now: 2)
        #expect(joined.action == .spawned)
        #expect(try await store.roomStatus("room").knockers == 0)
        #expect(try await store.roomStatus("room").humans == 1)
        #expect(try await store.presence(inRooms: ["room"]) == ["room": RoomPresence(humans: 1, knockers: 0)])
    }

    @Test(arguments: StoreBackend.available) func withKnockAKnockerBringsTheBotWhichStaysUntilTheDoorAndRoomAreEmpty(
        backend: StoreBackend
    ) async throws {
        let store = try await backend.makeStore(spawnOn: .knock)
        let knocked = try await store.record(event(.waitingParticipantJoined, participant: "k1"), now: 1)
        #expect(knocked.action == .spawned)
        #expect(knocked.reason == "knocker")
        let session = try #require(knocked.session)
        // A second knocker, and the first one gives up: someone is still at the door.
        _ = try await store.record(event(.waitingParticipantJoined, participant: "k2"), now: 2)
        #expect(try await store.record(event(.waitingParticipantLeft, participant: "k1"), now: 3).reason == "knocker_left")
        #expect(try await store.session(session.id)?.stopAt == nil)
        // The last knocker gives up too, nobody in the room: the bot goes after the grace.
        let left = try await store.record(event(.waitingParticipantLeft, participant: "k2"), now: 4)
        #expect(left.reason == "stop_scheduled")
        #expect(try await store.session(session.id)?.stopAt == 24)
        // Someone knocks again in time: the stop is off.
        #expect(try await store.record(event(.waitingParticipantJoined, participant: "k3"), now: 5).reason == "stop_cancelled")
        // Let in, then they leave: no knocker, no human, the bot goes.
        #expect(try await store.record(event(.participantJoined, participant: "k3"), now: 6).reason == "bot_present")
        #expect(try await store.roomStatus("room").knockers == 0)
        #expect(try await store.record(event(.participantLeft, participant: "k3"), now: 7).reason == "stop_scheduled")
        // Daily's late word that the knocker left the door changes nothing.
        #expect(try await store.record(event(.waitingParticipantLeft, participant: "k3"), now: 8).reason == "stop_scheduled")
        #expect(try await store.sessions(.init(states: .all)).count == 1)
    }
}
