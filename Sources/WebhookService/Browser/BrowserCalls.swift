import BotRuntime
import Foundation
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import Policy
import SessionStore

/// Browsers' WebRTC connections (DESIGN "Browser calls over WebRTC"): each a session of its own, its bot started (or a
/// warm one assigned) when the first offer comes, the offer handed to the bot over its socket and its answer given
/// back. Media flows between the browser and the bot; only signalling passes here. A session whose bot runs on
/// another instance is asked there (`OwnerForwarder`).
struct BrowserCalls: Sendable {
    let store: any SessionStorage
    let supervisor: Supervisor
    let profiles: BotProfiles
    let settings: BrowserSettings
    let lines: SignallingLines
    let owners: OwnerForwarder
    /// `AUTOSPAWN_START_TIMEOUT_S`: how long a bot has to answer an offer.
    let startTimeoutSeconds: Double
    let logger: Logger

    /// A request that another instance answered: its status and body, passed on as they are.
    struct Forwarded: Error {
        var status: Int
        var body: ByteBuffer
    }

    /// A new browser connection's session, its bot launched: `POST /start` (`{"transport":"webrtc"}`) and a first offer
    /// without a known `pc_id`. At capacity: `429 at_capacity`, nothing started.
    func claim(profile name: String?, body: [String: JSONValue]) async throws(APIError) -> Session {
        let profile = try profiles.chosen(name)
        guard supervisor.takesCalls else { throw APIError(.serviceUnavailable, .draining) }
        let pcID = "pc-" + UUID().uuidString.lowercased().filter(\.isHexDigit)
        let claimed: Session?
        do {
            claimed = try await store.claim(
                room: BrowserConnection.roomName(pcID: pcID),
                url: nil,
                profile: profile.name,
                body: JSONValue.object(profile.body(mergedWith: body)).text,
                transport: .webrtc,
                now: Date().timeIntervalSince1970
            )
        } catch {
            throw APIError(.serviceUnavailable, .databaseUnavailable)
        }
        guard let session = claimed else { throw APIError(.tooManyRequests, .atCapacity) }
        logger.info("a browser connection got its session", metadata: ["session_id": "\(session.id)", "profile": "\(profile.name)"])
        supervisor.launchSoon(session)
        return session
    }

    /// The session of a browser connection by its `pc_id`, while it is active; nil when there is none.
    func session(pcID: String) async throws(APIError) -> Session? {
        guard BrowserConnection.isValid(pcID: pcID) else { return nil }
        do {
            return try await store.roomStatus(BrowserConnection.roomName(pcID: pcID)).session
        } catch {
            throw APIError(.serviceUnavailable, .databaseUnavailable)
        }
    }

    /// The active browser session of `/sessions/{id}/api/offer`; 404 when there is none.
    func session(id: String) async throws(APIError) -> Session {
        let found: Session?
        do {
            found = try await store.session(id)
        } catch {
            throw APIError(.serviceUnavailable, .databaseUnavailable)
        }
        guard let found, found.transport == .webrtc, found.state.isActive else { throw APIError(.notFound, .sessionNotFound) }
        return found
    }

    /// Hands the offer to the session's bot and returns its answer (`{"sdp","type":"answer","pc_id"}`). A bot that
    /// gives none within the start timeout: `504 start_timeout`, and a new session is failed and its bot stopped.
    /// `forwarded` is the request as it came, for the instance that runs the bot.
    func answer(_ offer: BrowserOffer, session: Session, isNew: Bool, forwarded: ForwardedRequest) async throws -> JSONValue {
        guard let pcID = BrowserConnection.pcID(ofRoom: session.roomName) else { throw APIError(.notFound, .sessionNotFound) }
        let deadline = ContinuousClock.now + .milliseconds(Int64(startTimeoutSeconds * 1000))
        if let placed = try await placed(session, before: deadline) {
            do {
                try await forwardIfElsewhere(forwarded, session: placed, seconds: startTimeoutSeconds)
            } catch let answer as Forwarded {
                // The bot's instance gave up on it: the session this request made is failed here.
                if isNew, answer.status == 504 { _ = try? await supervisor.requestStop(session.id, reason: .startTimeout) }
                throw answer
            }
        }
        let line = await lines.line(for: session.id)
        let pending = await line.exchange(BrowserConnection.offerMessage(offer, pcID: pcID, iceServers: settings.iceServers))
        let message = await withTaskGroup(of: JSONValue?.self) { group in
            group.addTask { await pending.wait() }
            group.addTask {
                try? await Task.sleep(until: deadline)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let message, let answer = BrowserConnection.answer(fromBot: message, pcID: pcID) { return answer }
        logger.warning("a browser connection's bot gave no answer", metadata: ["session_id": "\(session.id)", "new": "\(isNew)"])
        if isNew {
            _ = try? await supervisor.requestStop(session.id, reason: .startTimeout)
            // A bot that never connected left its line here: nothing will close it.
            if await !line.hasBot { await lines.forget(session.id) }
        }
        throw APIError(.gatewayTimeout, .startTimeout)
    }

    /// Hands trickled candidates to the session's bot (on its instance).
    func candidates(_ patch: CandidatePatch, session: Session, forwarded: ForwardedRequest) async throws {
        try await forwardIfElsewhere(forwarded, session: session, seconds: 5)
        await lines.line(for: session.id).send(BrowserConnection.candidatesMessage(patch))
    }

    /// The bot's socket (`/calls/{session}/ws/{key}`), until it closes: its answers go to the offers waiting for them.
    /// The socket closing ends the session, once the bot's own end (its exit) has had a moment to be heard first.
    func botSocket(_ session: Session, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        let line = await lines.line(for: session.id)
        guard await line.attachBot(outbound) else {
            try? await outbound.close(.policyViolation, reason: "another connection serves this session")
            return
        }
        do {
            for try await message in inbound.messages(maxSize: OfferController.maxBody) {
                guard case .text(let text) = message, let document = try? JSONValue(parsing: Array(text.utf8)) else { continue }
                await line.received(document)
            }
        } catch {
            // The bot's connection broke: its process's end says why.
        }
        await line.close()
        await lines.forget(session.id)
        if await store.ended(session.id) != nil { return }
        logger.info("a browser connection's bot closed its socket", metadata: ["session_id": "\(session.id)"])
        _ = try? await supervisor.requestStop(session.id, reason: .botHungUp)
    }

    /// The session once an instance has taken it (it may wait for one with room for its bot); nil when none did in
    /// time.
    private func placed(_ session: Session, before deadline: ContinuousClock.Instant) async throws(APIError) -> Session? {
        var current = session
        while !current.isPlaced {
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(100))
            do {
                guard let next = try await store.session(session.id), next.state.isActive else { return nil }
                current = next
            } catch {
                throw APIError(.serviceUnavailable, .databaseUnavailable)
            }
        }
        return current
    }

    /// Passes the request to the instance that runs the session's bot, when that is another: its answer is thrown as
    /// `Forwarded`. Returns when the bot is this instance's.
    private func forwardIfElsewhere(_ request: ForwardedRequest, session: Session, seconds: Double) async throws {
        guard !request.wasForwarded else { return }
        guard
            let answer = await owners.ownersAnswer(
                for: session,
                method: request.isCandidates ? .PATCH : .POST,
                path: "/sessions/\(session.id)/api/offer",
                body: request.body,
                authorization: request.authorization,
                timeout: .milliseconds(Int64(seconds * 1000) + 1000)
            )
        else { return }
        guard let answer else { throw APIError(.badGateway, .ownerUnavailable) }
        throw Forwarded(status: answer.status, body: answer.body)
    }
}

/// A signalling request as it came, for the instance that runs the bot.
struct ForwardedRequest: Sendable {
    /// `PATCH` (candidates), else `POST` (an offer).
    var isCandidates: Bool
    var body: [UInt8]
    var authorization: String?
    /// Another instance sent it here: it is answered here.
    var wasForwarded: Bool
}
