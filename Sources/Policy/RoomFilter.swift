/// `AUTOSPAWN_ALLOWED_ROOM_REGEX` (and a profile's `rooms`): which rooms are eligible for a bot.
public struct RoomFilter: @unchecked Sendable {
    // `Regex<AnyRegexOutput>` is an immutable value; it is only read after init, so sharing it is safe.
    private let regex: Regex<AnyRegexOutput>
    private let matchesEverything: Bool
    /// The expression as configured.
    public let pattern: String

    public init(pattern: String) throws {
        regex = try Regex(pattern)
        matchesEverything = pattern == ".*"
        self.pattern = pattern
    }

    /// True when the pattern matches the whole room URL or the whole room name.
    public func allows(name: String, url: String?) -> Bool {
        if matchesEverything { return true }
        if let url, (try? regex.wholeMatch(in: url)) != nil { return true }
        return (try? regex.wholeMatch(in: name)) != nil
    }
}
