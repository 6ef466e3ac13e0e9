import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import Policy
import WebhookService

/// `autospawn replay`: POSTs webhook bodies as Daily would, signed with a fresh timestamp.
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign (fresh timestamp) and POST webhook bodies; prints the status and answer of each."
    )

    @Argument(help: "Files holding webhook bodies, sent byte for byte.") var files: [String]
    @Option(help: "The webhook URL, e.g. http://127.0.0.1:8080/daily/webhook") var url: String
    @Option(help: "The webhook secret (base64); without it the bodies go unsigned.") var secret: String?

    func run() async throws {
        let key = try secret.map(decodeSecret)
        var failures = 0
        for file in files {
            let body = try readBody(file)
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            if let key {
                let timestamp = String(Int(Date().timeIntervalSince1970))
                request.headers.add(name: "X-Webhook-Timestamp", value: timestamp)
                request.headers.add(
                    name: "X-Webhook-Signature",
                    value: SignatureVerifier.sign(body: body, secret: key, timestamp: timestamp)
                )
            }
            request.body = .bytes(ByteBuffer(bytes: body))
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                let answer = try await response.body.collect(upTo: 1 << 20)
                print("\(file): \(response.status.code) \(String(buffer: answer))")
                if response.status.code != 200 { failures += 1 }
            } catch {
                print("\(file): \(error)")
                failures += 1
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}

/// `autospawn sign`: the two headers Daily would send with a body.
struct Sign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the two signature headers for a body.")

    @Argument(help: "A file holding the body, signed byte for byte.") var file: String
    @Option(help: "The webhook secret (base64).") var secret: String
    @Option(help: "X-Webhook-Timestamp to use (default: now, Unix seconds).") var timestamp: String?

    func run() async throws {
        let timestamp = timestamp ?? String(Int(Date().timeIntervalSince1970))
        let signature = SignatureVerifier.sign(body: try readBody(file), secret: try decodeSecret(secret), timestamp: timestamp)
        print("X-Webhook-Signature: \(signature)")
        print("X-Webhook-Timestamp: \(timestamp)")
    }
}

private func decodeSecret(_ secret: String) throws -> [UInt8] {
    guard let key = Base64.decode(secret), !key.isEmpty else {
        throw ValidationError("--secret is not base64")
    }
    return key
}

private func readBody(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("cannot read \(path)")
    }
    return Array(data)
}
