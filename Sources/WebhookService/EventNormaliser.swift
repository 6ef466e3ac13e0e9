import Crypto
import Foundation
import Policy

/// A body that is not an event this service can read; `code` is the `error` of the 400 answer.
package struct NormaliseError: Error, Equatable, Sendable {
    package let code: String
    package let detail: String
}

/// What a webhook body turned out to be.
package enum WebhookBody: Sendable, Equatable {
    /// Daily's `{"test":"test"}` probe, sent when a webhook is created or updated.
    case probe
    /// A well-formed event of a type this service does not act on.
    case unknownType(String)
    case event(RoomEvent)
}

/// Reads Daily's event shapes (version 1.0.0) and the brief's simplified shape into one `RoomEvent`.
package struct EventNormaliser: Sendable {
    /// `<domain>` of `https://<domain>.daily.co/<room>`, used when an event names only its room.
    package let domain: String?

    package init(domain: String?) {
        self.domain = domain
    }

    /// Whether the body is Daily's `{"test":"test"}` probe, which Daily sends to a URL it is given (a webhook's, the
    /// dial-in config's) before using it, perhaps unsigned. Only a body this small is parsed before it is
    /// authenticated.
    package static func isProbe(_ body: [UInt8]) -> Bool {
        guard body.count <= 64, let json = try? JSONValue(parsing: body) else { return false }
        return isProbe(json)
    }

    /// Whether the document is Daily's probe.
    static func isProbe(_ json: JSONValue) -> Bool {
        json.object?.count == 1 && json["test"]?.string == "test"
    }

    private static let dailyKinds = Dictionary(uniqueKeysWithValues: RoomEvent.Kind.allCases.map { ($0.rawValue, $0) })
    private static let simplifiedKinds: [String: RoomEvent.Kind] = [
        "participant-joined": .participantJoined, "participant-left": .participantLeft, "room-ended": .meetingEnded,
    ]

    package func normalise(_ body: [UInt8]) throws(NormaliseError) -> WebhookBody {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: body)
        } catch {
            throw NormaliseError(code: "malformed_json", detail: "the body is not JSON")
        }
        guard let object = json.object else {
            throw NormaliseError(code: "malformed_json", detail: "the body is not a JSON object")
        }
        if Self.isProbe(json) { return .probe }
        // A `type` makes the body Daily's shape (openapi.yaml: the simplified one has none), whatever `event` says.
        if let typeValue = object["type"] {
            guard let type = typeValue.string else {
                throw NormaliseError(code: "missing_type", detail: "`type` is not a string")
            }
            guard let kind = Self.dailyKinds[type] else { return .unknownType(type) }
            return .event(try dailyEvent(json, kind: kind, body: body))
        }
        if let name = object["event"]?.string {
            guard let kind = Self.simplifiedKinds[name] else { return .unknownType(name) }
            return .event(try simplifiedEvent(json, kind: kind, body: body))
        }
        throw NormaliseError(code: "missing_type", detail: "neither `type` nor `event` is a string")
    }

    private func dailyEvent(_ json: JSONValue, kind: RoomEvent.Kind, body: [UInt8]) throws(NormaliseError) -> RoomEvent {
        guard let payload = json["payload"], let roomValue = payload["room"] else {
            throw NormaliseError(code: "missing_room", detail: "payload.room is missing")
        }
        guard let room = roomValue.string else {
            throw NormaliseError(code: "invalid_room", detail: "payload.room is not a string")
        }
        let name = try Self.validRoomName(room)
        return RoomEvent(
            id: Self.eventID(json, body: body),
            kind: kind,
            roomName: name,
            roomURL: roomURL(for: name),
            participant: Self.participant(payload, kind: kind),
            sentAt: json["event_ts"]?.number
        )
    }

    private func simplifiedEvent(_ json: JSONValue, kind: RoomEvent.Kind, body: [UInt8]) throws(NormaliseError) -> RoomEvent {
        guard let room = json["room"] else { throw NormaliseError(code: "missing_room", detail: "room is missing") }
        var name = room.string ?? room["name"]?.string
        var url: String?
        if let given = room["url"] {
            guard let text = given.string, let urlName = dailyRoomName(inURL: text) else {
                let expected = domain.map { "https://\($0).daily.co/<room>" } ?? "https://<domain>.daily.co/<room>"
                throw NormaliseError(code: "invalid_room", detail: "room.url is not \(expected)")
            }
            if name == nil { name = urlName }
            guard urlName == name else {
                throw NormaliseError(code: "invalid_room", detail: "room.url does not end with room.name")
            }
            url = text
        }
        guard let name else { throw NormaliseError(code: "missing_room", detail: "room.name is missing") }
        let valid = try Self.validRoomName(name)
        return RoomEvent(
            id: Self.eventID(json, body: body),
            kind: kind,
            roomName: valid,
            roomURL: url ?? roomURL(for: valid),
            participant: json["participant"].flatMap { Self.participant($0, kind: kind) },
            sentAt: json["event_ts"]?.number
        )
    }

    /// The room name of `https://<domain>.daily.co/<name>`, exactly that and nothing more (no port, query,
    /// fragment or credentials): the URL is handed to a bot, which joins whatever it names, so it must be a room
    /// of this service's Daily domain. With no domain known, any `<sub>.daily.co` room is taken.
    func dailyRoomName(inURL text: String) -> String? {
        let scheme = "https://"
        guard text.utf8.count <= 512, text.lowercased().hasPrefix(scheme) else { return nil }
        let rest = text.dropFirst(scheme.count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let host = rest[..<slash].lowercased()
        let suffix = ".daily.co"
        guard host.hasSuffix(suffix) else { return nil }
        let subdomain = String(host.dropLast(suffix.count))
        guard !subdomain.isEmpty, Config.isDomainLabel(subdomain) else { return nil }
        if let domain, subdomain != domain.lowercased() { return nil }
        let name = String(rest[rest.index(after: slash)...])
        return Self.isValidRoomName(name) ? name : nil
    }

    private func roomURL(for name: String) -> String? {
        domain.map { "https://\($0).daily.co/\(name)" }
    }

    /// Daily's rule for room names, which also keeps them safe in argv, environment, paths and URLs.
    static func validRoomName(_ name: String) throws(NormaliseError) -> String {
        guard isValidRoomName(name) else {
            throw NormaliseError(code: "invalid_room", detail: "a room name is 1 to 128 of [A-Za-z0-9_-]")
        }
        return name
    }

    package static func isValidRoomName(_ name: String) -> Bool {
        isDailyRoomName(name)
    }

    /// The room name in `value`, given as a name or as its `https://<domain>.daily.co/<name>` URL; nil when it
    /// is neither.
    package static func roomName(fromNameOrURL value: String) -> String? {
        if isValidRoomName(value) { return value }
        return EventNormaliser(domain: nil).dailyRoomName(inURL: value)
    }

    private static func participant(_ object: JSONValue, kind: RoomEvent.Kind) -> RoomEvent.Participant? {
        guard
            kind == .participantJoined || kind == .participantLeft || kind == .waitingParticipantJoined
                || kind == .waitingParticipantLeft
        else { return nil }
        let participant = RoomEvent.Participant(
            sessionID: object["session_id"]?.string.flatMap { $0.isEmpty ? nil : $0 },
            userID: object["user_id"]?.string.flatMap { $0.isEmpty ? nil : $0 },
            userName: object["user_name"]?.string
        )
        return participant
    }

    /// Daily's `id`; shapes without one are keyed by a digest of the body, so a redelivery is still a duplicate.
    private static func eventID(_ json: JSONValue, body: [UInt8]) -> String {
        if let id = json["id"]?.string, !id.isEmpty { return id }
        return "sha256:" + SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
    }
}
