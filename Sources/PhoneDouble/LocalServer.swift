import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle

/// A double's HTTP server on a free loopback port, running until `stop()`.
package final class LocalServer: Sendable {
    package let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.group = group
        self.task = task
    }

    package var baseURL: String { "http://127.0.0.1:\(port)" }

    package func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Starts `router` (and `server`'s protocols) on 127.0.0.1 and returns once it listens.
    package static func start(
        name: String,
        router: Router<BasicRequestContext>,
        server: HTTPServerBuilder = .http1()
    ) async throws -> LocalServer {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: name),
            onServerRunning: { channel in
                if let port = channel.localAddress?.port { continuation.yield(port) }
                continuation.finish()
            },
            logger: Logger(label: name)
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: name)))
        // The server outlives this call: stopped by `stop()`, which ends this task.
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        for await port in ports { return LocalServer(port: port, group: group, task: task) }
        try await task.value
        throw CancellationError()
    }
}
