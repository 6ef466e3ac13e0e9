/// One kind of bot: how it starts, what it is given, which rooms and calls get it, and how many may run at once.
/// Without `AUTOSPAWN_PROFILES` the `AUTOSPAWN_*` settings form the one profile, `default`.
package struct BotProfile: Sendable, Equatable {
    /// The profile that `AUTOSPAWN_BOT_COMMAND` / `AUTOSPAWN_AGENT_URL` form.
    package static let defaultName = "default"

    /// Unique; it names the profile in sessions, URLs (`/v1/public/{profile}/start`), metrics and warm pools.
    package var name: String
    /// Rooms (name or URL, whole match) that get this profile's bot; nil: chosen only by a call or by name.
    package var rooms: RoomFilter?
    /// Called numbers (dial-in `To`) that get this profile's bot.
    package var dialin: [String]
    package var launcher: Config.Launcher
    /// The name its bots join with (the meeting token's `user_name`, `AUTOSPAWN_BOT_NAME`).
    package var botName: String
    /// The body every bot of this profile gets; a `/start` body is merged over it.
    package var body: [String: JSONValue]
    /// The allow-listed environment its bots get: the service's base variables, `AUTOSPAWN_BOT_ENV` and its own `env`.
    package var environment: [String: String]
    /// Its own cap on active sessions, under the service's; nil: only the service's.
    package var maxConcurrency: Int?
    /// Idle processes of its command kept ready.
    package var warmBots: Int

    package init(
        name: String,
        rooms: RoomFilter? = nil,
        dialin: [String] = [],
        launcher: Config.Launcher,
        botName: String,
        body: [String: JSONValue] = [:],
        environment: [String: String] = [:],
        maxConcurrency: Int? = nil,
        warmBots: Int = 0
    ) {
        self.name = name
        self.rooms = rooms
        self.dialin = dialin
        self.launcher = launcher
        self.botName = botName
        self.body = body
        self.environment = environment
        self.maxConcurrency = maxConcurrency
        self.warmBots = warmBots
    }

    /// How its bots are started: the sessions' `launcher`.
    package var launcherKind: LauncherKind { launcher.kind }

    /// `body` as the bot gets it (compact JSON).
    package var bodyText: String { JSONValue.object(body).text }

    /// `body` over which `request` (a `/start` body, a call's settings) is laid, key by key: the request wins.
    package func body(mergedWith request: [String: JSONValue]) -> [String: JSONValue] {
        body.merging(request) { $1 }
    }
}

/// The service's profiles, in the order rooms are matched against them.
package struct BotProfiles: Sendable, Equatable {
    /// Every profile: the file's in its order, then the default one (when the settings form one).
    package var all: [BotProfile]
    /// True when they come from `AUTOSPAWN_PROFILES`: a room that matches none of them gets no bot.
    package var fromFile: Bool

    package init(_ all: [BotProfile], fromFile: Bool) {
        self.all = all
        self.fromFile = fromFile
    }

    /// No profiles at all: sessions are `default`, with the store's launcher (tests of parts below the service).
    package static let none = BotProfiles([], fromFile: false)

    /// The profile `/start` without `"profile"` and a call to no listed number get: the one the settings form.
    package var defaultProfile: BotProfile? { named(BotProfile.defaultName) }

    package func named(_ name: String) -> BotProfile? {
        all.first { $0.name == name }
    }

    /// The room's profile: the first whose `rooms` matches; without a file, the default one.
    package func forRoom(name: String, url: String?) -> BotProfile? {
        guard fromFile else { return defaultProfile }
        return all.first { $0.rooms?.allows(name: name, url: url) ?? false }
    }

    /// The profile of a call to `number` (dial-in's `To`): the one that lists it, else the default one.
    package func forCall(to number: String) -> BotProfile? {
        all.first { $0.dialin.contains(number) } ?? defaultProfile
    }

    /// Every name a bot of this service joins with: a participant of any of them is a bot.
    package var botNames: [String] {
        var names: [String] = []
        for profile in all where !names.contains(profile.botName) { names.append(profile.botName) }
        return names
    }
}

extension RoomFilter: Equatable {
    package static func == (lhs: RoomFilter, rhs: RoomFilter) -> Bool { lhs.pattern == rhs.pattern }
}
