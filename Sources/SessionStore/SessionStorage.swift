import Foundation
import Policy

/// Where the service keeps its account of rooms, sessions, participants, seen events and instances: the one
/// interface every backend implements, and all the rest of the service uses. Each method is one transaction
/// that keeps the invariants of docs/DESIGN.md; the rules themselves are `Policy`'s (`decide`, `planEnd`,
/// `shouldStartWaitingRoom`), a backend loads the facts they need and applies what they return.
package protocol SessionStorage: Sendable {
    /// The instance that owns the sessions this store claims.
    var instanceID: String { get }
    /// Committed changes, for live views: this process's, and other instances' where `hearsOtherInstances`.
    var changes: SessionFeed { get }
    /// True when `changes` also tells what other instances commit (PostgreSQL's `NOTIFY`); otherwise live views
    /// poll for those.
    var hearsOtherInstances: Bool { get }

    // Events and claims
    /// Records an event (its id, the room's activity and participant set), decides, and claims or releases the
    /// room. `mayClaim` false (draining): a room that would get a bot waits instead.
    func record(_ event: RoomEvent, now: Double, mayClaim: Bool) async throws -> EventOutcome
    /// Claims a room directly (rooms the service creates) for a bot of `profile`: nil when it has an active session,
    /// or the service or the profile is at capacity. The room keeps the profile and counts as the service's own.
    func claim(room: String, url: String?, profile: String, body: String, transport: Transport, now: Double) async throws -> Session?
    /// True when the service created the room: its events count whatever the room filter or the profiles say.
    func isServiceRoom(_ room: String) async throws -> Bool
    func setRoomURL(_ id: String, url: String, now: Double) async throws
    /// Claims a session for each room whose humans wait for a bot and may have one now.
    func claimWaitingRooms(now: Double) async throws -> [Session]
    /// Takes for this instance the sessions that wait for an instance with room for their bot, as many as its own
    /// limit allows (`AUTOSPAWN_MAX_LOCAL_BOTS`), oldest first.
    func placeWaitingSessions(now: Double) async throws -> [Session]
    /// Active sessions no instance has taken yet (`Session.isPlaced` false), oldest first.
    func unplacedSessions() async throws -> [Session]

    // A session's life
    /// Records the bot's start; nil (and no change) unless the session is still `starting`.
    func markStarted(_ id: String, pid: Int32?, pidStartTime: UInt64?, now: Double) async throws -> Session?
    /// Moves an active session to `stopping`; nil when it does not exist, the unchanged session when it ended.
    func requestStop(_ id: String, reason: EndReason, now: Double) async throws -> Session?
    /// Starts the stop whose empty-room grace has run out; nil when a human came back meanwhile.
    func beginScheduledStop(_ id: String, now: Double) async throws -> Session?
    /// Ends an active session as `Policy.planEnd` says, and claims the room's next one when asked and allowed.
    func finish(
        _ id: String,
        state: SessionState,
        reason: EndReason,
        exitCode: Int?,
        now: Double,
        claimSuccessor: Bool
    ) async throws -> Ending?
    /// Hands a session to this instance with the bot process it found alive.
    func adopt(_ id: String, pid: Int32, pidStartTime: UInt64, now: Double) async throws -> Session?

    // Phone calls
    /// Gives an active session the one stream token its carrier may open the call's stream with (the token's SHA-256
    /// digest, hex), good until `until`; false when the session is over.
    func issueStreamToken(_ id: String, digest: String, until: Double) async throws -> Bool
    /// Takes the stream token of this digest: its active session, once; nil when it is unknown, used or expired.
    func redeemStreamToken(digest: String, now: Double) async throws -> Session?

    // Instances
    /// Registers this instance and returns every other registered one.
    func register(_ instance: ServiceInstance) async throws -> [ServiceInstance]
    /// Every registered instance but this one, alive or dead.
    func otherInstances() async throws -> [ServiceInstance]
    func deregister(_ id: String) async throws
    /// Records how other instances reach this one (once it listens).
    func setAdvertiseURL(_ url: String) async throws
    /// Extends this instance's lease; false when its registration is gone.
    func renewLease(until: Double) async throws -> Bool
    /// Active sessions whose owner is not one of `liveInstances` (sessions that wait for placement have none).
    func unownedActiveSessions(liveInstances: Set<String>) async throws -> [Session]

    // Reading
    func session(_ id: String) async throws -> Session?
    /// Active sessions owned by this instance.
    func ownActiveSessions() async throws -> [Session]
    /// Sessions of this instance (or of none yet) with a stop scheduled, soonest first.
    func scheduledStops() async throws -> [Session]
    func sessions(_ query: SessionQuery) async throws -> [Session]
    /// Active sessions of the whole service.
    func activeCount() async throws -> Int
    /// Who is now in each of the rooms and at its door; rooms with neither are left out.
    func presence(inRooms rooms: Set<String>) async throws -> [String: RoomPresence]
    /// The room's active session, its humans and knockers, and its URL.
    func roomStatus(_ room: String) async throws -> RoomStatus
    /// True when the store takes a write now.
    func isWritable(now: Double) async -> Bool

    // The reaper's
    /// Running sessions of this instance whose room has been silent for `silentFor` seconds.
    func silentSessions(now: Double, silentFor: Double) async throws -> [Session]
    func markPresenceChecked(room: String, now: Double) async throws
    /// Deletes what no longer matters (`AUTOSPAWN_RETENTION_DAYS`); returns the ids of the sessions deleted.
    func prune(endedBefore: Double, seenBefore: Double) async throws -> [String]
}

extension SessionStorage {
    /// Humans now in each of the rooms; rooms with none are left out.
    package func humans(inRooms rooms: Set<String>) async throws -> [String: Int] {
        try await presence(inRooms: rooms).compactMapValues { $0.humans > 0 ? $0.humans : nil }
    }

    package func record(_ event: RoomEvent, now: Double) async throws -> EventOutcome {
        try await record(event, now: now, mayClaim: true)
    }

    package func claim(room: String, url: String?, now: Double) async throws -> Session? {
        try await claim(room: room, url: url, profile: BotProfile.defaultName, body: "{}", transport: .daily, now: now)
    }

    /// Claims a Daily room directly.
    package func claim(room: String, url: String?, profile: String, body: String, now: Double) async throws -> Session? {
        try await claim(room: room, url: url, profile: profile, body: body, transport: .daily, now: now)
    }

    package func finish(
        _ id: String,
        state: SessionState,
        reason: EndReason,
        exitCode: Int? = nil,
        now: Double
    ) async throws -> Ending? {
        try await finish(id, state: state, reason: reason, exitCode: exitCode, now: now, claimSuccessor: true)
    }
}

/// A failure of the store, with the file it concerns.
package struct SessionStoreError: Error, CustomStringConvertible {
    package let path: String
    package let underlying: any Error

    package var description: String { "database \(path): \(underlying)" }
}

/// What the store did with one event.
package struct EventOutcome: Sendable, Equatable {
    package var decision: Decision?
    package var action: WebhookAction
    package var reason: String
    /// The session the event spawned, or whose stop it started or scheduled.
    package var session: Session?
}

/// A session that has just ended, and the room's next session when a human was waiting for one.
package struct Ending: Sendable, Equatable {
    package var ended: Session
    package var successor: Session?
}

/// Filters for `sessions(_:)`.
package struct SessionQuery: Sendable {
    package enum States: String, Sendable { case active, ended, failed, all }
    package var states: States
    package var roomName: String?
    package var limit: Int

    package init(states: States = .active, roomName: String? = nil, limit: Int = 100) {
        self.states = states
        self.roomName = roomName
        self.limit = limit
    }
}

/// Who is in a room (humans; bots are not counted) and who knocks at its door, not yet let in.
package struct RoomPresence: Sendable, Equatable {
    package var humans: Int
    package var knockers: Int

    package init(humans: Int, knockers: Int) {
        self.humans = humans
        self.knockers = knockers
    }
}

/// A room as `/bot/status` shows it.
package struct RoomStatus: Sendable, Equatable {
    /// Its active session, if any.
    package var session: Session?
    /// Humans in the room (bots excluded).
    package var humans: Int
    /// People knocking at the room, not yet let in.
    package var knockers: Int
    package var url: String?

    package init(session: Session?, humans: Int, knockers: Int, url: String?) {
        self.session = session
        self.humans = humans
        self.knockers = knockers
        self.url = url
    }
}

/// `LIKE` patterns of participant keys: knockers' (`RoomEvent.knockerKeyPrefix`), kept apart from the room's humans.
/// The session a claim makes, under a new id.
func newSession(_ claim: Claim, room: String, url: String?, launcher: LauncherKind, owner: String, now: Double) -> Session {
    Session.claimed(claim, id: UUID().uuidString.lowercased(), room: room, url: url, launcher: launcher, owner: owner, now: now)
}

/// How the tables spell a session's missing owner (`Session.ownerInstance` nil: it waits for an instance with room).
let unplacedOwner = ""

/// A session's owner as read from its row.
func placedOwner(_ column: String) -> String? {
    column == unplacedOwner ? nil : column
}

let knockerKeyPattern = RoomEvent.knockerKeyPrefix + "%"

/// The active states as an SQL list, `('starting','running','stopping')`: the one spelling of `SessionState.active` in
/// every backend's queries.
let activeStates = "(" + SessionState.active.map { "'\($0.rawValue)'" }.joined(separator: ",") + ")"
