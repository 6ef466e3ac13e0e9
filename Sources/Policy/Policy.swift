/// The settings `decide` needs.
package struct PolicySettings: Sendable {
    package var maxConcurrency: Int
    package var botName: String
    package var roomFilter: RoomFilter
    package var emptyGraceSeconds: Double
    package var restartBackoff: RestartBackoff
    /// `AUTOSPAWN_MAX_LOCAL_BOTS`: the bots this instance runs at most (the cluster's cap by default).
    package var maxLocalBots: Int
    /// Which bot each room gets, and each profile's own cap.
    package var profiles: BotProfiles
    /// `AUTOSPAWN_SPAWN_ON`: whether a knocker brings the room its bot.
    package var spawnOn: Config.SpawnOn

    package init(
        maxConcurrency: Int,
        botName: String,
        roomFilter: RoomFilter,
        emptyGraceSeconds: Double,
        restartBackoff: RestartBackoff = RestartBackoff(),
        maxLocalBots: Int? = nil,
        profiles: BotProfiles = .none,
        spawnOn: Config.SpawnOn = .join
    ) {
        self.profiles = profiles
        self.spawnOn = spawnOn
        self.maxLocalBots = maxLocalBots ?? maxConcurrency
        self.maxConcurrency = maxConcurrency
        self.botName = botName
        self.roomFilter = roomFilter
        self.emptyGraceSeconds = emptyGraceSeconds
        self.restartBackoff = restartBackoff
    }

    /// Every name a bot of this service joins with.
    package var botNames: [String] {
        profiles.botNames.contains(botName) ? profiles.botNames : [botName] + profiles.botNames
    }

    /// A profile's own cap; nil when it has none (or is not known).
    package func cap(ofProfile name: String) -> Int? {
        profiles.named(name)?.maxConcurrency
    }
}

/// The room as the store sees it, after the event's participant change has been applied.
package struct RoomSnapshot: Sendable, Equatable {
    /// The room's active session, if any.
    package var activeState: SessionState?
    /// True when the active session has a stop scheduled (the empty-room grace).
    package var stopScheduled: Bool
    /// Humans now in the room (bots excluded).
    package var humans: Int
    /// People knocking at the room (`waiting-participant.*`): not in it yet, and not counted among its humans.
    package var knockers: Int
    /// Active sessions in the whole service.
    package var activeSessions: Int
    /// The room's bot kept failing: no new one before this time (Unix seconds).
    package var retryAt: Double?
    /// For a join: whether it added a human to the room (for a knock: a knocker). A join whose leave arrived first
    /// (a tombstone), or of someone already counted, adds nobody.
    package var joinAddedHuman: Bool
    /// False while this instance is draining: it starts no bot, and a room that would get one waits instead.
    package var mayClaim: Bool
    /// The room's profile's own cap, and the active sessions of that profile; nil when the profile has no cap.
    package var profileLoad: ProfileLoad?

    package init(
        activeState: SessionState?,
        stopScheduled: Bool = false,
        humans: Int,
        knockers: Int = 0,
        activeSessions: Int,
        retryAt: Double? = nil,
        joinAddedHuman: Bool = true,
        mayClaim: Bool = true,
        profileLoad: ProfileLoad? = nil
    ) {
        self.profileLoad = profileLoad
        self.knockers = knockers
        self.activeState = activeState
        self.stopScheduled = stopScheduled
        self.humans = humans
        self.activeSessions = activeSessions
        self.retryAt = retryAt
        self.joinAddedHuman = joinAddedHuman
        self.mayClaim = mayClaim
    }
}

/// A profile's own cap (`max_concurrency`) and how many of its sessions are active.
package struct ProfileLoad: Sendable, Equatable {
    package var active: Int
    package var cap: Int

    package init(active: Int, cap: Int) {
        self.active = active
        self.cap = cap
    }

    package var isFull: Bool { active >= cap }
}

/// User ids of the bots this service mints tokens for start with this.
package let botUserIDPrefix = "autospawn-"

/// The `user_id` a session's bot joins with: `autospawn-` and the first 26 characters of the session id
/// without dashes, 36 characters in all (Daily's limit).
package func botUserID(sessionID: String) -> String {
    botUserIDPrefix + String(sessionID.filter { $0 != "-" }.prefix(26))
}

/// True when the participant is a bot: its name contains a bot name (ignoring case) or its user id is one of ours.
package func isBot(_ participant: RoomEvent.Participant, botNames: [String]) -> Bool {
    if let userID = participant.userID, userID.hasPrefix(botUserIDPrefix) { return true }
    guard let name = participant.userName?.lowercased() else { return false }
    return botNames.contains { !$0.isEmpty && name.contains($0.lowercased()) }
}

/// Decisions that need no room state: bots, rooms not allowed, rooms without a known URL or profile.
/// Returns nil when the event needs the room's state (`decide`).
package func screen(_ event: RoomEvent, settings: PolicySettings) -> Decision? {
    screenParticipant(event, settings: settings) ?? screenRoom(event, settings: settings)
}

/// Events about bots, which change nothing in a room.
package func screenParticipant(_ event: RoomEvent, settings: PolicySettings) -> Decision? {
    switch event.kind {
    case .participantJoined, .participantLeft, .waitingParticipantJoined, .waitingParticipantLeft:
        if let participant = event.participant, isBot(participant, botNames: settings.botNames) {
            return .ignore(reason: .botParticipant)
        }
    case .meetingStarted, .meetingEnded:
        break
    }
    return nil
}

/// Whether the event may bring its room a bot: a human's join, or with `AUTOSPAWN_SPAWN_ON=knock` a knock.
package func mayBringBot(_ kind: RoomEvent.Kind, settings: PolicySettings) -> Bool {
    kind == .participantJoined || (kind == .waitingParticipantJoined && settings.spawnOn == .knock)
}

/// Rooms this service does not serve: not allowed (`AUTOSPAWN_ALLOWED_ROOM_REGEX`), no profile's, or without a known
/// URL. A room the service created itself is always served: the caller asks the store before heeding this.
package func screenRoom(_ event: RoomEvent, settings: PolicySettings) -> Decision? {
    if !settings.roomFilter.allows(name: event.roomName, url: event.roomURL) {
        return .ignore(reason: .roomNotAllowed)
    }
    if mayBringBot(event.kind, settings: settings), event.roomURL == nil {
        return .ignore(reason: .noDomain)
    }
    if mayBringBot(event.kind, settings: settings), settings.profiles.fromFile,
        settings.profiles.forRoom(name: event.roomName, url: event.roomURL) == nil
    {
        return .ignore(reason: .noProfile)
    }
    return nil
}

/// The name of the profile whose bot the event's room gets: the first whose `rooms` matches (with a profiles
/// file), else the default one.
package func profileName(for event: RoomEvent, settings: PolicySettings) -> String {
    settings.profiles.forRoom(name: event.roomName, url: event.roomURL)?.name ?? BotProfile.defaultName
}

/// The profile an event's room gets should the event claim it or leave it waiting, worked out before the store's
/// transaction, so that no pattern is matched while the database is locked; nil for an event that can bring no bot
/// (only an arrival claims a room or leaves it waiting, `decide`).
package func arrivingProfile(for event: RoomEvent, settings: PolicySettings) -> String? {
    mayBringBot(event.kind, settings: settings) ? profileName(for: event, settings: settings) : nil
}

/// The policy: what one (screened, recorded) event means for its room.
///
/// - Parameters:
///   - kind: the event's kind.
///   - room: the room's state after the event's participant change.
///   - now: the current time in Unix seconds.
package func decide(_ kind: RoomEvent.Kind, room: RoomSnapshot, settings: PolicySettings, now: Double) -> Decision {
    switch kind {
    case .participantJoined:
        // Only a human who arrives spawns a bot or cancels a stop: a join that adds nobody changes nothing.
        guard room.joinAddedHuman else { return .record(reason: .noNewHuman) }
        return arrival(room: room, settings: settings, now: now)
    case .waitingParticipantJoined:
        // Knockers are counted either way; only with AUTOSPAWN_SPAWN_ON=knock does one bring the room its bot.
        guard settings.spawnOn == .knock else { return .record(reason: .knocker) }
        guard room.joinAddedHuman else { return .record(reason: .noNewKnocker) }
        return arrival(room: room, settings: settings, now: now)
    case .waitingParticipantLeft where settings.spawnOn == .join:
        return .record(reason: .knockerLeft)
    case .participantLeft, .waitingParticipantLeft:
        // With knock, someone still at the door keeps the bot that came for them.
        let waiting = settings.spawnOn == .knock ? room.knockers : 0
        guard room.humans == 0, waiting == 0, let state = room.activeState, state != .stopping else {
            return .record(reason: kind == .participantLeft ? .participantLeft : .knockerLeft)
        }
        if settings.emptyGraceSeconds <= 0 { return .stop(.roomEmpty) }
        if room.stopScheduled { return .record(reason: .stopScheduled) }
        return .scheduleStop(at: now + settings.emptyGraceSeconds)
    case .meetingEnded:
        guard let state = room.activeState, state != .stopping else { return .record(reason: .noActiveSession) }
        return .stop(.meetingEnded)
    case .meetingStarted:
        return .record(reason: .meetingStarted)
    }
}

/// Someone arrived who wants the room's bot (a human, or a knocker with knock): the bot, if the room may have it.
private func arrival(room: RoomSnapshot, settings: PolicySettings, now: Double) -> Decision {
    switch room.activeState {
    case .stopping?:
        return .spawnAfterStop
    case .starting?, .running?:
        return room.stopScheduled ? .cancelScheduledStop : .record(reason: .botPresent)
    case nil, .ended?, .failed?:
        if let retryAt = room.retryAt, retryAt > now { return .reject(reason: .backoff) }
        if room.activeSessions >= settings.maxConcurrency { return .reject(reason: .capacity) }
        if room.profileLoad?.isFull == true { return .reject(reason: .profileCapacity) }
        // The room waits for the next instance (or another one on the same database).
        if !room.mayClaim { return .reject(reason: .draining) }
        return .spawn
    }
}

/// Whether a bot has waited in vain for its knocker (`knock_timeout`): with `AUTOSPAWN_SPAWN_ON=knock`, a bot of a room
/// the service did not make, with no human in it and no stop already on its way, that has run `knockWaitSeconds`.
/// Knockers keep a room's bot against the empty-room stop and the orphan check; without this, knocks nobody answers
/// would hold places until `AUTOSPAWN_MAX_SESSION_S`.
package func knockWaitIsOver(
    spawnOn: Config.SpawnOn,
    serviceRoom: Bool,
    humans: Int,
    stopScheduled: Bool,
    ageSeconds: Double,
    knockWaitSeconds: Double
) -> Bool {
    spawnOn == .knock && !serviceRoom && humans == 0 && !stopScheduled && ageSeconds >= knockWaitSeconds
}

/// Whether a silent room's bot is orphaned (stopped by the reaper): Daily's presence shows no human in the room, and,
/// when a knock brings a bot, nobody is recorded at the door, whom presence does not show; a bot waiting for an owner
/// slow to let its knocker in is what `knock` is for.
package func isOrphaned(humansPresent: Int, knockers: Int, spawnOn: Config.SpawnOn) -> Bool {
    humansPresent == 0 && (spawnOn == .join || knockers == 0)
}

/// Whether the humans of a room whose session ended this way are left waiting for the room's next bot: the bot
/// failed, was lost with its instance, or was stopped by a shutdown while the call goes on.
package func leavesRoomWaiting(state: SessionState, reason: EndReason) -> Bool {
    isBotFailure(state: state, reason: reason) || reason == .shutdown || reason == .lost
}

/// Which ends of a session count as its bot failing (the room backs off before its next bot).
/// `shutdown` is the service's doing, not the bot's.
package func isBotFailure(state: SessionState, reason: EndReason) -> Bool {
    state == .failed && reason != .shutdown
}

/// Whether a room whose humans did not get a bot (at capacity, backing off, or their bot failed) gets one now.
package func shouldStartWaitingRoom(
    humans: Int,
    hasActiveSession: Bool,
    retryAt: Double?,
    activeSessions: Int,
    profileLoad: ProfileLoad? = nil,
    settings: PolicySettings,
    now: Double
) -> Bool {
    humans > 0 && !hasActiveSession && (retryAt ?? 0) <= now && activeSessions < settings.maxConcurrency
        && profileLoad?.isFull != true
}

/// Whether a session claimed by this instance runs its bot here: only while this instance has fewer active
/// sessions than its own limit. Otherwise the session waits, claimed and counted against the cluster's cap, for
/// the first instance with room (`SessionStorage.placeWaitingSessions`).
package func placesHere(localSessions: Int, settings: PolicySettings) -> Bool {
    localSessions < settings.maxLocalBots
}

/// How many waiting sessions this instance may take now.
package func freeLocalSlots(localSessions: Int, settings: PolicySettings) -> Int {
    max(0, settings.maxLocalBots - localSessions)
}
