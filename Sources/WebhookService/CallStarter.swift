import BotRuntime
import Foundation
import Logging
import Policy
import SessionStore
import Synchronization

/// A phone call through Daily's pinless dial-in (`POST /daily/dialin`): a room with SIP dial-in for the call, and
/// a bot of the called number's profile in it, given the call to forward. The caller already hears hold music:
/// at capacity the call waits for a place rather than being refused.
struct CallStarter: Sendable {
    /// The call's session and room, and whether it had to wait for a place.
    struct Started: Sendable {
        var sessionID: String
        var roomURL: String
        var waited: Bool

        /// What Daily is answered: `{"ok":true,"session_id","room_url"}`.
        var answer: [String: JSONValue] {
            ["ok": .bool(true), "session_id": .string(sessionID), "room_url": .string(roomURL)]
        }
    }

    let rooms: RoomStarter
    let keys: CallForwardKeys
    /// `AUTOSPAWN_DIALIN_WAIT_S`.
    let waitSeconds: Double
    /// Where this instance's bots reach it (`daily_api_url` is under it).
    let address: ServiceAddress

    func start(_ call: DialinCall) async throws(APIError) -> Started {
        guard let profile = rooms.profiles.forCall(to: call.to) else { throw APIError(.notFound, .noProfile) }
        // Shutting down (past a drain's calls): refused at once, with no room made, rather than a bot never started.
        guard rooms.supervisor.takesCalls else { throw APIError(.serviceUnavailable, .draining) }
        let name = call.roomName
        let apiURL = address.baseURL + DialinController.forwardingPath
        let body = profile.body(mergedWith: call.body(forwardingThrough: apiURL, key: keys.key(forCall: call.callID)))
        let bodyText = JSONValue.object(body).text
        /// What one try finds: the call's session already (Daily asked again), or a place just claimed.
        enum Found: Sendable {
            case existing(Session)
            case claimed(Session)
        }
        var waited = false
        let attempt: () async throws -> Found? = {
            // Daily asked again about a call it already gave us: the same room and bot.
            if let existing = try await rooms.store.roomStatus(name).session { return .existing(existing) }
            // A call id starts one session: a signed request replayed after its call ended starts nothing (its
            // session is kept longer than a signature is good for, `AUTOSPAWN_RETENTION_DAYS`). No active session
            // is left here, so each one listed has ended.
            if DialinCall.isOver(after: try await rooms.store.sessions(SessionQuery(states: .all, roomName: name, limit: 10))) {
                throw APIError(.conflict, .callOver)
            }
            let claimed = try await rooms.store.claim(
                room: name,
                url: rooms.url(of: name),
                profile: profile.name,
                body: bodyText,
                now: Date().timeIntervalSince1970
            )
            return claimed.map(Found.claimed)
        }
        let found = try await PlaceWait(seconds: waitSeconds).run(
            waits: {
                rooms.logger.info("a call waits for a place", metadata: ["room": "\(name)", "profile": "\(profile.name)"])
                waited = true
            },
            attempt
        )
        var session: Session
        switch found {
        case .existing(let existing)?:
            return Started(sessionID: existing.id, roomURL: existing.roomURL ?? rooms.url(of: name), waited: waited)
        case .claimed(let claimed)?:
            session = claimed
        case nil:
            rooms.logger.warning("a call waited for a place in vain", metadata: ["room": "\(name)", "wait_s": "\(waitSeconds)"])
            throw APIError(.serviceUnavailable, .capacity)
        }
        let expiry = Date().timeIntervalSince1970 + rooms.maxSessionSeconds
        session = try await rooms.createRoom(
            for: session,
            privacy: DialinCall.roomPrivacy,
            properties: call.roomProperties(expiresAt: expiry)
        )
        try await rooms.launch(session, isCall: true)
        rooms.logger.info(
            "a call got its room and bot",
            metadata: ["room": "\(name)", "session": "\(session.id)", "profile": "\(profile.name)"]
        )
        return Started(sessionID: session.id, roomURL: session.roomURL ?? rooms.url(of: name), waited: waited)
    }
}

/// How this instance is reached (`AUTOSPAWN_ADVERTISE_URL`, else its host and port): known once it listens when the
/// port is chosen at start (`AUTOSPAWN_PORT=0`).
final class ServiceAddress: Sendable {
    private let url: Mutex<String>

    init(_ url: String) { self.url = Mutex(url) }

    var baseURL: String { url.withLock { $0 } }

    func set(_ value: String) { url.withLock { $0 = value } }
}
