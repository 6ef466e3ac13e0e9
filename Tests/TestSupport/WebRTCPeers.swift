import Foundation

/// The WebRTC peers of the tests (`Tests/Fixtures/webrtc`, aiortc in a virtual environment under `.build/` that
/// `python` makes once): a browser (`peer.py`) and a bot (`bot.py`). Every ICE candidate of theirs is 127.0.0.1.
package enum WebRTCPeers {
    /// What the browser saw: the statuses of its requests, the `pc_id`s it was answered, whether its connection reached
    /// `connected`, and the audio frames it heard (those of the bot's tone apart).
    package struct Outcome: Decodable, Sendable {
        package var statuses: [Int]
        package var pcIDs: [String]
        package var connected: Bool
        package var audioFrames: Int
        package var toneFrames: Int
        /// The last refusal's code (its body's `error`).
        package var error: Refusal?

        package struct Refusal: Decodable, Sendable {
            package var error: String
        }

        enum CodingKeys: String, CodingKey {
            case statuses, connected, error
            case pcIDs = "pc_ids"
            case audioFrames = "audio_frames"
            case toneFrames = "tone_frames"
        }
    }

    static let launcher = Fixtures.path("webrtc/python")

    /// The bot's command line (`AUTOSPAWN_BOT_COMMAND`): `record` (with `{session_id}`) gets each message it receives.
    package static func botCommand(record: String? = nil, noAnswer: Bool = false) async throws -> String {
        let python = try await interpreter()
        var command = "\(python) \(Fixtures.path("webrtc/bot.py"))"
        if let record { command += " --record \(record)" }
        if noAnswer { command += " --no-answer" }
        return command
    }

    /// Connects a browser to the service (`options` as `peer.py` takes them) and returns what it saw once it has hung
    /// up.
    package static func connect(to serviceURL: String, token: String? = nil, _ options: [String] = []) async throws -> Outcome {
        let python = try await interpreter()
        let arguments = [Fixtures.path("webrtc/peer.py"), "--url", serviceURL] + options + (token.map { ["--token", $0] } ?? [])
        let (status, output) = try await onOwnThread { try run(python, arguments) }
        guard status == 0, let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
            throw HarnessError("peer.py exited \(status): \(output)")
        }
        return try JSONDecoder().decode(Outcome.self, from: Data(line.utf8))
    }

    /// The interpreter with aiortc, its environment made when missing.
    private static func interpreter() async throws -> String {
        let (status, output) = try await onOwnThread { try run(launcher, ["--path"]) }
        guard status == 0 else { throw HarnessError("\(launcher) --path exited \(status): \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
