// swift-tools-version: 6.1
// libFuzzer targets for the two parsers that read untrusted bytes: the signature verifier and the event
// normaliser. A package of its own, so that only they and what they need (Policy, swift-crypto) are built
// with the fuzzer's instrumentation; their sources are the service's own files (symbolic links), not copies.
// Build and run: see README.md (Fuzzing) or `./fuzz/run`.
import PackageDescription

let package = Package(
    name: "autospawn-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "3.12.3"),
    ],
    targets: [
        .target(name: "Policy", path: "Sources/Policy"),
        .target(
            name: "WebhookInput",
            dependencies: ["Policy", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/WebhookInput"
        ),
        .executableTarget(
            name: "AutospawnFuzz",
            dependencies: ["WebhookInput", "Policy"],
            path: "Sources/AutospawnFuzz"
        ),
    ]
)
