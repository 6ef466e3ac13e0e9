import HummingbirdWebSocket
import NIOCore
import NIOWebSocket

/// One phone call's relay on the instance that runs its bot: the carrier's stream and the bot's WebSocket, each
/// frame passed on unchanged and in order. Frames for a side that is not (yet) connected wait in a `FrameQueue`.
actor CallLeg {
    /// The call's room (`{carrier}-{call id}`).
    let room: String
    /// The session whose bot is (or is to be) connected.
    private(set) var sessionID: String

    private var carrier: WebSocketOutboundWriter?
    private var bot: WebSocketOutboundWriter?
    /// Frames for the bot: the carrier's first ones (`connected`, `start`) always, media of the last few seconds.
    private var toBot: FrameQueue
    /// Frames the bot sent before the carrier's stream was there.
    private var toCarrier: FrameQueue
    /// Set while a newly connected side is handed what waited for it: frames that come meanwhile queue behind.
    private var flushingBot = false
    private var flushingCarrier = false
    /// How the call ended, once it has.
    private(set) var end: CallEnd?
    /// Failures in a row of the call's bots, for the backoff before the next.
    private var failures = 0

    init(room: String, sessionID: String, bufferSeconds: Double) {
        self.room = room
        self.sessionID = sessionID
        toBot = FrameQueue(keptFirst: 2, windowSeconds: bufferSeconds, maxFrames: 4096)
        toCarrier = FrameQueue(keptFirst: 0, windowSeconds: .infinity, maxFrames: 4096)
    }

    var hasCarrier: Bool { carrier != nil }
    var hasBot: Bool { bot != nil }

    // MARK: The carrier's side

    /// The carrier's stream is here: what the bot sent before goes to it first. False when the call already has one.
    func attachCarrier(_ writer: WebSocketOutboundWriter) async -> Bool {
        guard carrier == nil, !flushingCarrier, end == nil else { return false }
        flushingCarrier = true
        while let frame = toCarrier.next() { try? await writer.write(.custom(frame)) }
        flushingCarrier = false
        carrier = writer
        return true
    }

    /// A frame from the carrier: to the bot, or queued for it.
    func fromCarrier(_ frame: WebSocketDataFrame, at now: ContinuousClock.Instant) async {
        let outgoing = frame.outgoing
        // The first frames are kept for every bot of the call, whether this one has them now or not.
        let isFirst = toBot.keepIfFirst(outgoing)
        if let bot, !flushingBot, (try? await bot.write(.custom(outgoing))) != nil {
            if isFirst { toBot.markFirstRead() }
            return
        }
        // No bot, or its socket is going: the frame waits for the next bot.
        if !isFirst { toBot.append(outgoing, at: now) }
    }

    /// The carrier's stream ended (its `stop`, or it closed). The call is over unless the bot ended it first.
    func carrierLeft() -> CallEnd {
        carrier = nil
        if end == nil { end = .callerHungUp }
        return end ?? .callerHungUp
    }

    /// Closes the bot's socket: its caller is gone.
    func closeBot() async {
        if let bot { try? await bot.close(.normalClosure, reason: "the caller hung up") }
    }

    // MARK: The bot's side

    /// The session's bot is connected: the carrier's first frames and recent media go to it first. False when a bot
    /// is already connected (one connection at a time) or another session now serves the call.
    func attachBot(_ writer: WebSocketOutboundWriter, session: String) async -> Bool {
        guard session == sessionID, bot == nil, !flushingBot, end == nil else { return false }
        flushingBot = true
        toBot.rewind()
        while let frame = toBot.next() {
            do { try await writer.write(.custom(frame)) } catch { break }
        }
        flushingBot = false
        bot = writer
        return true
    }

    /// A frame from the bot: to the carrier, or queued for it.
    func fromBot(_ frame: WebSocketDataFrame, at now: ContinuousClock.Instant) async {
        let outgoing = frame.outgoing
        if let carrier, !flushingCarrier {
            if (try? await carrier.write(.custom(outgoing))) != nil { return }
        }
        toCarrier.append(outgoing, at: now)
    }

    /// The bot's socket ended.
    func botLeft(session: String) {
        guard session == sessionID else { return }
        bot = nil
    }

    /// The bot hung up while the caller was on the line: the carrier's stream is closed (its `<Redirect>` then
    /// finds the call over).
    func hangUp() async {
        guard end == nil else { return }
        end = .botHungUp
        if let carrier { try? await carrier.close(.normalClosure, reason: "the bot hung up") }
    }

    /// Counts a failure of the call's bot; the failures in a row.
    func recordFailure() -> Int {
        failures += 1
        return failures
    }

    /// A new session serves the call (its bot failed): its bot is handed the carrier's first frames again.
    func serve(session: String) {
        sessionID = session
        bot = nil
    }

    /// The call cannot go on here (no place for a new bot here): the carrier's stream is closed, and its
    /// `<Redirect>` finds the call's session wherever it is.
    func letGo() async {
        guard end == nil else { return }
        end = .handedOn
        if let carrier { try? await carrier.close(.goingAway, reason: "the call goes on elsewhere") }
    }
}

/// How a call's relay ended.
enum CallEnd: Sendable, Equatable {
    case callerHungUp
    case botHungUp
    /// Closed so that the carrier's `<Redirect>` takes the call on (to a new session elsewhere).
    case handedOn
}

/// Frames that wait for a side of a call: the first `keptFirst` for good (a carrier's `connected` and `start`, handed
/// to every bot of the call), the others while younger than `windowSeconds`, at most `maxFrames`.
struct FrameQueue {
    private var first: [WebSocketFrame] = []
    private var recent: [(frame: WebSocketFrame, at: ContinuousClock.Instant)] = []
    private let keptFirst: Int
    private let window: Duration
    private let maxFrames: Int
    /// How many of `first` the current reader has had.
    private var firstRead = 0

    init(keptFirst: Int, windowSeconds: Double, maxFrames: Int) {
        self.keptFirst = keptFirst
        window = windowSeconds.isFinite ? .milliseconds(Int64(windowSeconds * 1000)) : .seconds(Int64.max / 2)
        self.maxFrames = maxFrames
    }

    /// Keeps the frame for good when it is one of the first; true then.
    mutating func keepIfFirst(_ frame: WebSocketFrame) -> Bool {
        guard first.count < keptFirst else { return false }
        first.append(frame)
        return true
    }

    /// The current reader has had every kept first frame (they went to it as they came).
    mutating func markFirstRead() { firstRead = first.count }

    /// Queues a frame that is not one of the first.
    mutating func append(_ frame: WebSocketFrame, at now: ContinuousClock.Instant) {
        recent.append((frame, now))
        let oldest = now - window
        var drop = 0
        while drop < recent.count, recent[drop].at < oldest || recent.count - drop > maxFrames { drop += 1 }
        if drop > 0 { recent.removeFirst(drop) }
    }

    /// The next frame for the reader: the kept first ones, then the recent ones (which are taken).
    mutating func next() -> WebSocketFrame? {
        if firstRead < first.count {
            firstRead += 1
            return first[firstRead - 1]
        }
        return recent.isEmpty ? nil : recent.removeFirst().frame
    }

    /// A new reader gets the kept first frames again.
    mutating func rewind() { firstRead = 0 }
}
