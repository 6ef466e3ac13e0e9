import Foundation
import HummingbirdWSClient
import Logging
import NIOCore

/// A call bot without Pipecat, for tests and for trying a phone call with nothing else installed: it connects to
/// its `ws_url` (`AUTOSPAWN_CALL_WS_URL`) and sends every frame back unchanged, so the caller hears themselves.
package struct EchoBot: Sendable {
    package struct Behaviour: Sendable {
        /// Closes its socket (hangs up) after this many media frames, then exits 0.
        package var hangUpAfter: Int?
        /// Exits with `exitCode` after this many media frames, without closing its socket (a crash).
        package var failAfter: Int?
        package var exitCode: Int32 = 3
        /// Appends each frame it receives, a line each, to this file.
        package var record: String?
        /// A browser connection's bot instead: each offer is answered with a fixed description (no media), other
        /// messages are not sent back. For the signalling's tests and benchmarks, where no peer connects.
        package var answerOffers = false

        package init() {}
    }

    let url: String
    let behaviour: Behaviour
    let logger: Logger

    package init(url: String, behaviour: Behaviour, logger: Logger = Logger(label: "echo-bot")) {
        self.url = url
        self.behaviour = behaviour
        self.logger = logger
    }

    /// Runs until the call ends: the service closes the socket (the caller hung up), or the behaviour ends it.
    package func run() async throws {
        let echo = Echo(behaviour: behaviour)
        _ = try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 1 << 16), logger: logger) { inbound, outbound, _ in
            // A crash: no close frame, the socket dies with the process.
            if try await echo.answer(inbound, outbound) == .failed { exit(echo.behaviour.exitCode) }
        }
    }

    /// What the echo bot does with a call's socket, whichever side opened it (its own `ws_url`, or an agent's `/ws`).
    package struct Echo: Sendable {
        package enum Ending: Sendable, Equatable {
            /// The other side closed the socket.
            case callEnded
            /// The bot closed its socket after `hangUpAfter` media frames.
            case hungUp
            /// `failAfter` media frames came: the caller decides how the bot dies.
            case failed
        }

        package let behaviour: Behaviour
        let record: FileHandle?

        /// The answer of `answerOffers`: a session description with no media.
        static let answer = #"{"type":"answer","sdp":"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n","pc_id":"echo"}"#

        package init(behaviour: Behaviour) {
            self.behaviour = behaviour
            record = behaviour.record.flatMap { FileHandle(forWritingAtPath: $0) ?? EchoBot.create($0) }
        }

        /// Sends every frame back unchanged until the call or the behaviour ends it.
        package func answer(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter) async throws -> Ending {
            var media = 0
            for try await frame in inbound {
                let bytes = Array(frame.data.readableBytesView)
                record?.write(Data(bytes + [0x0A]))
                if behaviour.answerOffers {
                    if bytes.starts(with: Array(#"{"#.utf8)), String(decoding: bytes, as: UTF8.self).contains(#""type":"offer""#) {
                        try await outbound.write(.text(Self.answer))
                    }
                    continue
                }
                let isMedia = frame.opcode == .text && bytes.starts(with: Array(#"{"event":"media""#.utf8))
                switch frame.opcode {
                case .text: try await outbound.write(.text(String(decoding: bytes, as: UTF8.self)))
                case .binary: try await outbound.write(.binary(frame.data))
                case .continuation: break
                }
                guard isMedia else { continue }
                media += 1
                if let failAfter = behaviour.failAfter, media >= failAfter { return .failed }
                if let hangUpAfter = behaviour.hangUpAfter, media >= hangUpAfter {
                    try await outbound.close(.normalClosure, reason: "the bot hung up")
                    return .hungUp
                }
            }
            return .callEnded
        }
    }

    fileprivate static func create(_ path: String) -> FileHandle? {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return FileHandle(forWritingAtPath: path)
    }
}
