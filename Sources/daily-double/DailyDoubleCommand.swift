import ArgumentParser
import DailyDouble
import Foundation
import Hummingbird
import Logging

/// `daily-double`: runs the local stand-in for Daily's REST API (tests and demos; never the real Daily).
@main
struct DailyDoubleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daily-double",
        abstract: "A local stand-in for Daily's REST API, for tests and demos."
    )

    @Option(help: "Listen address.") var host = "127.0.0.1"
    @Option(help: "Listen port (0: any free port).") var port = 8090
    @Option(help: "The API key clients must send as a Bearer token.") var apiKey = "double-key"
    @Option(help: "The domain rooms live on: https://<domain>.daily.co/<room>.") var domain = "double"
    @Option(help: "Requests per second before 429.") var rateLimit = 20

    func run() async throws {
        let app = DailyDouble.application(
            apiKey: apiKey,
            domain: domain,
            host: host,
            port: port,
            rateLimitPerSecond: rateLimit
        ) { port in
            FileHandle.standardOutput.write(Data("daily-double listening on http://\(host):\(port) (a stand-in, not Daily)\n".utf8))
        }
        try await app.runService()
    }
}
