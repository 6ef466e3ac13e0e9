import BotRuntime
import Foundation
import Logging
import Policy
import SessionStore

/// The webhook's answer: status and JSON body.
package struct WebhookAnswer: Sendable, Equatable {
    package var status: Int
    package var body: WebhookAnswerBody
}

/// `{"ok":true,"action":..,"reason":..,"session_id":..}` or `{"ok":false,"error":..}`.
package struct WebhookAnswerBody: Codable, Sendable, Equatable {
    package var ok: Bool
    package var action: WebhookAction?
    package var reason: String?
    package var sessionID: String?
    package var error: String?

    enum CodingKeys: String, CodingKey {
        case ok, action, reason, error
        case sessionID = "session_id"
    }

    /// The body as JSONEncoder with sorted keys writes it, without JSONEncoder: this is every webhook's answer.
    package var jsonBytes: [UInt8] {
        var fields: [String] = []
        if let action { fields.append(#""action":"# + Self.quoted(action.rawValue)) }
        if let error { fields.append(#""error":"# + Self.quoted(error)) }
        fields.append(#""ok":"# + (ok ? "true" : "false"))
        if let reason { fields.append(#""reason":"# + Self.quoted(reason)) }
        if let sessionID { fields.append(#""session_id":"# + Self.quoted(sessionID)) }
        return Array(("{" + fields.joined(separator: ",") + "}").utf8)
    }

    static func quoted(_ text: String) -> String {
        JSONValue.string(text).text
    }

    static func accepted(_ action: WebhookAction, _ reason: String, session: String? = nil) -> WebhookAnswerBody {
        WebhookAnswerBody(ok: true, action: action, reason: reason, sessionID: session, error: nil)
    }

    static func refused(_ error: String) -> WebhookAnswerBody {
        WebhookAnswerBody(ok: false, action: nil, reason: nil, sessionID: nil, error: error)
    }
}

/// The way of a webhook: signature -> normaliser -> policy screen -> store (record, decide, claim) -> answer,
/// with the bot's start or stop handed to the supervisor after the decision is durable.
package struct WebhookHandler: Sendable {
    let verifier: SignatureVerifier
    /// Names the rooms of events that give only their name (`EventNormaliser`).
    let domain: DailyDomain
    let settings: PolicySettings
    let store: any SessionStorage
    let supervisor: Supervisor
    let logger: Logger
    let metrics: ServiceMetrics
    /// For the dashboard.
    let recent: RecentWebhooks

    /// What an answer was about, for metrics and the dashboard.
    struct Subject {
        var type: String
        var room: String?
    }

    package func handle(body: [UInt8], signature: String?, timestamp: String?, now: Double) async -> WebhookAnswer {
        var subject = Subject(type: "unknown", room: nil)
        let answer = await answer(body: body, signature: signature, timestamp: timestamp, now: now, subject: &subject)
        let action = answer.body.action?.rawValue ?? "refused"
        metrics.webhook(type: subject.type, action: action)
        if answer.status == 401, let reason = answer.body.error { metrics.signatureFailure(reason: reason) }
        // Unauthenticated bodies are not shown: anyone can send them.
        if answer.status != 401 {
            recent.append(
                WebhookEntry(
                    at: now,
                    type: subject.type,
                    room: subject.room,
                    action: action,
                    reason: answer.body.reason ?? answer.body.error ?? "",
                    sessionID: answer.body.sessionID
                )
            )
        }
        return answer
    }

    private func answer(
        body: [UInt8],
        signature: String?,
        timestamp: String?,
        now: Double,
        subject: inout Subject
    ) async -> WebhookAnswer {
        let verdict = verifier.verify(body: body, signature: signature, timestamp: timestamp, now: now)
        if verdict != .valid && verdict != .unsigned {
            // The probe carries no event; Daily may send it unsigned, and refusing it would stop webhook creation.
            if EventNormaliser.isProbe(body) {
                subject.type = "probe"
                return WebhookAnswer(status: 200, body: .accepted(.ignored, "probe"))
            }
            subject.type = "unverified"
            logger.warning("webhook refused", metadata: ["reason": "\(verdict.rawValue)"])
            return WebhookAnswer(status: 401, body: .refused(verdict.rawValue))
        }
        let parsed: WebhookBody
        do {
            parsed = try EventNormaliser(domain: domain.name).normalise(body)
        } catch {
            subject.type = "invalid"
            return WebhookAnswer(status: 400, body: .refused(error.code))
        }
        if parsed == .probe {
            subject.type = "probe"
            return WebhookAnswer(status: 200, body: .accepted(.ignored, "probe"))
        }
        guard case .event(let event) = parsed else {
            return WebhookAnswer(status: 200, body: .accepted(.ignored, "unknown_type"))
        }
        subject = Subject(type: event.kind.rawValue, room: event.roomName)
        if let screened = screenParticipant(event, settings: settings) {
            let (action, reason) = screened.answer
            return WebhookAnswer(status: 200, body: .accepted(action, reason))
        }
        if let screened = screenRoom(event, settings: settings) {
            // A room the service made (`/start`, a call) is served whatever the filter and the profiles say: its
            // humans' comings and goings end its bot.
            let isServiceRoom: Bool
            do {
                isServiceRoom = try await store.isServiceRoom(event.roomName)
            } catch {
                logger.error("could not read the room", metadata: ["room": "\(event.roomName)", "error": "\(error)"])
                return WebhookAnswer(status: 503, body: .refused("database_unavailable"))
            }
            if !isServiceRoom {
                let (action, reason) = screened.answer
                return WebhookAnswer(status: 200, body: .accepted(action, reason))
            }
        }
        let outcome: EventOutcome
        do {
            // While draining, events are still recorded (participants, dedup, stops); only no bot starts here.
            outcome = try await store.record(event, now: now, mayClaim: !supervisor.isDraining)
        } catch {
            // Not recorded, so not acknowledged: Daily delivers it again.
            logger.error("could not record webhook", metadata: ["room": "\(event.roomName)", "event_id": "\(event.id)", "error": "\(error)"])
            return WebhookAnswer(status: 503, body: .refused("database_unavailable"))
        }
        if let session = outcome.session {
            switch outcome.decision {
            case .spawn?:
                supervisor.launchSoon(session)
            case .stop?:
                supervisor.stopSoon(session)
            default:
                break
            }
        }
        var metadata: Logger.Metadata = [
            "room": "\(event.roomName)", "event_id": "\(event.id)", "type": "\(event.kind.rawValue)",
            "action": "\(outcome.action.rawValue)", "reason": "\(outcome.reason)",
        ]
        if let session = outcome.session { metadata["session_id"] = "\(session.id)" }
        logger.info("webhook", metadata: metadata)
        return WebhookAnswer(status: 200, body: .accepted(outcome.action, outcome.reason, session: outcome.session?.id))
    }
}
