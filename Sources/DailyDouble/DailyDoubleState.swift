import Foundation
import Policy

/// Everything the double remembers; tests read it through `/_double/log`.
actor DailyDoubleState {
    struct Fault: Codable, Sendable {
        var status: Int?
        var delaySeconds: Double?
        var count: Int
        /// The request is carried out first and only its answer is lost (a timeout or 5xx after Daily acted).
        var after: Bool?
        /// Only requests whose path starts with this take the fault (all by default).
        var path: String?

        enum CodingKeys: String, CodingKey {
            case status, count, after, path
            case delaySeconds = "delay_s"
        }
    }

    struct LoggedRequest: Codable, Sendable {
        var method: String
        var path: String
        var status: Int
        var body: JSONValue?
        var at: Double
    }

    let apiKey: String
    let domain: String
    let rateLimitPerSecond: Int
    var rooms: [String: JSONValue] = [:]
    var presence: [String: [JSONValue]] = [:]
    var webhooks: [String: JSONValue] = [:]
    var faults: [Fault] = []
    var requests: [LoggedRequest] = []
    var recentStarts: [Double] = []
    var sink: [JSONValue] = []
    /// What the agent stand-in received: headers and body of each `POST /bot`.
    var agentCalls: [JSONValue] = []
    /// Pinless dial-in configs (`/domain-dialin-config`), by id.
    var dialinConfigs: [String: JSONValue] = [:]
    /// Calls handed to a room (`POST /dialin/pinlessCallUpdate`), by call id: `{callId, callDomain, sipUri}`.
    var forwardedCalls: [String: JSONValue] = [:]
    /// Calls the double placed (`/_double/dialin/call`) and still holds: call id to call domain.
    var heldCalls: [String: String] = [:]

    init(apiKey: String, domain: String, rateLimitPerSecond: Int) {
        self.apiKey = apiKey
        self.domain = domain
        self.rateLimitPerSecond = rateLimitPerSecond
    }

    /// Counts a request against the rate limit; false when it is over (Daily then answers 429).
    func admit(now: Double) -> Bool {
        recentStarts.removeAll { now - $0 >= 1 }
        guard recentStarts.count < rateLimitPerSecond else { return false }
        recentStarts.append(now)
        return true
    }

    /// The next injected fault, if any.
    func takeFault(path: String) -> Fault? {
        guard let index = faults.firstIndex(where: { path.hasPrefix($0.path ?? "") }) else { return nil }
        var fault = faults[index]
        fault.count -= 1
        if fault.count <= 0 { faults.remove(at: index) } else { faults[index] = fault }
        return fault
    }

    func log(_ request: LoggedRequest) { requests.append(request) }
    func addFault(_ fault: Fault) { faults.append(fault) }

    /// Daily is well again: every fault still queued is dropped.
    func clearFaults() { faults.removeAll() }
    func setPresence(_ room: String, _ participants: [JSONValue]) { presence[room] = participants }
    func record(sink body: JSONValue) { sink.append(body) }

    func createRoom(_ room: JSONValue, name: String) -> Bool {
        guard rooms[name] == nil else { return false }
        rooms[name] = room
        return true
    }

    func room(_ name: String) -> JSONValue? { rooms[name] }

    /// A room exists for presence when it was created, or a test gave it participants.
    func knows(_ name: String) -> Bool { rooms[name] != nil || presence[name] != nil }

    func deleteRoom(_ name: String) -> Bool {
        presence[name] = nil
        return rooms.removeValue(forKey: name) != nil
    }

    func participants(_ room: String) -> [JSONValue] { presence[room] ?? [] }

    func eject(room: String, userIDs: Set<String>) -> [String] {
        let before = presence[room] ?? []
        let kept = before.filter { !userIDs.contains($0["userId"]?.string ?? "") }
        presence[room] = kept
        return before.filter { userIDs.contains($0["userId"]?.string ?? "") }.compactMap { $0["id"]?.string }
    }

    func record(agentCall: JSONValue) { agentCalls.append(agentCall) }

    func join(room: String, participant: JSONValue) { presence[room, default: []].append(participant) }

    func isPresent(room: String, id: String) -> Bool {
        (presence[room] ?? []).contains { $0["id"]?.string == id }
    }

    func saveWebhook(_ webhook: JSONValue, uuid: String) { webhooks[uuid] = webhook }

    func saveDialinConfig(_ config: JSONValue, id: String) { dialinConfigs[id] = config }
    func deleteDialinConfig(_ id: String) -> Bool { dialinConfigs.removeValue(forKey: id) != nil }
    func allDialinConfigs() -> [JSONValue] { dialinConfigs.keys.sorted().compactMap { dialinConfigs[$0] } }
    func hold(call: String, domain: String) { heldCalls[call] = domain }

    /// Hands a held call to a room: false when the double holds no such call (Daily answers 404).
    func forward(_ update: JSONValue) -> Bool {
        guard let call = update["callId"]?.string, heldCalls[call] == update["callDomain"]?.string else { return false }
        heldCalls[call] = nil
        forwardedCalls[call] = update
        return true
    }

    /// Counts one delivery's outcome as Daily does: with `circuit-breaker` (the default), three failures in a row
    /// turn the webhook `FAILED`, and a failed webhook gets nothing until it is updated.
    func recordDelivery(_ uuid: String, succeeded: Bool) {
        guard var fields = webhooks[uuid]?.object else { return }
        let failures = succeeded ? 0 : Int(fields["failedCount"]?.number ?? 0) + 1
        fields["failedCount"] = .number(Double(failures))
        if failures >= 3, (fields["retryType"]?.string ?? "circuit-breaker") == "circuit-breaker" {
            fields["state"] = .string("FAILED")
        }
        webhooks[uuid] = .object(fields)
    }
    func webhook(_ uuid: String) -> JSONValue? { webhooks[uuid] }
    func allWebhooks() -> [JSONValue] { Array(webhooks.values) }
    func deleteWebhook(_ uuid: String) -> Bool { webhooks.removeValue(forKey: uuid) != nil }
}
