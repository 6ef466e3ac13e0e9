import BotRuntime
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Policy

/// Daily's pinless dial-in (`AUTOSPAWN_DIALIN_SECRET`): `POST /daily/dialin`, the config's `room_creation_api`, where
/// a call to a Daily number gets its room and bot; and the path a call's bot forwards the call through, so that it
/// never holds the service's Daily key (`CallForwardKeys`).
struct DialinController: Sendable {
    /// nil without `AUTOSPAWN_DIALIN_SECRET`: these routes answer 404 `not_found`.
    let calls: CallStarter?
    /// `X-Pinless-Signature`: the webhook recipe with the dial-in config's `hmac`; always required.
    let verifier: SignatureVerifier
    let daily: DailyClient?
    let requestTimeoutSeconds: Double
    let metrics: ServiceMetrics
    let logger: Logger

    /// `daily_api_url` of a call's bot, below this service's address: Pipecat's transport POSTs
    /// `<daily_api_url>/dialin/pinlessCallUpdate`.
    static let forwardingPath = "/daily/dialin-api"
    static let signature = HTTPField.Name("X-Pinless-Signature")!
    static let timestamp = HTTPField.Name("X-Pinless-Timestamp")!
    /// A call's request is a few hundred bytes; SIP headers make it larger, never this large.
    static let maxBody = 64 * 1024

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("daily/dialin") { request, _ in try await call(request) }
        router.post("daily/dialin-api/dialin/pinlessCallUpdate") { request, _ in try await forward(request) }
    }

    /// A call Daily holds: verified, then its room and bot, or why not.
    private func call(_ request: Request) async throws -> Response {
        guard let calls else { throw APIError(.notFound, .notFound) }
        let body = try await requestBytes(request, upTo: Self.maxBody, within: requestTimeoutSeconds)
        let verdict = verifier.verify(
            body: body,
            signature: request.headers[Self.signature],
            timestamp: request.headers[Self.timestamp],
            now: Date().timeIntervalSince1970
        )
        guard verdict == .valid else {
            // Daily may probe the URL unsigned when the config is saved; the probe creates nothing.
            if EventNormaliser.isProbe(body) { return json(.ok, ["ok": true]) }
            logger.warning("dial-in call refused", metadata: ["reason": "\(verdict.rawValue)"])
            metrics.dialinCall(result: "refused")
            throw APIError(refusing: verdict)
        }
        guard let document = try? JSONValue(parsing: body) else {
            metrics.dialinCall(result: "invalid")
            throw APIError(.badRequest, .malformedJSON)
        }
        if EventNormaliser.isProbe(document) { return json(.ok, ["ok": true]) }
        let dialin: DialinCall
        do {
            dialin = try DialinCall(document)
        } catch {
            metrics.dialinCall(result: "invalid")
            throw APIError(.badRequest, .invalidCall, fields: ["field": .string(error.field)])
        }
        do {
            let started = try await calls.start(dialin)
            metrics.dialinCall(result: started.waited ? "waited" : "answered")
            return json(.ok, started.answer)
        } catch {
            metrics.dialinCall(result: [.capacity, .noProfile, .callOver].contains(error.code) ? error.code.rawValue : "failed")
            throw error
        }
    }

    /// A call's bot forwarding its call (`pinlessCallUpdate`): with its call's key, while the call's session is
    /// active, passed on to Daily with the service's key.
    private func forward(_ request: Request) async throws -> Response {
        guard let calls, let daily else { throw APIError(.notFound, .notFound) }
        let body = try await requestBytes(request, upTo: Self.maxBody, within: requestTimeoutSeconds)
        guard let document = try? JSONValue(parsing: body), document.object != nil else {
            throw APIError(.badRequest, .malformedJSON)
        }
        guard case .string(let callID)? = document["callId"], case .string(let callDomain)? = document["callDomain"],
            case .string(let sipURI)? = document["sipUri"]
        else {
            throw APIError(.badRequest, .invalidCallUpdate)
        }
        let authorization = request.headers[.authorization] ?? ""
        guard authorization.hasPrefix("Bearer "), calls.keys.accepts(String(authorization.dropFirst(7)), forCall: callID) else {
            throw APIError(.unauthorized, .unauthorized)
        }
        let room = DialinCall.roomName(forCall: callID)
        guard let session = try? await calls.rooms.store.roomStatus(room).session else {
            throw APIError(.notFound, .callNotFound)
        }
        do {
            // Only to where Daily holds this call, and only into the call's own room (its SIP endpoints, as Daily has them).
            let endpoints = try await daily.room(room).sipEndpoints
            guard DialinCall.mayForward(callDomain: callDomain, sipURI: sipURI, sessionBody: session.body, roomEndpoints: endpoints) else {
                logger.warning("a call's bot tried to forward its call elsewhere", metadata: ["call": "\(callID)"])
                throw APIError(.forbidden, .callMismatch)
            }
            let answer = try await daily.pinlessCallUpdate(callID: callID, callDomain: callDomain, sipURI: sipURI)
            logger.info("a call's bot forwarded the call", metadata: ["call": "\(callID)"])
            return json(.ok, answer)
        } catch let refusal as APIError {
            throw refusal
        } catch let error as DailyAPIError {
            logger.warning("Daily refused a call's forwarding", metadata: ["call": "\(callID)", "error": "\(error)"])
            throw APIError(.badGateway, .dailyRefused)
        } catch {
            logger.error("Daily did not take a call's forwarding", metadata: ["call": "\(callID)", "error": "\(error)"])
            throw APIError(.badGateway, .dailyUnavailable)
        }
    }
}
