import Foundation
import Policy
import SessionStore

/// A session as the read API shows it: no secrets, times as RFC 3339 strings.
package struct SessionView: Codable, Sendable, Equatable {
    package var id: String
    package var roomName: String
    package var roomURL: String?
    package var state: SessionState
    package var createdAt: String
    package var updatedAt: String
    package var endedAt: String?
    package var endReason: String?
    package var participants: Int
    /// People knocking at its room, not yet let in (not among `participants`).
    package var knocking: Int
    package var launcher: String
    package var pid: Int32?
    package var exitCode: Int?
    /// The bot profile it runs.
    package var profile: String
    /// How its caller reaches the bot: `daily`, or a phone carrier's stream (`twilio`, `telnyx`, `plivo`, `exotel`).
    package var transport: Transport

    enum CodingKeys: String, CodingKey {
        case id, state, participants, knocking, launcher, pid, profile, transport
        case roomName = "room_name"
        case roomURL = "room_url"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case endedAt = "ended_at"
        case endReason = "end_reason"
        case exitCode = "exit_code"
    }

    /// The sessions with who is in their rooms and at their doors now.
    static func of(_ sessions: [Session], store: any SessionStorage) async throws -> [SessionView] {
        let presence = try await store.presence(inRooms: Set(sessions.map(\.roomName)))
        return sessions.map { SessionView($0, presence: presence[$0.roomName]) }
    }

    package init(_ session: Session, presence: RoomPresence?) {
        id = session.id
        roomName = session.roomName
        roomURL = session.roomURL
        state = session.state
        createdAt = rfc3339(session.createdAt)
        updatedAt = rfc3339(session.updatedAt)
        endedAt = session.endedAt.map(rfc3339)
        endReason = (session.endReason ?? (session.state == .stopping ? session.stopReason : nil))?.rawValue
        participants = presence?.humans ?? 0
        knocking = presence?.knockers ?? 0
        launcher = session.launcher.rawValue
        pid = session.pid
        exitCode = session.exitCode
        profile = session.profile
        transport = session.transport
    }
}

/// `GET /sessions`.
struct SessionList: Codable, Sendable {
    var sessions: [SessionView]
    var active: Int
    var maxConcurrency: Int

    enum CodingKeys: String, CodingKey {
        case sessions, active
        case maxConcurrency = "max_concurrency"
    }
}

/// `GET /bot/status`.
struct BotStatus: Codable, Sendable, Equatable {
    var roomName: String
    var roomURL: String?
    var status: String
    var sessionID: String?
    var since: String?
    var participants: Int
    /// People knocking at the room, not yet let in (not among `participants`).
    var knocking: Int
    /// The active session's profile.
    var profile: String?

    enum CodingKeys: String, CodingKey {
        case status, since, participants, knocking, profile
        case roomName = "room_name"
        case roomURL = "room_url"
        case sessionID = "session_id"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(roomName, forKey: .roomName)
        try container.encode(roomURL, forKey: .roomURL)  // null when unknown, but always present
        try container.encode(status, forKey: .status)
        try container.encodeIfPresent(sessionID, forKey: .sessionID)
        try container.encodeIfPresent(since, forKey: .since)
        try container.encode(participants, forKey: .participants)
        try container.encode(knocking, forKey: .knocking)
        try container.encodeIfPresent(profile, forKey: .profile)
    }
}

func rfc3339(_ seconds: Double) -> String {
    Date(timeIntervalSince1970: seconds).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
}
