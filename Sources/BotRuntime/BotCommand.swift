import Foundation
import Policy

/// The command line and environment one bot is started with.
package struct BotCommand: Sendable, Equatable {
    /// Bodies up to this size are also given in `AUTOSPAWN_BODY`. Linux refuses a single environment string over
    /// 128 KiB (MAX_ARG_STRLEN), and the whole environment shares the argument space: larger bodies are given
    /// only in `AUTOSPAWN_BODY_FILE`.
    package static let maxEnvironmentBody = 64 * 1024

    package var arguments: [String]
    /// The bot's own variables; the launcher adds the allow-listed ones of the service (`Config.botEnvironment`).
    package var environment: [String: String]

    /// Replaces the placeholders in each word of the configured command, and builds the bot's variables.
    /// Room names never contain anything but `[A-Za-z0-9_-]` (the normaliser refuses others), and a word is
    /// never split again after substitution, so nothing from a webhook can add an argument.
    package init(template: [String], session: Session, access: BotAccess, botName: String, bodyFile: String) {
        let roomURL = session.roomURL ?? ""
        let values = [roomURL, session.roomName, access.token ?? "", session.id, access.streamURL ?? ""]
        let replacements = Dictionary(uniqueKeysWithValues: zip(Config.botCommandPlaceholders, values))
        arguments = template.map { word in
            replacements.reduce(word) { $0.replacingOccurrences(of: $1.key, with: $1.value) }
        }
        environment = [
            "DAILY_ROOM_URL": roomURL,
            "AUTOSPAWN_SESSION_ID": session.id,
            "AUTOSPAWN_ROOM_NAME": session.roomName,
            "AUTOSPAWN_BOT_NAME": botName,
            "AUTOSPAWN_BODY_FILE": bodyFile,
        ]
        if session.body.utf8.count <= Self.maxEnvironmentBody { environment["AUTOSPAWN_BODY"] = session.body }
        if let token = access.token { environment["DAILY_ROOM_TOKEN"] = token }
        if let url = access.streamURL { environment["AUTOSPAWN_CALL_WS_URL"] = url }
    }
}
