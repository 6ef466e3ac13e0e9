/// `AUTOSPAWN_PROFILES`: the profiles file, already read as a document (YAML, of which JSON is a part), checked
/// field by field. Every error names the file, the profile and the field.
struct ProfileFile {
    /// What every profile inherits from the service's settings.
    struct Inherited {
        var botName: String
        /// The service's allow-listed variables a bot gets (`botBaseVariables`, `AUTOSPAWN_BOT_ENV`).
        var botEnvironment: [String: String]
        /// The whole environment, where a profile's `env` names are looked up.
        var environment: [String: String]
        var hasDailyAPIKey: Bool
        var maxConcurrency: Int
    }

    static let variable = "AUTOSPAWN_PROFILES"
    static let fields: Set<String> = [
        "name", "rooms", "dialin", "command", "agent_url", "bot_name", "body", "env", "max_concurrency", "warm_bots",
    ]

    let path: String
    let inherited: Inherited

    /// The profiles, in the file's order, and warnings for settings that work but are unlikely meant.
    func profiles(_ document: JSONValue) throws(ConfigError) -> (profiles: [BotProfile], warnings: [String]) {
        guard case .array(let entries) = document else {
            throw ConfigError(Self.variable, "\(path): must be a list of profiles (each '- name: ...')")
        }
        guard !entries.isEmpty else { throw ConfigError(Self.variable, "\(path): lists no profile") }
        var profiles: [BotProfile] = []
        var warnings: [String] = []
        var numbers: [String: String] = [:]
        for (index, entry) in entries.enumerated() {
            let profile = try self.profile(entry, index: index)
            if profiles.contains(where: { $0.name == profile.name }) {
                throw error(profile.name, "name", "is used by an earlier profile too")
            }
            for number in profile.dialin {
                if let other = numbers[number] {
                    throw error(profile.name, "dialin", "'\(number)' is listed by profile '\(other)' too")
                }
                numbers[number] = profile.name
            }
            if let cap = profile.maxConcurrency, cap > inherited.maxConcurrency {
                warnings.append(
                    "\(Self.variable): profile '\(profile.name)' has max_concurrency \(cap), more than AUTOSPAWN_MAX_CONCURRENCY=\(inherited.maxConcurrency), which caps it"
                )
            }
            profiles.append(profile)
        }
        return (profiles, warnings)
    }

    private func profile(_ entry: JSONValue, index: Int) throws(ConfigError) -> BotProfile {
        let label = "#\(index + 1)"
        guard case .object(let fields) = entry else { throw error(label, nil, "is not a mapping of fields") }
        guard case .string(let name)? = fields["name"] else { throw error(label, "name", "is required (a string)") }
        guard Self.isProfileName(name) else {
            throw error(label, "name", "'\(name)' is not a profile name (1 to 64 of A-Z, a-z, 0-9, '_', '-')")
        }
        if let unknown = fields.keys.sorted().first(where: { !Self.fields.contains($0) }) {
            throw error(name, unknown, "is not a profile field (\(Self.fields.sorted().joined(separator: ", ")))")
        }
        var rooms: RoomFilter?
        if let value = fields["rooms"] {
            guard case .string(let pattern) = value else { throw error(name, "rooms", "must be a regular expression (a string)") }
            do {
                rooms = try RoomFilter(pattern: pattern)
            } catch {
                throw self.error(name, "rooms", "'\(pattern)' \(error)")
            }
        }
        let dialin = try strings(fields["dialin"], profile: name, field: "dialin", what: "a called number (quote it: \"+1555...\")")
        for number in dialin where number.isEmpty || number.count > 64 {
            throw error(name, "dialin", "'\(number)' is not a called number")
        }
        let launcher: Config.Launcher
        switch (fields["command"], fields["agent_url"]) {
        case (nil, nil), (.some, .some):
            throw error(name, "command", "give exactly one of command and agent_url")
        case (let command?, nil):
            guard case .string(let text) = command else { throw error(name, "command", "must be a command line (a string)") }
            do {
                launcher = .process(arguments: try Config.commandWords(text))
            } catch {
                throw self.error(name, "command", error.problem)
            }
        case (nil, let url?):
            guard case .string(let text) = url, Config.isHTTPURL(text) else {
                throw error(name, "agent_url", "must be an http:// or https:// URL")
            }
            guard inherited.hasDailyAPIKey else {
                throw error(name, "agent_url", "needs DAILY_API_KEY: to give the agent a token and to eject it")
            }
            launcher = .agent(baseURL: Config.trimmingTrailingSlashes(text))
        }
        var botName = inherited.botName
        if let value = fields["bot_name"] {
            guard case .string(let text) = value, !text.trimmingBlanks().isEmpty else {
                throw error(name, "bot_name", "must be a name (a non-empty string)")
            }
            botName = text
        }
        var body: [String: JSONValue] = [:]
        if let value = fields["body"] {
            guard case .object(let object) = value else { throw error(name, "body", "must be a mapping (a JSON object)") }
            body = object
        }
        var environment = inherited.botEnvironment
        for variable in try strings(fields["env"], profile: name, field: "env", what: "a variable name") {
            do {
                try Config.checkBotVariable(variable)
            } catch {
                throw self.error(name, "env", error.problem)
            }
            if let value = inherited.environment[variable] { environment[variable] = value }
        }
        let maxConcurrency = try integer(fields["max_concurrency"], profile: name, field: "max_concurrency", range: 1...100_000)
        let warmBots = try integer(fields["warm_bots"], profile: name, field: "warm_bots", range: 0...1000) ?? 0
        if warmBots > 0 {
            guard case .process(let words) = launcher else {
                throw error(name, "warm_bots", "needs command: an agent (agent_url) cannot be prewarmed")
            }
            if let placeholder = Config.placeholder(in: words) {
                throw error(
                    name,
                    "warm_bots",
                    "command uses \(placeholder), but a warm bot starts before its room: let it read the room from its standard input (README, Warm bots)"
                )
            }
        }
        return BotProfile(
            name: name,
            rooms: rooms,
            dialin: dialin,
            launcher: launcher,
            botName: botName,
            body: body,
            environment: environment,
            maxConcurrency: maxConcurrency,
            warmBots: warmBots
        )
    }

    private func strings(_ value: JSONValue?, profile: String, field: String, what: String) throws(ConfigError) -> [String] {
        guard let value else { return [] }
        guard case .array(let items) = value else { throw error(profile, field, "must be a list") }
        var strings: [String] = []
        for item in items {
            guard case .string(let text) = item else { throw error(profile, field, "each entry must be \(what)") }
            strings.append(text)
        }
        return strings
    }

    private func integer(_ value: JSONValue?, profile: String, field: String, range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let value else { return nil }
        guard case .number(let number) = value, number.rounded() == number, number >= Double(range.lowerBound),
            number <= Double(range.upperBound)
        else {
            throw error(profile, field, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return Int(number)
    }

    private func error(_ profile: String, _ field: String?, _ problem: String) -> ConfigError {
        let field = field.map { ", field '\($0)'" } ?? ""
        return ConfigError(Self.variable, "\(path): profile '\(profile)'\(field) \(problem)")
    }

    /// Names that fit a URL path, a metric label and a file name.
    static func isProfileName(_ name: String) -> Bool {
        (1...64).contains(name.count)
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }
}
