import Foundation
import HTTPTypes
import Hummingbird
import Policy

/// Pipecat's SmallWebRTC signalling (DESIGN "Browser calls over WebRTC"): `POST /api/offer` (a new connection, or a
/// renegotiation by `pc_id`), `PATCH /api/offer` (trickled candidates), and Pipecat Cloud's
/// `POST|PATCH /sessions/{id}/api/offer` for a session `POST /start` made.
struct OfferController: Sendable {
    let browser: BrowserCalls
    let requestTimeoutSeconds: Double

    /// An offer with its request data; Pipecat Cloud caps a start's body at 1 MiB.
    static let maxBody = 1024 * 1024

    func addRoutes(to routes: RouterGroup<BasicRequestContext>) {
        routes.post("api/offer") { request, _ in try await offer(request, sessionID: nil) }
        routes.patch("api/offer") { request, _ in try await candidates(request, sessionID: nil) }
        routes.post("sessions/:id/api/offer") { request, context in try await offer(request, sessionID: context.parameters.get("id")) }
        routes.patch("sessions/:id/api/offer") { request, context in
            try await candidates(request, sessionID: context.parameters.get("id"))
        }
    }

    private func offer(_ request: Request, sessionID: String?) async throws -> Response {
        let (document, forwarded) = try await read(request, isCandidates: false)
        let offer: BrowserOffer
        do {
            offer = try BrowserOffer(document)
        } catch {
            throw APIError(.badRequest, .invalidOffer, fields: ["field": .string(error.field)])
        }
        let session: Session
        var isNew = false
        if let sessionID {
            session = try await browser.session(id: sessionID)
        } else if let pcID = offer.pcID, let known = try await browser.session(pcID: pcID) {
            // A renegotiation (or an ICE restart) of a connection that is on.
            session = known
        } else {
            session = try await browser.claim(profile: offer.profile, body: offer.requestData ?? [:])
            isNew = true
        }
        do {
            return json(.ok, try await browser.answer(offer, session: session, isNew: isNew, forwarded: forwarded))
        } catch let answer as BrowserCalls.Forwarded {
            return Self.passOn(answer)
        }
    }

    private func candidates(_ request: Request, sessionID: String?) async throws -> Response {
        let (document, forwarded) = try await read(request, isCandidates: true)
        let patch: CandidatePatch
        do {
            patch = try CandidatePatch(document)
        } catch {
            throw APIError(.badRequest, .invalidOffer, fields: ["field": .string(error.field)])
        }
        let session: Session
        if let sessionID {
            session = try await browser.session(id: sessionID)
        } else {
            // Pipecat's runner: a `pc_id` it does not know is 404.
            guard let known = try await browser.session(pcID: patch.pcID) else { throw APIError(.notFound, .sessionNotFound) }
            session = known
        }
        do {
            try await browser.candidates(patch, session: session, forwarded: forwarded)
        } catch let answer as BrowserCalls.Forwarded {
            return Self.passOn(answer)
        }
        return json(.ok, ["status": "success"])
    }

    /// The request's JSON document, and the request as the bot's instance is to get it.
    private func read(_ request: Request, isCandidates: Bool) async throws -> (JSONValue, ForwardedRequest) {
        guard isJSON(request.headers[.contentType]) else { throw APIError(.unsupportedMediaType, .unsupportedMediaType) }
        let bytes = try await requestBytes(request, upTo: Self.maxBody, within: requestTimeoutSeconds)
        guard let document = try? JSONValue(parsing: bytes), document.object != nil else { throw APIError(.badRequest, .malformedJSON) }
        let forwarded = ForwardedRequest(
            isCandidates: isCandidates,
            body: bytes,
            authorization: request.headers[.authorization],
            wasForwarded: request.headers[OwnerForwarder.forwardedHeader] != nil
        )
        return (document, forwarded)
    }

    /// The answer of the instance that runs the bot, as it gave it.
    private static func passOn(_ answer: BrowserCalls.Forwarded) -> Response {
        Response(status: .init(code: answer.status), headers: [.contentType: "application/json"], body: .init(byteBuffer: answer.body))
    }
}
