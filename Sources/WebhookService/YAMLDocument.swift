// libyaml, which Yams builds as its own module: its event stream shows anchors and aliases before Yams composes
// (and a document's reader expands) anything.
import CYaml
import Foundation
import Policy
import Yams

/// Reads a YAML file (JSON is YAML too) into a `JSONValue`: `AUTOSPAWN_PROFILES`. Scalars keep YAML's types (an
/// unquoted `+1555...` is a number, which the profile checks then refuse for a phone number).
package enum YAMLDocument {
    /// Why a file is not a document the service can use, with the place YAML gives.
    package struct ReadError: Error, CustomStringConvertible {
        package let description: String
    }

    /// A profiles file is a few KiB; one larger than this is refused unread.
    package static let maxBytes = 1 << 20

    package static func read(path: String) throws -> JSONValue {
        let data: Data
        do {
            let file = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? file.close() }
            // At most one byte past the limit is read, whatever the file is (a pipe, /dev/zero).
            data = try file.read(upToCount: maxBytes + 1) ?? Data()
        } catch {
            throw ReadError(description: "cannot be read (\((error as NSError).localizedDescription))")
        }
        guard data.count <= maxBytes else { throw ReadError(description: "is larger than 1 MiB") }
        guard let text = String(data: data, encoding: .utf8) else { throw ReadError(description: "is not UTF-8 text") }
        return try parse(text)
    }

    package static func parse(_ text: String) throws -> JSONValue {
        // A few lines of anchors and aliases can stand for billions of nodes ("billion laughs"): refused before
        // anything is composed, let alone expanded.
        try refuseAnchorsAndAliases(text)
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ReadError(description: "is not YAML: \(error.description.split(separator: "\n").first ?? "")")
        }
        guard let node else { throw ReadError(description: "is empty") }
        return try value(node)
    }

    /// Reads the document's events with libyaml and throws at the first anchor (`&name`) or alias (`*name`). A syntax
    /// error ends the scan quietly: Yams then reports it with its place.
    static func refuseAnchorsAndAliases(_ text: String) throws {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw ReadError(description: "cannot be parsed (out of memory)") }
        defer { yaml_parser_delete(&parser) }
        var bytes = Array(text.utf8)
        try bytes.withUnsafeMutableBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return }
                defer { yaml_event_delete(&event) }
                let usesAnchor: Bool
                switch event.type {
                case YAML_STREAM_END_EVENT: return
                case YAML_ALIAS_EVENT: usesAnchor = true
                case YAML_SCALAR_EVENT: usesAnchor = event.data.scalar.anchor != nil
                case YAML_SEQUENCE_START_EVENT: usesAnchor = event.data.sequence_start.anchor != nil
                case YAML_MAPPING_START_EVENT: usesAnchor = event.data.mapping_start.anchor != nil
                default: usesAnchor = false
                }
                if usesAnchor {
                    throw ReadError(
                        description: "uses a YAML anchor or alias (line \(event.start_mark.line + 1)), which is not supported: write each value out"
                    )
                }
            }
        }
    }

    private static func value(_ node: Node) throws -> JSONValue {
        switch node {
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case Tag.Name.null: return .null
            case Tag.Name.bool: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case Tag.Name.int: return node.int.map { .number(Double($0)) } ?? .string(scalar.string)
            case Tag.Name.float: return node.float.map(JSONValue.number) ?? .string(scalar.string)
            default: return .string(scalar.string)
            }
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (key, item) in mapping {
                guard let name = key.string else { throw ReadError(description: "has a key that is not a string") }
                object[name] = try value(item)
            }
            return .object(object)
        case .sequence(let sequence):
            return .array(try sequence.map(value))
        case .alias:
            throw ReadError(description: "uses an alias, which is not supported")
        }
    }
}
