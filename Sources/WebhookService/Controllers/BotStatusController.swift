import Hummingbird
import Policy
import SessionStore

/// `GET /bot/status?room=` and its live form `GET /bot/status/stream?room=`: for a page that waits for its room's bot.
struct BotStatusController: Sendable {
    let status: BotStatusReader
    let streams: LiveStreams

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("bot/status") { request, _ -> Response in json(.ok, try await status(of: try Self.room(of: request))) }
        router.get("bot/status/stream") { request, _ -> Response in try await streams.botStatus(room: try Self.room(of: request)) }
    }

    /// The room of `?room=`, a name or URL.
    static func room(of request: Request) throws(APIError) -> String {
        guard let room = request.uri.queryParameters.get("room") else { throw APIError(.badRequest, .missingRoom) }
        guard let name = EventNormaliser.roomName(fromNameOrURL: room) else { throw APIError(.badRequest, .invalidRoom) }
        return name
    }
}

/// A room's `BotStatus`, as `/bot/status` and its stream show it.
struct BotStatusReader: Sendable {
    let store: any SessionStorage
    /// A room never seen still has its URL.
    let domain: DailyDomain

    func callAsFunction(of name: String) async throws -> BotStatus {
        let status = try await store.roomStatus(name)
        let url = status.session?.roomURL ?? status.url ?? domain.url(ofRoom: name)
        return BotStatus(
            roomName: name,
            roomURL: url,
            status: status.session?.state.rawValue ?? "absent",
            sessionID: status.session?.id,
            since: status.session.map { rfc3339($0.updatedAt) },
            participants: status.humans,
            knocking: status.knockers,
            profile: status.session?.profile
        )
    }
}
