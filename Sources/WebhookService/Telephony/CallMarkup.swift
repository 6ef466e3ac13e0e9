import Policy

/// What a carrier's call webhook is answered: TwiML (Twilio), TeXML (Telnyx, the same verbs) or Plivo XML, as
/// `200 text/xml` (DESIGN "Phone calls over a WebSocket"; Pipecat's runner's templates in `src/pipecat/runner/run.py`).
enum CallMarkup {
    /// Connects the call's media to `streamURL`; when that stream ends, the carrier asks `webhookURL` again: a call
    /// whose bot or replica is gone gets a new one, a call that is over is hung up.
    static func stream(_ carrier: Carrier, streamURL: String, webhookURL: String) -> String {
        let stream = escaped(streamURL)
        let redirect = "<Redirect method=\"POST\">\(escaped(webhookURL))</Redirect>"
        switch carrier {
        case .twilio, .exotel:
            return response("<Connect><Stream url=\"\(stream)\"/></Connect>" + redirect)
        case .telnyx:
            // Telnyx streams mp3 unless asked for RTP, which Pipecat's serializer reads.
            return response("<Connect><Stream url=\"\(stream)\" bidirectionalMode=\"rtp\"/></Connect>" + redirect)
        case .plivo:
            return response(
                "<Stream bidirectional=\"true\" keepCallAlive=\"true\" contentType=\"audio/x-mulaw;rate=8000\">\(stream)</Stream>"
                    + redirect
            )
        }
    }

    /// No place came free while the call waited (`AUTOSPAWN_DIALIN_WAIT_S`): the caller hears busy. Plivo has no
    /// `<Reject>`: its `<Hangup reason="busy"/>` does the same.
    static func busy(_ carrier: Carrier) -> String {
        carrier == .plivo ? response("<Hangup reason=\"busy\"/>") : response("<Reject reason=\"busy\"/>")
    }

    /// No profile takes calls to the number.
    static func reject(_ carrier: Carrier) -> String {
        carrier == .plivo ? response("<Hangup reason=\"rejected\"/>") : response("<Reject/>")
    }

    /// The call is over (the caller or the bot hung up).
    static func hangUp(_ carrier: Carrier) -> String { response("<Hangup/>") }

    private static func response(_ verbs: String) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\(verbs)</Response>"
    }

    static func escaped(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}
