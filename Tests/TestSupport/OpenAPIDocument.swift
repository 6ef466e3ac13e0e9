import Foundation
import Yams

/// `openapi.yaml`, read for the conformance tests: which operations and answers it documents, and whether
/// a body is what it says. The schema check covers the JSON Schema the document uses: `$ref`, `type`
/// (with `null`), `anyOf`, `const`, `enum`, `properties`, `required`, `additionalProperties: false`, `items`,
/// `minimum`, `maximum` and the `date-time` and `uri` formats.
package struct OpenAPIDocument {
    package let root: [String: Any]

    package static var repositoryFile: URL {
        Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("openapi.yaml")
    }

    package init(contentsOf url: URL = repositoryFile) throws {
        let text = try String(contentsOf: url, encoding: .utf8)
        guard let root = try Yams.load(yaml: text) as? [String: Any] else { throw HarnessError("openapi.yaml is not a mapping") }
        self.root = root
    }

    static let methods = ["get", "put", "post", "delete", "patch", "head", "options"]

    var paths: [String: [String: Any]] { root["paths"] as? [String: [String: Any]] ?? [:] }

    /// Every operation, as `GET /sessions/{id}`.
    package var operations: Set<String> {
        var result: Set<String> = []
        for (path, item) in paths {
            for method in Self.methods where item[method] != nil { result.insert("\(method.uppercased()) \(path)") }
        }
        return result
    }

    /// Every documented answer, as `GET /sessions/{id} 404`.
    package var documentedAnswers: Set<String> {
        var result: Set<String> = []
        for operation in operations {
            for status in (self.operation(operation)?["responses"] as? [String: Any] ?? [:]).keys {
                result.insert("\(operation) \(status)")
            }
        }
        return result
    }

    func operation(_ name: String) -> [String: Any]? {
        let parts = name.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        return paths[parts[1]]?[parts[0].lowercased()] as? [String: Any]
    }

    /// The operation (`GET /sessions/{id}`) that a concrete request (`GET /sessions/abc?x=1`) is for.
    package func operation(method: String, path: String) -> String? {
        let bare = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? path
        let segments = bare.split(separator: "/", omittingEmptySubsequences: false)
        // A literal segment is preferred to a template one (`/sessions/stream` over `/sessions/{id}`).
        let candidates = operations.filter { $0.hasPrefix(method.uppercased() + " ") }.compactMap { operation -> (String, Int)? in
            let template = operation.split(separator: " ", maxSplits: 1)[1].split(separator: "/", omittingEmptySubsequences: false)
            guard template.count == segments.count else { return nil }
            var literal = 0
            for (want, have) in zip(template, segments) {
                if want.hasPrefix("{") && want.hasSuffix("}") && !have.isEmpty { continue }
                guard want == have else { return nil }
                literal += 1
            }
            return (operation, literal)
        }
        return candidates.max { $0.1 < $1.1 }?.0
    }

    /// What is wrong with an answer to `operation`: an undocumented status, another content type, a body
    /// that is not what the schema says, a missing documented header. Empty when it conforms.
    package func problems(
        operation: String,
        status: Int,
        headers: [String: String],
        body: String
    ) -> [String] {
        guard let responses = self.operation(operation)?["responses"] as? [String: Any] else { return ["\(operation) is not documented"] }
        guard var response = responses[String(status)] as? [String: Any] else {
            return ["\(operation) answered \(status), which is not documented"]
        }
        if let ref = response["$ref"] as? String { response = resolve(ref) ?? [:] }
        var found: [String] = []
        for (name, header) in response["headers"] as? [String: Any] ?? [:] {
            if (header as? [String: Any])?["required"] as? Bool == true, headers[name.lowercased()] == nil {
                found.append("\(operation) \(status): no \(name) header")
            }
        }
        guard let content = response["content"] as? [String: Any] else {
            if !body.isEmpty, status != 302 { found.append("\(operation) \(status): a body where none is documented") }
            return found
        }
        let type = (headers["content-type"] ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard let media = content[type] as? [String: Any] else {
            return found + ["\(operation) \(status): content type '\(type)', documented \(content.keys.sorted())"]
        }
        if type == "application/json", let schema = media["schema"] as? [String: Any] {
            guard let value = try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed]) else {
                return found + ["\(operation) \(status): the body is not JSON: \(body.prefix(80))"]
            }
            found += validate(value, against: schema, at: "\(operation) \(status) body")
        }
        return found
    }

    /// The schemas of a stream's events (`x-sse-events`), by event name.
    package func streamEvents(of operation: String) -> [String: [String: Any]] {
        let responses = self.operation(operation)?["responses"] as? [String: Any]
        let ok = responses?["200"] as? [String: Any]
        return ok?["x-sse-events"] as? [String: [String: Any]] ?? [:]
    }

    func resolve(_ ref: String) -> [String: Any]? {
        guard ref.hasPrefix("#/") else { return nil }
        var node: Any = root
        for key in ref.dropFirst(2).split(separator: "/") {
            guard let next = (node as? [String: Any])?[String(key)] else { return nil }
            node = next
        }
        return node as? [String: Any]
    }

    /// JSON Schema, as far as this document uses it.
    package func validate(_ value: Any, against schema: [String: Any], at place: String) -> [String] {
        if let ref = schema["$ref"] as? String {
            guard let target = resolve(ref) else { return ["\(place): unresolvable \(ref)"] }
            return validate(value, against: target, at: place)
        }
        if let options = schema["anyOf"] as? [[String: Any]] {
            let problems = options.map { validate(value, against: $0, at: place) }
            if !problems.contains(where: \.isEmpty) { return problems.flatMap { $0 } }
        }
        var found: [String] = []
        if let constant = schema["const"], !Self.equal(value, constant) {
            found.append("\(place): \(value) is not \(constant)")
        }
        if let options = schema["enum"] as? [Any], !options.contains(where: { Self.equal(value, $0) }) {
            found.append("\(place): '\(value)' is not one of \(options)")
        }
        if let type = schema["type"] {
            let allowed = (type as? [String]) ?? [(type as? String) ?? ""]
            guard allowed.contains(where: { Self.has(value, type: $0) }) else {
                return found + ["\(place): \(value) is not \(allowed.joined(separator: " or "))"]
            }
        }
        if let text = value as? String, let format = schema["format"] as? String {
            switch format {
            case "date-time":
                if (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)) == nil,
                    (try? Date.ISO8601FormatStyle().parse(text)) == nil
                {
                    found.append("\(place): '\(text)' is not an RFC 3339 time")
                }
            case "uri":
                if URL(string: text)?.scheme == nil { found.append("\(place): '\(text)' is not a URI") }
            default: break
            }
        }
        if let number = value as? NSNumber, !(value is Bool) {
            if let minimum = schema["minimum"] as? Double, number.doubleValue < minimum { found.append("\(place): \(number) < \(minimum)") }
            if let maximum = schema["maximum"] as? Double, number.doubleValue > maximum { found.append("\(place): \(number) > \(maximum)") }
            if let minimum = schema["minimum"] as? Int, number.doubleValue < Double(minimum) { found.append("\(place): \(number) < \(minimum)") }
        }
        if let object = value as? [String: Any] {
            let properties = schema["properties"] as? [String: [String: Any]] ?? [:]
            for name in schema["required"] as? [String] ?? [] where object[name] == nil {
                found.append("\(place): '\(name)' is missing")
            }
            for (name, member) in object {
                if let property = properties[name] {
                    found += validate(member, against: property, at: "\(place).\(name)")
                } else if schema["additionalProperties"] as? Bool == false {
                    found.append("\(place): '\(name)' is not documented")
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (index, element) in array.enumerated() { found += validate(element, against: items, at: "\(place)[\(index)]") }
        }
        return found
    }

    static func has(_ value: Any, type: String) -> Bool {
        switch type {
        case "null": return value is NSNull
        case "string": return value is String
        case "boolean": return isBool(value)
        case "integer":
            guard let number = value as? NSNumber, !isBool(value) else { return false }
            return number.doubleValue.rounded() == number.doubleValue
        case "number": return value is NSNumber && !isBool(value)
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        default: return false
        }
    }

    /// JSONSerialization's booleans are NSNumbers of their own class; YAML's are Swift's.
    static func isBool(_ value: Any) -> Bool {
        type(of: value) == Bool.self || String(describing: type(of: value)).contains("Boolean")
    }

    static func equal(_ a: Any, _ b: Any) -> Bool {
        if isBool(a) || isBool(b) { return isBool(a) && isBool(b) && (a as? Bool) == (b as? Bool) }
        switch (a, b) {
        case (let a as String, let b as String): return a == b
        case (let a as NSNumber, let b as NSNumber): return a == b
        default: return false
        }
    }
}
