import BotRuntime
import Logging
import Policy

/// The Daily rooms the service makes itself (`/start`, `/daily`, a phone call): created under a name that is
/// the service's alone, and deleted again when their start fails.
struct ServiceRooms: Sendable {
    let daily: DailyClient
    let logger: Logger

    /// Creates the room. When the create fails, Daily may still have made it (an answer lost after it acted,
    /// and the retry then told that the name is taken): the name is ours alone, so a room by that name is ours.
    func create(name: String, privacy: String? = nil, properties: [String: JSONValue]) async throws -> DailyRoom {
        do {
            return try await daily.createRoom(name: name, privacy: privacy, properties: properties)
        } catch {
            if let room = try? await daily.room(name) {
                logger.info("Daily created the room although the answer said otherwise", metadata: ["room": "\(name)"])
                return room
            }
            throw error
        }
    }

    /// Removes a room made for a start that then failed; nobody will ever join it.
    func delete(_ name: String) async {
        do {
            try await daily.deleteRoom(name)
        } catch let error as DailyAPIError where error.status == 404 {
            // Never made.
        } catch {
            logger.warning("could not delete the room of a failed start", metadata: ["room": "\(name)", "error": "\(error)"])
        }
    }
}
