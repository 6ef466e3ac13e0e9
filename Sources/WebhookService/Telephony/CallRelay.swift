import BotRuntime
import Foundation
import HummingbirdWSClient
import HummingbirdWebSocket
import Logging
import Policy
import SessionStore

/// The phone calls this instance relays (DESIGN "Phone calls over a WebSocket"): for each, the carrier's stream and
/// its bot's WebSocket (`CallLeg`), and what happens when either side goes: the caller hangs up, the bot hangs up,
/// or the bot fails and the call gets a new one while the caller stays on the line.
actor CallRelay {
    struct Settings: Sendable {
        /// `AUTOSPAWN_STREAM_BUFFER_S`.
        var bufferSeconds: Double
        /// `AUTOSPAWN_RESTART_BACKOFF_S` and its maximum: a call's next bot after a failure waits as a room's does.
        var restartBackoff: RestartBackoff
        /// `AUTOSPAWN_START_TIMEOUT_S`: how long a call whose bot failed waits for a place for its next one.
        var startTimeoutSeconds: Double
    }

    let store: any SessionStorage
    let supervisor: Supervisor
    let keys: CallKeys
    let settings: Settings
    let metrics: ServiceMetrics
    let logger: Logger
    private var legs: [String: CallLeg] = [:]

    init(store: any SessionStorage, supervisor: Supervisor, keys: CallKeys, settings: Settings, metrics: ServiceMetrics, logger: Logger) {
        self.metrics = metrics
        self.store = store
        self.supervisor = supervisor
        self.keys = keys
        self.settings = settings
        self.logger = logger
    }

    /// The call's leg for this session: its own, or a new one (a call that came back after its stream was let go).
    func leg(for session: Session) async -> CallLeg {
        if let leg = legs[session.roomName], await leg.end == nil, await leg.sessionID == session.id { return leg }
        let leg = CallLeg(room: session.roomName, sessionID: session.id, bufferSeconds: settings.bufferSeconds)
        legs[session.roomName] = leg
        metrics.callsRelayed(legs.count)
        return leg
    }

    /// The logger for lines about one call's session.
    nonisolated func logger(for sessionID: String, room: String) -> Logger {
        var logger = logger
        logger[metadataKey: "session_id"] = .string(sessionID)
        logger[metadataKey: "room"] = .string(room)
        return logger
    }

    /// The calls relayed now.
    var count: Int { legs.count }

    /// Its frames pass between the call's two sockets through the leg alone: only these look-ups are the relay's.
    private func forget(_ leg: CallLeg) async {
        if legs[leg.room] === leg, await !leg.hasCarrier, await !leg.hasBot {
            legs[leg.room] = nil
            metrics.callsRelayed(legs.count)
        }
    }

    // MARK: The carrier's stream

    /// Relays the carrier's stream of a session's call until it ends.
    nonisolated func carrierStream(_ session: Session, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        var frames = inbound.makeAsyncIterator()
        await carrierStream(session, frames: &frames, read: [], outbound: outbound)
    }

    /// Exotel's stream, which no webhook announced: its call is in its `start` frame, and its session is claimed
    /// then (`claim`; nil: no place or no profile, and the stream is closed).
    nonisolated func exotelStream(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        claim: @Sendable (PhoneCall) async -> Session?
    ) async {
        var frames = inbound.makeAsyncIterator()
        var read: [WebSocketDataFrame] = []
        var call: PhoneCall?
        // `connected`, then `start`: a stream that names no call within its first frames is not Exotel's.
        while call == nil, read.count < 4, let frame = try? await frames.next() {
            read.append(frame)
            call = CarrierHandshake.exotelCall(in: frame)
        }
        guard let call, let session = await claim(call) else {
            logger.warning("an Exotel stream got no session: closed")
            try? await outbound.close(.unknown(1013), reason: "no place for the call")
            return
        }
        await carrierStream(session, frames: &frames, read: read, outbound: outbound)
    }

    /// Relays the carrier's stream of a session's call until it ends, the frames already `read` first.
    private nonisolated func carrierStream(
        _ session: Session,
        frames: inout WebSocketInboundStream.AsyncIterator,
        read: [WebSocketDataFrame],
        outbound: WebSocketOutboundWriter
    ) async {
        let leg = await leg(for: session)
        guard await leg.attachCarrier(outbound) else {
            try? await outbound.close(.policyViolation, reason: "the call has a stream")
            return
        }
        let log = logger(for: session.id, room: session.roomName)
        log.info("a call's stream is connected", metadata: ["carrier": "\(session.transport.rawValue)"])
        // A placed call's `start` carries the carrier's id, which its session never learnt: nothing to check.
        let call = PhoneCall.ofBody(session.body, carrier: session.transport.carrier ?? .twilio)
        var handshake = CarrierHandshake(call: call?.isOutbound == true ? nil : call)
        var waiting = read[...]
        do {
            while true {
                let next: WebSocketDataFrame?
                if let first = waiting.popFirst() { next = first } else { next = try await frames.next() }
                guard let frame = next else { break }
                switch handshake.read(frame) {
                case .wrongCall:
                    log.warning("a stream's start names another call: closed")
                    try? await outbound.close(.policyViolation, reason: "not this call's stream")
                    await finishCarrier(leg, session: session, end: .handedOn)
                    return
                case .relay:
                    await leg.fromCarrier(frame, at: .now)
                case .stop:
                    await leg.fromCarrier(frame, at: .now)
                    try? await outbound.close(.normalClosure, reason: nil)
                }
                if handshake.stopped { break }
            }
        } catch {
            // The carrier's connection broke: the call is over all the same.
        }
        await finishCarrier(leg, session: session, end: nil)
    }

    private nonisolated func finishCarrier(_ leg: CallLeg, session: Session, end: CallEnd?) async {
        let ended = await leg.carrierLeft()
        let current = await leg.sessionID
        if (end ?? ended) == .callerHungUp {
            logger(for: current, room: leg.room).info("the caller hung up")
            // Recorded before the bot hears of it: a bot that exits as its socket closes ends the session as the
            // caller's hang-up, not as its own.
            _ = try? await supervisor.requestStop(current, reason: .callerHungUp)
        }
        await leg.closeBot()
        await forget(leg)
    }

    /// Passes a carrier's stream on to the instance that runs the call's bot (a balancer may send it to any
    /// replica), frame by frame, both ways, until either side closes.
    nonisolated func passOn(_ session: Session, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, to url: String) async {
        let log = logger(for: session.id, room: session.roomName)
        log.info("a call's stream is passed on to the instance that runs its bot")
        do {
            _ = try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 1 << 16), logger: logger) { upstream, upstreamOut, _ in
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do {
                            for try await frame in inbound { try await upstreamOut.write(.custom(frame.outgoing)) }
                        } catch {}
                        try? await upstreamOut.close(.normalClosure, reason: nil)
                    }
                    group.addTask {
                        do {
                            for try await frame in upstream { try await outbound.write(.custom(frame.outgoing)) }
                        } catch {}
                        try? await outbound.close(.normalClosure, reason: nil)
                    }
                    await group.waitForAll()
                }
            }
        } catch {
            log.warning("a call's stream could not be passed on: closed", metadata: ["error": "\(error)"])
            try? await outbound.close(.goingAway, reason: "the call's instance cannot be reached")
        }
    }

    // MARK: The bot's socket

    /// Relays the bot's socket of a session's call until it ends; then the bot has hung up, or failed.
    nonisolated func botSocket(_ session: Session, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        let leg = await leg(for: session)
        guard await leg.attachBot(outbound, session: session.id) else {
            try? await outbound.close(.policyViolation, reason: "another connection serves this call")
            return
        }
        logger(for: session.id, room: session.roomName).info("a call's bot is connected")
        await withTaskGroup(of: Void.self) { group in
            // A call whose carrier never opens its stream (an outbound call nobody answers) ends `no_answer`.
            group.addTask { await self.endUnanswered(session, leg: leg) }
            do {
                for try await frame in inbound { await leg.fromBot(frame, at: .now) }
            } catch {
                // The bot's connection broke: what its process did says why.
            }
            group.cancelAll()
        }
        await leg.botLeft(session: session.id)
        await botLeft(session, leg: leg)
        await forget(leg)
    }

    /// Ends the call when its carrier has not opened its stream within the start timeout.
    private nonisolated func endUnanswered(_ session: Session, leg: CallLeg) async {
        do {
            try await Task.sleep(for: .milliseconds(Int64(settings.startTimeoutSeconds * 1000)))
        } catch {
            return
        }
        guard await !leg.hasCarrier, await leg.end == nil, await leg.sessionID == session.id else { return }
        logger(for: session.id, room: session.roomName).info("the call was not answered: its bot is stopped")
        await leg.hangUp()
        _ = try? await supervisor.requestStop(session.id, reason: .noAnswer)
    }

    /// The bot's socket ended while the call was on: a bot that failed gets a successor, any other hung up.
    private nonisolated func botLeft(_ session: Session, leg: CallLeg) async {
        guard await leg.end == nil, await leg.sessionID == session.id else { return }
        let ended = await store.ended(session.id)
        if let ended, isBotFailure(state: ended.state, reason: ended.endReason ?? .botFailed), await leg.hasCarrier {
            await next(after: ended, leg: leg)
            return
        }
        logger(for: session.id, room: session.roomName).info("the bot hung up")
        await leg.hangUp()
        _ = try? await supervisor.requestStop(session.id, reason: .botHungUp)
    }

    /// A new session and bot for a call whose bot failed, after the restart backoff; handed the carrier's first
    /// frames again. When no place comes free here, the carrier's stream is let go: its `<Redirect>` takes the call on.
    private nonisolated func next(after failed: Session, leg: CallLeg) async {
        let count = await leg.recordFailure()
        let log = logger(for: failed.id, room: failed.roomName)
        let delay = settings.restartBackoff.delay(failures: count)
        log.warning("a call's bot failed: the caller waits for a new one", metadata: ["backoff_s": "\(delay)"])
        try? await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
        let deadline = ContinuousClock.now + .milliseconds(Int64(settings.startTimeoutSeconds * 1000))
        while await leg.end == nil, await leg.hasCarrier {
            let claimed = try? await store.claim(
                room: failed.roomName,
                url: nil,
                profile: failed.profile,
                body: failed.body,
                transport: failed.transport,
                now: Date().timeIntervalSince1970
            )
            if let claimed {
                guard claimed.ownerInstance == store.instanceID else {
                    await leg.letGo()
                    return
                }
                await leg.serve(session: claimed.id)
                supervisor.launchSoon(claimed, isCall: true)
                return
            }
            guard ContinuousClock.now < deadline else { break }
            try? await Task.sleep(for: PlaceWait.retryInterval)
        }
        log.warning("no place for a call's next bot: its stream is let go")
        await leg.letGo()
    }
}

/// What the relay reads of a carrier's frames: that the stream's `start` is the session's call, and its `stop`.
struct CarrierHandshake {
    /// The session's call; nil: none recorded, nothing to check.
    let call: PhoneCall?
    private var started = false
    private(set) var stopped = false

    init(call: PhoneCall?) { self.call = call }

    enum Verdict { case relay, stop, wrongCall }

    mutating func read(_ frame: WebSocketDataFrame) -> Verdict {
        guard frame.opcode == .text else { return .relay }
        // Media frames are most of a call: only a frame that names an event other than media is parsed.
        let view = frame.data.readableBytesView
        if started, !view.contains(subsequence: Self.stopWord) { return .relay }
        guard let document = try? JSONValue(parsing: Array(view)) else { return .relay }
        switch document["event"]?.string {
        case "start":
            started = true
            guard let call else { return .relay }
            let start = document["start"]
            let id = start?["callSid"]?.string ?? start?["call_control_id"]?.string ?? start?["callId"]?.string ?? start?["call_sid"]?.string
            return id == call.callID ? .relay : .wrongCall
        case "stop":
            stopped = true
            return .stop
        default:
            return .relay
        }
    }

    private static let stopWord = Array(#""stop""#.utf8)

    /// The call of Exotel's `start` frame: `start.call_sid`, `from`, `to`.
    static func exotelCall(in frame: WebSocketDataFrame) -> PhoneCall? {
        guard frame.opcode == .text, let document = try? JSONValue(parsing: Array(frame.data.readableBytesView)),
            document["event"]?.string == "start", let start = document["start"], let id = start["call_sid"]?.string,
            PhoneCall.isCallID(id)
        else { return nil }
        return PhoneCall(carrier: .exotel, callID: id, from: start["from"]?.string ?? "", to: start["to"]?.string ?? "")
    }
}

extension Collection where Element == UInt8 {
    fileprivate func contains(subsequence: [UInt8]) -> Bool {
        guard let first = subsequence.first else { return true }
        var index = startIndex
        while let found = self[index...].firstIndex(of: first) {
            if self[found...].starts(with: subsequence) { return true }
            index = self.index(after: found)
        }
        return false
    }
}
