import ArgumentParser

@main
struct Autospawn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Starts a bot in a Daily room when a human joins it, and stops it when the humans are gone.",
        subcommands: [Serve.self, Replay.self, Sign.self, WebhookCommand.self, DialinCommand.self],
        defaultSubcommand: Serve.self
    )
}
