import Foundation
import Policy
import Yams

/// Reads a YAML file (JSON is YAML too) into a `JSONValue`: `AUTOSPAWN_PROFILES`. Scalars keep YAML's types (an
/// unquoted `+1555...` is a number, which the profile checks then refuse for a phone number).
public enum YAMLDocument {
    /// Why a file is not a document the service can use, with the place YAML gives.
    public struct ReadError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func read(path: String) throws -> JSONValue {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ReadError(description: "cannot be read (\((error as NSError).localizedDescription))")
        }
        return try parse(text)
    }

    public static func parse(_ text: String) throws -> JSONValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ReadError(description: "is not YAML: \(error.description.split(separator: "\n").first ?? "")")
        }
        guard let node else { throw ReadError(description: "is empty") }
        return try value(node)
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
