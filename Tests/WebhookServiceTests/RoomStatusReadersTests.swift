import Synchronization
import Testing

@testable import WebhookService

/// Every `/bot/status/stream` polled the database on its own; the streams of one room now share one reader.
struct RoomStatusReadersTests {
    final class Counter: Sendable {
        let reads = Mutex(0)
    }

    @Test func theStreamsOfOneRoomShareOneReaderThatStopsWithTheLast() async throws {
        let readers = RoomStatusReaders()
        let counter = Counter()
        let status = BotStatus(roomName: "r", roomURL: nil, status: "absent", sessionID: nil, since: nil, participants: 0, knocking: 0)
        let read: @Sendable (@escaping RoomStatusReaders.Publish) async throws -> Void = { publish in
            counter.reads.withLock { $0 += 1 }
            await publish(status)
            try await Task.sleep(for: .seconds(3600))
        }
        let (first, firstUpdates) = await readers.subscribe("r", read: read)
        var iterator = firstUpdates.makeAsyncIterator()
        #expect(await iterator.next() == .some(status))
        let (second, secondUpdates) = await readers.subscribe("r", read: read)
        var secondIterator = secondUpdates.makeAsyncIterator()
        #expect(await secondIterator.next() == .some(status))  // the latest status, at once
        #expect(counter.reads.withLock { $0 } == 1)
        #expect(await readers.roomCount == 1)
        await readers.unsubscribe("r", first)
        #expect(await readers.roomCount == 1)
        await readers.unsubscribe("r", second)
        #expect(await readers.roomCount == 0)
    }
}
