import ArgumentParser
import BotRuntime
import Foundation
import Policy

/// `autospawn dialin`: the domain's pinless dial-in config, which sends calls to the service's `/daily/dialin`.
struct DialinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dialin",
        abstract: "Manage the Daily pinless dial-in config that sends phone calls to autospawn.",
        subcommands: [Configure.self, List.self, Delete.self]
    )

    struct Configure: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send calls to NUMBER (or, without one, to a SIP interconnect) to URL, signed with a new secret."
        )

        @OptionGroup var daily: WebhookCommand.DailyOptions
        @Option(help: "The service's package dial-in URL, ending in /daily/dialin.") var url: String
        @Option(help: "A phone number of the domain (E.164, e.g. +14155550100); without it only a SIP interconnect is made.")
        var number: String?
        @Option(help: "The hmac secret (base64); a strong one is generated when omitted.") var secret: String?
        @Option(help: "What callers hear while their room and bot are made (an audio URL).") var holdMusicUrl: String?
        @Option(help: "What callers hear when no room could be made for them.") var timeoutMessage: String?

        func run() async throws {
            let secret = try secret.map(WebhookCommand.checkedSecret) ?? WebhookCommand.generatedSecret()
            guard url.hasPrefix("https://") || url.hasPrefix("http://") else { throw ValidationError("--url is not a URL") }
            var config: [String: JSONValue] = [
                "type": .string("pinless_dialin"), "room_creation_api": .string(url), "hmac": .string(secret),
            ]
            if let number { config["phone_number"] = .string(number) }
            if let holdMusicUrl { config["hold_music_url"] = .string(holdMusicUrl) }
            if let timeoutMessage { config["timeout_config"] = .object(["message": .string(timeoutMessage)]) }
            let created = try await daily.client().createDialinConfig(config)
            print("created pinless dial-in config \(created["id"]?.string ?? "?") (\(number ?? "SIP interconnect")) -> \(url)")
            print("Start autospawn with this secret (shown only now):")
            print("AUTOSPAWN_DIALIN_SECRET=\(secret)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the domain's dial-in configs.")
        @OptionGroup var daily: WebhookCommand.DailyOptions

        func run() async throws {
            let answer = try await daily.client().dialinConfigs()
            let configs: [JSONValue] =
                if case .array(let items)? = answer["data"] { items } else if case .array(let items) = answer { items } else { [] }
            for item in configs {
                let config = item["config"] ?? item
                print(
                    "\(item["id"]?.string ?? "?")  \(item["type"]?.string ?? "?")  \(config["phone_number"]?.string ?? "SIP")  "
                        + (config["room_creation_api"]?.string ?? "")
                )
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a dial-in config by its id.")
        @OptionGroup var daily: WebhookCommand.DailyOptions
        @Argument(help: "The config's id (see `dialin list`).") var id: String

        func run() async throws {
            try await daily.client().deleteDialinConfig(id)
            print("deleted dial-in config \(id)")
        }
    }
}
