import ArgumentParser
import BotRuntime
import Foundation
import Policy

/// `autospawn webhook`: the domain's Daily webhook, through the REST API.
struct WebhookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook",
        abstract: "Manage the Daily webhook that points at autospawn.",
        subcommands: [Create.self, List.self, Delete.self]
    )

    /// The REST API to talk to: flags, or `DAILY_API_KEY` / `DAILY_API_URL`.
    struct DailyOptions: ParsableArguments {
        @Option(help: "Daily API key (default: DAILY_API_KEY).") var apiKey: String?
        @Option(help: "Daily REST API base (default: DAILY_API_URL, else https://api.daily.co/v1).") var apiURL: String?

        func client() throws -> DailyClient {
            let environment = ProcessInfo.processInfo.environment
            guard let key = apiKey ?? environment["DAILY_API_KEY"], !key.isEmpty else {
                throw ValidationError("DAILY_API_KEY is not set (or give --api-key)")
            }
            return DailyClient(baseURL: apiURL ?? environment["DAILY_API_URL"] ?? "https://api.daily.co/v1", apiKey: key)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register URL as the domain's webhook (Daily probes it first: the service must be running)."
        )

        @OptionGroup var daily: DailyOptions
        @Option(help: "The service's package webhook URL, ending in /daily/webhook.") var url: String
        @Option(help: "The hmac secret (base64); a strong one is generated when omitted.") var secret: String?
        // The knockers' events too: /bot/status counts them, and AUTOSPAWN_SPAWN_ON=knock starts bots on them.
        @Option(help: "Comma-separated event types.")
        var eventTypes = "participant.joined,participant.left,meeting.ended,waiting-participant.joined,waiting-participant.left"
        // Daily's default, circuit-breaker, switches the whole domain's webhook off after three failed deliveries.
        @Option(help: "Daily's retryType: exponential (each event retried, nothing switched off) or circuit-breaker.")
        var retryType = "exponential"

        func run() async throws {
            let secret = try secret.map(WebhookCommand.checkedSecret) ?? WebhookCommand.generatedSecret()
            guard ["exponential", "circuit-breaker"].contains(retryType) else {
                throw ValidationError("--retry-type is exponential or circuit-breaker")
            }
            let webhook = try await daily.client().createWebhook(
                url: url,
                hmac: secret,
                eventTypes: eventTypes.split(separator: ",").map(String.init),
                retryType: retryType
            )
            print("created webhook \(webhook.uuid) (\(webhook.state ?? "?"), retry \(webhook.retryType ?? retryType)) -> \(webhook.url)")
            print("Start autospawn with this secret (shown only now):")
            print("AUTOSPAWN_WEBHOOK_SECRET=\(secret)")
        }
    }

    /// A strong `hmac` secret: 32 random bytes, base64.
    static func generatedSecret() -> String {
        Base64.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
    }

    /// `--secret` as given, when it is base64.
    static func checkedSecret(_ secret: String) throws -> String {
        guard Base64.decode(secret).map({ !$0.isEmpty }) == true else { throw ValidationError("--secret is not base64") }
        return secret
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the domain's webhooks.")
        @OptionGroup var daily: DailyOptions

        func run() async throws {
            for webhook in try await daily.client().webhooks() {
                let events = (webhook.eventTypes ?? []).joined(separator: ",")
                print("\(webhook.uuid)  \(webhook.state ?? "?")  failed=\(webhook.failedCount ?? 0)  \(webhook.url)  \(events)")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a webhook by its uuid.")
        @OptionGroup var daily: DailyOptions
        @Argument(help: "The webhook's uuid (see `webhook list`).") var uuid: String

        func run() async throws {
            try await daily.client().deleteWebhook(uuid)
            print("deleted webhook \(uuid)")
        }
    }
}
