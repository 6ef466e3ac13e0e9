import Hummingbird

/// The dashboard: its three files (`Dashboard/`), compiled into the binary by SwiftPM (`embedInCode`), behind the admin
/// token taken as HTTP Basic's password (a browser cannot send a Bearer header when it opens a page).
struct DashboardController: Sendable {
    enum File {
        case page, style, script
    }

    func addRoutes(to group: RouterGroup<BasicRequestContext>) {
        group.get("/") { _, _ in Self.response(for: .page) }
        group.get("dashboard.css") { _, _ in Self.response(for: .style) }
        group.get("dashboard.js") { _, _ in Self.response(for: .script) }
    }

    static func response(for file: File) -> Response {
        let (bytes, type): ([UInt8], String) =
            switch file {
            case .page: (PackageResources.index_html, "text/html; charset=utf-8")
            case .style: (PackageResources.dashboard_css, "text/css; charset=utf-8")
            case .script: (PackageResources.dashboard_js, "text/javascript; charset=utf-8")
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
