import Policy
import Testing

/// `AUTOSPAWN_BOT_USER`/`AUTOSPAWN_BOT_GROUP` and the secrets given as flags (issue 21, item 1).
struct BotAccountTests {
    let minimal = ["AUTOSPAWN_BOT_COMMAND": "bot {room_url}"]

    /// A machine with `bots` (uid 61000, group 61000, home /home/bots), the group `voice` (61001) and root.
    func machine(privileged: Bool = true, uid: UInt32 = 0) -> SystemAccounts {
        SystemAccounts(
            user: { name in
                switch name {
                case "bots", "61000": (61000, 61000, "/home/bots")
                case "root", "0": (0, 0, "/root")
                default: nil
                }
            },
            group: { name in name == "voice" ? 61001 : name == "root" ? 0 : nil },
            currentUID: uid,
            canSwitchUsers: privileged
        )
    }

    func parse(_ settings: [String: String], on accounts: SystemAccounts) throws(ConfigError) -> Config {
        try Config.parse(minimal.merging(settings) { $1 }, accounts: accounts)
    }

    @Test func theBotUserIsLookedUpWithItsGroupAndHome() throws {
        let config = try parse(["AUTOSPAWN_BOT_USER": "bots", "HOME": "/root"], on: machine())
        #expect(config.botAccount == BotAccount(user: "bots", uid: 61000, gid: 61000, home: "/home/bots"))
        #expect(config.botEnvironment["HOME"] == "/home/bots")
        #expect(config.profiles.all.first?.environment["HOME"] == "/home/bots")
    }

    @Test func theBotGroupReplacesTheUsersOwn() throws {
        #expect(try parse(["AUTOSPAWN_BOT_USER": "bots", "AUTOSPAWN_BOT_GROUP": "voice"], on: machine()).botAccount?.gid == 61001)
    }

    @Test func aNumberWithoutAnEntryIsItsOwnGroup() throws {
        #expect(try parse(["AUTOSPAWN_BOT_USER": "62000"], on: machine()).botAccount == BotAccount(user: "62000", uid: 62000, gid: 62000, home: nil))
    }

    @Test(arguments: [
        (["AUTOSPAWN_BOT_USER": "nobody-here"], "AUTOSPAWN_BOT_USER: there is no user 'nobody-here' on this machine"),
        (
            ["AUTOSPAWN_BOT_USER": "bots", "AUTOSPAWN_BOT_GROUP": "nogroup-here"],
            "AUTOSPAWN_BOT_GROUP: there is no group 'nogroup-here' on this machine"
        ),
        (["AUTOSPAWN_BOT_GROUP": "voice"], "AUTOSPAWN_BOT_GROUP: needs AUTOSPAWN_BOT_USER"),
        (["AUTOSPAWN_BOT_USER": "root"], "AUTOSPAWN_BOT_USER: 'root' is root"),
        (["AUTOSPAWN_BOT_USER": "bots", "AUTOSPAWN_BOT_GROUP": "root"], "AUTOSPAWN_BOT_USER: 'bots' is root"),
    ])
    func aBotAccountThatCannotBeUsedNamesItsVariable(settings: [String: String], line: String) {
        #expect(throws: ConfigError.self) { try parse(settings, on: machine()) }
        do {
            _ = try parse(settings, on: machine())
        } catch {
            #expect(error.description.hasPrefix(line), "\(error.description)")
        }
    }

    @Test func switchingUsersNeedsThePrivilege() {
        #expect(
            throws: ConfigError(
                "AUTOSPAWN_BOT_USER",
                "starting bots as 'bots' needs root or CAP_SETUID and CAP_SETGID, which this process (uid 1000) does not have"
            )
        ) {
            try parse(["AUTOSPAWN_BOT_USER": "bots"], on: machine(privileged: false, uid: 1000))
        }
    }

    @Test func rootWithoutABotUserIsWarned() throws {
        #expect(try parse([:], on: machine()).warnings.contains { $0.hasPrefix("AUTOSPAWN_BOT_USER is not set: bots run as root") })
        #expect(try !parse([:], on: machine(privileged: false, uid: 1000)).warnings.contains { $0.hasPrefix("AUTOSPAWN_BOT_USER") })
        #expect(try !parse(["AUTOSPAWN_BOT_USER": "bots"], on: machine()).warnings.contains { $0.hasPrefix("AUTOSPAWN_BOT_USER") })
    }

    @Test func eachSecretGivenAsAFlagIsWarnedAboutWithItsFileForm() {
        #expect(
            Config.secretFlagWarnings(["AUTOSPAWN_PORT", "DAILY_API_KEY", "AUTOSPAWN_WEBHOOK_SECRET"]) == [
                "--webhook-secret puts AUTOSPAWN_WEBHOOK_SECRET on the command line, which every user of this machine sees (ps): use AUTOSPAWN_WEBHOOK_SECRET_FILE",
                "--daily-api-key puts DAILY_API_KEY on the command line, which every user of this machine sees (ps): use DAILY_API_KEY_FILE",
            ]
        )
        #expect(Config.secretFlagWarnings(["AUTOSPAWN_WEBHOOK_SECRET_FILE", "AUTOSPAWN_PORT"]).isEmpty)
    }

    @Test func aBotCommandThatPutsTheTokenOnItsCommandLineIsWarnedAbout() throws {
        let warned = try Config.parse(["AUTOSPAWN_BOT_COMMAND": "bot --token {token}"]).warnings
        #expect(
            warned.contains(
                "AUTOSPAWN_BOT_COMMAND puts {token}, the bot's meeting token, on its command line, which every user of this machine sees (ps): read DAILY_ROOM_TOKEN instead"
            )
        )
        #expect(try !Config.parse(minimal).warnings.contains { $0.contains("{token}") })
    }
}
