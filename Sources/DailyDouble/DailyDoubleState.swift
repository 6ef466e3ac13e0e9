import Foundation
import Policy

/// Everything the double remembers; tests read it through `/_double/log`.
actor DailyDoubleState {
    struct Fault: Codable, Sendable {
        var status: Int?
        var delaySeconds: Double?
        var count: Int

        enum CodingKeys: String, CodingKey {
            case status, count
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
    func takeFault() -> Fault? {
        guard var fault = faults.first else { return nil }
        fault.count -= 1
        if fault.count <= 0 { faults.removeFirst() } else { faults[0] = fault }
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
    func webhook(_ uuid: String) -> JSONValue? { webhooks[uuid] }
    func allWebhooks() -> [JSONValue] { Array(webhooks.values) }
    func deleteWebhook(_ uuid: String) -> Bool { webhooks.removeValue(forKey: uuid) != nil }
}
