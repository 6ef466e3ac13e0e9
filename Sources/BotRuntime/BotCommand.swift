import Foundation
import Policy
import SessionStore

/// The command line and environment one bot is started with.
public struct BotCommand: Sendable, Equatable {
    public var arguments: [String]
    /// Added to (and overriding) the service's own environment.
    public var environment: [String: String]

    /// Replaces the placeholders in each word of the configured command, and builds the bot's variables.
    /// Room names never contain anything but `[A-Za-z0-9_-]` (the normaliser refuses others), and a word is
    /// never split again after substitution, so nothing from a webhook can add an argument.
    public init(template: [String], session: Session, token: String?) {
        let roomURL = session.roomURL ?? ""
        let replacements = [
            "{room_url}": roomURL, "{room_name}": session.roomName, "{token}": token ?? "", "{session_id}": session.id,
        ]
        arguments = template.map { word in
            replacements.reduce(word) { $0.replacingOccurrences(of: $1.key, with: $1.value) }
        }
        environment = [
            "DAILY_ROOM_URL": roomURL,
            "AUTOSPAWN_SESSION_ID": session.id,
            "AUTOSPAWN_ROOM_NAME": session.roomName,
            "AUTOSPAWN_BODY": session.body,
        ]
        if let token { environment["DAILY_ROOM_TOKEN"] = token }
    }
}
