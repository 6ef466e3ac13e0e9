import Foundation
import Policy

/// The frames a carrier sends on a call's media stream, as each carrier spells them (telephony-reference.md §2–5):
/// Twilio and Telnyx open with `connected`, Plivo with `start`; Plivo ends by closing, the others send `stop` first.
package struct CarrierFrames: Sendable {
    package let carrier: Carrier
    package let callID: String
    package let from: String
    package let to: String
    /// The stream's id (`streamSid`, `stream_id`, `streamId`).
    package let streamID: String
    package let accountID: String

    package init(carrier: Carrier, callID: String, from: String, to: String) {
        self.carrier = carrier
        self.callID = callID
        self.from = from
        self.to = to
        let random = UUID().uuidString.lowercased().filter(\.isHexDigit)
        streamID = (carrier == .twilio ? "MZ" : "") + random
        accountID = "AC" + String(random.reversed())
    }

    /// What opens the stream: `connected` (not from Plivo), then `start`.
    package var opening: [String] {
        switch carrier {
        case .twilio:
            [
                #"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
                #"{"event":"start","sequenceNumber":"1","start":{"accountSid":"\#(accountID)","streamSid":"\#(streamID)","callSid":"\#(callID)","tracks":["inbound"],"customParameters":{},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"\#(streamID)"}"#,
            ]
        case .telnyx:
            [
                #"{"event":"connected","version":"1.0.0"}"#,
                #"{"event":"start","sequence_number":"1","start":{"user_id":"\#(accountID)","call_control_id":"\#(callID)","call_session_id":"\#(streamID)","from":"\#(from)","to":"\#(to)","client_state":null,"custom_parameters":{},"media_format":{"encoding":"PCMU","sample_rate":8000,"channels":1}},"stream_id":"\#(streamID)"}"#,
            ]
        case .plivo:
            [
                #"{"event":"start","sequenceNumber":1,"start":{"callId":"\#(callID)","streamId":"\#(streamID)","accountId":"\#(accountID)","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000}},"extra_headers":"{}"}"#
            ]
        case .exotel:
            [
                #"{"event":"connected"}"#,
                #"{"event":"start","sequence_number":1,"stream_sid":"\#(streamID)","start":{"stream_sid":"\#(streamID)","call_sid":"\#(callID)","account_sid":"\#(accountID)","from":"\#(from)","to":"\#(to)","custom_parameters":{},"media_format":{"encoding":"audio/x-raw","sample_rate":"8000","bit_rate":"16"}}}"#,
            ]
        }
    }

    /// One 20 ms media frame, number `sequence` (from 1), of `payload` (μ-law, or Exotel's PCM).
    package func media(_ sequence: Int, payload: [UInt8]) -> String {
        let data = Data(payload).base64EncodedString()
        let timestamp = (sequence - 1) * 20
        return switch carrier {
        case .twilio:
            #"{"event":"media","sequenceNumber":"\#(sequence + 1)","media":{"track":"inbound","chunk":"\#(sequence)","timestamp":"\#(timestamp)","payload":"\#(data)"},"streamSid":"\#(streamID)"}"#
        case .telnyx:
            #"{"event":"media","sequence_number":"\#(sequence + 1)","media":{"track":"inbound","chunk":"\#(sequence)","timestamp":"\#(timestamp)","payload":"\#(data)"},"stream_id":"\#(streamID)"}"#
        case .plivo:
            #"{"event":"media","sequenceNumber":\#(sequence + 1),"streamId":"\#(streamID)","media":{"track":"inbound","timestamp":"\#(timestamp)","chunk":\#(sequence),"payload":"\#(data)"}}"#
        case .exotel:
            #"{"event":"media","sequence_number":\#(sequence + 1),"stream_sid":"\#(streamID)","media":{"chunk":\#(sequence),"timestamp":"\#(timestamp)","payload":"\#(data)"}}"#
        }
    }

    /// What the carrier sends when the caller hangs up, before it closes (Plivo sends nothing).
    package var stop: String? {
        switch carrier {
        case .twilio:
            #"{"event":"stop","sequenceNumber":"0","stop":{"accountSid":"\#(accountID)","callSid":"\#(callID)"},"streamSid":"\#(streamID)"}"#
        case .telnyx:
            #"{"event":"stop","sequence_number":"0","stop":{"user_id":"\#(accountID)","call_control_id":"\#(callID)"},"stream_id":"\#(streamID)"}"#
        case .exotel:
            #"{"event":"stop","sequence_number":0,"stream_sid":"\#(streamID)","stop":{"call_sid":"\#(callID)","account_sid":"\#(accountID)","reason":"callended"}}"#
        case .plivo:
            nil
        }
    }

    /// 20 ms of silence at 8 kHz: 160 μ-law bytes of 0xFF.
    package static let silence = [UInt8](repeating: 0xFF, count: 160)
}
