import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Policy

#if canImport(Glibc)
import Glibc
#endif

/// A failure of the test harness itself.
package struct HarnessError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// The real `autospawn serve` binary, started on a loopback port with its own database and bot log folder.
package final class ServiceProcess: @unchecked Sendable {
    package let directory: URL
    package let port: Int
    package let process: Process
    package let environment: [String: String]
    package var databasePath: String { directory.appendingPathComponent("autospawn.sqlite").path }
    package var baseURL: String { "http://127.0.0.1:\(port)" }
    package var stderrPath: String { directory.appendingPathComponent("service-\(process.processIdentifier).err").path }

    /// The test webhook secret (base64), the one the Python vectors use.
    package static let secret = Fixtures.vectors.secret

    /// The bot command every test service starts: the test bot in `mode` with its placeholders.
    package static func botCommand(_ mode: String = "run") -> String {
        "\(Fixtures.path("bots/test-bot.sh")) \(mode) {room_url} {room_name} {session_id} {token}"
    }

    /// The `autospawn` executable next to the test bundle (`swift build --build-tests` builds both).
    package static var executable: String { built("autospawn") }

    /// A product of the package (`autospawn`, `phone-double`), next to the test bundle.
    package static func built(_ name: String) -> String {
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundleDirectory, bundleDirectory.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/\(name)").path
    }

    /// A new, empty folder for one test.
    package static func makeDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("autospawn-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Starts the service in `directory` (a new one by default) with the test defaults, overridden by `settings`, and
    /// `flags` after `serve`. `through` is a command that runs it (`setpriv …`: as another user), its last word followed
    /// by the service's executable and arguments.
    package static func start(
        in directory: URL? = nil,
        _ settings: [String: String] = [:],
        flags: [String] = [],
        through wrapper: [String] = [],
        executable: String = ServiceProcess.executable
    ) async throws -> ServiceProcess {
        let directory = try directory ?? makeDirectory()
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTOSPAWN_") && !$0.key.hasPrefix("DAILY_") }
        let defaults = [
            "AUTOSPAWN_PORT": "0", "AUTOSPAWN_DB": directory.appendingPathComponent("autospawn.sqlite").path,
            "AUTOSPAWN_DAILY_DOMAIN": "test", "AUTOSPAWN_BOT_COMMAND": botCommand(),
            "AUTOSPAWN_WEBHOOK_SECRET": secret, "AUTOSPAWN_STOP_GRACE_S": "2",
            "AUTOSPAWN_EMPTY_GRACE_S": "1", "AUTOSPAWN_REAPER_INTERVAL_S": "1",
            // A test's SIGTERM is its end: the bots stop now (the drain tests ask for `drain`).
            "AUTOSPAWN_SHUTDOWN": "stop",
        ]
        environment.merge(defaults) { $1 }
        environment.merge(settings) { $1 }
        let process = Process()
        let command = wrapper + [executable, "serve"] + flags
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.environment = environment
        process.currentDirectoryURL = directory
        let stdoutPath = directory.appendingPathComponent("service-\(UUID().uuidString).out").path
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        let stderrURL = directory.appendingPathComponent("service.err")
        if !FileManager.default.fileExists(atPath: stderrURL.path) {
            _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        }
        let stderrHandle = try FileHandle(forWritingTo: stderrURL)
        try stderrHandle.seekToEnd()
        process.standardError = stderrHandle
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let output = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
            if let line = output.split(separator: "\n").first(where: { $0.contains("listening on") }),
                let port = line.split(separator: ":").last.flatMap({ Int($0) })
            {
                return ServiceProcess(directory: directory, port: port, process: process, environment: environment)
            }
            if !process.isRunning {
                let errors = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
                throw HarnessError("autospawn exited with \(process.terminationStatus): \(errors)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        throw HarnessError("autospawn did not start listening within 30 s")
    }

    private init(directory: URL, port: Int, process: Process, environment: [String: String]) {
        self.directory = directory
        self.port = port
        self.process = process
        self.environment = environment
    }

    /// A test that fails before its `shutdown()` must not leave the service (and its bots) running: SIGINT makes the
    /// service stop its bots and exit by itself, whatever its `AUTOSPAWN_SHUTDOWN` (SIGTERM may hand them over).
    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGINT) }
    }

    /// Sends a signal to the service.
    package func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the service to exit and returns its status, or nil if it still runs after `timeout`.
    package func waitForExit(timeout: Double = 30) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Stops the service and its bots (SIGINT, which stops the bots whatever `AUTOSPAWN_SHUTDOWN` says; SIGKILL if it
    /// still runs 20 s later): a test leaves nothing running, even one whose instance would hand its bots over.
    package func shutdown() async {
        guard process.isRunning else { return }
        signal(SIGINT)
        if await waitForExit(timeout: 20) == nil {
            signal(SIGKILL)
            _ = await waitForExit(timeout: 5)
        }
    }

    /// What the service wrote to stderr so far (its log).
    package var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("service.err"), encoding: .utf8)) ?? ""
    }

    // MARK: HTTP

    /// An HTTP answer: status, raw body and the body as a JSON object when it is one.
    package struct Answer: Sendable {
        package var status: Int
        package var text: String
        /// By lower-case name (the last of repeated ones).
        package var headers: [String: String] = [:]
        package var json: [String: any Sendable] {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: any Sendable]) ?? [:]
        }

        package func string(_ key: String) -> String? { json[key] as? String }

        package init(status: Int, text: String, headers: [String: String] = [:]) {
            self.status = status
            self.text = text
            self.headers = headers
        }
    }

    package func request(
        _ method: HTTPMethod,
        _ path: String,
        body: [UInt8]? = nil,
        headers: [(String, String)] = [],
        contentType: String? = "application/json",
        client: HTTPClient = testHTTPClient
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let buffer = try await response.body.collect(upTo: 16 << 20)
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        return Answer(status: Int(response.status.code), text: String(buffer: buffer), headers: headers)
    }

    /// POSTs a webhook body, signed with the test secret unless `signed` is false.
    package func webhook(
        _ body: [UInt8],
        signed: Bool = true,
        timestamp: String? = nil,
        client: HTTPClient = testHTTPClient
    ) async throws -> Answer {
        let headers = signed ? TestSigner.headers(body: body, secretBase64: Self.secret, timestamp: timestamp) : []
        return try await request(.POST, "/daily/webhook", body: body, headers: headers, client: client)
    }

    package func webhook(fixture name: String, signed: Bool = true) async throws -> Answer {
        try await webhook(Fixtures.bytes(name), signed: signed)
    }

    /// `GET /sessions?…` as a list of session objects.
    package func sessions(_ query: String = "state=all") async throws -> [[String: any Sendable]] {
        try await request(.GET, "/sessions?\(query)").json["sessions"] as? [[String: any Sendable]] ?? []
    }

    /// The body the session's bot was started with (`AUTOSPAWN_BODY` in its environment), once it runs. Not read from
    /// its log: the log API redacts a call's forwarding key.
    package func botBody(_ id: String) async throws -> JSONValue {
        var text = ""
        _ = await eventually {
            guard let bot = liveBotSessions().first(where: { $0.sessionID == id }) else { return false }
            text =
                LiveProcesses.environment(of: bot.pid).first { $0.hasPrefix("AUTOSPAWN_BODY=") }
                .map { String($0.dropFirst("AUTOSPAWN_BODY=".count)) } ?? ""
            return !text.isEmpty
        }
        return try JSONValue(parsing: Array(text.utf8))
    }

    package func session(_ id: String) async throws -> [String: any Sendable] {
        try await request(.GET, "/sessions/\(id)").json
    }

    /// The folder this service's bots log to.
    package var botLogDirectory: String {
        environment["AUTOSPAWN_BOT_LOG_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? directory.appendingPathComponent("bot-logs").path
    }

    /// Live bot processes (group leaders) this service started: those that carry a session id and write to a
    /// log in its bot log folder (a bot's environment holds nothing of the service's own).
    package func liveBots(room: String? = nil) -> [Int32] {
        let logs = URL(fileURLWithPath: botLogDirectory).resolvingSymlinksInPath().path + "/"
        return LiveProcesses.leaders(withEnvironmentPrefix: "AUTOSPAWN_SESSION_ID=").filter { pid in
            guard LiveProcesses.standardOutput(of: pid)?.hasPrefix(logs) == true else { return false }
            return room.map { LiveProcesses.environment(of: pid).contains("AUTOSPAWN_ROOM_NAME=\($0)") } ?? true
        }
    }

    /// Live warm bot processes of this service (`AUTOSPAWN_WARM=1`) still idle: their output goes to the pool's
    /// folder, `<bot log dir>/warm`.
    package func idleWarmBots() -> [Int32] {
        let pool = URL(fileURLWithPath: botLogDirectory).resolvingSymlinksInPath().path + "/warm/"
        return LiveProcesses.leaders(withEnvironmentPrefix: "AUTOSPAWN_WARM=1").filter {
            LiveProcesses.standardOutput(of: $0)?.hasPrefix(pool) == true
        }
    }

    /// Live warm bot processes of this service given a room, by session: their output is the session's log.
    package func assignedWarmBots() -> [String: Int32] {
        let logs = URL(fileURLWithPath: botLogDirectory).resolvingSymlinksInPath().path + "/"
        var bots: [String: Int32] = [:]
        for pid in LiveProcesses.leaders(withEnvironmentPrefix: "AUTOSPAWN_WARM=1") {
            guard let output = LiveProcesses.standardOutput(of: pid), output.hasPrefix(logs), output.hasSuffix(".log") else { continue }
            let name = output.dropFirst(logs.count).dropLast(".log".count)
            if !name.contains("/") { bots[String(name)] = pid }
        }
        return bots
    }
}

extension ServiceProcess {
    /// A live bot process of this service and the session and room its environment names.
    package struct LiveBot: Sendable, Equatable {
        package var pid: Int32
        package var sessionID: String
        package var room: String
    }

    /// Every live bot of this service (whichever instance started it), read from /proc.
    package func liveBotSessions() -> [LiveBot] {
        liveBots().compactMap { pid in
            let environment = LiveProcesses.environment(of: pid)
            func value(_ name: String) -> String? {
                environment.first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
            }
            guard let session = value("AUTOSPAWN_SESSION_ID"), let room = value("AUTOSPAWN_ROOM_NAME") else { return nil }
            return LiveBot(pid: pid, sessionID: session, room: room)
        }
    }

    /// The service process's open file descriptors and resident memory (KiB), from /proc.
    package func resources() -> (fileDescriptors: Int, residentKiB: Int) {
        let pid = process.processIdentifier
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count ?? 0
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let rss =
            status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first }
            .flatMap { Int($0) } ?? 0
        return (fds, rss)
    }
}

/// Unix seconds of an RFC 3339 time as the service writes it (fractional seconds included).
package func unixSeconds(_ text: Any?) -> Double? {
    guard let text = text as? String else { return nil }
    return (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))?.timeIntervalSince1970
}

/// The tests' HTTP client: it never follows a redirect, because the places the service redirects to (Daily
/// rooms) are outside this machine. A burst of thousands of requests queues for its connections: on a loaded
/// machine (the whole suite on 2 cores) the default 10 s wait for one was seen to run out.
package let testHTTPClient = HTTPClient(
    eventLoopGroupProvider: .singleton,
    configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(60)))
)

/// Waits until `condition` holds, polling; false when `timeout` passes first.
package func eventually(timeout: Double = 20, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// Looks at /proc on its own, independently of the service's ProcessTable.
package enum LiveProcesses {
    package static func environment(of pid: Int32) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every process's pid.
    package static func all() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init).sorted()
    }

    /// Non-zombie process-group leaders with an environment entry that starts with `prefix`.
    package static func leaders(withEnvironmentPrefix prefix: String) -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap(Int32.init).filter { pid in
            guard isAlive(pid), getpgid(pid) == pid else { return false }
            return environment(of: pid).contains { $0.hasPrefix(prefix) }
        }.sorted()
    }

    /// Where the process's standard output goes (a file's path), from /proc.
    package static func standardOutput(of pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/1")
    }

    package static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }
}

/// The samples of a Prometheus text exposition, by series (`name{labels}`).
package enum PrometheusText {
    package static func series(_ text: String) -> [String: Double] {
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[String(line[..<space])] = value
        }
        return values
    }
}
