import HTTPTypes
import Hummingbird
import Synchronization

/// A known path asked with a method it does not serve is `405 Method Not Allowed` with an `Allow` header
/// (RFC 9110, 15.5.6), not 404. Added first, so that it also wraps the router's not-found answer; the table of
/// routes is filled once the router has them all.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Each route's path (components, `{name}` for a parameter, as Hummingbird writes it) and the methods it serves.
    final class Routes: Sendable {
        private let table = Mutex<[(components: [String], methods: Set<String>)]>([])

        func fill(_ routes: [(path: String, method: String)]) {
            var grouped: [String: Set<String>] = [:]
            for route in routes { grouped[route.path, default: []].insert(route.method) }
            table.withLock { table in
                table = grouped.map { path, methods in
                    var methods = methods
                    if methods.contains("GET") { methods.insert("HEAD") }
                    return (path.split(separator: "/").map(String.init), methods)
                }
            }
        }

        /// The methods the path is served with, or nil when no route has this path. As in the router, a literal
        /// component wins over a parameter: `/sessions/stream` is not `/sessions/{id}`.
        func methods(for path: String) -> Set<String>? {
            let components = path.split(separator: "/").map(String.init)
            return table.withLock { table in
                var best: (captures: Int, methods: Set<String>)?
                for route in table where route.components.count == components.count {
                    let matches = zip(route.components, components).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
                    guard matches else { continue }
                    let captures = route.components.filter { $0.hasPrefix("{") }.count
                    switch best {
                    case let current? where current.captures < captures: break
                    case let current? where current.captures == captures: best = (captures, current.methods.union(route.methods))
                    default: best = (captures, route.methods)
                    }
                }
                return best?.methods
            }
        }
    }

    let routes: Routes

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            guard let methods = routes.methods(for: request.uri.path), !methods.contains(request.method.rawValue) else { throw error }
            var refusal = APIError(.methodNotAllowed, .methodNotAllowed)
            refusal.headers[.allow] = methods.sorted().joined(separator: ", ")
            throw refusal
        }
    }
}
