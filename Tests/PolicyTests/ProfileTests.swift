import Policy
import TestSupport
import Testing

/// `AUTOSPAWN_PROFILES`: the file's checks, the choice of a profile, and what a profile's cap does to a decision.
struct ProfileTests {
    let path = "profiles.yaml"

    /// The settings parsed with `document` as the profiles file.
    func parse(_ document: String, _ environment: [String: String] = [:]) throws(ConfigError) -> Config {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: Array(document.utf8))
        } catch {
            throw ConfigError("test", "bad JSON in the test: \(error)")
        }
        return try Config.parse(environment.merging(["AUTOSPAWN_PROFILES": path]) { $1 }) { _ in value }
    }

    func problem(_ document: String, _ environment: [String: String] = [:]) -> String? {
        do {
            _ = try parse(document, environment)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func aFileOfTwoProfilesNeedsNoBotCommandAndChoosesByRoomInOrder() throws {
        let config = try parse(
            #"""
            [{"name":"sales","rooms":"sales-.*","command":"bot --sales","body":{"persona":"sales"},"max_concurrency":2},
             {"name":"any","rooms":".*","command":"bot","bot_name":"Helper","env":["OPENAI_API_KEY"]}]
            """#,
            ["OPENAI_API_KEY": "sk-1", "PATH": "/bin", "AUTOSPAWN_BOT_ENV": "SHARED"]
        )
        #expect(config.launcher == nil)
        #expect(config.profiles.all.map(\.name) == ["sales", "any"])
        #expect(config.profiles.defaultProfile == nil)
        #expect(config.profiles.forRoom(name: "sales-1", url: nil)?.name == "sales")
        #expect(config.profiles.forRoom(name: "other", url: nil)?.name == "any")
        let sales = try #require(config.profiles.named("sales"))
        #expect(sales.launcher == .process(arguments: ["bot", "--sales"]))
        #expect(sales.botName == "Pipecat Bot")
        #expect(sales.maxConcurrency == 2)
        #expect(sales.bodyText == #"{"persona":"sales"}"#)
        #expect(sales.environment == ["PATH": "/bin"])
        let any = try #require(config.profiles.named("any"))
        #expect(any.botName == "Helper")
        #expect(any.environment == ["PATH": "/bin", "OPENAI_API_KEY": "sk-1"])
        #expect(config.policySettings.botNames == ["Pipecat Bot", "Helper"])
    }

    @Test func withoutAFileTheSettingsFormTheOneDefaultProfileForEveryAllowedRoom() throws {
        let config = try Config.parse(["AUTOSPAWN_BOT_COMMAND": "bot", "AUTOSPAWN_WARM_BOTS": "2", "AUTOSPAWN_BOT_NAME": "B"])
        #expect(!config.profiles.fromFile)
        let only = try #require(config.profiles.defaultProfile)
        #expect(config.profiles.all == [only])
        #expect(only.warmBots == 2)
        #expect(only.botName == "B")
        #expect(config.profiles.forRoom(name: "anything", url: nil) == only)
        #expect(config.profiles.forCall(to: "+1555") == only)
    }

    @Test func theBotCommandBesideAFileIsTheDefaultProfileForStartsAndCallsButNoRoom() throws {
        let config = try parse(#"[{"name":"sales","rooms":"sales-.*","dialin":["+1555"],"command":"bot"}]"#, ["AUTOSPAWN_BOT_COMMAND": "plain"])
        #expect(config.profiles.defaultProfile?.launcher == .process(arguments: ["plain"]))
        #expect(config.profiles.forRoom(name: "other", url: nil) == nil)
        #expect(config.profiles.forCall(to: "+1555")?.name == "sales")
        #expect(config.profiles.forCall(to: "+1777")?.name == "default")
    }

    @Test(arguments: [
        (#"{"name":"a"}"#, "must be a list of profiles"),
        ("[]", "lists no profile"),
        (#"[{"rooms":".*","command":"bot"}]"#, "profile '#1', field 'name' is required"),
        (#"[{"name":"a b","command":"bot"}]"#, "profile '#1', field 'name' 'a b' is not a profile name"),
        (#"[{"name":"a","command":"bot"},{"name":"a","command":"bot"}]"#, "profile 'a', field 'name' is used by an earlier profile"),
        (#"[{"name":"a","command":"bot","max_concurency":1}]"#, "profile 'a', field 'max_concurency' is not a profile field"),
        (#"[{"name":"a"}]"#, "profile 'a', field 'command' give exactly one of command and agent_url"),
        (#"[{"name":"a","command":"bot","agent_url":"http://x"}]"#, "profile 'a', field 'command' give exactly one"),
        (#"[{"name":"a","command":"bot 'open"}]"#, "profile 'a', field 'command' cannot be split"),
        (#"[{"name":"a","agent_url":"ftp://x"}]"#, "profile 'a', field 'agent_url' must be an http"),
        (#"[{"name":"a","agent_url":"http://x"}]"#, "profile 'a', field 'agent_url' needs DAILY_API_KEY"),
        (#"[{"name":"a","rooms":"(","command":"bot"}]"#, "profile 'a', field 'rooms' '(' is not a valid regular expression"),
        (#"[{"name":"a","dialin":[15551234],"command":"bot"}]"#, "profile 'a', field 'dialin' each entry must be a called number (quote it"),
        (
            #"[{"name":"a","dialin":["+1"],"command":"bot"},{"name":"b","dialin":["+1"],"command":"bot"}]"#,
            "profile 'b', field 'dialin' '+1' is listed by profile 'a' too"
        ),
        (#"[{"name":"a","command":"bot","body":[1]}]"#, "profile 'a', field 'body' must be a mapping"),
        (
            #"[{"name":"a","command":"bot","env":["AUTOSPAWN_WEBHOOK_SECRET"]}]"#,
            "profile 'a', field 'env' AUTOSPAWN_WEBHOOK_SECRET is the service's own secret"
        ),
        (#"[{"name":"a","command":"bot","max_concurrency":0}]"#, "profile 'a', field 'max_concurrency' must be a whole number from 1"),
        (#"[{"name":"a","command":"bot","warm_bots":1.5}]"#, "profile 'a', field 'warm_bots' must be a whole number from 0"),
        (#"[{"name":"a","command":"bot {room_url}","warm_bots":1}]"#, "profile 'a', field 'warm_bots' command uses {room_url}"),
        (#"[{"name":"a","command":"bot","bot_name":""}]"#, "profile 'a', field 'bot_name' must be a name"),
    ])
    func aBadFileStopsStartUpNamingTheFileTheProfileAndTheField(document: String, expected: String) {
        let problem = problem(document)
        #expect(problem?.hasPrefix("AUTOSPAWN_PROFILES: profiles.yaml: ") == true)
        #expect(problem?.contains(expected) == true, "\(problem ?? "no error")")
    }

    @Test func aFileProfileNamedDefaultBesideTheBotCommandIsRefused() {
        #expect(problem(#"[{"name":"default","command":"bot"}]"#, ["AUTOSPAWN_BOT_COMMAND": "x"])?.contains("profile 'default'") == true)
        #expect(problem(#"[{"name":"default","command":"bot"}]"#) == nil)
    }

    @Test func aFileThatCannotBeReadIsOneLineNamingIt() {
        struct Unreadable: Error, CustomStringConvertible { var description: String { "cannot be read (no such file)" } }
        #expect(throws: ConfigError("AUTOSPAWN_PROFILES", "gone.yaml: cannot be read (no such file)")) {
            try Config.parse(["AUTOSPAWN_PROFILES": "gone.yaml"]) { _ in throw Unreadable() }
        }
    }

    @Test func aCapAboveTheServicesIsAWarning() throws {
        let config = try parse(#"[{"name":"a","command":"bot","max_concurrency":9}]"#, ["AUTOSPAWN_MAX_CONCURRENCY": "3"])
        #expect(config.warnings.contains { $0.contains("profile 'a' has max_concurrency 9") })
    }

    @Test func aJoinToARoomOfNoProfileIsIgnoredAndEveryProfilesBotNameIsABot() throws {
        let settings = try parse(
            #"[{"name":"a","rooms":"a-.*","command":"bot","bot_name":"Alpha"},{"name":"b","rooms":"b-.*","command":"bot"}]"#
        ).policySettings
        func join(_ room: String, name: String = "Jane") -> RoomEvent {
            RoomEvent(
                id: "e",
                kind: .participantJoined,
                roomName: room,
                roomURL: "https://d.daily.co/\(room)",
                participant: .init(sessionID: "s", userID: nil, userName: name)
            )
        }
        #expect(screen(join("c-1"), settings: settings) == .ignore(reason: .noProfile))
        #expect(screen(join("a-1"), settings: settings) == nil)
        #expect(screen(join("b-1", name: "alpha helper"), settings: settings) == .ignore(reason: .botParticipant))
        #expect(screen(join("a-1", name: "Pipecat Bot"), settings: settings) == .ignore(reason: .botParticipant))
        #expect(profileName(for: join("b-2"), settings: settings) == "b")
    }

    @Test func aRoomWhoseProfileIsFullIsRejectedForThatReasonAndWaits() throws {
        let settings = PolicySettings(maxConcurrency: 5, botName: "B", roomFilter: try RoomFilter(pattern: ".*"), emptyGraceSeconds: 1)
        let full = RoomSnapshot(activeState: nil, humans: 1, activeSessions: 2, profileLoad: ProfileLoad(active: 2, cap: 2))
        #expect(decide(.participantJoined, room: full, settings: settings, now: 0) == .reject(reason: .profileCapacity))
        #expect(decide(.participantJoined, room: full, settings: settings, now: 0).marksRoomWaiting)
        var roomy = full
        roomy.profileLoad = ProfileLoad(active: 1, cap: 2)
        #expect(decide(.participantJoined, room: roomy, settings: settings, now: 0) == .spawn)
        #expect(
            !shouldStartWaitingRoom(
                humans: 1,
                hasActiveSession: false,
                retryAt: nil,
                activeSessions: 2,
                profileLoad: full.profileLoad,
                settings: settings,
                now: 0
            )
        )
    }

    @Test func aStartBodyIsLaidOverTheProfilesKeyByKey() {
        let profile = BotProfile(
            name: "p",
            launcher: .process(arguments: ["bot"]),
            botName: "B",
            body: ["persona": .string("sales"), "language": .string("en")]
        )
        let merged = profile.body(mergedWith: ["language": .string("de"), "user": .object(["id": .number(7)])])
        #expect(JSONValue.object(merged).text == #"{"language":"de","persona":"sales","user":{"id":7}}"#)
    }

    @Test func jsonTextEscapesWhatJSONMustAndKeepsTheRest() throws {
        let value = JSONValue.object([
            "s": .string("a\"b\\c\n\u{1}é/"), "n": .number(0.5), "i": .number(-3), "b": .bool(false), "z": .null, "a": .array([]),
        ])
        #expect(value.text == #"{"a":[],"b":false,"i":-3,"n":0.5,"s":"a\"b\\c\n\u0001é/","z":null}"#)
        #expect(try JSONValue(parsing: Array(value.text.utf8)) == value)
    }
}
