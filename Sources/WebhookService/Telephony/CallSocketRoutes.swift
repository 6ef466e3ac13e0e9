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

    init(source: Source) {
        coreContext = .init(source: source)
        webSocket = .init()
    }
}

/// The calls' WebSockets: the carrier's stream (`/telephony/{carrier}/stream/{token}`, the token single-use) and
/// each call bot's own (`/calls/{session}/ws/{key}`). A socket whose session is not found is refused before the
/// upgrade, with nothing started.
struct CallSocketRoutes: Sendable {
    let relay: CallRelay
    let store: any SessionStorage
    let keys: CallKeys
    let carriers: [Carrier]
    let logger: Logger

    static let botPath = "calls"

    /// The router of every WebSocket the service serves; nil when no carrier is configured.
    func router() -> Router<CallSocketContext> {
        let router = Router(context: CallSocketContext.self)
        router.group("telephony/:carrier/stream").add(middleware: StreamTokenCheck(store: store, carriers: carriers, logger: logger))
            .ws(":token") { _, context in
                context.session == nil ? .dontUpgrade : .upgrade()
            } onUpgrade: { [relay] inbound, outbound, context in
                guard let session = context.requestContext.session else { return }
                await relay.carrierStream(session, inbound: inbound, outbound: outbound)
            }
        router.group("\(Self.botPath)/:session").add(middleware: BotKeyCheck(store: store, keys: keys))
            .ws("ws/:key") { _, context in
                context.session == nil ? .dontUpgrade : .upgrade()
            } onUpgrade: { [relay] inbound, outbound, context in
                guard let session = context.requestContext.session else { return }
                await relay.botSocket(session, inbound: inbound, outbound: outbound)
            }
        return router
    }
}

/// Takes the stream token (single-use) of a carrier's stream: the session it was issued for, while that is active.
struct StreamTokenCheck: RouterMiddleware {
    let store: any SessionStorage
    let carriers: [Carrier]
    let logger: Logger

    func handle(_ request: Request, context: CallSocketContext, next: (Request, CallSocketContext) async throws -> Response) async throws -> Response
    {
        var context = context
        if let carrier = context.parameters.get("carrier").flatMap(Carrier.init(rawValue:)), carriers.contains(carrier),
            let token = context.parameters.get("token"), CallKeys.looksLikeStreamToken(token),
            let session = try? await store.redeemStreamToken(digest: CallKeys.digest(ofStreamToken: token), now: Date().timeIntervalSince1970),
            session.transport == Transport(carrier)
        {
            if session.ownerInstance == store.instanceID {
                context.session = session
            } else {
                logger.warning("a call's stream reached an instance that does not run its bot: refused", metadata: ["session_id": "\(session.id)"])
            }
        } else {
            logger.warning("a call's stream refused: unknown, used or expired token")
        }
        return try await next(request, context)
    }
}

/// Checks a call bot's key: the session's own bot, on the instance that runs it, while the session is active.
struct BotKeyCheck: RouterMiddleware {
    let store: any SessionStorage
    let keys: CallKeys

    func handle(_ request: Request, context: CallSocketContext, next: (Request, CallSocketContext) async throws -> Response) async throws -> Response
    {
        var context = context
        if let id = context.parameters.get("session"), let key = context.parameters.get("key"), keys.isBotKey(key, forSession: id),
            let session = try? await store.session(id), session.state.isActive, session.transport.carrier != nil,
            session.ownerInstance == store.instanceID
        {
            context.session = session
        }
        return try await next(request, context)
    }
}
