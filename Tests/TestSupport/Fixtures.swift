import Foundation

/// The webhook bodies and helpers under `Tests/Fixtures`, read from the source tree.
public enum Fixtures {
    public static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    public static func path(_ name: String) -> String {
        directory.appendingPathComponent(name).path
    }

    public static func bytes(_ name: String) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path(name)) else {
            preconditionFailure("missing fixture \(name)")
        }
        return Array(data)
    }

    /// Every fixture file in a folder (`daily`, `simplified`, `malformed`), by name.
    public static func names(in folder: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: path(folder))) ?? []
        return files.sorted().map { "\(folder)/\($0)" }
    }

    /// A fixture with its event id, room and participant replaced, for tests that need many distinct events of one
    /// shape. `room` replaces `demo-room`; `participant` replaces the participant's `session_id`.
    public static func variant(_ name: String, id: String? = nil, room: String? = nil, participant: String? = nil) -> [UInt8] {
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
    public struct Vectors: Decodable, Sendable {
        public struct Vector: Decodable, Sendable {
            public var bodyFile: String?
            public var body: String?
            public var secret: String
            public var timestamp: String
            public var signature: String

            enum CodingKeys: String, CodingKey {
                case body, secret, timestamp, signature
                case bodyFile = "body_file"
            }

            public var bodyBytes: [UInt8] { bodyFile.map(Fixtures.bytes) ?? Array((body ?? "").utf8) }
        }

        public var secret: String
        public var otherSecret: String
        public var vectors: [Vector]

        enum CodingKeys: String, CodingKey {
            case secret, vectors
            case otherSecret = "other_secret"
        }
    }

    public static var vectors: Vectors {
        guard let vectors = try? JSONDecoder().decode(Vectors.self, from: Data(bytes("signatures/vectors.json"))) else {
            preconditionFailure("cannot read signatures/vectors.json")
        }
        return vectors
    }
}
