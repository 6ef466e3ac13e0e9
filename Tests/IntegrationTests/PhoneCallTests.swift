import Crypto
import DailyDouble
import Foundation
import PhoneDouble
import Policy
import TestSupport
import Testing

/// Phone calls over a WebSocket with the real service, the carrier double and real bot processes (the echo bot).
@Suite(.timeLimit(.minutes(2)))
struct PhoneCallTests {
    static let publicURL = "https://bots.example.com"
    static let twilioToken = "test-twilio-auth-token"

    /// The service with Twilio's calls, its bots the echo bot (`echo` its options).
    static func start(_ settings: [String: String] = [:], echo: String = "", warm: Bool = false) async throws -> ServiceProcess {
        let directory = try ServiceProcess.makeDirectory()
        // A warm bot's command names no session (it starts before its call): the echo bot fills `{warm}` in itself.
        let record = directory.appendingPathComponent(warm ? "bot-{warm}.frames" : "bot-{session_id}.frames").path
        return try await ServiceProcess.start(
            in: directory,
            [
                "AUTOSPAWN_PUBLIC_URL": publicURL, "AUTOSPAWN_TWILIO_AUTH_TOKEN": "\(twilioToken),old-token",
                "AUTOSPAWN_BOT_COMMAND": "\(ServiceProcess.built("phone-double")) echo-bot --record \(record) \(echo)",
                "AUTOSPAWN_RESTART_BACKOFF_S": "0.2", "AUTOSPAWN_DIALIN_WAIT_S": "1",
                "AUTOSPAWN_WARM_BOTS": warm ? "1" : "0",
            ].merging(settings) { $1 }
        )
    }

    static func call(_ service: ServiceProcess, id: String = "CA" + UUID().uuidString.lowercased().filter(\.isHexDigit)) -> CallDouble {
        CallDouble(carrier: .twilio, callID: id, credentials: .twilio(authToken: twilioToken), publicURL: publicURL, serviceURL: service.baseURL)
    }

    /// Dials the call and opens the stream its answer names.
    static func answered(_ call: CallDouble) async throws -> StreamDouble {
        guard case .stream(let url, _) = try await call.dial() else { throw HarnessError("the call got no stream") }
        return try await call.connect(url)
    }

    /// What the bot of a session received, a frame a line (the echo bot's `--record`).
    static func botFrames(_ service: ServiceProcess, session id: String) -> [String] {
        let path = service.directory.appendingPathComponent("bot-\(id).frames").path
        return ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func aCallIsRelayedBothWaysUnchangedAndInOrderUntilTheCallerHangsUp() async throws {
        let service = try await Self.start()
        let call = Self.call(service)
        guard case .stream(let url, let redirect) = try await call.dial() else {
            Issue.record("no stream")
            return
        }
        #expect(url.hasPrefix("wss://bots.example.com/telephony/twilio/stream/"))
        #expect(redirect == "https://bots.example.com/telephony/twilio/call")
        let stream = try await call.connect(url)
        let media = (1...20).map { call.frames.media($0, payload: CarrierFrames.silence) }
        for frame in media { stream.send(frame) }
        let sent = call.frames.opening + media
        // The echo bot sends back what it got: the carrier's frames came to it, and its frames to the carrier, as sent.
        #expect(await stream.waitForReceived(sent.count) == sent)
        let session = try #require(try await service.sessions().first)
        let id = try #require(session["id"] as? String)
        #expect(session["transport"] as? String == "twilio")
        #expect(session["room_name"] as? String == "twilio-\(call.frames.callID)")
        #expect(Self.botFrames(service, session: id) == sent)
        stream.hangUp(stop: call.frames.stop)
        #expect(try await eventually { try await service.session(id)["end_reason"] as? String == "caller_hung_up" })
        #expect(try await eventually { service.liveBots().isEmpty })
        // The carrier's <Redirect> after the call is over: hung up.
        #expect(try await call.dial() == .hangUp)
        let metrics = try await service.request(.GET, "/metrics").text
        #expect(metrics.contains(#"autospawn_carrier_calls_total{carrier="twilio",result="streamed"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"autospawn_carrier_calls_total{carrier="twilio",result="hung_up"} 1"#))
        #expect(metrics.contains(#"reason="caller_hung_up""#) && metrics.contains(#"transport="twilio""#))
        await service.shutdown()
    }

    /// The Telnyx account's key pair (raw private key; its public one is the service's setting).
    static let telnyxKey = Array(Curve25519.Signing.PrivateKey().rawRepresentation)
    static let plivoToken = "test-plivo-auth-token"

    /// Each carrier's webhook, markup and stream, with its own frames: relayed both ways unchanged.
    @Test(arguments: [Carrier.twilio, .telnyx, .plivo])
    func eachCarriersCallIsRelayedAsItsCarrierSpellsIt(carrier: Carrier) async throws {
        let service = try await Self.start([
            "AUTOSPAWN_TELNYX_PUBLIC_KEY": try Curve25519.Signing.PrivateKey(rawRepresentation: Self.telnyxKey).publicKey.rawRepresentation
                .base64EncodedString(),
            "AUTOSPAWN_PLIVO_AUTH_TOKEN": Self.plivoToken,
        ])
        let credentials: CallDouble.Credentials =
            switch carrier {
            case .telnyx: .telnyx(privateKey: Self.telnyxKey)
            case .plivo: .plivo(authToken: Self.plivoToken)
            default: .twilio(authToken: Self.twilioToken)
            }
        let call = CallDouble(
            carrier: carrier,
            callID: carrier == .telnyx ? "v3:" + UUID().uuidString.lowercased() : UUID().uuidString.lowercased(),
            credentials: credentials,
            publicURL: Self.publicURL,
            serviceURL: service.baseURL
        )
        guard case .stream(let url, let redirect) = try await call.dial() else {
            Issue.record("no stream")
            return
        }
        #expect(redirect == "https://bots.example.com/telephony/\(carrier.rawValue)/call")
        let stream = try await call.connect(url)
        let media = (1...5).map { call.frames.media($0, payload: CarrierFrames.silence) }
        for frame in media { stream.send(frame) }
        let sent = call.frames.opening + media
        #expect(await stream.waitForReceived(sent.count) == sent)
        let session = try #require(try await service.sessions().first)
        #expect(session["transport"] as? String == carrier.rawValue)
        stream.hangUp(stop: call.frames.stop)
        #expect(try await eventually { try await service.session(session["id"] as? String ?? "")["end_reason"] as? String == "caller_hung_up" })
        await service.shutdown()
    }

    /// Exotel has no webhook and signs nothing: its stream URL carries AUTOSPAWN_EXOTEL_TOKEN, and the call's session
    /// is claimed when the stream's `start` names the call.
    @Test func anExotelStreamWithItsTokenGetsASessionAtItsStart() async throws {
        let token = String(repeating: "x", count: 20) + UUID().uuidString.lowercased().filter(\.isHexDigit)
        let service = try await Self.start(["AUTOSPAWN_EXOTEL_TOKEN": token])
        let call = CallDouble(
            carrier: .exotel,
            callID: UUID().uuidString.lowercased(),
            credentials: .twilio(authToken: ""),
            publicURL: service.baseURL
        )
        let streamBase = "ws://127.0.0.1:\(service.port)/telephony/exotel/stream/"
        let refused = await #expect(throws: StreamRefused.self) { _ = try await call.connect(streamBase + token.dropLast() + "y") }
        #expect(refused?.reason == "WebSocket upgrade failed", "\(refused?.reason ?? "")")
        #expect(try await service.sessions().isEmpty)
        let stream = try await call.connect(streamBase + token)
        let media = (1...5).map { call.frames.media($0, payload: CarrierFrames.silence) }
        for frame in media { stream.send(frame) }
        #expect(await stream.waitForReceived(7) == call.frames.opening + media)
        let session = try #require(try await service.sessions().first)
        #expect(session["transport"] as? String == "exotel")
        #expect(session["room_name"] as? String == "exotel-\(call.frames.callID)")
        stream.hangUp(stop: call.frames.stop)
        #expect(try await eventually { try await service.session(session["id"] as? String ?? "")["end_reason"] as? String == "caller_hung_up" })
        await service.shutdown()
    }

    @Test func forgedUnsignedAndWronglyAddressedWebhooksAreRefusedWithNothingStarted() async throws {
        let service = try await Self.start()
        let id = "CA" + UUID().uuidString.lowercased().filter(\.isHexDigit)
        let forged = CallDouble(
            carrier: .twilio,
            callID: id,
            credentials: .twilio(authToken: "not-the-token"),
            publicURL: Self.publicURL,
            serviceURL: service.baseURL
        )
        #expect(try await forged.dial() == .refused(status: 403, body: #"{"error":"invalid_signature","ok":false}"#))
        #expect(try await Self.call(service, id: id).dial(signed: false) == .refused(status: 403, body: #"{"error":"invalid_signature","ok":false}"#))
        // Signed for another address than the service's public URL.
        let elsewhere = CallDouble(
            carrier: .twilio,
            callID: id,
            credentials: .twilio(authToken: Self.twilioToken),
            publicURL: "https://attacker.example.com",
            serviceURL: service.baseURL
        )
        #expect(try await elsewhere.dial() == .refused(status: 403, body: #"{"error":"invalid_signature","ok":false}"#))
        // Carriers without a secret here have no route.
        let telnyx = CallDouble(
            carrier: .telnyx,
            callID: id,
            credentials: .telnyx(privateKey: Array(Curve25519.Signing.PrivateKey().rawRepresentation)),
            publicURL: Self.publicURL,
            serviceURL: service.baseURL
        )
        guard case .refused(status: 404, _) = try await telnyx.dial() else {
            Issue.record("telnyx answered")
            return
        }
        #expect(try await service.sessions().isEmpty)
        #expect(service.liveBots().isEmpty)
        await service.shutdown()
    }

    @Test func aUsedOrUnknownStreamTokenIsRefusedBeforeTheUpgrade() async throws {
        let service = try await Self.start()
        let call = Self.call(service)
        guard case .stream(let url, _) = try await call.dial() else { throw HarnessError("the call got no stream") }
        let stream = try await call.connect(url)
        let used = await #expect(throws: StreamRefused.self) { _ = try await call.connect(url) }
        #expect(used?.reason == "WebSocket upgrade failed")
        let unknown = url.prefix(while: { $0 != "m" }) + "m/" + String(repeating: "A", count: 43)
        await #expect(throws: StreamRefused.self) { _ = try await call.connect(String(unknown)) }
        #expect(try await service.sessions().count == 1)
        stream.hangUp(stop: call.frames.stop)
        await service.shutdown()
    }

    @Test func theBotHangingUpClosesTheCallersStreamAndTheCallIsOver() async throws {
        let service = try await Self.start(echo: "--hang-up-after 3")
        let call = Self.call(service)
        let stream = try await Self.answered(call)
        for sequence in 1...3 { stream.send(call.frames.media(sequence, payload: CarrierFrames.silence)) }
        #expect(await stream.waitClosed())
        let session = try #require(try await service.sessions().first)
        #expect(try await eventually { try await service.session(session["id"] as? String ?? "")["state"] as? String == "ended" })
        #expect(try await call.dial() == .hangUp)
        #expect(try await service.sessions().count == 1)
        await service.shutdown()
    }

    @Test func aBotThatFailsMidCallIsReplacedWhileTheCallerStaysOnTheLine() async throws {
        let service = try await Self.start(echo: "--fail-after 3 --exit-code 3")
        let call = Self.call(service)
        let stream = try await Self.answered(call)
        for sequence in 1...3 { stream.send(call.frames.media(sequence, payload: CarrierFrames.silence)) }
        // The first bot crashes; the next one is handed the carrier's `connected` and `start` again.
        #expect(try await eventually { try await service.sessions().count >= 2 })
        let sessions = try await service.sessions()
        let first = try #require(sessions.first { $0["state"] as? String == "failed" })
        #expect(first["end_reason"] as? String == "bot_failed")
        let next = try #require(sessions.first { $0["id"] as? String != first["id"] as? String })
        let nextID = try #require(next["id"] as? String)
        #expect(try await eventually { Self.botFrames(service, session: nextID).count >= 2 })
        #expect(Array(Self.botFrames(service, session: nextID).prefix(2)) == call.frames.opening)
        #expect(!stream.isClosed)
        stream.hangUp(stop: call.frames.stop)
        await service.shutdown()
    }

    /// The service with Twilio's calls, its bots on the agent stand-in (Pipecat Cloud's base image `/ws`). The agent
    /// launcher needs a Daily key (for rooms' tokens and ejects), so the Daily double runs too.
    struct AgentSetup {
        let service: ServiceProcess
        let agent: AgentDouble
        let daily: DailyDouble.Running

        static func start(_ behaviour: (inout EchoBot.Behaviour) -> Void = { _ in }) async throws -> AgentSetup {
            let directory = try ServiceProcess.makeDirectory()
            var echo = EchoBot.Behaviour()
            echo.record = directory.appendingPathComponent("bot-{session_id}.frames").path
            behaviour(&echo)
            let agent = try await AgentDouble.start(behaviour: echo)
            let daily = try await DailyDouble.start(apiKey: "k", domain: "acme")
            let service = try await ServiceProcess.start(
                in: directory,
                [
                    "AUTOSPAWN_PUBLIC_URL": publicURL, "AUTOSPAWN_TWILIO_AUTH_TOKEN": twilioToken, "AUTOSPAWN_BOT_COMMAND": "",
                    "AUTOSPAWN_AGENT_URL": agent.baseURL, "AUTOSPAWN_RESTART_BACKOFF_S": "0.2",
                    "DAILY_API_KEY": "k", "DAILY_API_URL": daily.baseURL,
                ]
            )
            return AgentSetup(service: service, agent: agent, daily: daily)
        }

        func stop() async {
            await service.shutdown()
            await agent.stop()
            await daily.stop()
        }
    }

    @Test func anAgentTakesTheCallOnItsWebSocketWithTheSessionAndTheBodyButNoKey() async throws {
        let setup = try await AgentSetup.start()
        let (service, agent) = (setup.service, setup.agent)
        let call = Self.call(service)
        let stream = try await Self.answered(call)
        let media = (1...10).map { call.frames.media($0, payload: CarrierFrames.silence) }
        for frame in media { stream.send(frame) }
        let sent = call.frames.opening + media
        #expect(await stream.waitForReceived(sent.count) == sent)
        let session = try #require(try await service.sessions().first)
        let id = try #require(session["id"] as? String)
        #expect(session["launcher"] as? String == "agent")
        #expect(Self.botFrames(service, session: id) == sent)
        // The base image's contract: the session in `X-Daily-Session-Id`, the body (with the call) in `body`.
        let connection = try #require(agent.connections.first)
        #expect(connection.sessionID == id)
        let body = try JSONValue(parsing: Array((connection.body ?? "").utf8))
        #expect(body["call"]?["call_id"]?.string == call.frames.callID)
        #expect(body["call"]?["carrier"]?.string == "twilio")
        #expect(!(connection.body ?? "").contains("/calls/"))
        // The caller hangs up: the agent's socket is closed and the session ends so.
        stream.hangUp(stop: call.frames.stop)
        #expect(try await eventually { try await service.session(id)["end_reason"] as? String == "caller_hung_up" })
        #expect(agent.connections.count == 1)
        await setup.stop()
    }

    @Test func anAgentClosingItsSocketHangsUp() async throws {
        let setup = try await AgentSetup.start { $0.hangUpAfter = 3 }
        let call = Self.call(setup.service)
        let stream = try await Self.answered(call)
        for sequence in 1...3 { stream.send(call.frames.media(sequence, payload: CarrierFrames.silence)) }
        #expect(await stream.waitClosed())
        let id = try #require(try await setup.service.sessions().first?["id"] as? String)
        // Ended, not failed: as a bot process that hangs up and exits 0, whichever of the two the service hears first.
        #expect(try await eventually { try await setup.service.session(id)["state"] as? String == "ended" })
        #expect(["bot_hung_up", "bot_exited"].contains(try await setup.service.session(id)["end_reason"] as? String ?? ""))
        #expect(try await call.dial() == .hangUp)
        await setup.stop()
    }

    @Test func anAgentClosingItsSocketForAnErrorGetsTheCallANewBot() async throws {
        let setup = try await AgentSetup.start { $0.failAfter = 3 }
        let (service, agent) = (setup.service, setup.agent)
        let call = Self.call(service)
        let stream = try await Self.answered(call)
        for sequence in 1...3 { stream.send(call.frames.media(sequence, payload: CarrierFrames.silence)) }
        // The agent's bot fails: a new bot for the same call, handed `connected` and `start` again.
        #expect(try await eventually { agent.connections.count >= 2 })
        let sessions = try await service.sessions()
        let failed = try #require(sessions.first { $0["state"] as? String == "failed" })
        #expect(failed["end_reason"] as? String == "bot_failed")
        let second = try #require(agent.connections.last?.sessionID)
        #expect(second != failed["id"] as? String)
        #expect(try await eventually { Self.botFrames(service, session: second).count >= 2 })
        #expect(Array(Self.botFrames(service, session: second).prefix(2)) == call.frames.opening)
        #expect(!stream.isClosed)
        stream.hangUp(stop: call.frames.stop)
        await setup.stop()
    }

    @Test func aReplicaKilledMidCallLeavesTheCallerABotAfterTheRedirect() async throws {
        let first = try await Self.start()
        let second = try await ServiceProcess.start(in: first.directory, first.environment)
        let call = Self.call(first)
        guard case .stream(let url, let redirect) = try await call.dial() else {
            Issue.record("no stream")
            return
        }
        let stream = try await call.connect(url)
        #expect(await stream.waitForReceived(2) == call.frames.opening)
        let lostID = try #require(try await first.sessions().first?["id"] as? String)
        first.signal(SIGKILL)
        _ = await first.waitForExit()
        #expect(await stream.waitClosed())
        // The carrier follows <Redirect>; the balancer sends it to the replica that is left.
        let again = CallDouble(
            carrier: .twilio,
            callID: call.frames.callID,
            credentials: .twilio(authToken: Self.twilioToken),
            publicURL: Self.publicURL,
            serviceURL: second.baseURL
        )
        guard case .stream(let nextURL, _) = try await again.dial(path: URLComponents(string: try #require(redirect))?.path) else {
            Issue.record("no stream after the redirect")
            return
        }
        let resumed = try await again.connect(nextURL)
        resumed.send(again.frames.media(1, payload: CarrierFrames.silence))
        #expect(await resumed.waitForReceived(3).count == 3)
        #expect(try await second.session(lostID)["end_reason"] as? String == "lost")
        let sessions = try await second.sessions()
        #expect(sessions.count == 2)
        #expect(sessions.contains { $0["state"] as? String == "running" && $0["room_name"] as? String == "twilio-\(call.frames.callID)" })
        resumed.hangUp(stop: again.frames.stop)
        #expect(try await eventually { second.liveBots().isEmpty })
        await second.shutdown()
    }

    @Test func aWarmBotTakesTheCallWithItsStreamURLOnItsInput() async throws {
        let service = try await Self.start(warm: true)
        #expect(try await eventually { service.idleWarmBots().count == 1 })
        let warm = try #require(service.idleWarmBots().first)
        let call = Self.call(service)
        let stream = try await Self.answered(call)
        let media = (1...5).map { call.frames.media($0, payload: CarrierFrames.silence) }
        for frame in media { stream.send(frame) }
        #expect(await stream.waitForReceived(7) == call.frames.opening + media)
        // The idle process took the call.
        let session = try #require(try await service.sessions().first)
        #expect(session["pid"] as? Int == Int(warm))
        let id = try #require(session["id"] as? String)
        #expect(Self.botFrames(service, session: id) == call.frames.opening + media)
        stream.hangUp(stop: call.frames.stop)
        #expect(try await eventually { try await service.session(id)["end_reason"] as? String == "caller_hung_up" })
        await service.shutdown()
    }

    /// A bot may print its environment: the key of its stream URL is not handed out with its log.
    @Test func theKeyOfABotsStreamURLIsRedactedFromItsLog() async throws {
        let service = try await Self.start(["AUTOSPAWN_BOT_COMMAND": ServiceProcess.botCommand("env")])
        let call = Self.call(service)
        guard case .stream = try await call.dial() else {
            Issue.record("no stream")
            return
        }
        let id = try #require(try await service.sessions().first?["id"] as? String)
        var url = ""
        #expect(
            try await eventually {
                guard let bot = service.liveBotSessions().first(where: { $0.sessionID == id }) else { return false }
                url = LiveProcesses.environment(of: bot.pid).first { $0.hasPrefix("AUTOSPAWN_CALL_WS_URL=") } ?? ""
                return !url.isEmpty
            }
        )
        let key = String(url.split(separator: "/").last ?? "")
        #expect(key.count > 20)
        #expect(try await eventually { try await service.request(.GET, "/sessions/\(id)/log").text.contains("AUTOSPAWN_CALL_WS_URL") })
        let log = try await service.request(.GET, "/sessions/\(id)/log").text
        #expect(!log.contains(key))
        #expect(log.contains("/ws/[redacted]"))
        await service.shutdown()
    }

    @Test func atCapacityACallWaitsThenHearsBusyWithNothingLeftBehind() async throws {
        let service = try await Self.start(["AUTOSPAWN_MAX_CONCURRENCY": "1"])
        let first = Self.call(service)
        let stream = try await Self.answered(first)
        let second = Self.call(service)
        let started = ContinuousClock.now
        #expect(try await second.dial() == .reject(reason: "busy"))
        #expect(ContinuousClock.now - started >= .seconds(1))
        #expect(try await service.sessions().count == 1)
        stream.hangUp(stop: first.frames.stop)
        await service.shutdown()
    }
}
