import Policy
import Testing

/// Room patterns cost bounded time (issue 21, item 4): Swift's `Regex` backtracks without bound, and
/// `([a-z0-9]+-?)+` took over 10 s on an 18-character room name, on every webhook.
struct RoomFilterTests {
    @Test(arguments: [
        "([a-z0-9]+-?)+", "(a+)+", "(a*)*", "(a|a)*", "(a|b)+c", "((ab)+)*", "(x(a+)y){2,}", "(?:a+b?)*", "(a|b){1,20}",
        "([a-z]+)+?", "(\\d+)*", "(a?)+", "(sales-?)+",
    ])
    func aPatternThatCanBacktrackWithoutBoundIsRefused(pattern: String) {
        #expect(throws: RoomFilter.Problem.unbounded("a repeated group that itself repeats or has alternatives")) {
            try RoomFilter(pattern: pattern)
        }
    }

    @Test(arguments: ["(a)\\1", "(?<x>a)\\k<x>"])
    func aBackreferenceIsRefused(pattern: String) {
        #expect(throws: RoomFilter.Problem.unbounded("a backreference")) { try RoomFilter(pattern: pattern) }
    }

    @Test(arguments: [
        ".*", "sales-.*", "[a-z0-9-]+", "(sales|support)-.*", "(ab)+", "(a+)?", "(a|b)?c", "[(+)]+", "\\(a+\\)+",
        "https://acme\\.daily\\.co/.*", "x{2}", "(a+){1}", "room-[0-9]{1,4}", "\\d+",
    ])
    func anOrdinaryPatternIsTaken(pattern: String) throws {
        _ = try RoomFilter(pattern: pattern)
    }

    @Test func anInvalidPatternIsSaidToBeOne() {
        #expect(throws: RoomFilter.Problem.invalid) { try RoomFilter(pattern: "([a-z") }
    }

    @Test func theSettingAndAProfileNameTheRefusedPattern() throws {
        #expect(
            throws: ConfigError(
                "AUTOSPAWN_ALLOWED_ROOM_REGEX",
                "'([a-z0-9]+-?)+' can take exponential time to match (a repeated group that itself repeats or has alternatives): write it without that, e.g. [a-z0-9-]+ for ([a-z0-9]+-?)+"
            )
        ) {
            try Config.parse(["AUTOSPAWN_BOT_COMMAND": "bot", "AUTOSPAWN_ALLOWED_ROOM_REGEX": "([a-z0-9]+-?)+"])
        }
        let file: JSONValue = .array([
            .object([
                "name": .string("sales"), "rooms": .string("(sales-?)+"), "command": .string("bot"),
            ])
        ])
        do {
            _ = try Config.parse(["AUTOSPAWN_PROFILES": "p.yaml"], readProfiles: { _ in file })
            Issue.record("a profile's unbounded pattern was taken")
        } catch {
            #expect(
                error.description.hasPrefix("AUTOSPAWN_PROFILES: p.yaml: profile 'sales', field 'rooms' '(sales-?)+' can take exponential time"),
                "\(error)"
            )
        }
    }
}
