import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import Policy
import SessionStore

/// The context of a call's WebSocket: the session it is for, found before the upgrade.
struct CallSocketContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<CallSocketContext>
    var session: Session?
    /// Exotel's stream, whose token was its configured one: its session comes with its `start` frame.
    var isExotel = false
    /// A carrier's stream that another instance relays (it runs the call's bot): where this one passes it on.
    var passOnTo: String?

    init(source: Source) {
        coreContext = .init(source: source)
        webSocket = .init()
    }
}

/// The calls' WebSockets: the carrier's stream (`/telephony/{carrier}/stream/{token}`, the token single-use) and
/// each call bot's own (`/calls/{session}/ws/{key}`: a phone call's relay, or a browser connection's signalling). A
/// socket whose session is not found is refused before the upgrade, with nothing started.
struct CallSocketRoutes: Sendable {
    let relay: CallRelay
    let browser: BrowserCalls
    let store: any SessionStorage
    let keys: CallKeys
    let carriers: [Carrier]
    /// `AUTOSPAWN_EXOTEL_TOKEN`.
    let exotelToken: String?
    /// Claims the session of a stream that came unannounced (Exotel's).
    let claimStream: @Sendable (PhoneCall) async -> Session?
    let logger: Logger

    static let botPath = "calls"

    /// The router of every WebSocket the service serves.
    func router() -> Router<CallSocketContext> {
        let router = Router(context: CallSocketContext.self)
        router.group("telephony/:carrier/stream")
            .add(middleware: StreamTokenCheck(store: store, carriers: carriers, exotelToken: exotelToken, logger: logger))
            .ws(":token") { _, context in
                context.session == nil && !context.isExotel ? .dontUpgrade : .upgrade()
            } onUpgrade: { [relay, claimStream] inbound, outbound, context in
                if context.requestContext.isExotel {
                    await relay.exotelStream(inbound: inbound, outbound: outbound, claim: claimStream)
                    return
                }
                guard let session = context.requestContext.session else { return }
                if let url = context.requestContext.passOnTo {
                    await relay.passOn(session, inbound: inbound, outbound: outbound, to: url)
                } else {
                    await relay.carrierStream(session, inbound: inbound, outbound: outbound)
                }
            }
        router.group("\(Self.botPath)/:session").add(middleware: BotKeyCheck(store: store, keys: keys))
            .ws("ws/:key") { _, context in
                context.session == nil ? .dontUpgrade : .upgrade()
            } onUpgrade: { [relay, browser] inbound, outbound, context in
                guard let session = context.requestContext.session else { return }
                if session.transport == .webrtc {
                    await browser.botSocket(session, inbound: inbound, outbound: outbound)
                } else {
                    await relay.botSocket(session, inbound: inbound, outbound: outbound)
                }
            }
        return router
    }
}

/// Takes the stream token (single-use) of a carrier's stream: the session it was issued for, while that is active.
/// When another instance runs the session's bot, the stream is passed on to it with a new token of its own.
struct StreamTokenCheck: RouterMiddleware {
    let store: any SessionStorage
    let carriers: [Carrier]
    let exotelToken: String?
    let logger: Logger

    /// How long the instance that passes a stream on has to open it at the bot's instance.
    static let passOnSeconds = 30.0

    func handle(_ request: Request, context: CallSocketContext, next: (Request, CallSocketContext) async throws -> Response) async throws -> Response
    {
        var context = context
        let now = Date().timeIntervalSince1970
        if context.parameters.get("carrier") == Carrier.exotel.rawValue {
            // Exotel signs nothing: its stream URL's token is AUTOSPAWN_EXOTEL_TOKEN, a long secret.
            if let expected = exotelToken, let token = context.parameters.get("token"),
                constantTimeEqual(Array(token.utf8), Array(expected.utf8))
            {
                context.isExotel = true
            } else {
                logger.warning("an Exotel stream refused: wrong token")
            }
            return try await next(request, context)
        }
        if let carrier = context.parameters.get("carrier").flatMap(Carrier.init(rawValue:)), carriers.contains(carrier),
            let token = context.parameters.get("token"), CallKeys.looksLikeStreamToken(token),
            let session = try? await store.redeemStreamToken(digest: CallKeys.digest(ofStreamToken: token), now: now),
            session.transport == Transport(carrier)
        {
            if session.ownerInstance == store.instanceID {
                context.session = session
            } else if let url = try? await passOnURL(session, carrier: carrier, now: now) {
                context.session = session
                context.passOnTo = url
            } else {
                logger.warning("a call's stream refused: the instance of its bot cannot be reached", metadata: ["session_id": "\(session.id)"])
            }
        } else {
            logger.warning("a call's stream refused: unknown, used or expired token")
        }
        return try await next(request, context)
    }

    /// The stream URL of the session at the instance that runs its bot (`AUTOSPAWN_ADVERTISE_URL`), with a new token.
    private func passOnURL(_ session: Session, carrier: Carrier, now: Double) async throws -> String? {
        guard let owner = session.ownerInstance, let base = try await store.otherInstances().first(where: { $0.id == owner })?.advertiseURL
        else { return nil }
        let (token, digest) = CallKeys.newStreamToken()
        guard try await store.issueStreamToken(session.id, digest: digest, until: now + Self.passOnSeconds) else { return nil }
        let webSocketBase = base.hasPrefix("https://") ? "wss://" + base.dropFirst(8) : "ws://" + base.dropFirst(7)
        return webSocketBase + "/telephony/\(carrier.rawValue)/stream/\(token)"
    }
}

/// Checks a bot's key to its socket: the session's own bot, on the instance that runs it, while the session is active.
struct BotKeyCheck: RouterMiddleware {
    let store: any SessionStorage
    let keys: CallKeys

    func handle(_ request: Request, context: CallSocketContext, next: (Request, CallSocketContext) async throws -> Response) async throws -> Response
    {
        var context = context
        if let id = context.parameters.get("session"), let key = context.parameters.get("key"), keys.isBotKey(key, forSession: id),
            let session = try? await store.session(id), session.state.isActive, session.transport.hasBotSocket,
            session.ownerInstance == store.instanceID
        {
            context.session = session
        }
        return try await next(request, context)
    }
}
