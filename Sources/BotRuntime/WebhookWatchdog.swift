import Logging
import Policy
import ServiceLifecycle
import Synchronization

/// Keeps this service's Daily webhook switched on. With Daily's default `circuit-breaker` retry type, three failed
/// deliveries in a row turn a webhook `FAILED`, and Daily then sends no event of the whole domain until someone
/// updates it. Every `interval` the watchdog lists the domain's webhooks and re-activates (`POST /webhooks/:uuid`)
/// each failed one that is this service's: signed with one of its secrets or, with none configured, pointing at a
/// `/daily/webhook` path. It also says, once, when this service's webhook is not subscribed to an event type the
/// service needs (`requiredEventTypes`): those events would never come.
package final class WebhookWatchdog: Service, Sendable {
    let daily: DailyClient
    let secrets: [[UInt8]]
    let requiredEventTypes: [String]
    let interval: Duration
    let logger: Logger
    let metrics: ServiceMetrics
    /// The webhooks already warned about, with what they missed.
    private let warned = Mutex<Set<String>>([])

    package init(
        daily: DailyClient,
        secrets: [[UInt8]],
        requiredEventTypes: [String] = [],
        intervalSeconds: Double,
        logger: Logger,
        metrics: ServiceMetrics
    ) {
        self.daily = daily
        self.secrets = secrets
        self.requiredEventTypes = requiredEventTypes
        self.interval = .milliseconds(Int64(intervalSeconds * 1000))
        self.logger = logger
        self.metrics = metrics
    }

    package func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.check()
                try? await Task.sleep(for: self.interval)
            }
        }
    }

    /// One look at the domain's webhooks; returns the uuids it re-activated.
    @discardableResult
    package func check() async -> [String] {
        let webhooks: [DailyWebhook]
        do {
            webhooks = try await daily.webhooks()
        } catch {
            logger.warning("could not list Daily's webhooks", metadata: ["error": "\(error)"])
            return []
        }
        for webhook in webhooks where isOurs(webhook) {
            // No types listed: Daily's answer does not say, so there is nothing to judge.
            let subscribed = webhook.eventTypes ?? []
            let missing = requiredEventTypes.filter { !subscribed.isEmpty && !subscribed.contains($0) }
            if !missing.isEmpty, warned.withLock({ $0.insert(webhook.uuid + " " + missing.joined(separator: ",")).inserted }) {
                logger.warning(
                    "this service's Daily webhook is not subscribed to event types the service needs: they never arrive",
                    metadata: [
                        "webhook": "\(webhook.uuid)", "missing": "\(missing.joined(separator: ","))",
                        "fix": "autospawn webhook create --event-types \((subscribed + missing).joined(separator: ","))",
                    ]
                )
            }
        }
        var reactivated: [String] = []
        for webhook in webhooks where webhook.state == "FAILED" && isOurs(webhook) {
            do {
                _ = try await daily.updateWebhook(webhook.uuid, changes: ["url": .string(webhook.url)])
                logger.warning(
                    "Daily had turned this service's webhook FAILED: re-activated it",
                    metadata: ["webhook": "\(webhook.uuid)", "failed_count": "\(webhook.failedCount ?? 0)"]
                )
                metrics.webhookReactivated()
                reactivated.append(webhook.uuid)
            } catch {
                logger.error("could not re-activate the failed webhook", metadata: ["webhook": "\(webhook.uuid)", "error": "\(error)"])
            }
        }
        return reactivated
    }

    func isOurs(_ webhook: DailyWebhook) -> Bool {
        if secrets.isEmpty { return webhook.url.hasSuffix("/daily/webhook") }
        guard let hmac = webhook.hmac.flatMap(Base64.decode) else { return false }
        return secrets.contains(hmac)
    }
}
