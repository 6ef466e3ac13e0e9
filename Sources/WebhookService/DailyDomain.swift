import BotRuntime
import Logging
import Policy
import Synchronization

/// `<domain>` of `https://<domain>.daily.co/<room>`: `AUTOSPAWN_DAILY_DOMAIN`, or the one Daily's API root names for
/// the key, read before the server starts (`resolve`). Rooms of events that give only their name get their URL
/// from it.
final class DailyDomain: Sendable {
    private let domain: Mutex<String?>

    init(_ configured: String?) { domain = Mutex(configured) }

    /// The domain; nil when none is configured and there is no Daily API key to ask.
    var name: String? { domain.withLock { $0 } }

    /// `https://<domain>.daily.co/<name>`, when the domain is known.
    func url(ofRoom name: String) -> String? { self.name.map { "https://\($0).daily.co/\(name)" } }

    /// Asks Daily's API root for the domain unless one is configured. A key Daily refuses is a configuration error
    /// naming `DAILY_API_KEY`; Daily out of reach stops the start-up too, naming the setting that avoids the read.
    func resolve(daily: DailyClient?, apiURL: String, logger: Logger) async throws {
        guard name == nil else { return }
        guard let daily else {
            logger.warning("neither AUTOSPAWN_DAILY_DOMAIN nor DAILY_API_KEY is set: joins that name only their room are ignored (no_domain)")
            return
        }
        let read: String
        do {
            read = try await daily.domainName()
        } catch let error as DailyAPIError where error.status == 401 || error.status == 403 {
            throw ConfigError("DAILY_API_KEY", "Daily refused it (\(error.type)); check the key")
        } catch {
            throw StartupError("cannot read the Daily domain from \(apiURL): \(error); set AUTOSPAWN_DAILY_DOMAIN to start without it")
        }
        logger.info("Daily domain read from the API root", metadata: ["domain": "\(read)"])
        domain.withLock { $0 = read }
    }
}
