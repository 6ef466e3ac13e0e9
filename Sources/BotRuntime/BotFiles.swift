import CProcessSpawn
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The files of each bot in the log folder: `<id>.log` (its output) and `<id>.log.1` (the rotated part). They live on
/// the database's volume, so they are bounded: each log by rotation, all of them by the retention of ended sessions.
/// The folder is the service's alone (0700) and so is each file (0600): a bot writes its log through the descriptor
/// it was started with and can open none of them, nor another bot's.
package struct BotFiles: Sendable {
    package let directory: String
    /// A log past this many bytes is rotated.
    package let maxLogBytes: Int

    package init(directory: String, maxLogBytes: Int) {
        self.directory = directory
        self.maxLogBytes = maxLogBytes
    }

    package func logPath(for sessionID: String) -> String { directory + "/" + sessionID + ".log" }
    package func rotatedLogPath(for sessionID: String) -> String { logPath(for: sessionID) + ".1" }

    /// Makes `path` (and the folders above it that are missing) a folder that only the service can open, whatever
    /// the umask, and one made by an earlier version too.
    package static func makePrivateDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(
            atPath: path,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        guard chmod(path, 0o700) == 0 else { throw BotFileError(path: path, errno: errno) }
    }

    /// A bot's body in an anonymous file (memfd): given to the bot as its fd 3 (`ProcessLauncher.bodyPath`), it is
    /// on no disk and in no folder, so no other process can open it (another user's cannot reach a bot's
    /// descriptors). The caller closes the returned descriptor once the bot has it.
    package static func bodyDescriptor(_ body: String) throws -> Int32 {
        let fd = autospawn_memfd("autospawn-body")
        guard fd >= 0 else { throw BotFileError(path: "memfd", errno: errno) }
        // Readable by whoever holds it: only its bot does (and the bot opens it again as /dev/fd/3).
        fchmod(fd, 0o444)
        guard writeAll(Array(body.utf8), to: fd) else {
            let failure = errno
            close(fd)
            throw BotFileError(path: "memfd", errno: failure)
        }
        return fd
    }

    /// Rotates the session's log when it has grown past `maxLogBytes`, the way logrotate's copytruncate does:
    /// the bot holds the file open (appending), so it is copied to `<id>.log.1` and then cut to nothing, and
    /// the bot's next write lands at its new start. Returns true when it rotated.
    @discardableResult
    package func rotateIfNeeded(sessionID: String) -> Bool {
        let path = logPath(for: sessionID)
        var info = stat()
        guard stat(path, &info) == 0, Int(info.st_size) > maxLogBytes else { return false }
        let rotated = rotatedLogPath(for: sessionID)
        let source = open(path, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { return false }
        defer { close(source) }
        let target = open(rotated, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
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
    package func remove(sessionID: String) {
        // `<id>.body.json`: where versions before bodies moved to descriptors kept a bot's body.
        for path in [logPath(for: sessionID), rotatedLogPath(for: sessionID), directory + "/" + sessionID + ".body.json"] {
            unlink(path)
        }
    }

    /// Appends a line of the service's own to the session's log (why its bot did not start, say).
    package func append(_ text: String, for sessionID: String) {
        let fd = open(logPath(for: sessionID), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }
}

/// Writes every byte (a short write is continued); false on an error, with errno set.
func writeAll(_ bytes: [UInt8], to fd: Int32) -> Bool {
    var written = 0
    while written < bytes.count {
        let result = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if result < 0 {
            if errno == EINTR { continue }
            return false
        }
        written += result
    }
    return true
}

/// A bot's file could not be written.
package struct BotFileError: Error, CustomStringConvertible {
    package let path: String
    package let errno: Int32

    package var description: String { "cannot write \(path): \(String(cString: strerror(errno)))" }
}
