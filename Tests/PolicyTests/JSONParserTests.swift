import Foundation
import Policy
import PropertyBased
import TestSupport
import Testing

/// `JSONValue(parsing:)` replaced Foundation's `JSONDecoder` on the webhook path: it must read what the decoder
/// reads, refuse what it refuses, and never crash.
struct JSONParserTests {
    static func foundation(_ bytes: [UInt8]) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    static func parsed(_ bytes: [UInt8]) -> JSONValue? {
        try? JSONValue(parsing: bytes)
    }

    @Test func everyFixtureReadsAsFoundationReadsIt() {
        for folder in ["daily", "simplified", "malformed", "start"] {
            // Foundation accepts a trailing comma; RFC 8259 does not, nor does the parser.
            for name in Fixtures.names(in: folder) where name != "malformed/trailing-comma.json" {
                let body = Fixtures.bytes(name)
                #expect(Self.parsed(body) == Self.foundation(body), "\(name)")
            }
        }
    }

    @Test func aTrailingCommaIsRefused() {
        #expect(Self.parsed(Fixtures.bytes("malformed/trailing-comma.json")) == nil)
    }

    @Test func aZeroWithAnExponentIsANumber() throws {
        #expect(try JSONValue(parsing: Array("0e1".utf8)) == .number(0))
        #expect(try JSONValue(parsing: Array("-0E+9".utf8)) == .number(0))
    }

    @Test func escapesAndUnicodeAreDecoded() throws {
        let text = #"{"a":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00é😀","b":[1,-0.5,2e3,-1E-2,0],"c":null,"d":true,"e":false,"f":{}}"#
        let value = try JSONValue(parsing: Array(text.utf8))
        #expect(value["a"] == .string("\"\\/\u{8}\u{c}\n\r\té😀é😀"))
        #expect(value["b"] == .array([.number(1), .number(-0.5), .number(2000), .number(-0.01), .number(0)]))
        #expect(value["c"] == .null)
        #expect(value["d"] == .bool(true) && value["e"] == .bool(false) && value["f"] == .object([:]))
    }

    @Test(arguments: [
        "", " ", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01", "1.", ".5", "-", "1e", "+1", "tru", "nul", "\"abc",
        "\"\u{1}\"", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "{} {}", "[1] x", "NaN", "1e400", "1e-400", "{1:2}",
    ])
    func invalidTextIsRefused(_ text: String) {
        #expect(Self.parsed(Array(text.utf8)) == nil)
    }

    @Test func invalidUTF8AndDeepNestingAreRefused() {
        #expect(Self.parsed([UInt8(ascii: "\""), 0xC3, UInt8(ascii: "\"")]) == nil)
        #expect(Self.parsed([UInt8(ascii: "\""), 0xFF, UInt8(ascii: "\\"), UInt8(ascii: "n"), UInt8(ascii: "\"")]) == nil)
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(Self.parsed(Array(deep.utf8)) == nil)
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(Self.parsed(Array(fine.utf8)) != nil)
    }

    /// Text made of JSON's own pieces, so that much of it is valid and the rest is nearly so.
    @Test func generatedTextReadsAsFoundationReadsIt() async {
        let pieces: [String] = [
            "{", "}", "[", "]", ",", ":", "\"", "\"k\"", "\"v\"", "\\", "\\u00e9", "\\ud83d", "\\ude00", "\\n", "0", "1", "9",
            "-", "+", ".", "e", "E", "true", "false", "null", " ", "\n", "é", "😀", "\u{1}", "x",
        ]
        let texts = Gen.element(of: pieces).array(of: 0...24).map { $0.compactMap { $0 }.joined() }
        await propertyCheck(count: 20_000, input: texts) { text in
            let bytes = Array(text.utf8)
            let (own, foundation) = (Self.parsed(bytes), Self.foundation(bytes))
            // Foundation refuses `0e1` (a zero with an exponent), which RFC 8259 allows and the parser reads.
            if own != nil, foundation == nil, text.contains(/(^|[^0-9.])-?0[eE]/) { return }
            #expect(own == foundation, "\(text)")
        }
    }

    @Test func whatFoundationWritesReadsBackTheSame() async throws {
        let leaves = Gen.element(of: [
            JSONValue.null, .bool(true), .bool(false), .number(0), .number(-12.5), .number(1_708_972_279.961), .number(1e300),
            .string(""), .string("démo \"room\"\n\\"), .string("😀\u{7f}"),
        ]).compactMap { $0 }
        let keys = Gen.element(of: ["a", "b", "é", "🙂"]).array(of: 0...4)
        await propertyCheck(count: 500, input: leaves.array(of: 0...4), keys) { leaves, keys in
            let value = JSONValue.object(
                Dictionary(zip(keys.compactMap { $0 }, leaves + [.array(leaves)]), uniquingKeysWith: { $1 })
            )
            guard let data = try? JSONEncoder().encode(value) else {
                Issue.record("JSONEncoder failed on \(value)")
                return
            }
            #expect(Self.parsed(Array(data)) == Self.foundation(Array(data)))
        }
    }
}
