import CoreMetrics

/// The service's metrics, through swift-metrics: `serve` hands it the Prometheus factory, tests a registry of
/// their own, and code that is not measured the no-op one. Label values are always from small, fixed sets
/// (event types, actions, reasons, endpoint templates), never room names or ids.
package struct ServiceMetrics: Sendable {
    let factory: any MetricsFactory

    package init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// Measures nothing.
    package static let disabled = ServiceMetrics(factory: NOOPMetricsHandler.instance)

    /// One webhook answered: its Daily event type (`unknown`, `probe`, `unverified`, `invalid` when there is
    /// none) and the action taken (`refused` for 400/401/503 answers).
    package func webhook(type: String, action: String) {
        Counter(label: "autospawn_webhooks_total", dimensions: [("type", type), ("action", action)], factory: factory)
            .increment()
    }

    /// A webhook refused for its signature: `missing_signature`, `invalid_signature`, `stale_timestamp`.
    package func signatureFailure(reason: String) {
        Counter(label: "autospawn_signature_failures_total", dimensions: [("reason", reason)], factory: factory).increment()
    }

    /// From the session's claim (the webhook, or `/start`) to its bot running.
    package func spawnLatency(seconds: Double) {
        Timer(label: "autospawn_spawn_latency_seconds", factory: factory)
            .recordNanoseconds(Int64((max(seconds, 0) * 1e9).rounded()))
    }

    /// A session ended, by its final state (`ended`, `failed`), reason, bot profile and transport (`daily`, or a
    /// phone carrier's).
    package func sessionEnded(state: String, reason: String, profile: String, transport: String) {
        Counter(
            label: "autospawn_session_ends_total",
            dimensions: [("state", state), ("reason", reason), ("profile", profile), ("transport", transport)],
            factory: factory
        ).increment()
    }

    /// A carrier's call webhook answered, by carrier and result: `streamed` (a new or the same session),
    /// `hung_up` (the call is over), `busy` (no place in time), `rejected` (no profile), `refused` (signature),
    /// `invalid`.
    package func carrierCall(carrier: String, result: String) {
        Counter(label: "autospawn_carrier_calls_total", dimensions: [("carrier", carrier), ("result", result)], factory: factory)
            .increment()
    }

    /// The phone calls this instance relays now (their carrier's stream or their bot's socket is here).
    package func callsRelayed(_ count: Int) {
        Gauge(label: "autospawn_calls_relayed", factory: factory).record(count)
    }

    /// A bot started (its process runs, or its agent took the request), by its profile.
    /// A dial-in call answered: `answered`, `waited` (answered after waiting for a place), `capacity`, `no_profile`,
    /// `refused` (signature), `invalid`, `failed` (Daily or the database).
    package func dialinCall(result: String) {
        Counter(label: "autospawn_dialin_calls_total", dimensions: [("result", result)], factory: factory).increment()
    }

    package func botStarted(profile: String) {
        Counter(label: "autospawn_bots_started_total", dimensions: [("profile", profile)], factory: factory).increment()
    }

    /// One request to Daily's REST API: the endpoint's template (`GET /rooms/:name/presence`) and the HTTP
    /// status, or `error` when no answer came.
    package func dailyCall(endpoint: String, status: String) {
        Counter(label: "autospawn_daily_api_requests_total", dimensions: [("endpoint", endpoint), ("status", status)], factory: factory)
            .increment()
    }

    /// Something the reaper did: `start_timeout`, `max_duration`, `orphaned`, `presence_check`, `lost`, `adopted`,
    /// `pruned`, `log_rotated`, `stray_stopped`.
    package func reaperAction(_ action: String) {
        Counter(label: "autospawn_reaper_actions_total", dimensions: [("action", action)], factory: factory).increment()
    }

    /// Active sessions in the whole service (every instance on the database) and the configured cap.
    package func sessions(active: Int, capacity: Int) {
        Gauge(label: "autospawn_active_sessions", factory: factory).record(active)
        Gauge(label: "autospawn_max_concurrency", factory: factory).record(capacity)
    }

    /// A webhook of this service that Daily had turned `FAILED` was switched on again.
    package func webhookReactivated() {
        Counter(label: "autospawn_webhook_reactivations_total", factory: factory).increment()
    }

    /// Idle processes of a warm pool (`AUTOSPAWN_WARM_BOTS`), by the pool's name.
    package func warmBotsIdle(pool: String, count: Int) {
        Gauge(label: "autospawn_warm_bots_idle", dimensions: [("pool", pool)], factory: factory).record(count)
    }

    /// A warm process started (to be idle).
    package func warmBotStarted(pool: String) {
        Counter(label: "autospawn_warm_bots_started_total", dimensions: [("pool", pool)], factory: factory).increment()
    }

    /// A warm process given a room: a bot started without its imports on the way.
    package func warmBotAssigned(pool: String) {
        Counter(label: "autospawn_warm_bots_assigned_total", dimensions: [("pool", pool)], factory: factory).increment()
    }

    /// A warm process that ended while idle, before any room (the service did not stop it).
    package func warmBotDiedIdle(pool: String) {
        Counter(label: "autospawn_warm_bots_died_idle_total", dimensions: [("pool", pool)], factory: factory).increment()
    }

    /// Open `/bot/status/stream` and dashboard streams.
    package func statusStreams(_ count: Int) {
        Gauge(label: "autospawn_status_streams", factory: factory).record(count)
    }
}
