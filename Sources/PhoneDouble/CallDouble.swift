import AsyncHTTPClient
import Crypto
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import Policy
import Synchronization

/// A local stand-in for a phone carrier placing one call (tests and local demos; no carrier can be reached from
/// here): it asks the call webhook what to do, signed as the carrier signs, follows the answer's verbs
/// (`<Connect><Stream>`, `<Redirect>`, `<Hangup>`, `<Reject>`), opens the stream and records what comes back.
/// Its signatures are written here from the carriers' documentation, apart from the service's own checks.
package final class CallDouble: Sendable {
    /// What signs the carrier's webhooks.
    package enum Credentials: Sendable {
        case twilio(authToken: String)
        /// The raw 32-byte Ed25519 private key.
        case telnyx(privateKey: [UInt8])
        case plivo(authToken: String)
    }

    package let frames: CarrierFrames
    let credentials: Credentials
    /// Where the service says it is reached (`AUTOSPAWN_PUBLIC_URL`): what the carrier signs.
    let publicURL: String
    /// Where the requests actually go (the same in tests).
    let serviceURL: String
    let logger: Logger

    package init(
        carrier: Carrier,
        callID: String,
        from: String = "+15105550199",
        to: String = "+15550001111",
        credentials: Credentials,
        publicURL: String,
        serviceURL: String? = nil,
        logger: Logger = Logger(label: "phone-double")
    ) {
        frames = CarrierFrames(carrier: carrier, callID: callID, from: from, to: to)
        self.credentials = credentials
        self.publicURL = publicURL
        self.serviceURL = serviceURL ?? publicURL
        self.logger = logger
    }

    package var carrier: Carrier { frames.carrier }
    /// The call webhook's path: where a call is first sent.
    package var webhookPath: String { "/telephony/\(carrier.rawValue)/call" }

    /// The webhook's answer, as the carrier reads it.
    package enum Answer: Sendable, Equatable {
        case stream(url: String, redirect: String?)
        case hangUp
        case reject(reason: String?)
        /// Not markup: the status and body.
        case refused(status: Int, body: String)
    }

    /// Asks the webhook at `path` (the first one, or a `<Redirect>`'s) what to do with the call, signed or not.
    package func dial(path: String? = nil, signed: Bool = true) async throws -> Answer {
        let path = path ?? webhookPath
        let fields = FormFields([
            ("AccountSid", frames.accountID), (carrier == .plivo ? "CallUUID" : "CallSid", frames.callID), ("From", frames.from),
            ("To", frames.to), ("Direction", "inbound"), ("CallStatus", "ringing"),
        ])
        let body = fields.encoded
        var request = HTTPClientRequest(url: serviceURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        if signed {
            for (name, value) in try signatureHeaders(url: publicURL + path, fields: fields, body: Array(body.utf8)) {
                request.headers.add(name: name, value: value)
            }
        }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status == .ok else { return .refused(status: Int(response.status.code), body: text) }
        return Self.read(text)
    }

    /// The headers the carrier signs a webhook with.
    package func signatureHeaders(url: String, fields: FormFields, body: [UInt8]) throws -> [(String, String)] {
        switch credentials {
        case .twilio(let token):
            // HMAC-SHA1 of the URL and each field's name and value, sorted by name.
            var signed = url
            for pair in fields.pairs.sorted(by: { ($0.name, $0.value) < ($1.name, $1.value) }) { signed += pair.name + pair.value }
            let code = HMAC<Insecure.SHA1>.authenticationCode(for: Data(signed.utf8), using: SymmetricKey(data: Data(token.utf8)))
            return [("X-Twilio-Signature", Data(code).base64EncodedString())]
        case .telnyx(let raw):
            let key = try Curve25519.Signing.PrivateKey(rawRepresentation: raw)
            let timestamp = String(Int(Date().timeIntervalSince1970))
            let signature = try key.signature(for: Data((timestamp + "|").utf8) + Data(body))
            return [("telnyx-signature-ed25519", signature.base64EncodedString()), ("telnyx-timestamp", timestamp)]
        case .plivo(let token):
            // V3: the URL, '?', the fields' names and values sorted, '.', the nonce.
            let nonce = String(UInt64.random(in: 10_000_000...99_999_999))
            let sorted = fields.pairs.sorted(by: { ($0.name, $0.value) < ($1.name, $1.value) }).map { $0.name + $0.value }.joined()
            let signed = url + "?" + sorted + "." + nonce
            let code = HMAC<SHA256>.authenticationCode(for: Data(signed.utf8), using: SymmetricKey(data: Data(token.utf8)))
            return [("X-Plivo-Signature-V3", Data(code).base64EncodedString()), ("X-Plivo-Signature-V3-Nonce", nonce)]
        }
    }

    /// Reads the verbs of TwiML, TeXML or Plivo XML.
    static func read(_ markup: String) -> Answer {
        if let stream = element("Stream", in: markup) {
            let url = attribute("url", in: stream.tag) ?? stream.text
            let redirect = element("Redirect", in: markup)?.text
            return .stream(url: unescaped(url), redirect: redirect.map(unescaped))
        }
        if let reject = element("Reject", in: markup) { return .reject(reason: attribute("reason", in: reject.tag)) }
        if let hangUp = element("Hangup", in: markup) {
            let reason = attribute("reason", in: hangUp.tag)
            return reason == nil ? .hangUp : .reject(reason: reason)
        }
        return .refused(status: 200, body: markup)
    }

    /// The opening tag and the text of the first `<name …>…</name>` or `<name …/>`.
    private static func element(_ name: String, in markup: String) -> (tag: String, text: String)? {
        guard let open = markup.range(of: "<\(name)"), let close = markup[open.upperBound...].firstIndex(of: ">") else { return nil }
        let tag = String(markup[open.lowerBound...close])
        if tag.hasSuffix("/>") { return (tag, "") }
        let rest = markup[markup.index(after: close)...]
        guard let end = rest.range(of: "</\(name)>") else { return (tag, "") }
        return (tag, String(rest[..<end.lowerBound]))
    }

    private static func attribute(_ name: String, in tag: String) -> String? {
        guard let start = tag.range(of: " \(name)=\"") else { return nil }
        let rest = tag[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    private static func unescaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    /// Opens the stream the answer named (its `wss://` read as `ws://` when the service is reached over plain HTTP)
    /// and sends the carrier's opening frames.
    package func connect(_ url: String) async throws -> StreamDouble {
        var target = url
        if serviceURL.hasPrefix("http://"), target.hasPrefix("wss://") { target = "ws://" + target.dropFirst(6) }
        if serviceURL != publicURL, let path = URLComponents(string: target)?.path {
            target = (serviceURL.hasPrefix("https://") ? "wss://" : "ws://") + serviceURL.split(separator: "/")[1] + path
        }
        let stream = StreamDouble(url: target, logger: logger)
        try await stream.open()
        for frame in frames.opening { stream.send(frame) }
        return stream
    }
}

/// The carrier's side of one media stream: what it sends, in order, and everything the service sends back.
package final class StreamDouble: Sendable {
    let url: String
    let logger: Logger
    private let outgoing: AsyncStream<Outgoing>.Continuation
    private let outgoingStream: AsyncStream<Outgoing>
    private let state = Mutex(State())
    private let task = Mutex<Task<Void, Never>?>(nil)

    enum Outgoing: Sendable {
        case text(String)
        case close
    }

    struct State {
        var received: [String] = []
        /// When each of `received` came.
        var receivedAt: [ContinuousClock.Instant] = []
        var opened = false
        var closed = false
        /// Why the stream could not open.
        var failure: String?
    }

    init(url: String, logger: Logger) {
        self.url = url
        self.logger = logger
        (outgoingStream, outgoing) = AsyncStream.makeStream(of: Outgoing.self)
    }

    /// Opens the WebSocket; throws when the service refuses the upgrade.
    func open() async throws {
        let (url, logger, outgoingStream) = (url, logger, outgoingStream)
        let task = Task { [self] in
            do {
                _ = try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 1 << 16), logger: logger) { inbound, outbound, _ in
                    self.state.withLock { $0.opened = true }
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await item in outgoingStream {
                                switch item {
                                case .text(let text): try? await outbound.write(.text(text))
                                case .close:
                                    try? await outbound.close(.normalClosure, reason: nil)
                                    return
                                }
                            }
                        }
                        do {
                            for try await message in inbound.messages(maxSize: 1 << 20) {
                                let text: String =
                                    switch message {
                                    case .text(let text): text
                                    case .binary(let buffer): "binary:" + Data(buffer.readableBytesView).base64EncodedString()
                                    }
                                let now = ContinuousClock.now
                                self.state.withLock {
                                    $0.received.append(text)
                                    $0.receivedAt.append(now)
                                }
                            }
                        } catch {}
                        group.cancelAll()
                    }
                }
            } catch {
                self.state.withLock { $0.failure = "\(error)" }
            }
            self.state.withLock { $0.closed = true }
        }
        self.task.withLock { $0 = task }
        // Open, or refused.
        while true {
            let (opened, closed, failure) = state.withLock { ($0.opened, $0.closed, $0.failure) }
            if opened { return }
            if closed { throw StreamRefused(reason: failure ?? "closed before it opened") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Sends a text frame, after those sent before.
    package func send(_ text: String) { outgoing.yield(.text(text)) }

    /// What the service sent, in order (binary frames as `binary:<base64>`).
    package var received: [String] { state.withLock { $0.received } }

    /// What the service sent, with when each frame came.
    package var receivedWithTimes: [(text: String, at: ContinuousClock.Instant)] {
        state.withLock { Array(zip($0.received, $0.receivedAt)).map { (text: $0.0, at: $0.1) } }
    }

    /// True once the stream is closed, by either side.
    package var isClosed: Bool { state.withLock { $0.closed } }

    /// The caller hangs up: the carrier's `stop` (if it sends one), then the close.
    package func hangUp(stop: String?) {
        if let stop { send(stop) }
        outgoing.yield(.close)
        outgoing.finish()
    }

    /// Waits until `count` frames have come back; what came, whether or not that many did by `timeout`.
    package func waitForReceived(_ count: Int, timeout: Duration = .seconds(20)) async -> [String] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, received.count < count, !isClosed {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return received
    }

    /// Waits until the stream is closed; false when it is still open at `timeout`.
    package func waitClosed(timeout: Duration = .seconds(20)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, !isClosed { try? await Task.sleep(for: .milliseconds(10)) }
        return isClosed
    }
}

/// The service refused a stream's upgrade (or it could not be reached).
package struct StreamRefused: Error, CustomStringConvertible {
    package let reason: String
    package var description: String { "stream refused: \(reason)" }
}
