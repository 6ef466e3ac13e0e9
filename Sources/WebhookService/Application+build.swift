import BotRuntime
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import Metrics
import NIOCore
import Policy
import Prometheus
import ServiceLifecycle
import SessionStore
import UnixSignals

/// The parts of a running service, composed by `buildApplication`.
package struct AutospawnService: Sendable {
    package let store: any SessionStorage
    package let supervisor: Supervisor
    package let webhooks: WebhookHandler
    /// With `DAILY_API_KEY`: rooms made on request (`/start`, `/daily`).
    let starter: RoomStarter?
    /// With `AUTOSPAWN_DIALIN_SECRET`: phone calls' rooms and bots (`/daily/dialin`).
    let calls: CallStarter?
    let daily: DailyClient?
    let logger: Logger
    /// What `GET /metrics` shows.
    package let registry: PrometheusCollectorRegistry
    let metrics: ServiceMetrics
    /// The last webhooks answered, for the dashboard.
    let recent: RecentWebhooks
    /// With `DAILY_API_KEY`: keeps this service's Daily webhook switched on.
    let watchdog: WebhookWatchdog?
    /// The slower rules: time limits, sessions without bots, retention, recovery, strays, orphaned rooms.
    let reaper: Reaper
    /// This instance's lease, for instances on other hosts.
    let lease: InstanceLease
    let domain: DailyDomain
    /// With a carrier's secret: phone calls' webhooks.
    let phoneCalls: PhoneCalls?
    /// Browsers' WebRTC connections: their sessions and signalling.
    let browser: BrowserCalls
    /// Every WebSocket: carriers' streams, and bots' own sockets (calls' relay, browsers' signalling).
    let callSockets: CallSocketRoutes
    /// The keys of calls' bots' sockets (a bot's log is redacted of its key).
    let callKeys: CallKeys
    /// Calls the service places (`POST /v1/calls`).
    let outboundCalls: OutboundCalls
    /// What only the instance that runs a bot can answer: its log, its socket.
    let owners: OwnerForwarder
    /// Every route served, as `GET /sessions/{id}` (OpenAPI's spelling), sorted.
    package internal(set) var routes: [String] = []
}

/// Builds the HTTP application on `store` (`withSessionStore`); without one, it opens the SQLite file the
/// configuration names (tests that drive the router in process). It reads nothing but that file: the Daily domain
/// and the recovery of earlier instances' bots run in the application's run, before its server starts.
///
/// Run the result with `runService(_:)`, or drive its router in tests.
/// Metrics go to `registry`: its own for each application, so tests never share one.
package func buildApplication(
    _ config: Config,
    store: (any SessionStorage)? = nil,
    logger: Logger,
    registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    onListening: (@Sendable (Int) -> Void)? = nil
) async throws -> (some ApplicationProtocol, AutospawnService) {
    let metrics = serviceMetrics(registry)
    let daily = config.dailyAPIKey.map {
        DailyClient(baseURL: config.dailyAPIURL, apiKey: $0, logger: logger, metrics: metrics)
    }
    let domain = DailyDomain(config.dailyDomain)
    let store = try store ?? openSQLiteStore(config)
    // Known now unless the port is chosen at start; then once the server listens.
    let address = ServiceAddress(config.advertisedURL(port: config.port))
    var callForwardingURL: (@Sendable () -> String)?
    if !config.dialinSecrets.isEmpty {
        callForwardingURL = { address.baseURL + DialinController.forwardingPath }
    }
    var settings = Supervisor.Settings(config, callForwardingURL: callForwardingURL)
    // A call's bot connects to the instance that launched it, on its own host (DESIGN "Phone calls over a WebSocket").
    let localAddress = ServiceAddress(localURL(host: config.host, port: config.port))
    let callKeys = CallKeys()
    settings.callStreamURL = { session in
        "ws" + localAddress.baseURL.dropFirst(4) + "/\(CallSocketRoutes.botPath)/\(session.id)/ws/" + callKeys.botKey(forSession: session.id)
    }
    let hostID = config.hostID ?? ProcessTable.hostIdentity()
    settings.otherInstancesAlive = { await Recovery.othersAlive(store: store, hostID: hostID, now: Date().timeIntervalSince1970) }
    // The supervisor's upkeep, the lease and the reaper begin after the first recovery (`Recovery.start`).
    let recovered = Outcome<Void>()
    settings.upkeepAfter = recovered
    let supervisor = Supervisor(store: store, settings: settings, logger: logger, daily: daily, metrics: metrics)
    let recovery = Recovery(
        store: store,
        supervisor: supervisor,
        daily: daily,
        metrics: metrics,
        logger: logger,
        hostID: hostID,
        leaseSeconds: config.leaseSeconds,
        advertiseURL: config.port == 0 ? nil : config.advertisedURL(port: config.port),
        started: recovered
    )
    let lease = InstanceLease(
        store: store,
        recovery: recovery,
        leaseSeconds: config.leaseSeconds,
        handoverSeconds: config.handoverWaitSeconds,
        handsOver: { await supervisor.handsOver },
        logger: logger
    )
    let reaper = Reaper(
        store: store,
        supervisor: supervisor,
        recovery: recovery,
        settings: Reaper.Settings(config),
        daily: daily,
        metrics: metrics,
        logger: logger
    )
    let recent = RecentWebhooks()
    let webhooks = WebhookHandler(
        verifier: SignatureVerifier(
            secrets: config.webhookSecrets,
            toleranceSeconds: config.signatureToleranceSeconds,
            requireSignature: config.requireSignature
        ),
        domain: domain,
        settings: config.policySettings,
        store: store,
        supervisor: supervisor,
        logger: logger,
        metrics: metrics,
        recent: recent
    )
    let starter = daily.map { daily in
        RoomStarter(
            daily: daily,
            rooms: ServiceRooms(daily: daily, logger: logger),
            domain: domain,
            profiles: config.profiles,
            maxSessionSeconds: config.maxSessionSeconds,
            store: store,
            supervisor: supervisor,
            logger: logger
        )
    }
    let calls = starter.flatMap { starter in
        config.dialinSecrets.isEmpty
            ? nil
            : CallStarter(
                rooms: starter,
                keys: CallForwardKeys(secrets: config.dialinSecrets),
                waitSeconds: config.dialinWaitSeconds,
                address: address
            )
    }
    let watchdog = daily.map { daily in
        WebhookWatchdog(
            daily: daily,
            secrets: config.webhookSecrets,
            requiredEventTypes: config.requiredEventTypes,
            intervalSeconds: config.webhookCheckSeconds,
            logger: logger,
            metrics: metrics
        )
    }
    let carriers = config.telephony.carriers
    let relay = CallRelay(
        store: store,
        supervisor: supervisor,
        keys: callKeys,
        settings: .init(
            bufferSeconds: config.telephony.streamBufferSeconds,
            restartBackoff: config.restartBackoff,
            startTimeoutSeconds: config.startTimeoutSeconds
        ),
        metrics: metrics,
        logger: logger
    )
    let phoneCalls =
        carriers.isEmpty
        ? nil
        : PhoneCalls(
            store: store,
            supervisor: supervisor,
            profiles: config.profiles,
            telephony: config.telephony,
            wait: PlaceWait(seconds: config.dialinWaitSeconds),
            startTimeoutSeconds: config.startTimeoutSeconds,
            liveInstances: {
                guard let others = try? await store.otherInstances() else { return nil }
                return Recovery.liveInstances(others, of: store, hostID: hostID, now: Date().timeIntervalSince1970)
            },
            logger: logger
        )
    let owners = OwnerForwarder(store: store, http: .shared)
    let browser = BrowserCalls(
        store: store,
        supervisor: supervisor,
        profiles: config.profiles,
        settings: config.browser,
        lines: SignallingLines(),
        owners: owners,
        startTimeoutSeconds: config.startTimeoutSeconds,
        logger: logger
    )
    let callSockets = CallSocketRoutes(
        relay: relay,
        browser: browser,
        store: store,
        keys: callKeys,
        carriers: carriers,
        exotelToken: config.telephony.exotelToken,
        claimStream: { call in await phoneCalls?.session(forStream: call) },
        logger: logger
    )
    let twilio = config.telephony.twilioAccountSID.flatMap { sid in
        config.telephony.twilioAuthTokens.first.map { token in
            // Of rotated tokens, the first (the current one) signs requests to Twilio.
            TwilioClient(baseURL: config.telephony.twilioAPIURL, accountSID: sid, authToken: token, http: .shared)
        }
    }
    let outboundCalls = OutboundCalls(
        store: store,
        supervisor: supervisor,
        profiles: config.profiles,
        publicURL: config.telephony.publicURL,
        twilio: twilio,
        rooms: starter,
        logger: logger
    )
    var parts = AutospawnService(
        store: store,
        supervisor: supervisor,
        webhooks: webhooks,
        starter: starter,
        calls: calls,
        daily: daily,
        logger: logger,
        registry: registry,
        metrics: metrics,
        recent: recent,
        watchdog: watchdog,
        reaper: reaper,
        lease: lease,
        domain: domain,
        phoneCalls: phoneCalls,
        browser: browser,
        callSockets: callSockets,
        callKeys: callKeys,
        outboundCalls: outboundCalls,
        owners: owners
    )
    let router = buildRouter(config, parts)
    parts.routes = servedRoutes(router)
    var app = Application(
        router: router,
        server: httpServer(config, callSockets: callSockets),
        configuration: ApplicationConfiguration(address: .hostname(config.host, port: config.port), serverName: "autospawn"),
        onServerRunning: { [config] channel in
            guard let port = channel.localAddress?.port else { return }
            if config.port == 0 {
                // Only now is the port known: other instances read this one's bots' logs there, calls' bots forward
                // their calls there.
                let url = config.advertisedURL(port: port)
                address.set(url)
                localAddress.set(localURL(host: config.host, port: port))
                do { try await store.setAdvertiseURL(url) } catch {
                    logger.error("could not record this instance's address", metadata: ["error": "\(error)"])
                }
            }
            onListening?(port)
        },
        logger: logger
    )
    // Before the server answers: the domain that webhooks' room names need, then this instance's registration and
    // the bots earlier instances left (the lease and the reaper start after it, `Recovery.started`).
    app.beforeServerStarts {
        try await domain.resolve(daily: daily, apiURL: config.dailyAPIURL, logger: logger)
        try await recovery.start()
    }
    return (app, parts)
}

extension Supervisor.Settings {
    init(_ config: Config, callForwardingURL: (@Sendable () -> String)?) {
        self.init(
            profiles: config.profiles,
            logDirectory: config.botLogDirectory,
            stopGraceSeconds: config.stopGraceSeconds,
            maxSessionSeconds: config.maxSessionSeconds,
            botLogMaxBytes: config.botLogMaxBytes,
            shutdownMode: config.shutdownMode,
            drainTimeoutSeconds: config.drainTimeoutSeconds,
            restartBackoff: config.restartBackoff,
            callForwardingURL: callForwardingURL
        )
        botAccount = config.botAccount
    }
}

extension Reaper.Settings {
    /// Recovery looks for dead instances every half lease, apart from the other rules.
    init(_ config: Config) {
        self.init(
            interval: config.reaperIntervalSeconds,
            startTimeoutSeconds: config.startTimeoutSeconds,
            maxSessionSeconds: config.maxSessionSeconds,
            orphanAfterSeconds: config.orphanAfterSeconds,
            botNames: config.policySettings.botNames,
            retentionSeconds: config.retentionSeconds,
            signatureToleranceSeconds: config.signatureToleranceSeconds,
            recoveryInterval: config.leaseSeconds / 2,
            spawnOn: config.spawnOn,
            knockWaitSeconds: config.knockWaitSeconds
        )
    }
}

/// HTTP/1.1 and the WebSocket upgrade of calls' streams and bots' sockets. A connection that sends nothing (or a head
/// that never ends) for `AUTOSPAWN_REQUEST_TIMEOUT_S` is closed: slowloris.
private func httpServer(_ config: Config, callSockets: CallSocketRoutes) -> HTTPServerBuilder {
    let idle = TimeAmount.milliseconds(Int64(config.requestTimeoutSeconds * 1000))
    // A carrier's frames are a few hundred bytes; 64 KiB leaves room for a bot's larger ones.
    return .http1WebSocketUpgrade(
        webSocketRouter: callSockets.router(),
        configuration: .init(http1: .init(idleTimeout: idle), ws: .init(maxFrameSize: 1 << 16)),
        headDeadline: idle
    )
}

/// This instance's own address for processes on its host: the loopback address when it listens on every interface.
private func localURL(host: String, port: Int) -> String {
    switch host {
    case "0.0.0.0", "", "*": "http://127.0.0.1:\(port)"
    case "::", "[::]": "http://[::1]:\(port)"
    default: host.contains(":") && !host.hasPrefix("[") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
    }
}

/// Every route served, as `GET /sessions/{id}` (OpenAPI's spelling), sorted.
private func servedRoutes(_ router: Router<BasicRequestContext>) -> [String] {
    router.routes.map { route in
        let path = route.path.components.map { component in
            let text = "\(component)"
            return text.hasPrefix(":") ? "{\(text.dropFirst())}" : text
        }
        return "\(route.method) /" + path.joined(separator: "/")
    }.sorted()
}

/// The service's metrics in `registry`; bots start in milliseconds, Daily-backed ones in seconds: buckets for both.
private func serviceMetrics(_ registry: PrometheusCollectorRegistry) -> ServiceMetrics {
    var factory = PrometheusMetricsFactory(registry: registry)
    factory.durationHistogramBuckets["autospawn_spawn_latency_seconds"] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]
    return ServiceMetrics(factory: factory)
}

private func openSQLiteStore(_ config: Config) throws -> any SessionStorage {
    guard case .sqlite(let path) = config.database else {
        throw StartupError("a PostgreSQL store runs its connections beside the service: open it with withSessionStore")
    }
    return try SQLiteSessionStore(
        path: path,
        settings: config.policySettings,
        launcher: config.launcherKind,
        instanceID: UUID().uuidString.lowercased()
    )
}

/// Once per process (`serve`): log lines through `LogOutput` (level, format, redaction from the configuration),
/// and swift-metrics' global system into the returned registry, so that what libraries measure (Hummingbird's
/// requests) shows in `GET /metrics` beside the service's own metrics.
package func bootstrapProcessObservability(_ config: Config) -> PrometheusCollectorRegistry {
    LoggingSystem.bootstrap { label in LogOutput(label: label, config: config) }
    let registry = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    return registry
}

/// The service cannot start for a reason other than a bad setting.
package struct StartupError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// Runs the application and the supervisor until SIGTERM or SIGINT. The supervisor is shut down first
/// (it stops the bots) while the HTTP server still answers; then the server stops.
package func runService(_ app: some ApplicationProtocol, _ parts: AutospawnService, logger: Logger) async throws {
    // Shut down in reverse: the watchdog first, then the supervisor (it drains, hands over or stops the bots while
    // the server still answers and records, and the reaper and the lease still run), then the reaper, the lease
    // (which deregisters, or leaves its handover lease) and the server.
    var services: [any Service] = [app, parts.lease, parts.reaper, parts.supervisor]
    if let watchdog = parts.watchdog { services.append(watchdog) }
    let group = ServiceGroup(configuration: .init(services: services, logger: logger))
    try await withThrowingDiscardingTaskGroup { tasks in
        tasks.addTask {
            // The first signal begins the graceful shutdown, a SIGINT (Ctrl+C) one that stops the bots; a second
            // cuts a drain short.
            var signals = 0
            for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                signals += 1
                if signals == 1 {
                    if signal == .sigint { await parts.supervisor.interrupt() }
                    await group.triggerGracefulShutdown()
                }
                if signals == 2 {
                    logger.notice("a second signal: stopping the bots now")
                    await parts.supervisor.stopNow()
                }
            }
        }
        try await group.run()
        tasks.cancelAll()
    }
}
