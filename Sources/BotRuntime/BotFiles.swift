import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The files of each bot in the log folder: `<id>.log` (its output), `<id>.log.1` (the rotated part) and
/// `<id>.body.json` (its body, `AUTOSPAWN_BODY_FILE`). They live on the database's volume, so they are bounded:
/// each log by rotation, all of them by the retention of ended sessions.
public struct BotFiles: Sendable {
    public let directory: String
    /// A log past this many bytes is rotated.
    public let maxLogBytes: Int

    public init(directory: String, maxLogBytes: Int) {
        self.directory = directory
        self.maxLogBytes = maxLogBytes
    }

    public func logPath(for sessionID: String) -> String { directory + "/" + sessionID + ".log" }
    public func rotatedLogPath(for sessionID: String) -> String { logPath(for: sessionID) + ".1" }
    public func bodyPath(for sessionID: String) -> String { directory + "/" + sessionID + ".body.json" }

    /// Writes the session's body to its file, readable by the bot's user only.
    public func writeBody(_ body: String, for sessionID: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = bodyPath(for: sessionID)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BotFileError(path: path, errno: errno) }
        defer { close(fd) }
        let bytes = Array(body.utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if result < 0 {
                if errno == EINTR { continue }
                throw BotFileError(path: path, errno: errno)
            }
            written += result
        }
    }

    /// Rotates the session's log when it has grown past `maxLogBytes`, the way logrotate's copytruncate does:
    /// the bot holds the file open (appending), so it is copied to `<id>.log.1` and then cut to nothing, and
    /// the bot's next write lands at its new start. Returns true when it rotated.
    @discardableResult
    public func rotateIfNeeded(sessionID: String) -> Bool {
        let path = logPath(for: sessionID)
        var info = stat()
        guard stat(path, &info) == 0, Int(info.st_size) > maxLogBytes else { return false }
        let rotated = rotatedLogPath(for: sessionID)
        let source = open(path, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { return false }
        defer { close(source) }
        let target = open(rotated, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard target >= 0 else { return false }
        defer { close(target) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            let written = buffer.withUnsafeBytes { write(target, $0.baseAddress, count) }
            if written != count { return false }  // the disk is full: keep the log whole rather than lose it
        }
        return truncate(path, 0) == 0
    }

    /// Removes every file of the session.
    public func remove(sessionID: String) {
        for path in [logPath(for: sessionID), rotatedLogPath(for: sessionID), bodyPath(for: sessionID)] {
            unlink(path)
        }
    }

    /// Appends a line of the service's own to the session's log (why its bot did not start, say).
    public func append(_ text: String, for sessionID: String) {
        let fd = open(logPath(for: sessionID), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }
}

/// A bot's file could not be written.
public struct BotFileError: Error, CustomStringConvertible {
    public let path: String
    public let errno: Int32

    public var description: String { "cannot write \(path): \(String(cString: strerror(errno)))" }
}
