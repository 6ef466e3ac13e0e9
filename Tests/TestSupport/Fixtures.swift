import Foundation

/// The webhook bodies and helpers under `Tests/Fixtures`, read from the source tree.
package enum Fixtures {
    package static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    package static func path(_ name: String) -> String {
        directory.appendingPathComponent(name).path
    }

    package static func bytes(_ name: String) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path(name)) else {
            preconditionFailure("missing fixture \(name)")
        }
        return Array(data)
    }

    /// Every fixture file in a folder (`daily`, `simplified`, `malformed`), by name.
    package static func names(in folder: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: path(folder))) ?? []
        return files.sorted().map { "\(folder)/\($0)" }
    }

    /// A fixture with its event id, room and participant replaced, for tests that need many distinct events of one
    /// shape. `room` replaces `demo-room`; `participant` replaces the participant's `session_id`.
    package static func variant(_ name: String, id: String? = nil, room: String? = nil, participant: String? = nil) -> [UInt8] {
        guard var object = try? JSONSerialization.jsonObject(with: Data(bytes(name))) as? [String: Any],
            var payload = object["payload"] as? [String: Any]
        else { preconditionFailure("\(name) is not a Daily event") }
        if let id { object["id"] = id }
        if let room { payload["room"] = room }
        if let participant { payload["session_id"] = participant }
        object["payload"] = payload
        guard let data = try? JSONSerialization.data(withJSONObject: object) else { preconditionFailure("cannot encode") }
        return Array(data)
    }

    /// The signature vectors computed with Python (`signatures/make-vectors.py`).
    package struct Vectors: Decodable, Sendable {
        package struct Vector: Decodable, Sendable {
            package var bodyFile: String?
            package var body: String?
            package var secret: String
            package var timestamp: String
            package var signature: String

            enum CodingKeys: String, CodingKey {
                case body, secret, timestamp, signature
                case bodyFile = "body_file"
            }

            package var bodyBytes: [UInt8] { bodyFile.map(Fixtures.bytes) ?? Array((body ?? "").utf8) }
        }

        package var secret: String
        package var otherSecret: String
        package var vectors: [Vector]

        enum CodingKeys: String, CodingKey {
            case secret, vectors
            case otherSecret = "other_secret"
        }
    }

    package static var vectors: Vectors {
        guard let vectors = try? JSONDecoder().decode(Vectors.self, from: Data(bytes("signatures/vectors.json"))) else {
            preconditionFailure("cannot read signatures/vectors.json")
        }
        return vectors
    }
}
