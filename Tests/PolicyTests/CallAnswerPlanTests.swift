import Policy
import Testing

/// The rule of a call's webhook asked again for the same call (`planCallAnswer`), and a call's room and body.
struct CallAnswerPlanTests {
    static func session(_ state: SessionState, _ reason: EndReason? = nil) -> Session {
        Session(
            id: "s-\(state.rawValue)-\(reason?.rawValue ?? "")",
            roomName: "twilio-CA1",
            roomURL: nil,
            state: state,
            launcher: .process,
            createdAt: 0,
            updatedAt: 0,
            endReason: reason,
            ownerInstance: "i",
            transport: .twilio
        )
    }

    @Test(arguments: [
        ([], CallAnswerPlan.claim),
        ([session(.running)], .stream(sessionID: "s-running-")),
        ([session(.starting), session(.failed, .botFailed)], .stream(sessionID: "s-starting-")),
        ([session(.ended, .callerHungUp)], .hangUp),
        ([session(.ended, .botHungUp)], .hangUp),
        ([session(.ended, .botExited)], .hangUp),
        ([session(.ended, .stopRequested)], .hangUp),
        ([session(.failed, .maxDuration)], .hangUp),
        ([session(.failed, .botFailed)], .claim),
        ([session(.ended, .lost)], .claim),
        ([session(.failed, .shutdown)], .claim),
        ([session(.failed, .startTimeout), session(.failed, .botFailed)], .claim),
        ([session(.failed, .botFailed), session(.ended, .callerHungUp)], .hangUp),
    ])
    func aCallAskedAgainIsStreamedHungUpOrGivenANewBot(sessions: [Session], plan: CallAnswerPlan) {
        #expect(planCallAnswer(roomSessions: sessions) == plan)
    }

    @Test func aCallWhoseInstanceIsGoneGetsANewSession() {
        let running = CallAnswerPlanTests.session(.running)
        #expect(planCallAnswer(roomSessions: [running], liveInstances: ["i"]) == .stream(sessionID: running.id))
        #expect(planCallAnswer(roomSessions: [running], liveInstances: ["other"]) == .replaceLost(sessionID: running.id))
        var waiting = running
        waiting.ownerInstance = nil
        #expect(planCallAnswer(roomSessions: [waiting], liveInstances: []) == .stream(sessionID: running.id))
    }

    @Test func aCallsBotIsNeverAdopted() {
        #expect(!isAdoptable(CallAnswerPlanTests.session(.running)))
        var daily = CallAnswerPlanTests.session(.running)
        daily.transport = .daily
        #expect(isAdoptable(daily))
    }

    @Test func aCallsRoomAndBodyNameItsCarrierAndCall() throws {
        let call = PhoneCall(carrier: .telnyx, callID: "v3:abc-_1", from: "+15105550199", to: "+15550001111")
        #expect(call.roomName == "telnyx-v3:abc-_1")
        let body = JSONValue.object(["call": call.bodyField]).text
        #expect(PhoneCall.ofBody(body, carrier: .telnyx) == call)
        #expect(PhoneCall.ofBody(body, carrier: .twilio) == nil)
    }

    @Test(arguments: [
        ("CA0123456789abcdef0123456789abcdef", true), ("v3:AbC-_x", true), ("", false), ("a b", false), ("a/b", false),
        ("a;rm", false), (String(repeating: "a", count: 121), false),
    ])
    func aCallIDIsRefusedWhenItCouldNotNameARoom(id: String, valid: Bool) {
        #expect(PhoneCall.isCallID(id) == valid)
    }
}
