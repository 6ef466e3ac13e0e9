import Foundation
import Logging
import Policy
import TestSupport
import Testing
import WebhookService

/// `openapi.yaml` names exactly the routes the router serves (the answers are checked against the running
/// service in `OpenAPIConformanceTests`).
struct OpenAPIRoutesTests {
    @Test func theDocumentListsExactlyTheServedRoutes() async throws {
        let directory = try ServiceProcess.makeDirectory()
        let config = try Config.parse([
            "AUTOSPAWN_DB": directory.appendingPathComponent("db.sqlite").path, "AUTOSPAWN_BOT_COMMAND": "true",
            "AUTOSPAWN_DAILY_DOMAIN": "acme",
        ])
        let (_, parts) = try await buildApplication(config, logger: Logger(label: "test"))
        let served = Set(parts.routes)
        let documented = try OpenAPIDocument().operations
        #expect(served.count > 15)
        #expect(served.subtracting(documented).isEmpty, "served, not documented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "documented, not served: \(documented.subtracting(served).sorted())")
    }
}
