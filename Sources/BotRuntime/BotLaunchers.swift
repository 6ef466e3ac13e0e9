import Foundation
import Logging
import Policy

/// How this instance starts each profile's bots: a launcher per profile (a cold process, a warm pool in front of
/// one, or an agent), and the meeting token each bot joins with.
struct BotLaunchers: Sendable {
    /// By the profile's name.
    private let launchers: [String: ProfileLauncher]
    /// The warm pools of the profiles that keep idle processes.
    let warmPools: [WarmPool]
    /// With `DAILY_API_KEY`: mints each bot's meeting token.
    private let daily: DailyClient?
    private let maxSessionSeconds: Double
    /// With dial-in: this instance's forwarding route for its call bots.
    private let callForwardingURL: (@Sendable () -> String)?
    /// A phone call's bot's `ws_url`.
    private let callStreamURL: (@Sendable (Session) -> String)?
    /// A launcher of each kind, for the bots of sessions whose profile this instance lacks (recovery finds them by
    /// their kind), and for every bot of this host.
    private let byKind: [LauncherKind: any BotLauncher]

    init(
        settings: Supervisor.Settings,
        files: BotFiles,
        reaper: ChildReaper,
        daily: DailyClient?,
        metrics: ServiceMetrics,
        logger: Logger
    ) {
        var launchers: [String: ProfileLauncher] = [:]
        var pools: [WarmPool] = []
        for profile in settings.profiles.all {
            let launcher: any BotLauncher
            switch profile.launcher {
            case .process(let template):
                let cold = ProcessBotLauncher(
                    template: template,
                    botName: profile.botName,
                    environment: profile.environment,
                    files: files,
                    account: settings.botAccount,
                    reaper: reaper
                )
                if profile.warmBots > 0 {
                    let pool = WarmPool(
                        name: profile.name,
                        size: profile.warmBots,
                        arguments: template,
                        botName: profile.botName,
                        environment: profile.environment,
                        account: settings.botAccount,
                        logDirectory: settings.logDirectory,
                        reaper: reaper,
                        backoff: settings.restartBackoff,
                        stopGraceSeconds: settings.stopGraceSeconds,
                        metrics: metrics,
                        logger: logger
                    )
                    pools.append(pool)
                    launcher = WarmBotLauncher(pool: pool, cold: cold)
                } else {
                    launcher = cold
                }
            case .agent(let baseURL):
                launcher = AgentBotLauncher(
                    baseURL: baseURL,
                    daily: daily,
                    timeoutSeconds: settings.maxSessionSeconds + 60,
                    logger: logger
                )
            }
            launchers[profile.name] = ProfileLauncher(launcher: launcher, botName: profile.botName)
        }
        byKind = Dictionary(
            uniqueKeysWithValues: LauncherKind.allCases.map { kind -> (LauncherKind, any BotLauncher) in
                switch kind {
                case .process:
                    (
                        kind,
                        ProcessBotLauncher(template: [], botName: "", environment: [:], files: files, account: settings.botAccount, reaper: reaper)
                    )
                case .agent:
                    (kind, AgentBotLauncher(baseURL: "", daily: daily, timeoutSeconds: settings.maxSessionSeconds + 60, logger: logger))
                }
            }
        )
        self.launchers = launchers
        warmPools = pools
        self.daily = daily
        maxSessionSeconds = settings.maxSessionSeconds
        callForwardingURL = settings.callForwardingURL
        callStreamURL = settings.callStreamURL
    }

    /// The session's bot's meeting token; nil without a Daily key (or a profile to name the bot).
    /// What the session's bot reaches its caller by: a phone call's stream URL, or a Daily room's meeting token.
    func access(for session: Session) async throws -> BotAccess {
        if session.transport.hasBotSocket { return BotAccess(streamURL: callStreamURL?(session)) }
        guard let daily, let botName = launchers[session.profile]?.botName else { return BotAccess() }
        return BotAccess(token: try await daily.meetingToken(tokenProperties(session, botName: botName)))
    }

    /// The launcher that knows the session's bot: its profile's, or one of its kind.
    func launcher(of session: Session) -> (any BotLauncher)? {
        if let profile = launchers[session.profile], profile.launcher.kind == session.launcher { return profile.launcher }
        return byKind[session.launcher]
    }

    /// One launcher of each kind: together they know every bot on this host.
    var ofEveryKind: [any BotLauncher] { LauncherKind.allCases.compactMap { byKind[$0] } }

    /// Starts the session's bot with its profile's launcher.
    func start(_ session: Session, access: BotAccess) async throws -> RunningBot {
        guard let profile = launchers[session.profile] else { throw UnknownProfile(name: session.profile) }
        return try await profile.launcher.start(forwardingHere(session), access: access)
    }

    /// A call's bot forwards its call through the instance that runs it, which stays up while the call lasts (it
    /// drains for it), not through the one that answered Daily (another replica, which may be gone by then). Only a
    /// call's room: a bot started with its caller's own forwarding settings (`/start`) keeps them.
    func forwardingHere(_ session: Session) -> Session {
        guard let callForwardingURL, DialinCall.callID(ofRoom: session.roomName) != nil,
            session.body.contains(#""daily_api_url""#),
            case .object(var body)? = try? JSONValue(parsing: Array(session.body.utf8)), body["daily_api_url"] != nil
        else { return session }
        body["daily_api_url"] = .string(callForwardingURL())
        var session = session
        session.body = JSONValue.object(body).text
        return session
    }

    /// The bot's meeting token (README, "The bot's contract"): owner, the bot's name, `autospawn-…` user id, expiring with the session.
    func tokenProperties(_ session: Session, botName: String) -> [String: JSONValue] {
        [
            "room_name": .string(session.roomName), "is_owner": .bool(true), "user_name": .string(botName),
            "user_id": .string(session.botUserID ?? botUserID(sessionID: session.id)),
            "exp": .number((Date().timeIntervalSince1970 + maxSessionSeconds).rounded(.down)),
        ]
    }
}

/// One profile's way of starting bots, and the name they join with.
struct ProfileLauncher: Sendable {
    let launcher: any BotLauncher
    let botName: String
}

/// A session of a profile this instance does not have (the profiles file changed while it waited).
struct UnknownProfile: Error, CustomStringConvertible {
    let name: String
    var description: String { "no bot profile '\(name)' in this instance's AUTOSPAWN_PROFILES" }
}
