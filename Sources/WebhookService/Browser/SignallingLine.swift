import BotRuntime
import HummingbirdWebSocket
import Policy

/// One browser connection's signalling with its bot, on the instance that runs the bot: the bot's socket (`ws_url`),
/// what waits to be sent to it (an offer or candidates that came before it connected, in order), and the offers
/// waiting for its answer (answered in the order they were sent).
actor SignallingLine {
    let sessionID: String
    private var bot: WebSocketOutboundWriter?
    private var unsent: [String] = []
    /// What waited is being sent: later messages queue behind it, so that the bot gets them in order.
    private var flushing = false
    private var awaitingAnswer: [Outcome<JSONValue>] = []
    /// The bot's socket has come and gone: nothing more will be answered.
    private(set) var isClosed = false
    /// Whether the bot's socket is connected now.
    var hasBot: Bool { bot != nil }

    init(sessionID: String) {
        self.sessionID = sessionID
    }

    /// The bot's socket: what waited is sent first. False when the line already has a socket (one at a time).
    func attachBot(_ writer: WebSocketOutboundWriter) async -> Bool {
        guard bot == nil, !isClosed else { return false }
        bot = writer
        flushing = true
        while !unsent.isEmpty, bot != nil {
            let text = unsent.removeFirst()
            guard (try? await writer.write(.text(text))) != nil else { break }
        }
        flushing = false
        return true
    }

    /// Sends an offer and returns its answer to come (nil once the bot's socket has gone).
    func exchange(_ offer: String) async -> Outcome<JSONValue> {
        let answer = Outcome<JSONValue>()
        guard !isClosed else {
            answer.fulfil(.null)
            return answer
        }
        awaitingAnswer.append(answer)
        await send(offer)
        return answer
    }

    /// What waits for a bot that has not connected: a browser's offer and its candidates are a few; a flood of
    /// candidates for a bot that never comes is dropped past this many.
    static let maxUnsent = 256

    /// Sends a message that gets no answer (candidates).
    func send(_ text: String) async {
        guard !isClosed else { return }
        if let bot, !flushing, (try? await bot.write(.text(text))) != nil { return }
        guard unsent.count < Self.maxUnsent else { return }
        unsent.append(text)
    }

    /// A message from the bot: an answer goes to the oldest offer waiting for one.
    func received(_ message: JSONValue) {
        guard message["type"] == .string("answer"), !awaitingAnswer.isEmpty else { return }
        awaitingAnswer.removeFirst().fulfil(message)
    }

    /// The bot's socket ended: offers still waiting get no answer.
    func close() {
        isClosed = true
        bot = nil
        unsent.removeAll()
        for waiting in awaitingAnswer { waiting.fulfil(.null) }
        awaitingAnswer.removeAll()
    }
}

/// The signalling lines of this instance's browser connections, by session.
actor SignallingLines {
    private var lines: [String: SignallingLine] = [:]

    func line(for sessionID: String) -> SignallingLine {
        if let line = lines[sessionID] { return line }
        let line = SignallingLine(sessionID: sessionID)
        lines[sessionID] = line
        return line
    }

    func forget(_ sessionID: String) {
        lines[sessionID] = nil
    }
}
