import Policy

extension Supervisor {
    /// What the supervisor needs from the configuration.
    package struct Settings: Sendable {
        /// Every kind of bot: how each starts, what it gets, its warm pool (`Config.profiles`).
        package var profiles: BotProfiles
        package var logDirectory: String
        package var stopGraceSeconds: Double
        /// A bot's meeting token expires after this (and an agent's request is closed).
        package var maxSessionSeconds: Double
        /// How often scheduled and cross-instance stops and waiting rooms are looked for.
        package var pollInterval: Duration
        /// A bot's log past this is rotated.
        package var botLogMaxBytes: Int
        /// What a graceful shutdown does with the bots.
        package var shutdownMode: Config.ShutdownMode
        /// `drain`: the longest the bots are left to end by themselves.
        package var drainTimeoutSeconds: Double
        /// A warm pool whose processes keep dying while idle waits before the next start.
        package var restartBackoff: RestartBackoff
        /// With dial-in: where this instance's call bots forward their calls (its own forwarding route).
        package var callForwardingURL: (@Sendable () -> String)?
        /// The `ws_url` a phone call's bot connects to (`CallRelay`): on this instance, with the session's key.
        package var callStreamURL: (@Sendable (Session) -> String)?
        /// `AUTOSPAWN_BOT_USER`: the user bot processes run as; nil: the service's.
        package var botAccount: BotAccount?
        /// Whether another live instance shares the store: `AUTOSPAWN_SHUTDOWN=auto` asks it at SIGTERM.
        package var otherInstancesAlive: @Sendable () async -> Bool = { true }
        /// What the upkeep (placing bots, waiting rooms, warm bots) waits for: the first recovery of earlier
        /// instances' bots (`Recovery.started`), so the two never act on one session at once. Nil: none.
        package var upkeepAfter: Outcome<Void>?

        /// - Parameters:
        ///   - profiles: the service's profiles; without any, `launcher`, `botName`, `botEnvironment` and `warmBots`
        ///     form the one default profile.
        package init(
            profiles: BotProfiles = .none,
            launcher: Config.Launcher? = nil,
            logDirectory: String,
            stopGraceSeconds: Double,
            maxSessionSeconds: Double,
            pollInterval: Duration = .milliseconds(250),
            botName: String = "Pipecat Bot",
            botEnvironment: [String: String] = [:],
            botLogMaxBytes: Int = 10 * 1024 * 1024,
            shutdownMode: Config.ShutdownMode = .stop,
            drainTimeoutSeconds: Double = 3600,
            warmBots: Int = 0,
            restartBackoff: RestartBackoff = RestartBackoff(),
            callForwardingURL: (@Sendable () -> String)? = nil
        ) {
            self.callForwardingURL = callForwardingURL
            if profiles.all.isEmpty, let launcher {
                self.profiles = BotProfiles(
                    [BotProfile(name: BotProfile.defaultName, launcher: launcher, botName: botName, environment: botEnvironment, warmBots: warmBots)],
                    fromFile: false
                )
            } else {
                self.profiles = profiles
            }
            self.restartBackoff = restartBackoff
            self.drainTimeoutSeconds = drainTimeoutSeconds
            self.shutdownMode = shutdownMode
            self.logDirectory = logDirectory
            self.stopGraceSeconds = stopGraceSeconds
            self.maxSessionSeconds = maxSessionSeconds
            self.pollInterval = pollInterval
            self.botLogMaxBytes = botLogMaxBytes
        }
    }
}
