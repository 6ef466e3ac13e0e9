/// `AUTOSPAWN_ALLOWED_ROOM_REGEX` (and a profile's `rooms`): which rooms are eligible for a bot.
///
/// Swift's `Regex` backtracks without bound: a pattern such as `([a-z0-9]+-?)+` takes seconds on an 18-character
/// name that does not match, and every webhook runs it. So a pattern that can backtrack without bound is refused
/// when the service starts (`RoomFilter.Problem.unbounded`): what is left costs time polynomial in a name's length,
/// and names are at most 128 characters (URLs a few more).
package struct RoomFilter: @unchecked Sendable {
    // `Regex<AnyRegexOutput>` is an immutable value; it is only read after init, so sharing it is safe.
    private let regex: Regex<AnyRegexOutput>
    private let matchesEverything: Bool
    /// The expression as configured.
    package let pattern: String

    /// Why a pattern cannot be a room filter.
    package enum Problem: Error, Equatable, CustomStringConvertible {
        /// Not a regular expression.
        case invalid
        /// One that can take exponential time to match; the text says what in it does.
        case unbounded(String)

        package var description: String {
            switch self {
            case .invalid: "is not a valid regular expression"
            case .unbounded(let what):
                "can take exponential time to match (\(what)): write it without that, e.g. [a-z0-9-]+ for ([a-z0-9]+-?)+"
            }
        }
    }

    package init(pattern: String) throws(Problem) {
        do {
            regex = try Regex(pattern)
        } catch {
            throw .invalid
        }
        if let what = Self.unboundedConstruct(in: pattern) { throw .unbounded(what) }
        matchesEverything = pattern == ".*"
        self.pattern = pattern
    }

    /// True when the pattern matches the whole room URL or the whole room name.
    package func allows(name: String, url: String?) -> Bool {
        if matchesEverything { return true }
        if let url, (try? regex.wholeMatch(in: url)) != nil { return true }
        return (try? regex.wholeMatch(in: name)) != nil
    }

    /// What in a (valid) pattern can make a backtracking matcher take exponential time, or nil: a backreference, or a
    /// group repeated (`*`, `+`, `{n,m}`) that itself holds a repetition, an optional part or alternatives, the shapes
    /// of every catastrophic pattern (`(a+)+`, `(a|a)*`, `(a?)*`). A group that is only optional (`?`, `{0,1}`) is not
    /// repeated.
    static func unboundedConstruct(in pattern: String) -> String? {
        let characters = Array(pattern)
        // For each open group: whether it holds a repetition or an alternation so far.
        var open: [Bool] = []
        // Whether the atom just before is a group that holds one: a quantifier now would repeat all of it.
        var previousIsComplexGroup = false
        func markInnermostGroup() { if !open.isEmpty { open[open.count - 1] = true } }
        var index = 0
        while index < characters.count {
            let character = characters[index]
            var isComplexGroup = false
            switch character {
            case "\\":
                let next = index + 1 < characters.count ? characters[index + 1] : " "
                if (next.isNumber && next != "0") || next == "k" || next == "g" { return "a backreference" }
                index += 1
            case "[":
                // A class is one character: skip to its end (a ']' first in it, or an escaped one, belongs to it).
                index += 1
                if index < characters.count && characters[index] == "^" { index += 1 }
                if index < characters.count && characters[index] == "]" { index += 1 }
                while index < characters.count && characters[index] != "]" {
                    if characters[index] == "\\" { index += 1 }
                    index += 1
                }
            case "(":
                open.append(false)
            case ")":
                isComplexGroup = open.popLast() ?? false
                if isComplexGroup { markInnermostGroup() }
            case "|":
                markInnermostGroup()
            case "*", "+", "{":
                var repeats = true
                if character == "{" {
                    // {n}, {n,}, {n,m} repeat, but for {0,1} and {1}; anything else is a literal brace.
                    guard let end = characters[index...].firstIndex(of: "}") else { break }
                    let bounds = String(characters[(index + 1)..<end]).split(separator: ",", omittingEmptySubsequences: false)
                    guard (1...2).contains(bounds.count), !bounds[0].isEmpty, bounds.allSatisfy({ $0.allSatisfy(\.isNumber) }) else { break }
                    repeats = !(bounds == ["0", "1"] || bounds == ["1"] || bounds == ["1", "1"])
                    index = end
                }
                if repeats {
                    if previousIsComplexGroup { return "a repeated group that itself repeats or has alternatives" }
                    markInnermostGroup()
                }
                // A lazy or possessive mark after it changes nothing.
                isComplexGroup = previousIsComplexGroup
            case "?":
                // Optional (or a lazy mark): inside a repeated group it makes the group's matches ambiguous too. Right
                // after '(' it opens a group's modifiers instead.
                if index > 0 && characters[index - 1] != "(" { markInnermostGroup() }
                isComplexGroup = previousIsComplexGroup
            default:
                break
            }
            previousIsComplexGroup = isComplexGroup
            index += 1
        }
        return nil
    }
}
