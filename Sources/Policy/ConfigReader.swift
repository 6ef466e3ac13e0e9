/// Reads typed values out of the environment dictionary, each failure naming its variable.
struct Reader {
    let environment: [String: String]

    init(_ environment: [String: String]) { self.environment = environment }

    func string(_ name: String) -> String? {
        environment[name]
    }

    /// A value that, when present, must not be blank; an empty assignment counts as unset.
    func nonEmpty(_ name: String) throws(ConfigError) -> String? {
        guard let value = environment[name] else { return nil }
        if value.isEmpty { return nil }
        if value.allSatisfy(\.isWhitespace) { throw ConfigError(name, "is blank") }
        return value
    }

    func integer(_ name: String, default value: Int, range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let text = try nonEmpty(name) else { return value }
        guard let number = Int(text.trimmingBlanks()), range.contains(number) else {
            throw ConfigError(name, "'\(text)' is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    func seconds(_ name: String, default value: Double, allowZero: Bool) throws(ConfigError) -> Double {
        guard let text = try nonEmpty(name) else { return value }
        guard let number = Double(text.trimmingBlanks()), number.isFinite, number >= 0, number <= 31_536_000,
            allowZero || number > 0
        else {
            let least = allowZero ? "0" : "more than 0"
            throw ConfigError(name, "'\(text)' is not a number of seconds (\(least), at most 31536000)")
        }
        return number
    }

    /// A number of days, more than 0 (fractions allowed), at most ten years.
    func days(_ name: String, default value: Double) throws(ConfigError) -> Double {
        guard let text = try nonEmpty(name) else { return value }
        guard let number = Double(text.trimmingBlanks()), number.isFinite, number > 0, number <= 3650 else {
            throw ConfigError(name, "'\(text)' is not a number of days (more than 0, at most 3650)")
        }
        return number
    }

    func flag(_ name: String, default value: Bool) throws(ConfigError) -> Bool {
        guard let text = try nonEmpty(name) else { return value }
        switch text.trimmingBlanks().lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigError(name, "'\(text)' is not 1 or 0")
        }
    }

    /// One of an enumeration's raw values, ignoring case.
    func choice<Choice: RawRepresentable & CaseIterable>(
        _ name: String,
        default value: Choice
    ) throws(ConfigError) -> Choice where Choice.RawValue == String {
        guard let text = try nonEmpty(name) else { return value }
        guard let choice = Choice(rawValue: text.trimmingBlanks().lowercased()) else {
            throw ConfigError(name, "'\(text)' is not one of \(Choice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return choice
    }

    /// `AUTOSPAWN_BOT_ENV`: comma-separated variable names; the service's own secrets may not be among them.
    func botEnvironmentNames(_ name: String) throws(ConfigError) -> [String] {
        guard let text = try nonEmpty(name) else { return [] }
        var names: [String] = []
        for part in text.split(separator: ",") {
            let variable = String(part).trimmingBlanks()
            if variable.isEmpty { continue }
            try Config.checkBotVariable(variable)
            names.append(variable)
        }
        return names
    }

    func secrets(_ name: String) throws(ConfigError) -> [[UInt8]] {
        guard let text = try nonEmpty(name) else { return [] }
        var keys: [[UInt8]] = []
        for (index, part) in text.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let trimmed = String(part).trimmingBlanks()
            // The secret itself is never echoed: the line says which entry is wrong, not what it holds.
            guard let key = Base64.decode(trimmed), !key.isEmpty else {
                throw ConfigError(name, "entry \(index + 1) of the comma-separated list is not base64")
            }
            keys.append(key)
        }
        return keys
    }
}

extension String {
    package func trimmingBlanks() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
