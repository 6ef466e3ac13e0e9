/// One bot's stay in one room: the domain's record of a session, whatever stores it.
package struct Session: Sendable, Equatable, Codable {
    package var id: String
    package var roomName: String
    package var roomURL: String?
    package var state: SessionState
    /// How its bot was started.
    package var launcher: LauncherKind
    package var createdAt: Double
    package var updatedAt: Double
    package var endedAt: Double?
    package var endReason: EndReason?
    package var exitCode: Int?
    package var pid: Int32?
    /// The bot process's start time in clock ticks since boot (`/proc/<pid>/stat`, field 22): with the pid,
    /// it tells the bot apart from an unrelated process that reused its pid.
    package var pidStartTime: UInt64?
    /// The service instance that runs and watches this bot; nil while the session waits for an instance with room
    /// for it (its receiver had none).
    package var ownerInstance: String?
    /// A scheduled stop (the empty-room grace), Unix seconds.
    package var stopAt: Double?
    /// Why the session is `stopping`; becomes `endReason` once the bot is gone.
    package var stopReason: EndReason?
    /// JSON object handed to the bot (`AUTOSPAWN_BODY_FILE`, `AUTOSPAWN_BODY`).
    package var body: String
    /// The `user_id` of the bot's meeting token (`autospawn-…`).
    package var botUserID: String?
    /// When an instance took it to run its bot (the start timeout runs from here); nil while it waits for one.
    package var placedAt: Double?
    /// The bot profile it runs (`AUTOSPAWN_PROFILES`; `default` without a file).
    package var profile: String
    /// How its caller reaches the bot: a Daily room, or a phone carrier's stream.
    package var transport: Transport

    /// False while the session waits for an instance with room for its bot.
    package var isPlaced: Bool { ownerInstance != nil }
    /// Whether the instance that ran its bot is none of `liveInstances` (a session waiting for placement has no owner
    /// to lose).
    package func hasLostOwner(liveInstances: Set<String>) -> Bool {
        ownerInstance.map { !liveInstances.contains($0) } ?? false
    }
    /// When its bot's start began, which the start timeout runs from: its placement (or its claim, before placement
    /// was recorded).
    package var startBeganAt: Double { placedAt ?? createdAt }

    package init(
        id: String,
        roomName: String,
        roomURL: String?,
        state: SessionState,
        launcher: LauncherKind,
        createdAt: Double,
        updatedAt: Double,
        endedAt: Double? = nil,
        endReason: EndReason? = nil,
        exitCode: Int? = nil,
        pid: Int32? = nil,
        pidStartTime: UInt64? = nil,
        ownerInstance: String?,
        stopAt: Double? = nil,
        stopReason: EndReason? = nil,
        body: String = "{}",
        botUserID: String? = nil,
        placedAt: Double? = nil,
        profile: String = BotProfile.defaultName,
        transport: Transport = .daily
    ) {
        self.profile = profile
        self.transport = transport
        self.placedAt = placedAt
        self.id = id
        self.roomName = roomName
        self.roomURL = roomURL
        self.state = state
        self.launcher = launcher
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.endedAt = endedAt
        self.endReason = endReason
        self.exitCode = exitCode
        self.pid = pid
        self.pidStartTime = pidStartTime
        self.ownerInstance = ownerInstance
        self.stopAt = stopAt
        self.stopReason = stopReason
        self.body = body
        self.botUserID = botUserID
    }

    enum CodingKeys: String, CodingKey {
        case id, state, launcher, pid, body, profile, transport
        case roomName = "room_name"
        case roomURL = "room_url"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case endedAt = "ended_at"
        case endReason = "end_reason"
        case exitCode = "exit_code"
        case pidStartTime = "pid_start_time"
        case ownerInstance = "owner_instance"
        case stopAt = "stop_at"
        case stopReason = "stop_reason"
        case botUserID = "bot_user_id"
        case placedAt = "placed_at"
    }
}

/// How a session's bot is started (`launcher`).
package enum LauncherKind: String, Sendable, Codable, CaseIterable {
    /// A process on the instance's host (`AUTOSPAWN_BOT_COMMAND`).
    case process
    /// A Pipecat-Cloud-style agent (`AUTOSPAWN_AGENT_URL`).
    case agent
}

/// A running copy of the service, so that another copy can tell whether a session's owner is still alive.
package struct ServiceInstance: Sendable, Equatable, Codable {
    package var id: String
    package var pid: Int32
    package var pidStartTime: UInt64
    package var startedAt: Double
    /// The machine whose processes it sees (`AUTOSPAWN_HOST_ID`); empty for instances registered before hosts
    /// were recorded, which are taken to be on this one.
    package var hostID: String
    /// It renews this while it lives (`AUTOSPAWN_LEASE_S`); past it, instances on other hosts take it for dead.
    package var leaseUntil: Double
    /// How other instances reach it (`AUTOSPAWN_ADVERTISE_URL`): a bot's log is read there. Nil until it listens.
    package var advertiseURL: String?

    package init(
        id: String,
        pid: Int32,
        pidStartTime: UInt64,
        startedAt: Double,
        hostID: String = "",
        leaseUntil: Double = 0,
        advertiseURL: String? = nil
    ) {
        self.advertiseURL = advertiseURL
        self.id = id
        self.pid = pid
        self.pidStartTime = pidStartTime
        self.startedAt = startedAt
        self.hostID = hostID
        self.leaseUntil = leaseUntil
    }

    enum CodingKeys: String, CodingKey {
        case id, pid
        case pidStartTime = "pid_start_time"
        case startedAt = "started_at"
        case hostID = "host_id"
        case leaseUntil = "lease_until"
        case advertiseURL = "advertise_url"
    }
}

/// Whether another instance is alive. One on another host is judged by its lease only: its processes are not
/// visible here. One on this host (or of unknown host) may also be judged by its process: when its pid and start
/// time are gone it is dead at once, without waiting for the lease. `processAlive` is what this host's process
/// table says of it.
package func isInstanceAlive(_ instance: ServiceInstance, thisHost: String, processAlive: Bool, now: Double) -> Bool {
    if instance.hostID.isEmpty || instance.hostID == thisHost { return processAlive }
    return instance.leaseUntil >= now
}
