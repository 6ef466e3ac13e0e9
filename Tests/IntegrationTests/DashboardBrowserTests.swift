import Foundation
import TestSupport
import Testing

/// The dashboard in a real browser: headless Chromium loads `GET /` from the real service, and what webhooks
/// do appears on the page through its event stream, without a reload.
@Suite(.serialized)
struct DashboardBrowserTests {
    /// On a machine without Chromium the test is skipped, except in CI (`CI` set), where `.ci/run` installs it.
    static let runs = Chromium.path != nil || ProcessInfo.processInfo.environment["CI"] != nil

    @Test(.enabled(if: runs, "needs Debian's chromium package (.ci/run installs it)"))
    func dashboardShowsSessionsAppearAndEndLive() async throws {
        let chromium = try #require(Chromium.path, "chromium is not installed: apt-get install chromium")
        let token = "dashboard-admin-token"
        let service = try await ServiceProcess.start(["AUTOSPAWN_ADMIN_TOKEN": token, "AUTOSPAWN_MAX_CONCURRENCY": "4"])
        let browser = try HeadlessBrowser(executable: chromium)
        defer { browser.close() }
        // What a browser sends once its user typed the token into the Basic prompt.
        let basic = "Basic " + Data(":\(token)".utf8).base64EncodedString()
        try browser.open(service.baseURL + "/", headers: ["Authorization": basic], height: 560)
        #expect(try await browser.waitFor("document.getElementById('connection').dataset.state === 'live'"))
        // The stream opens before its first summary arrives.
        #expect(try await browser.waitFor("document.getElementById('capacity').textContent === '4'"))
        #expect(try browser.evaluate("document.querySelectorAll('#active-sessions tr').length") as? Int == 0)
        #expect(try browser.evaluate("document.getElementById('warm').hidden") as? Bool == true)

        let joined = try await service.webhook(fixture: "daily/participant-joined.json")
        let id = try #require(joined.string("session_id"))
        #expect(try await browser.waitFor(#"document.querySelector('#active-sessions tr[data-session-id="\#(id)"][data-state="running"]')"#))
        #expect(try browser.evaluate("document.getElementById('active').textContent") as? String == "1")
        #expect(try await browser.waitFor(#"document.querySelector('#webhooks tr[data-action="spawned"]')"#))

        let other = try await service.webhook(fixture: "daily/participant-joined-other-room.json")
        let otherID = try #require(other.string("session_id"))
        #expect(try await browser.waitFor(#"document.querySelector('#active-sessions tr[data-session-id="\#(otherID)"]')"#))
        #expect(try await browser.waitFor("document.getElementById('active').textContent === '2'"))

        // The first call ends: its session leaves the active table for the recent ends.
        #expect(try await service.webhook(fixture: "daily/meeting-ended.json").string("action") == "stopping")
        #expect(try await browser.waitFor(#"document.querySelector('#ended-sessions tr[data-session-id="\#(id)"][data-state="ended"]')"#))
        #expect(try await browser.waitFor(#"!document.querySelector('#active-sessions tr[data-session-id="\#(id)"]')"#))
        #expect(try await browser.waitFor("document.getElementById('active').textContent === '1'"))

        // `AUTOSPAWN_DASHBOARD_SCREENSHOT=docs/dashboard.png swift test --filter Dashboard` remakes the README's picture.
        if let path = ProcessInfo.processInfo.environment["AUTOSPAWN_DASHBOARD_SCREENSHOT"] {
            try browser.screenshot().write(to: URL(fileURLWithPath: path))
        }
        await service.shutdown()
    }

    @Test(.enabled(if: runs, "needs Debian's chromium package (.ci/run installs it)"))
    func dashboardShowsIdleWarmBotsApartFromTheSessions() async throws {
        let chromium = try #require(Chromium.path, "chromium is not installed: apt-get install chromium")
        let service = try await ServiceProcess.start([
            "AUTOSPAWN_BOT_COMMAND": "\(Fixtures.path("bots/test-bot.sh")) run", "AUTOSPAWN_WARM_BOTS": "2",
            "AUTOSPAWN_MAX_CONCURRENCY": "4",
        ])
        let browser = try HeadlessBrowser(executable: chromium)
        defer { browser.close() }
        try browser.open(service.baseURL + "/")
        #expect(try await browser.waitFor("document.getElementById('warm-idle').textContent === '2'"))
        #expect(try browser.evaluate("document.getElementById('warm').hidden") as? Bool == false)
        #expect(try browser.evaluate("document.getElementById('warm-bots').textContent") as? String == "2")
        #expect(try browser.evaluate("document.getElementById('active').textContent") as? String == "0")
        await service.shutdown()
    }

    @Test func dashboardAsksForTheAdminTokenWhenOneIsSet() async throws {
        let service = try await ServiceProcess.start(["AUTOSPAWN_ADMIN_TOKEN": "dashboard-admin-token"])
        let refused = try await service.request(.GET, "/")
        #expect(refused.status == 401)
        let wrong = "Basic " + Data("admin:not-the-token".utf8).base64EncodedString()
        #expect(try await service.request(.GET, "/", headers: [("Authorization", wrong)]).status == 401)
        let right = "Basic " + Data("admin:dashboard-admin-token".utf8).base64EncodedString()
        let page = try await service.request(.GET, "/", headers: [("Authorization", right)])
        #expect(page.status == 200)
        #expect(page.text.contains("<title>autospawn</title>"))
        for asset in ["/dashboard.js", "/dashboard.css"] {
            #expect(try await service.request(.GET, asset).status == 401)
            #expect(try await service.request(.GET, asset, headers: [("Authorization", right)]).status == 200)
        }
        // The stream the page reads is the admin API's: the same token, as Bearer or Basic.
        #expect(try await service.request(.GET, "/metrics").status == 401)
        await service.shutdown()
    }
}
