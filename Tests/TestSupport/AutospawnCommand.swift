import Foundation

/// The `autospawn` binary run as a user runs it (its subcommands), to the end.
package enum AutospawnCommand {
    /// Runs it with `arguments` on a thread of its own (it may call back into this process: the double), and returns
    /// its exit status and standard output.
    package static func run(
        _ arguments: [String],
        environment: [String: String] = [:]
    ) async throws -> (status: Int32, output: String) {
        try await onOwnThread { try runBlocking(arguments, environment: environment) }
    }

    /// Runs it with `arguments` and returns its exit status and standard output.
    package static func runBlocking(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServiceProcess.executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
