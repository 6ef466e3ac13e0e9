import Foundation
import Policy

/// Phone calls' figures for `bench/run` (BENCHMARKS.md), with the echo bot as every call's bot: the time from the
/// carrier's webhook to the bot's first frame back, and the round trip of a frame (carrier -> relay -> bot -> relay
/// -> carrier) with many calls at once, each sending 20 ms frames in real time.
package struct CallBench: Sendable {
    let makeCall: @Sendable (String) -> CallDouble

    package init(makeCall: @escaping @Sendable (String) -> CallDouble) {
        self.makeCall = makeCall
    }

    /// Milliseconds from the webhook sent to the first frame back, for `count` calls one after another.
    package func firstFrameLatencies(count: Int) async throws -> [Double] {
        var latencies: [Double] = []
        for _ in 0..<count {
            let call = makeCall("CA" + UUID().uuidString.lowercased().filter(\.isHexDigit))
            let started = ContinuousClock.now
            guard case .stream(let url, _) = try await call.dial() else { throw BenchFailure("a call got no stream") }
            let stream = try await call.connect(url)
            let back = await stream.waitForReceived(1, timeout: .seconds(30))
            guard let first = stream.receivedWithTimes.first, !back.isEmpty else { throw BenchFailure("no frame came back") }
            latencies.append(Self.milliseconds(first.at - started))
            stream.hangUp(stop: call.frames.stop)
            _ = await stream.waitClosed(timeout: .seconds(10))
        }
        return latencies
    }

    /// The round trips of every media frame of `calls` calls at once, each sending `seconds` of 20 ms frames in real
    /// time (after a second for its bot to connect), in milliseconds; and how many frames never came back.
    package func roundTrips(calls: Int, seconds: Double) async throws -> (milliseconds: [Double], lost: Int) {
        let frames = Int(seconds * 50)
        let results = try await withThrowingTaskGroup(of: ([Double], Int).self) { group in
            for _ in 0..<calls {
                group.addTask {
                    let call = makeCall("CA" + UUID().uuidString.lowercased().filter(\.isHexDigit))
                    guard case .stream(let url, _) = try await call.dial() else { throw BenchFailure("a call got no stream") }
                    let stream = try await call.connect(url)
                    // The opening frames come back once the bot is connected: from then on the relay is measured.
                    guard await stream.waitForReceived(call.frames.opening.count, timeout: .seconds(30)).count >= call.frames.opening.count else {
                        throw BenchFailure("a call's bot did not connect")
                    }
                    var sent: [String: ContinuousClock.Instant] = [:]
                    let clock = ContinuousClock()
                    var next = clock.now
                    for sequence in 1...frames {
                        let frame = call.frames.media(sequence, payload: CarrierFrames.silence)
                        sent[frame] = clock.now
                        stream.send(frame)
                        next = next.advanced(by: .milliseconds(20))
                        try await clock.sleep(until: next)
                    }
                    _ = await stream.waitForReceived(call.frames.opening.count + frames, timeout: .seconds(10))
                    var trips: [Double] = []
                    for (text, at) in stream.receivedWithTimes {
                        if let sentAt = sent.removeValue(forKey: text) { trips.append(Self.milliseconds(at - sentAt)) }
                    }
                    stream.hangUp(stop: call.frames.stop)
                    _ = await stream.waitClosed(timeout: .seconds(10))
                    return (trips, sent.count)
                }
            }
            var all: [Double] = []
            var lost = 0
            for try await (trips, missing) in group {
                all += trips
                lost += missing
            }
            return (all, lost)
        }
        return (results.0.sorted(), results.1)
    }

    /// The `p`th percentile of sorted values.
    package static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p / 100).rounded(.down)))]
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}

/// A benchmark that could not measure what it set out to.
package struct BenchFailure: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
