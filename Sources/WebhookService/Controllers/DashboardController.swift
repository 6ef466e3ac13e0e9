import Hummingbird
import Policy

/// The dashboard and the page that talks to a bot (`/client`): their files (`Dashboard/`), compiled into the binary by
/// SwiftPM (`embedInCode`), behind the admin token taken as HTTP Basic's password (a browser cannot send a Bearer
/// header when it opens a page).
struct DashboardController: Sendable {
    enum File {
        case page, style, script, clientPage, clientScript
    }

    /// The bots `/client` offers to talk to.
    var profiles: [String] = []
    /// `AUTOSPAWN_ICE_SERVERS`, for the page's peer connection.
    var iceServers: [JSONValue] = []

    func addRoutes(to group: RouterGroup<BasicRequestContext>) {
        group.get("/") { _, _ in Self.response(for: .page) }
        group.get("dashboard.css") { _, _ in Self.response(for: .style) }
        group.get("dashboard.js") { _, _ in Self.response(for: .script) }
        group.get("client") { _, _ in Self.response(for: .clientPage) }
        group.get("client.js") { _, _ in Self.response(for: .clientScript) }
        group.get("client/config") { [profiles, iceServers] _, _ in
            json(.ok, JSONValue.object(["profiles": .array(profiles.map(JSONValue.string)), "ice_servers": .array(iceServers)]))
        }
    }

    static func response(for file: File) -> Response {
        let (bytes, type): ([UInt8], String) =
            switch file {
            case .page: (PackageResources.index_html, "text/html; charset=utf-8")
            case .style: (PackageResources.dashboard_css, "text/css; charset=utf-8")
            case .script: (PackageResources.dashboard_js, "text/javascript; charset=utf-8")
            case .clientPage: (PackageResources.client_html, "text/html; charset=utf-8")
            case .clientScript: (PackageResources.client_js, "text/javascript; charset=utf-8")
            }
        return Response(
            status: .ok,
            headers: [
                .contentType: type, .cacheControl: "no-cache",
                // Only its own files and the service's own API; nothing inline, nothing from elsewhere.
                .contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                .xContentTypeOptions: "nosniff",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}
