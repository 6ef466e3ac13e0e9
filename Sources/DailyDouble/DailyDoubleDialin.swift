import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import Policy

/// Pinless dial-in: the domain's configs, and the call a bot hands to its room.
func addDialinRoutes(_ router: Router<BasicRequestContext>, state: DailyDoubleState) {
    router.post("domain-dialin-config") { request, _ -> Response in
        let body = try await requestBody(request)
        guard body["type"]?.string == "pinless_dialin" else {
            return dailyError(400, "invalid-request-error", "type: pinless_dialin is the one type the double knows")
        }
        guard let url = body["room_creation_api"]?.string, url.hasPrefix("http") else {
            return dailyError(400, "invalid-request-error", "room_creation_api: a URL is required")
        }
        if let secret = body["hmac"]?.string, Data(base64Encoded: secret) == nil {
            return dailyError(400, "invalid-request-error", "hmac: must be base64")
        }
        let id = UUID().uuidString.lowercased()
        var config = body.object ?? [:]
        config["type"] = nil
        let saved = JSONValue.object(["id": .string(id), "type": .string("pinless_dialin"), "config": .object(config)])
        await state.saveDialinConfig(saved, id: id)
        return dailyJSON(.ok, saved)
    }
    router.get("domain-dialin-config") { _, _ in
        dailyJSON(.ok, .object(["data": .array(await state.allDialinConfigs())]))
    }
    router.delete("domain-dialin-config/:id") { _, context -> Response in
        let id = context.parameters.get("id") ?? ""
        guard await state.deleteDialinConfig(id) else { return dailyError(404, "not-found", "dial-in config \(id) not found") }
        return dailyJSON(.ok, .object(["id": .string(id), "deleted": .bool(true)]))
    }
    router.post("dialin/pinlessCallUpdate") { request, _ -> Response in
        let update = try await requestBody(request)
        guard update["callId"]?.string != nil, update["callDomain"]?.string != nil, update["sipUri"]?.string != nil else {
            return dailyError(400, "invalid-request-error", "callId, callDomain and sipUri are required")
        }
        guard await state.forward(update) else { return dailyError(404, "not-found", "no call on hold with that callId") }
        return dailyJSON(.ok, .object(["status": .string("success")]))
    }
    // A phone call to a number of the domain's pinless dial-in config (`{"To"?, "From"?, "sipHeaders"?}`): Daily puts
    // the caller on hold and POSTs the call, signed with X-Pinless-*, to the config's room_creation_api. The answer
    // is the receiver's status and body, with the call's id.
    router.post("_double/dialin/call") { request, _ -> Response in
        let placed = try await requestBody(request)
        guard let config = await state.allDialinConfigs().first?["config"], let url = config["room_creation_api"]?.string else {
            return dailyError(400, "invalid-request-error", "no pinless dial-in config: POST /domain-dialin-config first")
        }
        let callID = UUID().uuidString.lowercased()
        let callDomain = "double-\(state.domain)"
        var call: [String: JSONValue] = [
            "To": placed["To"] ?? config["phone_number"] ?? .string("sip:double@sip.daily.co"),
            "From": placed["From"] ?? .string("+15105550100"), "callId": .string(callID), "callDomain": .string(callDomain),
        ]
        if let headers = placed["sipHeaders"] { call["sipHeaders"] = headers }
        await state.hold(call: callID, domain: callDomain)
        let body = Array((try? JSONEncoder().encode(JSONValue.object(call))) ?? Data())
        var post = HTTPClientRequest(url: url)
        post.method = .POST
        post.headers.add(name: "Content-Type", value: "application/json")
        if let secret = config["hmac"]?.string { sign(&post, body: body, secret: secret, headerPrefix: "X-Pinless") }
        post.body = .bytes(ByteBuffer(bytes: body))
        var answer: [String: JSONValue] = ["call_id": .string(callID), "status": .number(0)]
        if let response = try? await HTTPClient.shared.execute(post, timeout: .seconds(120)) {
            let received = try? await response.body.collect(upTo: 1 << 20)
            answer["status"] = .number(Double(response.status.code))
            answer["body"] = received.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.readableBytesView)) } ?? .null
        }
        return dailyJSON(.ok, .object(answer))
    }
}
