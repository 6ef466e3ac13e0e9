import ArgumentParser
import Crypto
import Foundation
import Logging
import PhoneDouble
import Policy

/// The phone network's stand-in, for trying phone calls with no carrier account: `call` places one call to the
/// service as a carrier would, `echo-bot` answers calls as a bot that echoes the caller.
@main
struct PhoneDoubleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phone-double",
        abstract: "A local stand-in for a phone carrier and a call bot (tests and demos only).",
        subcommands: [Call.self, EchoBotCommand.self, Bench.self]
    )
}

struct Call: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Places one call to the service's call webhook, as a carrier does.")

    @Option(help: "twilio, telnyx or plivo") var carrier = "twilio"
    @Option(help: "The service's AUTOSPAWN_PUBLIC_URL") var publicUrl = "http://127.0.0.1:8080"
    @Option(help: "Where the service listens, when it differs from the public URL") var serviceUrl: String?
    @Option(help: "Twilio's or Plivo's auth token (from a file: --auth-token-file)") var authTokenFile: String?
    @Option(help: "Telnyx: the base64 Ed25519 private key (32 bytes) in a file") var telnyxKeyFile: String?
    @Option(help: "The number called") var to = "+15550001111"
    @Option(help: "The caller's number") var from = "+15105550199"
    @Option(help: "Seconds of silence to stream before hanging up") var seconds = 3.0
    @Option(help: "Before hanging up, wait up to 15 s for this many frames back from the bot") var expectBack = 0

    func run() async throws {
        guard let carrier = Carrier(rawValue: carrier), carrier != .exotel else { throw ValidationError("--carrier: twilio, telnyx or plivo") }
        let credentials: CallDouble.Credentials
        switch carrier {
        case .telnyx:
            guard let path = telnyxKeyFile, let key = Data(base64Encoded: try secret(path)) else { throw ValidationError("--telnyx-key-file") }
            guard key.count == 32 else { throw ValidationError("--telnyx-key-file: not a 32-byte Ed25519 private key") }
            credentials = .telnyx(privateKey: Array(key))
        default:
            guard let path = authTokenFile else { throw ValidationError("--auth-token-file") }
            credentials = carrier == .plivo ? .plivo(authToken: try secret(path)) : .twilio(authToken: try secret(path))
        }
        let callID = carrier == .twilio ? "CA" + UUID().uuidString.lowercased().filter(\.isHexDigit) : UUID().uuidString.lowercased()
        let call = CallDouble(
            carrier: carrier,
            callID: callID,
            from: from,
            to: to,
            credentials: credentials,
            publicURL: publicUrl,
            serviceURL: serviceUrl
        )
        var answer = try await call.dial()
        while true {
            print("call \(callID): \(answer)")
            guard case .stream(let url, let redirect) = answer else { return }
            let stream = try await call.connect(url)
            let frames = Int(seconds * 50)
            for sequence in 1...max(1, frames) {
                if stream.isClosed { break }
                stream.send(call.frames.media(sequence, payload: CarrierFrames.silence))
                try await Task.sleep(for: .milliseconds(20))
            }
            if expectBack > 0 { _ = await stream.waitForReceived(expectBack, timeout: .seconds(15)) }
            print("the bot sent \(stream.received.count) frames back")
            if stream.isClosed, let redirect {
                // The service closed the stream: the carrier follows <Redirect>.
                answer = try await call.dial(path: URLComponents(string: redirect)?.path)
                continue
            }
            stream.hangUp(stop: call.frames.stop)
            _ = await stream.waitClosed(timeout: .seconds(5))
            print("call \(callID): hung up")
            return
        }
    }

    private func secret(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

struct EchoBotCommand: AsyncParsableCommand {
    // `record` may name `{warm}`: a warm bot's session id, known only once its call comes.
    static let configuration = CommandConfiguration(
        commandName: "echo-bot",
        abstract: "A call bot that sends the caller's frames back: it connects to AUTOSPAWN_CALL_WS_URL."
    )

    @Option(help: "Hang up (close the socket) after this many media frames") var hangUpAfter: Int?
    @Option(help: "Crash (exit without closing) after this many media frames") var failAfter: Int?
    @Option(help: "The exit code of a crash") var exitCode: Int32 = 3
    @Option(help: "Append every frame received to this file ({warm}: a warm bot's session id)") var record: String?
    @Flag(help: "Answer a browser's offers (with a description of no media) instead of echoing") var answerOffers = false

    mutating func run() async throws {
        // A stop is a SIGTERM: the bot ends cleanly.
        signal(SIGTERM) { _ in _exit(0) }
        var url = ProcessInfo.processInfo.environment["AUTOSPAWN_CALL_WS_URL"] ?? ""
        if ProcessInfo.processInfo.environment["AUTOSPAWN_WARM"] == "1" {
            // A warm bot: its call comes as one JSON line on standard input (`ws_url`), once it is needed.
            print("echo-bot: warm, waiting for a call")
            guard let line = readLine() else {
                print("echo-bot: end of input")
                return
            }
            guard let assignment = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let assigned = assignment["ws_url"] as? String
            else {
                FileHandle.standardError.write(Data("echo-bot: the line on standard input names no ws_url\n".utf8))
                throw ExitCode(2)
            }
            url = assigned
            if let id = assignment["session_id"] as? String, let record { self.record = record.replacingOccurrences(of: "{warm}", with: id) }
        }
        guard !url.isEmpty else {
            FileHandle.standardError.write(Data("echo-bot: AUTOSPAWN_CALL_WS_URL is not set\n".utf8))
            throw ExitCode(2)
        }
        var behaviour = EchoBot.Behaviour()
        behaviour.hangUpAfter = hangUpAfter
        behaviour.failAfter = failAfter
        behaviour.exitCode = exitCode
        behaviour.record = record
        behaviour.answerOffers = answerOffers
        print("echo-bot: connecting to the call")
        try await EchoBot(url: url, behaviour: behaviour).run()
        print("echo-bot: the call is over")
    }
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measures Twilio calls against a running service whose bots are echo bots (bench/run): prints JSON."
    )

    @Option(help: "The service's AUTOSPAWN_PUBLIC_URL") var publicUrl = "http://127.0.0.1:8080"
    @Option(help: "Where the service listens, when it differs from the public URL") var serviceUrl: String?
    @Option(help: "A file holding Twilio's auth token") var authTokenFile: String
    @Option(help: "Calls, one after another, timed from the webhook to the bot's first frame back") var firstFrames = 50
    @Option(help: "Numbers of calls at once for the round-trip runs, comma-separated") var calls = "100"
    @Option(help: "Seconds of 20 ms frames each call sends in a round-trip run") var seconds = 5.0

    func run() async throws {
        let token = try String(contentsOfFile: authTokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let (publicURL, serviceURL) = (publicUrl, serviceUrl)
        let bench = CallBench { id in
            CallDouble(carrier: .twilio, callID: id, credentials: .twilio(authToken: token), publicURL: publicURL, serviceURL: serviceURL)
        }
        var result: [String: JSONValue] = [:]
        if firstFrames > 0 {
            let latencies = try await bench.firstFrameLatencies(count: firstFrames).sorted()
            result["first_frame_ms"] = .object([
                "p50": .number(CallBench.percentile(latencies, 50)), "p99": .number(CallBench.percentile(latencies, 99)),
                "count": .number(Double(latencies.count)),
            ])
        }
        var runs: [JSONValue] = []
        for count in calls.split(separator: ",").compactMap({ Int($0) }) where count > 0 {
            let (trips, lost) = try await bench.roundTrips(calls: count, seconds: seconds)
            runs.append(
                .object([
                    "calls": .number(Double(count)), "frames": .number(Double(trips.count)), "lost": .number(Double(lost)),
                    "p50_ms": .number(CallBench.percentile(trips, 50)), "p99_ms": .number(CallBench.percentile(trips, 99)),
                    "max_ms": .number(trips.last ?? .nan),
                    // A frame is late when its round trip is longer than a frame (20 ms).
                    "late": .number(Double(trips.filter { $0 > 20 }.count)),
                ])
            )
        }
        result["round_trips"] = .array(runs)
        print(JSONValue.object(result).text)
    }
}
