import BotRuntime
import Foundation
import Logging
import Policy
import SessionStore

/// A carrier's call, answered (DESIGN "Phone calls over a WebSocket"): its session (claimed now, its bot started
/// while the carrier opens the stream), and the markup that connects the call's media to this service.
struct PhoneCalls: Sendable {
    let store: any SessionStorage
    let supervisor: Supervisor
    let profiles: BotProfiles
    let telephony: TelephonySettings
    let wait: PlaceWait
    /// `AUTOSPAWN_START_TIMEOUT_S`: a stream token is good for this long.
    let startTimeoutSeconds: Double
    /// The instances alive now (`Recovery.liveInstances`); nil when the database cannot say.
    let liveInstances: @Sendable () async -> Set<String>?
    let logger: Logger

    /// The markup a call is answered with, and what it says (`autospawn_carrier_calls_total`'s `result`).
    struct Answer: Sendable {
        var markup: String
        var result: String
    }

    /// What the carrier is told to do with the call: stream it here, hang it up, or refuse it.
    func answer(_ call: PhoneCall) async throws(APIError) -> Answer {
        // A call the service placed has its session already (its profile is that session's).
        guard let profile = profiles.forCall(to: call.to) ?? (call.isOutbound ? profiles.defaultProfile : nil) else {
            logger.warning("a call to a number no profile takes: refused", metadata: ["carrier": "\(call.carrier.rawValue)"])
            return Answer(markup: CallMarkup.reject(call.carrier), result: "rejected")
        }
        // Shutting down (past a drain's calls): the carrier is told to try again, no session made.
        guard supervisor.takesCalls else { throw APIError(.serviceUnavailable, .draining) }
        let room = call.roomName
        let body = JSONValue.object(profile.body(mergedWith: ["call": call.bodyField])).text
        let claim: () async throws -> Answer? = {
            guard
                let claimed = try await store.claim(
                    room: room,
                    url: nil,
                    profile: profile.name,
                    body: body,
                    transport: Transport(call.carrier),
                    now: Date().timeIntervalSince1970
                )
            else { return nil }
            let markup = try await streamAnswer(call, sessionID: claimed.id)
            logger.info("a call got its session", metadata: ["room": "\(room)", "session": "\(claimed.id)", "profile": "\(profile.name)"])
            supervisor.launchSoon(claimed, isCall: true)
            return markup.map { Answer(markup: $0, result: "streamed") }
        }
        let attempt: () async throws -> Answer? = {
            let sessions = try await store.sessions(SessionQuery(states: .all, roomName: room, limit: 20))
            var plan = planCallAnswer(roomSessions: sessions)
            // Another instance's session: is that instance still there? (Asked only then: it costs a query.)
            if case .stream(let id) = plan, let owner = sessions.first(where: { $0.id == id })?.ownerInstance, owner != store.instanceID {
                plan = planCallAnswer(roomSessions: sessions, liveInstances: await liveInstances())
            }
            switch plan {
            case .hangUp:
                return Answer(markup: CallMarkup.hangUp(call.carrier), result: "hung_up")
            case .stream(let id):
                // The carrier asked again (its stream closed, or it repeats itself): the same session, a new token.
                return try await streamAnswer(call, sessionID: id).map { Answer(markup: $0, result: "streamed") }
            case .replaceLost(let id):
                // The carrier's <Redirect> after the replica that ran the call died: the caller gets a new bot.
                logger.warning("a call's instance is gone: the call gets a new session", metadata: ["room": "\(room)", "session": "\(id)"])
                await supervisor.end(id, state: .failed, reason: .lost)
                return try await claim()
            case .claim:
                return try await claim()
            }
        }
        let answer = try await wait.run(
            waits: { logger.info("a call waits for a place", metadata: ["room": "\(room)", "profile": "\(profile.name)"]) },
            attempt
        )
        guard let answer else {
            logger.warning("a call waited for a place in vain", metadata: ["room": "\(room)", "wait_s": "\(wait.seconds)"])
            return Answer(markup: CallMarkup.busy(call.carrier), result: "busy")
        }
        return answer
    }

    /// The session of a call whose stream came unannounced (Exotel has no webhook): claimed now, waiting for a place
    /// as a call does, its bot launched; nil when no profile takes the number, or no place came free.
    func session(forStream call: PhoneCall) async -> Session? {
        guard let profile = profiles.forCall(to: call.to), supervisor.takesCalls else { return nil }
        let body = JSONValue.object(profile.body(mergedWith: ["call": call.bodyField])).text
        let claim: () async throws -> Session? = {
            try await store.claim(
                room: call.roomName,
                url: nil,
                profile: profile.name,
                body: body,
                transport: Transport(call.carrier),
                now: Date().timeIntervalSince1970
            )
        }
        let claimed: Session?? = try? await wait.run(
            waits: { logger.info("a call waits for a place", metadata: ["room": "\(call.roomName)"]) },
            claim
        )
        guard let claimed, let session = claimed else { return nil }
        supervisor.launchSoon(session, isCall: true)
        return session
    }

    /// The markup that streams the call to the session, with a new single-use token; nil when the session ended
    /// meanwhile (the next try sees why).
    private func streamAnswer(_ call: PhoneCall, sessionID: String) async throws -> String? {
        let (token, digest) = CallKeys.newStreamToken()
        let until = Date().timeIntervalSince1970 + startTimeoutSeconds
        guard try await store.issueStreamToken(sessionID, digest: digest, until: until), let publicURL = telephony.publicURL else {
            return nil
        }
        let streamBase = publicURL.hasPrefix("https://") ? "wss://" + publicURL.dropFirst(8) : "ws://" + publicURL.dropFirst(7)
        // A placed call's webhook names it (`?call=`): its redirect does too.
        let query = call.isOutbound ? "?call=\(call.callID)" : ""
        return CallMarkup.stream(
            call.carrier,
            streamURL: streamBase + "/telephony/\(call.carrier.rawValue)/stream/\(token)",
            webhookURL: publicURL + "/telephony/\(call.carrier.rawValue)/call" + query
        )
    }
}
