import Hummingbird

/// `GET /health` (the process answers) and `GET /ready` (it takes work: `Readiness`).
struct HealthController: Sendable {
    let readiness: Readiness

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("health") { _, _ in json(.ok, ["status": "ok"]) }
        router.get("ready") { _, _ in
            if let problem = await readiness.problem() { return json(.serviceUnavailable, ["status": problem]) }
            return json(.ok, ["status": "ready"])
        }
    }
}
