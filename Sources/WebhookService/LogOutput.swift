import Foundation
import Logging
import Policy
import Synchronization

/// The service's log lines on standard error: `text` for people, `json` for one object a line. Every line
/// passes the `SecretRedactor` on its way out, so no configured secret or meeting token is ever written,
/// whatever a message or an error's description carried.
package struct LogOutput: LogHandler {
    package var logLevel: Logger.Level
    package var metadata: Logger.Metadata = [:]
    let label: String
    let format: Config.LogFormat
    let redactor: SecretRedactor
    let sink: LogSink

    package init(label: String, config: Config, sink: LogSink = .standardError) {
        self.label = label
        self.logLevel = Logger.Level(rawValue: config.logLevel.rawValue) ?? .info
        self.format = config.logFormat
        self.redactor = SecretRedactor(config)
        self.sink = sink
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let line =
            switch format {
            case .json: Self.jsonLine(event: event, label: label, metadata: merged)
            case .text: Self.textLine(event: event, label: label, metadata: merged)
            }
        sink.write(redactor.redact(line) + "\n")
    }

    static func jsonLine(event: LogEvent, label: String, metadata: Logger.Metadata) -> String {
        var object: [String: JSONValue] = [:]
        for (key, value) in metadata { object[key] = json(value) }
        // The fixed fields win over metadata of the same name.
        object["time"] = .string(rfc3339(Date().timeIntervalSince1970))
        object["level"] = .string(event.level.rawValue)
        object["label"] = .string(label)
        object["message"] = .string(event.message.description)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(JSONValue.object(object))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func textLine(event: LogEvent, label: String, metadata: Logger.Metadata) -> String {
        let fields = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "\(rfc3339(Date().timeIntervalSince1970)) \(event.level.rawValue) \(label): \(event.message)" + (fields.isEmpty ? "" : " " + fields)
    }

    private static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let entries): .object(entries.mapValues(json))
        }
    }
}

/// Where log lines go: standard error, or lines kept in memory (tests).
package final class LogSink: Sendable {
    private let keeping: Bool
    private let lines = Mutex<[String]>([])

    private init(keeping: Bool) {
        self.keeping = keeping
    }

    package static let standardError = LogSink(keeping: false)

    /// Keeps every line, for tests to read.
    package static func memory() -> LogSink { LogSink(keeping: true) }

    package var written: [String] { lines.withLock { $0 } }

    func write(_ line: String) {
        if keeping {
            lines.withLock { $0.append(line) }
        } else {
            FileHandle.standardError.write(Data(line.utf8))
        }
    }
}
