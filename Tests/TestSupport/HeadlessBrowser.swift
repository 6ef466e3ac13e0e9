import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Debian's `chromium`, if installed (`.ci/run` installs it).
package enum Chromium {
    package static var path: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Headless Chromium driven through the DevTools protocol over `--remote-debugging-pipe` (commands on the
/// browser's fd 3, answers on its fd 4, each a JSON object ending in a NUL byte): no driver, no network port.
/// One test drives it, one call at a time; waiting runs on a thread of its own (`onOwnThread`).
package final class HeadlessBrowser: @unchecked Sendable {
    private let pid: pid_t
    private let commands: Int32
    private let answers: Int32
    private let profile: URL
    private var nextID = 1
    private var pending: [UInt8] = []
    private var sessionID: String?

    /// What a WebRTC test needs: a fake microphone granted without asking, audio that plays without a gesture, and
    /// candidates that are the machine's own addresses, loopback among them (no mDNS names, no STUN: nothing leaves
    /// the machine; the bots of the tests offer 127.0.0.1 only).
    package static let webRTCArguments = [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required",
        "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
    ]

    package init(executable: String, width: Int = 1280, height: Int = 900, arguments extra: [String] = []) throws {
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("autospawn-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        var toBrowser: [Int32] = [0, 0]
        var fromBrowser: [Int32] = [0, 0]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else {
            throw HarnessError("pipe: \(String(cString: strerror(errno)))")
        }
        for fd in toBrowser + fromBrowser { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the copies: only fds 3 and 4 (and the null outputs) reach the browser.
        posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
        posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let arguments =
            [
                executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--remote-debugging-pipe", "--user-data-dir=\(profile.path)", "--window-size=\(width),\(height)",
            ] + extra + ["about:blank"]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, nil, &argv, environ)
        Glibc.close(toBrowser[0])
        Glibc.close(fromBrowser[1])
        guard status == 0 else {
            Glibc.close(toBrowser[1])
            Glibc.close(fromBrowser[0])
            throw HarnessError("cannot start \(executable): \(String(cString: strerror(status)))")
        }
        pid = child
        commands = toBrowser[1]
        answers = fromBrowser[0]
    }

    deinit { close() }

    /// Opens `url` in a new tab, sending `headers` with every request the page makes (its stream too).
    package func open(_ url: String, headers: [String: String] = [:], width: Int = 1280, height: Int = 900) throws {
        let target = try send("Target.createTarget", ["url": "about:blank"], inPage: false)
        guard let targetID = target["targetId"] as? String else { throw HarnessError("no targetId: \(target)") }
        let attached = try send("Target.attachToTarget", ["targetId": targetID, "flatten": true], inPage: false)
        sessionID = attached["sessionId"] as? String
        _ = try send(
            "Emulation.setDeviceMetricsOverride",
            ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false]
        )
        if !headers.isEmpty {
            _ = try send("Network.enable", [:])
            _ = try send("Network.setExtraHTTPHeaders", ["headers": headers])
        }
        _ = try send("Page.navigate", ["url": url])
    }

    /// The value of a JavaScript expression in the page (a promise is awaited).
    package func evaluate(_ expression: String) throws -> Any? {
        let answer = try send("Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true])
        if let exception = answer["exceptionDetails"] { throw HarnessError("page threw: \(exception)") }
        return (answer["result"] as? [String: Any])?["value"]
    }

    /// True once `condition` (JavaScript) is truthy in the page, false if it is not within `timeout` seconds.
    package func waitFor(_ condition: String, timeout: Double = 15) async throws -> Bool {
        let script = """
            new Promise((resolve) => {
              const end = Date.now() + \(Int(timeout * 1000));
              (function check() {
                let value = false;
                try { value = Boolean(\(condition)); } catch (error) {}
                if (value) resolve(true); else if (Date.now() > end) resolve(false); else setTimeout(check, 50);
              })();
            })
            """
        return try await onOwnThread { try self.evaluate(script) as? Bool ?? false }
    }

    /// A PNG of the page as it is now.
    package func screenshot() throws -> Data {
        let answer = try send("Page.captureScreenshot", ["format": "png"])
        guard let base64 = answer["data"] as? String, let data = Data(base64Encoded: base64) else {
            throw HarnessError("no screenshot data")
        }
        return data
    }

    /// Ends the browser (and removes its profile).
    package func close() {
        guard !commandsClosed else { return }
        _ = try? send("Browser.close", [:], inPage: false, timeout: 5)
        Glibc.close(commands)
        Glibc.close(answers)
        var status: Int32 = 0
        for _ in 0..<100 where waitpid(pid, &status, WNOHANG) == 0 {
            usleep(50_000)
        }
        if waitpid(pid, &status, WNOHANG) == 0 {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
        try? FileManager.default.removeItem(at: profile)
        commandsClosed = true
    }

    private var commandsClosed = false

    // MARK: Protocol

    private func send(_ method: String, _ params: [String: Any], inPage: Bool = true, timeout: Double = 30) throws -> [String: Any] {
        guard !commandsClosed else { throw HarnessError("the browser is closed") }
        let id = nextID
        nextID += 1
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if inPage {
            guard let sessionID else { throw HarnessError("no page is open") }
            message["sessionId"] = sessionID
        }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(commands, $0.baseAddress, $0.count) }
            guard count > 0 else { throw HarnessError("the browser stopped reading (\(method))") }
            written += count
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let reply = try readMessage(until: deadline, waitingFor: method)
            guard reply["id"] as? Int == id else { continue }  // events, and answers nobody waits for
            if let error = reply["error"] { throw HarnessError("\(method) failed: \(error)") }
            return reply["result"] as? [String: Any] ?? [:]
        }
    }

    private func readMessage(until deadline: Date, waitingFor method: String) throws -> [String: Any] {
        while true {
            if let end = pending.firstIndex(of: 0) {
                let message = Array(pending[..<end])
                pending.removeFirst(end + 1)
                return (try JSONSerialization.jsonObject(with: Data(message)) as? [String: Any]) ?? [:]
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw HarnessError("no answer to \(method) in time") }
            var poller = pollfd(fd: answers, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(min(remaining, 1) * 1000)) >= 0 else { continue }
            guard poller.revents != 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = read(answers, &chunk, chunk.count)
            guard count > 0 else { throw HarnessError("the browser closed its pipe (\(method))") }
            pending += chunk[..<count]
        }
    }
}
