import Policy

/// A carrier's call webhook, checked and read: which call, from whom, to which number.
struct CarrierWebhook: Sendable {
    let settings: TelephonySettings

    /// The request as the route saw it.
    struct Request: Sendable {
        var carrier: Carrier
        /// Path and query, as requested (`/telephony/twilio/call?x=1`): the carrier signed the public URL of it.
        var uri: String
        var body: [UInt8]
        /// The signature headers, by lowercased name.
        var headers: [String: String]
        var now: Double
    }

    /// Why a webhook is refused.
    enum Refusal: Error, Equatable {
        /// `403`: unsigned, forged, signed for another URL, or stale.
        case signature
        /// `400`: not a form, or a field the call needs is missing or malformed.
        case field(String)
    }

    /// The call, when the request is the carrier's and names one.
    func call(of request: Request) throws(Refusal) -> PhoneCall {
        guard let fields = FormFields(encoded: request.body) else {
            // Checked before the signature would be: a body that is no form is refused either way, and says so.
            throw .field("body")
        }
        guard isSigned(request, fields: fields) else { throw .signature }
        // A call the service placed names itself in its webhook URL's query (`?call=`, signed with the URL): its
        // session was claimed before the carrier gave the call an id.
        if let placed = Self.placedCall(request.uri) {
            guard PhoneCall.isCallID(placed) else { throw .field("call") }
            let to = fields["To"] ?? ""
            return PhoneCall(carrier: request.carrier, callID: placed, from: fields["From"] ?? "", to: to, isOutbound: true)
        }
        // Twilio and Telnyx name the call `CallSid`, Plivo `CallUUID`: either is the call's id.
        guard let id = [fields["CallSid"], fields["CallUUID"]].compactMap({ $0 }).first(where: PhoneCall.isCallID) else {
            throw .field(request.carrier == .plivo ? "CallUUID" : "CallSid")
        }
        guard let from = fields["From"], from.count <= 256 else { throw .field("From") }
        guard let to = fields["To"], !to.isEmpty, to.count <= 256 else { throw .field("To") }
        return PhoneCall(carrier: request.carrier, callID: id, from: from, to: to)
    }

    private func isSigned(_ request: Request, fields: FormFields) -> Bool {
        guard let publicURL = settings.publicURL else { return false }
        let url = publicURL + request.uri
        switch request.carrier {
        case .twilio:
            guard let signature = request.headers["x-twilio-signature"] else { return false }
            return TwilioSignature.isValid(signature, url: url, fields: fields, tokens: settings.twilioAuthTokens)
        case .telnyx:
            guard let signature = request.headers["telnyx-signature-ed25519"], let timestamp = request.headers["telnyx-timestamp"] else {
                return false
            }
            return TelnyxSignature.isValid(signature, timestamp: timestamp, body: request.body, keys: settings.telnyxPublicKeys, now: request.now)
        case .plivo:
            guard let signature = request.headers["x-plivo-signature-v3"], let nonce = request.headers["x-plivo-signature-v3-nonce"] else {
                return false
            }
            return PlivoSignature.isValid(signature, nonce: nonce, method: "POST", url: url, fields: fields, tokens: settings.plivoAuthTokens)
        case .exotel:
            // Exotel has no call webhook: its stream URL carries AUTOSPAWN_EXOTEL_TOKEN.
            return false
        }
    }

    /// The service's own id of a call it placed: the `call` parameter of the webhook URL's query.
    static func placedCall(_ uri: String) -> String? {
        guard let query = uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        return FormFields(encoded: Array(query.utf8))?["call"]
    }

    /// The signature headers a carrier sends.
    static let signatureHeaders = [
        "x-twilio-signature", "telnyx-signature-ed25519", "telnyx-timestamp", "x-plivo-signature-v3", "x-plivo-signature-v3-nonce",
    ]
}
