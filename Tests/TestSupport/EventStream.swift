import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

/// One Server-Sent Event.
package struct ServerSentEvent: Sendable, Equatable {
    package var event: String
    package var data: String

    /// `data` as a JSON object.
    package var json: [String: any Sendable] {
        (try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: any Sendable]) ?? [:]
    }
}

/// An open `text/event-stream` response, read in the background; the test looks at what arrived.
package final class EventStreamClient: Sendable {
    private final class Received: Sendable {
        let state = Mutex<(events: [ServerSentEvent], ended: Bool)>(([], false))
    }

    private let received = Received()
    private let reader: Task<Void, Never>
    package let status: Int
    package let contentType: String?

    package init(url: String, headers: [(String, String)] = [], client: HTTPClient = testHTTPClient) async throws {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request, timeout: .seconds(300))
        status = Int(response.status.code)
        contentType = response.headers.first(name: "Content-Type")
        let received = received
        reader = Task {
            var pending = ""
            do {
                for try await chunk in response.body {
                    pending += String(buffer: chunk)
                    while let range = pending.range(of: "\n\n") {
                        let block = String(pending[..<range.lowerBound])
                        pending.removeSubrange(..<range.upperBound)
                        if let event = Self.parse(block) { received.state.withLock { $0.events.append(event) } }
                    }
                }
            } catch {}
            received.state.withLock { $0.ended = true }
        }
    }

    deinit { reader.cancel() }

    /// Stops reading (the connection closes).
    package func close() { reader.cancel() }

    /// Every event so far.
    package var events: [ServerSentEvent] { received.state.withLock { $0.events } }

    /// True once the server ended the stream.
    package var ended: Bool { received.state.withLock { $0.ended } }

    /// Waits until `condition` holds for the events so far; false after `timeout` seconds.
    package func wait(timeout: Double = 15, until condition: ([ServerSentEvent]) -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(events) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(events)
    }

    /// A block's event; nil for comments and `retry:` lines alone.
    static func parse(_ block: String) -> ServerSentEvent? {
        var event = ServerSentEvent(event: "message", data: "")
        var hasData = false
        for line in block.split(separator: "\n") {
            if line.hasPrefix("event: ") { event.event = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") {
                event.data += (hasData ? "\n" : "") + line.dropFirst(6)
                hasData = true
            }
        }
        return hasData ? event : nil
    }
}
