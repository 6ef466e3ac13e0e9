import BotRuntime
import Foundation
import Logging
import Policy
import SessionStore

/// `POST /start` and `GET /daily`: a new room, a token for the caller, and a bot in it (Pipecat's runner and
/// Pipecat Cloud do the same); and a phone call's room (`RoomStarter+Call.swift`). The room is claimed before
/// Daily is asked for anything, so capacity is reserved atomically and a caller at capacity costs no Daily request.
struct RoomStarter: Sendable {
    /// What the caller gets: Pipecat's `{dailyRoom, dailyToken, sessionId}`.
    struct Started: Codable, Sendable {
        var dailyRoom: String
        var dailyToken: String
        var sessionId: String
    }

    let daily: DailyClient
    let rooms: ServiceRooms
    let domain: DailyDomain
    /// Which bot a start gets: the one it names, else the default profile.
    let profiles: BotProfiles
    let maxSessionSeconds: Double
    let store: any SessionStorage
    let supervisor: Supervisor
    let logger: Logger

    /// - Parameters:
    ///   - profile: the profile asked for; nil: the default one.
    ///   - body: the caller's body, laid over the profile's.
    func start(
        profile: String?,
        roomProperties: [String: JSONValue],
        tokenProperties: [String: JSONValue],
        body: [String: JSONValue]
    ) async throws(APIError) -> Started {
        let chosen = try profiles.chosen(profile)
        let name = "pipecat-" + String(UUID().uuidString.lowercased().filter(\.isHexDigit).prefix(8))
        let bodyText = JSONValue.object(chosen.body(mergedWith: body)).text
        let now = Date().timeIntervalSince1970
        let claimed: Session?
        do {
            claimed = try await store.claim(room: name, url: url(of: name), profile: chosen.name, body: bodyText, now: now)
        } catch {
            throw APIError(.serviceUnavailable, .databaseUnavailable)
        }
        guard var session = claimed else { throw APIError(.tooManyRequests, .atCapacity) }
        let expiry = JSONValue.number((now + maxSessionSeconds).rounded(.down))
        // Pipecat's runner defaults, bounded by the session's maximum length; the request's properties win.
        let defaults: [String: JSONValue] = ["exp": expiry, "eject_at_room_exp": .bool(true)]
        session = try await createRoom(for: session, properties: defaults.merging(roomProperties) { $1 })
        let token: String
        do {
            var properties: [String: JSONValue] = ["exp": expiry]
            properties.merge(tokenProperties) { $1 }
            properties["room_name"] = .string(name)  // a token for another room would be useless here
            token = try await daily.meetingToken(properties)
        } catch {
            logger.error("Daily did not mint the caller's token", metadata: ["room": "\(name)", "error": "\(error)"])
            await supervisor.end(session.id, state: .failed, reason: .tokenFailed)
            await rooms.delete(name)
            throw APIError(.badGateway, .dailyUnavailable)
        }
        try await launch(session)
        return Started(dailyRoom: session.roomURL ?? "", dailyToken: token, sessionId: session.id)
    }

    /// `https://<domain>.daily.co/<name>`, until Daily's answer says otherwise. The domain is known: with a Daily key
    /// (a `RoomStarter` has one) it is read before the server starts, or the service does not start.
    func url(of name: String) -> String { "https://\(domain.name ?? "").daily.co/\(name)" }

    /// Creates the claimed session's room and records its URL; when Daily fails, the session fails and no room is
    /// left.
    func createRoom(for session: Session, privacy: String? = nil, properties: [String: JSONValue]) async throws(APIError) -> Session {
        var session = session
        do {
            let room = try await rooms.create(name: session.roomName, privacy: privacy, properties: properties)
            session.roomURL = room.url
            try await store.setRoomURL(session.id, url: room.url, now: Date().timeIntervalSince1970)
            return session
        } catch {
            logger.error("Daily did not create the room", metadata: ["room": "\(session.roomName)", "error": "\(error)"])
            await supervisor.end(session.id, state: .failed, reason: .roomFailed)
            await rooms.delete(session.roomName)
            throw APIError(.badGateway, .dailyUnavailable)
        }
    }

    /// Starts the session's bot, unless the session was given up while Daily was slow (the start timeout) or
    /// stopped meanwhile: then no bot, and no room left behind.
    /// - Parameter isCall: a phone call's session, which a draining instance still starts.
    func launch(_ session: Session, isCall: Bool = false) async throws(APIError) {
        let current: Session?
        do {
            current = try await store.session(session.id)
        } catch {
            throw APIError(.serviceUnavailable, .databaseUnavailable)
        }
        guard let current, current.state == .starting else {
            await rooms.delete(session.roomName)
            if current?.endReason == .startTimeout { throw APIError(.gatewayTimeout, .startTimeout) }
            throw APIError(.conflict, .sessionStopped)
        }
        supervisor.launchSoon(session, isCall: isCall)
    }
}
