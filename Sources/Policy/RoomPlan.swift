/// A write to one room (its participants, its wait for a bot, its backoff, its session), planned by `Policy` and
/// applied by a store backend in the transaction that loaded the plan's facts. Backends differ in how they write an
/// effect, never in which effects a situation calls for: every rule is here, not in a backend.
package enum RoomEffect: Sendable, Equatable {
    /// The meeting ended: forget everyone in the room and at its door.
    case clearParticipants
    /// A knocker was let in (their join arrived): no longer at the door.
    case admitKnocker(key: String)
    /// Records the participant (or knocker) under `key` as present or gone, as of `sentAt`.
    case recordPresence(key: String, present: Bool, sentAt: Double?)
    /// Nobody waits for a bot any more: the room emptied, or it got its bot.
    case clearWaiting
    /// The room's humans wait for a bot they cannot have yet. It is to be of `profile` unless the service made the
    /// room for another (nil: the room keeps the profile it has).
    case markWaiting(profile: String?)
    /// Whether a human joined while the bot was stopping, who wants a new bot once that session has ended.
    case setRespawnPending(Bool)
    /// The room's failures in a row and when it may have its next bot.
    case setBackoff(EndPlan.Backoff)
    /// The service made the room, for a bot of `profile`: its events count whatever the filter says.
    case markServiceRoom(profile: String)
    /// A new `starting` session for the room (`Session.claimed`).
    case claim(Claim)
    /// The room's active session starts stopping.
    case beginStop(EndReason)
    /// The room's active session stops at `at` unless a human comes back first.
    case scheduleStop(at: Double)
    /// A human is back: the scheduled stop is off.
    case cancelScheduledStop
}

/// A room's new session, as a plan claims it.
package struct Claim: Sendable, Equatable {
    package var profile: String
    /// The JSON object its bot is given.
    package var body: String
    /// The profile's own launcher; nil: the service's.
    package var launcher: LauncherKind?
    /// True when this instance runs the bot; false when the session waits for an instance with room (`placesHere`).
    package var placedHere: Bool
    /// How the caller reaches the bot: a Daily room unless a carrier's call is claimed (`planDirectClaim`).
    package var transport: Transport = .daily

    package init(profile: String, body: String, launcher: LauncherKind? = nil, placedHere: Bool) {
        self.profile = profile
        self.body = body
        self.launcher = launcher
        self.placedHere = placedHere
    }
}

/// What a claim is weighed against. A backend reads these only for a plan that would claim (`needsClaimFacts`), and
/// under the lock that keeps other claims out until it commits (invariant 2 of docs/DESIGN.md).
package struct ClaimFacts: Sendable, Equatable {
    /// Active sessions of the whole service.
    package var activeSessions: Int
    /// The profile's own cap and its active sessions; nil when it has no cap.
    package var profileLoad: ProfileLoad?
    /// Active sessions of this instance.
    package var localSessions: Int

    package init(activeSessions: Int, profileLoad: ProfileLoad? = nil, localSessions: Int = 0) {
        self.activeSessions = activeSessions
        self.profileLoad = profileLoad
        self.localSessions = localSessions
    }
}

/// The claim of a room for a bot of `profile`, placed here when this instance has room for it.
func claim(profile: String, body: String, facts: ClaimFacts, settings: PolicySettings) -> Claim {
    Claim(
        profile: profile,
        body: body,
        launcher: settings.profiles.named(profile)?.launcherKind,
        placedHere: placesHere(localSessions: facts.localSessions, settings: settings)
    )
}

/// The body a room's bot is given when nobody gave one: its profile's, else an empty object.
package func defaultBody(ofProfile profile: String, settings: PolicySettings) -> String {
    settings.profiles.named(profile)?.bodyText ?? "{}"
}

// MARK: Events

/// A room as a webhook's transaction finds it, before the event's participant change.
package struct RoomFacts: Sendable, Equatable {
    /// The room's active session, if any.
    package var activeState: SessionState?
    /// True when that session has a stop scheduled (the empty-room grace).
    package var stopScheduled: Bool
    /// Humans present before the event.
    package var humans: Int
    /// Knockers at the door before the event.
    package var knockers: Int
    /// The event's participant as recorded so far; nil when never seen.
    package var recorded: RecordedPresence?
    /// For a join: the same participant is recorded at the door (`RoomEvent.admittedKnockerKey`).
    package var admittedKnockerPresent: Bool
    /// Active sessions of the whole service, as read without the claim lock.
    package var activeSessions: Int
    /// The room's bot kept failing: no new one before this time.
    package var retryAt: Double?
    /// True while the room's humans wait for a bot.
    package var isWaiting: Bool
    /// The profile of a room the service made (it keeps it); nil for others.
    package var madeFor: String?

    package init(
        activeState: SessionState? = nil,
        stopScheduled: Bool = false,
        humans: Int = 0,
        knockers: Int = 0,
        recorded: RecordedPresence? = nil,
        admittedKnockerPresent: Bool = false,
        activeSessions: Int = 0,
        retryAt: Double? = nil,
        isWaiting: Bool = false,
        madeFor: String? = nil
    ) {
        self.activeState = activeState
        self.stopScheduled = stopScheduled
        self.humans = humans
        self.knockers = knockers
        self.recorded = recorded
        self.admittedKnockerPresent = admittedKnockerPresent
        self.activeSessions = activeSessions
        self.retryAt = retryAt
        self.isWaiting = isWaiting
        self.madeFor = madeFor
    }
}

/// What one event does to its room.
package struct EventPlan: Sendable, Equatable {
    package var decision: Decision
    /// The writes, in order; empty while `needsClaimFacts` is set.
    package var effects: [RoomEffect]
    /// Set when the event would claim the room for a bot of this profile: the backend reads `ClaimFacts` for it,
    /// under the claim lock, and plans again with them. Only then is the claim lock taken.
    package var needsClaimFacts: String?
}

/// Plans one screened event for its room: the participant change (a late join after its leave brings nobody back,
/// a join takes its knocker from the door, the meeting's end forgets everyone), the room's wait, and what `decide`
/// says of its session.
///
/// - Parameters:
///   - arriving: the profile the event's room gets should it claim or wait (`arrivingProfile`), worked out before the
///     transaction.
///   - claim: nil on the first pass; the facts `needsClaimFacts` asked for on the second.
///   - mayClaim: false while this instance drains: a room that would get a bot waits instead.
package func planEvent(
    _ event: RoomEvent,
    facts: RoomFacts,
    claim claimFacts: ClaimFacts?,
    arriving: String?,
    mayClaim: Bool,
    settings: PolicySettings,
    now: Double
) -> EventPlan {
    var effects: [RoomEffect] = []
    var (humans, knockers, addedHuman) = (facts.humans, facts.knockers, false)
    if event.kind == .meetingEnded {
        effects.append(.clearParticipants)
        (humans, knockers) = (0, 0)
    }
    if facts.admittedKnockerPresent, let knocker = event.admittedKnockerKey {
        effects.append(.admitKnocker(key: knocker))
        knockers -= 1
    }
    if let change = event.presenceChange,
        let present = presenceAfter(joining: change.joining, isPerJoin: change.isPerJoin, recorded: facts.recorded, sentAt: event.sentAt)
    {
        effects.append(.recordPresence(key: change.key, present: present, sentAt: event.sentAt))
        let delta = (present ? 1 : 0) - (facts.recorded?.present == true ? 1 : 0)
        if change.key.hasPrefix(RoomEvent.knockerKeyPrefix) { knockers += delta } else { humans += delta }
        addedHuman = present
    }
    // Nobody is left to wait for a bot.
    if humans == 0 && facts.isWaiting { effects.append(.clearWaiting) }
    let room = RoomSnapshot(
        activeState: facts.activeState,
        stopScheduled: facts.stopScheduled,
        humans: humans,
        knockers: knockers,
        activeSessions: claimFacts?.activeSessions ?? facts.activeSessions,
        retryAt: facts.retryAt,
        joinAddedHuman: addedHuman,
        mayClaim: mayClaim,
        profileLoad: claimFacts?.profileLoad
    )
    let decision = decide(event.kind, room: room, settings: settings, now: now)
    // The room's profile matters only to a claim or a wait; a room the service made keeps the profile it was made for.
    let profile = facts.madeFor ?? arriving ?? BotProfile.defaultName
    switch decision {
    case .spawn:
        guard let claimFacts else { return EventPlan(decision: decision, effects: [], needsClaimFacts: profile) }
        effects.append(
            .claim(claim(profile: profile, body: defaultBody(ofProfile: profile, settings: settings), facts: claimFacts, settings: settings))
        )
        if !effects.contains(.clearWaiting) { effects.append(.clearWaiting) }
    case .stop(let reason):
        effects.append(.beginStop(reason))
    case .scheduleStop(let at):
        effects.append(.scheduleStop(at: at))
    case .cancelScheduledStop:
        effects.append(.cancelScheduledStop)
    case .spawnAfterStop:
        effects.append(.setRespawnPending(true))
    case .reject:
        // The human still wants a bot: the room gets one when capacity frees, the backoff ends or another instance
        // takes it.
        effects.append(.markWaiting(profile: profile))
    case .record, .ignore:
        break
    }
    // The call is over: nobody is left to wait for a new bot.
    if event.kind == .meetingEnded { effects.append(.setRespawnPending(false)) }
    return EventPlan(decision: decision, effects: effects, needsClaimFacts: nil)
}

// MARK: Claims outside webhooks

/// Plans a direct claim (a room the service makes: `/start`, a call) for a bot of `profile`: nil when the room has an
/// active session, or the service or the profile is at capacity. The room becomes the service's, for that profile.
package func planDirectClaim(
    profile: String,
    body: String,
    transport: Transport = .daily,
    roomHasActiveSession: Bool,
    facts: ClaimFacts,
    settings: PolicySettings
) -> [RoomEffect]? {
    guard !roomHasActiveSession, facts.activeSessions < settings.maxConcurrency, facts.profileLoad?.isFull != true
    else { return nil }
    var claimed = claim(profile: profile, body: body, facts: facts, settings: settings)
    claimed.transport = transport
    return [.markServiceRoom(profile: profile), .claim(claimed), .clearWaiting]
}

// MARK: Waiting rooms

/// A room as a transaction that may claim its next bot finds it.
package struct WaitingRoomFacts: Sendable, Equatable {
    /// True while its humans wait for a bot.
    package var isWaiting: Bool
    /// No new bot before this time.
    package var retryAt: Double?
    /// The profile recorded for the room (its last wait's, or the one the service made it for).
    package var roomProfile: String?
    /// The profile and body of the room's last session, if it had one.
    package var lastProfile: String?
    package var lastBody: String?
    /// Humans present.
    package var humans: Int
    package var hasActiveSession: Bool

    package init(
        isWaiting: Bool,
        retryAt: Double? = nil,
        roomProfile: String? = nil,
        lastProfile: String? = nil,
        lastBody: String? = nil,
        humans: Int,
        hasActiveSession: Bool = false
    ) {
        self.isWaiting = isWaiting
        self.retryAt = retryAt
        self.roomProfile = roomProfile
        self.lastProfile = lastProfile
        self.lastBody = lastBody
        self.humans = humans
        self.hasActiveSession = hasActiveSession
    }

    /// The room keeps its last session's profile (a room the service made keeps what its caller gave); a room that
    /// never had one gets the profile recorded when it began to wait.
    package var profile: String { lastProfile ?? roomProfile ?? BotProfile.defaultName }
}

/// A plan whose claim may need facts read under the claim lock (`ClaimFacts`).
package struct RoomPlan: Sendable, Equatable {
    /// The writes, in order; empty while `needsClaimFacts` is set.
    package var effects: [RoomEffect]
    /// Set when the plan would claim the room for a bot of this profile: read `ClaimFacts` for it and plan again.
    package var needsClaimFacts: String?

    package init(effects: [RoomEffect] = [], needsClaimFacts: String? = nil) {
        self.effects = effects
        self.needsClaimFacts = needsClaimFacts
    }
}

/// Plans the next bot of a room whose humans wait for one: none while nobody waits, the wait forgotten when its humans
/// left, a claim when capacity and the backoff allow (`shouldStartWaitingRoom`). Its bot gets the room's last body, or
/// its profile's.
package func planWaitingRoom(_ room: WaitingRoomFacts, claim claimFacts: ClaimFacts?, settings: PolicySettings, now: Double) -> RoomPlan {
    guard room.isWaiting else { return RoomPlan() }
    if room.humans == 0 { return RoomPlan(effects: [.clearWaiting]) }
    guard !room.hasActiveSession, (room.retryAt ?? 0) <= now else { return RoomPlan() }
    guard let claimFacts else { return RoomPlan(needsClaimFacts: room.profile) }
    guard
        shouldStartWaitingRoom(
            humans: room.humans,
            hasActiveSession: room.hasActiveSession,
            retryAt: room.retryAt,
            activeSessions: claimFacts.activeSessions,
            profileLoad: claimFacts.profileLoad,
            settings: settings,
            now: now
        )
    else { return RoomPlan() }
    let body = room.lastBody ?? defaultBody(ofProfile: room.profile, settings: settings)
    return RoomPlan(effects: [.claim(claim(profile: room.profile, body: body, facts: claimFacts, settings: settings)), .clearWaiting])
}

// MARK: Ends

extension EndPlan {
    /// What the end writes to the session's room: its backoff, the respawn wish taken up, its humans left waiting.
    package var roomEffects: [RoomEffect] {
        var effects: [RoomEffect] = []
        if backoff != .unchanged { effects.append(.setBackoff(backoff)) }
        if clearsRespawn { effects.append(.setRespawnPending(false)) }
        if roomWaits { effects.append(.markWaiting(profile: nil)) }
        return effects
    }
}

// MARK: Sessions

extension Session {
    /// The `starting` session a claim makes: this instance's when the claim is placed here, otherwise waiting for an
    /// instance with room (no owner). `launcher` is the service's, for a profile without its own.
    package static func claimed(
        _ claim: Claim,
        id: String,
        room: String,
        url: String?,
        launcher: LauncherKind,
        owner: String,
        now: Double
    ) -> Session {
        Session(
            id: id,
            roomName: room,
            roomURL: url,
            state: .starting,
            launcher: claim.launcher ?? launcher,
            createdAt: now,
            updatedAt: now,
            ownerInstance: claim.placedHere ? owner : nil,
            body: claim.body,
            botUserID: Policy.botUserID(sessionID: id),
            placedAt: claim.placedHere ? now : nil,
            profile: claim.profile,
            transport: claim.transport
        )
    }

    /// Whether the empty-room stop scheduled for this session is due: its grace is over and it has not stopped
    /// otherwise (nil `stopAt`: a human came back).
    package func scheduledStopIsDue(now: Double) -> Bool {
        guard let stopAt else { return false }
        return stopAt <= now && (state == .starting || state == .running)
    }
}
