import Foundation
import Policy
import TestSupport
import Testing

/// Browser calls over WebRTC with the real service and real peers (aiortc, `Tests/Fixtures/webrtc`): the browser's
/// offer reaches a bot process over its socket, the bot's answer comes back, and the two connect on loopback, media
/// flowing between them and never through the service.
@Suite(.timeLimit(.minutes(3)))
struct BrowserCallTests {
    /// The service, its bots the aiortc bot (recording what it gets in `bot-<session>.messages`).
    /// A warm bot starts before its session: it records nothing.
    static func start(_ settings: [String: String] = [:], noAnswer: Bool = false, warm: Bool = false) async throws -> ServiceProcess {
        let directory = try ServiceProcess.makeDirectory()
        let record = warm ? nil : directory.appendingPathComponent("bot-{session_id}.messages").path
        return try await ServiceProcess.start(
            in: directory,
            ["AUTOSPAWN_BOT_COMMAND": try await WebRTCPeers.botCommand(record: record, noAnswer: noAnswer)].merging(settings) { $1 }
        )
    }

    /// What the bot of a session received on its socket, a message a line.
    static func botMessages(_ service: ServiceProcess, session id: String) -> [JSONValue] {
        let path = service.directory.appendingPathComponent("bot-\(id).messages").path
        return ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
            .compactMap { try? JSONValue(parsing: Array($0.utf8)) }
    }

    @Test func aBrowsersOfferGetsItsBotsAnswerAndTheBotsToneArrivesUntilTheBrowserHangsUp() async throws {
        let service = try await Self.start()
        let seen = try await WebRTCPeers.connect(to: service.baseURL, ["--seconds", "1.5"])
        #expect(seen.statuses == [200])
        #expect(seen.connected)
        #expect(seen.toneFrames > 20, "\(seen)")
        let pcID = try #require(seen.pcIDs.first)
        let session = try #require(try await service.sessions().first)
        let id = try #require(session["id"] as? String)
        #expect(session["transport"] as? String == "webrtc")
        #expect(session["room_name"] as? String == "webrtc-\(pcID)")
        // The bot was handed the offer with the service's connection id, and no ICE servers (none configured).
        let offer = try #require(Self.botMessages(service, session: id).first)
        #expect(offer["type"] == .string("offer"))
        #expect(offer["pc_id"] == .string(pcID))
        #expect(offer["ice_servers"] == .array([]))
        // The browser hung up: its bot noticed, exited, and the session is over.
        #expect(try await eventually { try await service.session(id)["state"] as? String == "ended" })
        #expect(try await eventually { service.liveBots().isEmpty })
        let metrics = try await service.request(.GET, "/metrics").text
        #expect(metrics.contains(#"transport="webrtc""#))
        await service.shutdown()
    }

    @Test func trickledCandidatesReachTheBotAndARenegotiationKeepsItsSession() async throws {
        let service = try await Self.start()
        let seen = try await WebRTCPeers.connect(to: service.baseURL, ["--trickle", "--renegotiate", "--seconds", "1"])
        // The offer, its candidates (PATCH), the renegotiation and its candidates.
        #expect(seen.statuses == [200, 200, 200, 200], "\(seen)")
        #expect(seen.connected)
        #expect(Set(seen.pcIDs).count == 1)
        let sessions = try await service.sessions()
        #expect(sessions.count == 1)
        let id = try #require(sessions.first?["id"] as? String)
        let kinds = Self.botMessages(service, session: id).compactMap { $0["type"]?.string }
        #expect(kinds == ["offer", "candidates", "offer", "candidates"])
        // The end of the candidates came as Pipecat's client sends it: an empty candidate.
        guard case .array(let candidates)? = Self.botMessages(service, session: id).last?["candidates"] else {
            Issue.record("the bot got no candidates")
            return
        }
        #expect(candidates.last?["candidate"] == .string(""))
        await service.shutdown()
    }

    @Test func candidatesForAnUnknownConnectionAreNotFoundAndBadOffersAreRefused() async throws {
        let service = try await Self.start()
        let unknown = try await service.request(
            .PATCH,
            "/api/offer",
            body: Array(#"{"pc_id":"pc-0123","candidates":[]}"#.utf8)
        )
        #expect(unknown.status == 404)
        for (body, field) in [
            (#"{"type":"offer"}"#, "sdp"), (#"{"sdp":"v=0","type":"answer"}"#, "type"),
            (#"{"sdp":"v=0","type":"offer","request_data":[1]}"#, "request_data"),
        ] {
            let refused = try await service.request(.POST, "/api/offer", body: Array(body.utf8))
            #expect(refused.status == 400)
            #expect(refused.string("error") == "invalid_offer")
            #expect(refused.string("field") == field)
        }
        let notJSON = try await service.request(.POST, "/api/offer", body: Array("sdp=v".utf8))
        #expect(notJSON.status == 400)
        #expect(try await service.sessions().isEmpty)
        await service.shutdown()
    }

    @Test func atCapacityAnOfferIsRefusedWithNothingStarted() async throws {
        let service = try await Self.start(["AUTOSPAWN_MAX_CONCURRENCY": "1"])
        // A started connection holds the one place while its browser gathers its offer.
        let started = try await service.request(
            .POST,
            "/start",
            body: Array(#"{"transport":"webrtc"}"#.utf8)
        )
        #expect(started.status == 200)
        let seen = try await WebRTCPeers.connect(to: service.baseURL)
        #expect(seen.statuses == [429])
        #expect(seen.error?.error == "at_capacity")
        #expect(try await service.sessions().count == 1)
        await service.shutdown()
    }

    @Test func aBotThatGivesNoAnswerInTimeIs504AndItsSessionFails() async throws {
        let service = try await Self.start(["AUTOSPAWN_START_TIMEOUT_S": "2"], noAnswer: true)
        let seen = try await WebRTCPeers.connect(to: service.baseURL)
        #expect(seen.statuses == [504])
        #expect(seen.error?.error == "start_timeout")
        let session = try #require(try await service.sessions().first)
        let id = try #require(session["id"] as? String)
        #expect(try await eventually { try await service.session(id)["state"] as? String == "failed" })
        #expect(try await service.session(id)["end_reason"] as? String == "start_timeout")
        #expect(try await eventually { service.liveBots().isEmpty })
        await service.shutdown()
    }

    @Test func pipecatCloudsStartThenTheSessionsOfferConnectsWithTheIceServersConfigured() async throws {
        let service = try await Self.start(["AUTOSPAWN_ICE_SERVERS": "stun:127.0.0.1:3478"])
        let seen = try await WebRTCPeers.connect(to: service.baseURL, ["--via-start"])
        #expect(seen.statuses == [200, 200])
        #expect(seen.connected)
        let id = try #require(try await service.sessions().first?["id"] as? String)
        let offer = try #require(Self.botMessages(service, session: id).first)
        #expect(offer["ice_servers"] == .array([.object(["urls": .string("stun:127.0.0.1:3478")])]))
        await service.shutdown()
    }

    @Test func aPublicKeyStartsAndSignalsButReachesNothingElse() async throws {
        let publicKey = "pk_test_0123456789abcdef"
        let service = try await Self.start(["AUTOSPAWN_ADMIN_TOKEN": "admin-token-0123456789", "AUTOSPAWN_PUBLIC_KEYS": publicKey])
        let refused = try await WebRTCPeers.connect(to: service.baseURL)
        #expect(refused.statuses == [401])
        let seen = try await WebRTCPeers.connect(to: service.baseURL, token: publicKey, ["--via-start"])
        #expect(seen.statuses == [200, 200])
        #expect(seen.connected)
        let bearer = [("Authorization", "Bearer \(publicKey)")]
        for path in ["/sessions", "/metrics"] {
            #expect(try await service.request(.GET, path, headers: bearer).status == 401, "\(path)")
        }
        let call = try await service.request(
            .POST,
            "/v1/calls",
            body: Array(#"{"carrier":"twilio","to":"+15550001111"}"#.utf8),
            headers: bearer
        )
        #expect(call.status == 401)
        await service.shutdown()
    }

    @Test func aWarmBotAnswersTheOffer() async throws {
        let service = try await Self.start(["AUTOSPAWN_WARM_BOTS": "1"], warm: true)
        // The pool's bot has loaded aiortc and waits for its connection.
        #expect(try await eventually { service.idleWarmBots().count == 1 })
        let idle = service.idleWarmBots()
        let seen = try await WebRTCPeers.connect(to: service.baseURL)
        #expect(seen.statuses == [200])
        #expect(seen.connected)
        // The session's bot was the one that waited.
        let session = try #require(try await service.sessions().first)
        #expect((session["pid"] as? Int).map { [Int32($0)] } == idle)
        await service.shutdown()
    }

    @Test(.enabled(if: DashboardBrowserTests.runs, "needs Debian's chromium package (.ci/run installs it)"))
    func theClientPageConnectsChromiumToABotThatItHearsUntilItHangsUp() async throws {
        let chromium = try #require(Chromium.path, "chromium is not installed: apt-get install chromium")
        let token = "client-admin-token-0123"
        let service = try await Self.start(["AUTOSPAWN_ADMIN_TOKEN": token])
        let browser = try HeadlessBrowser(executable: chromium, arguments: HeadlessBrowser.webRTCArguments)
        defer { browser.close() }
        // What a browser sends once its user typed the token into the Basic prompt (the page's requests carry it).
        try browser.open(service.baseURL + "/client", headers: ["Authorization": "Basic " + Data(":\(token)".utf8).base64EncodedString()])
        #expect(try await browser.waitFor("document.getElementById('profile').options.length === 1"))
        _ = try browser.evaluate("document.getElementById('connect').click()")
        #expect(try await browser.waitFor("document.getElementById('status').dataset.state === 'connected'", timeout: 30))
        // The bot's tone arrives: packets counted by the page's own connection statistics.
        #expect(try await browser.waitFor("Number(document.getElementById('packets').dataset.count || 0) > 25", timeout: 15))
        let session = try #require(
            try await service.request(.GET, "/sessions", headers: [("Authorization", "Bearer \(token)")]).json["sessions"]
                as? [[String: any Sendable]]
        )
        #expect(session.first?["transport"] as? String == "webrtc")
        let id = try #require(session.first?["id"] as? String)
        // The page's microphone reached the bot as a track of its connection.
        let bearer = [("Authorization", "Bearer \(token)")]
        #expect(
            try await eventually {
                try await service.request(.GET, "/sessions/\(id)/log", headers: bearer).text.contains("the browser's audio track")
            }
        )
        _ = try browser.evaluate("document.getElementById('hang-up').click()")
        #expect(try await browser.waitFor("document.getElementById('status').dataset.state === 'idle'"))
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)", headers: bearer).json["state"] as? String == "ended" })
        await service.shutdown()
    }
}
