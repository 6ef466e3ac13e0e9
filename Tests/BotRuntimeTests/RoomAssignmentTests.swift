import Foundation
import Policy
import Testing

@testable import BotRuntime

/// What a warm bot reads on its standard input, and how its idle file is named.
struct RoomAssignmentTests {
    let session = Session(
        id: "0b7e4f1a-7c2d-4e5f-8a9b-0c1d2e3f4a5b",
        roomName: "demo-room",
        roomURL: "https://d.daily.co/demo-room",
        state: .starting,
        launcher: .process,
        createdAt: 0,
        updatedAt: 0,
        ownerInstance: "i",
        body: #"{"lang":"en","nested":{"list":[1,2.5,"a/b"]}}"#
    )

    @Test func theRoomIsOneLineOfJSONWithTheDocumentedKeys() throws {
        let line = try RoomAssignment(session: session, access: BotAccess(token: "tok"), bodyFile: "/logs/b.body.json").line()
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(line.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        #expect(
            String(decoding: line, as: UTF8.self) == """
                {"body":{"lang":"en","nested":{"list":[1,2.5,"a/b"]}},"body_file":"/logs/b.body.json","room_name":"demo-room",\
                "room_url":"https://d.daily.co/demo-room","session_id":"0b7e4f1a-7c2d-4e5f-8a9b-0c1d2e3f4a5b","token":"tok"}

                """
        )
    }

    @Test func withoutATokenTheKeyIsLeftOut() throws {
        let line = try RoomAssignment(session: session, access: BotAccess(), bodyFile: "/b").line()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        #expect(Set(object.keys) == ["room_url", "room_name", "session_id", "body", "body_file"])
    }

    @Test func anIdleFileNamesItsPoolProcessAndStartTime() {
        let name = WarmLogName(pool: "default", pid: 4242, startTime: 987_654)
        #expect(name.path(in: "/logs/warm") == "/logs/warm/default.4242.987654.log")
        #expect(WarmLogName(fileName: "default.4242.987654.log") == name)
        for other in ["default.died.log", "default.starting-0B7E.log", "default.x.1.log", "notes.txt", "a.1.2.3.log"] {
            #expect(WarmLogName(fileName: other) == nil, "\(other)")
        }
    }
}
