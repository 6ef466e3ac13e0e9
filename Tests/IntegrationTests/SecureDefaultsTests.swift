import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A configured secret is enforced, a bot gets only the environment it needs, secrets can come from files.
@Suite(.serialized)
struct SecureDefaultsTests {
    /// With a secret set and AUTOSPAWN_REQUIRE_SIGNATURE unset, an unsigned simplified join naming
    /// https://attacker.example.com/x was answered `spawned`, and a bot was sent to that URL.
    @Test func aSetSecretIsEnforcedAndARoomURLMustBeOfTheDailyDomain() async throws {
        let service = try await ServiceProcess.start()
        let forged = try await service.webhook(Fixtures.bytes("malformed/simplified-foreign-host.json"), signed: false)
        #expect(forged.status == 401)
        #expect(forged.string("error") == "missing_signature")
        let unsignedLeave = try await service.webhook(Fixtures.bytes("daily/meeting-ended.json"), signed: false)
        #expect(unsignedLeave.status == 401)
        // Signed, the foreign URL is still no room of this service.
        let signed = try await service.webhook(Fixtures.bytes("malformed/simplified-foreign-host.json"))
        #expect(signed.status == 400)
        #expect(signed.string("error") == "invalid_room")
        #expect(try await service.sessions().isEmpty)
        #expect(service.liveBots().isEmpty)
        await service.shutdown()
    }

    @Test func relaxingSignaturesTakesAnExplicitZeroAndWarns() async throws {
        let relaxed = try await ServiceProcess.start(["AUTOSPAWN_REQUIRE_SIGNATURE": "0", "AUTOSPAWN_DAILY_DOMAIN": "acme"])
        #expect(relaxed.log.contains("AUTOSPAWN_REQUIRE_SIGNATURE=0"))
        let foreign = try await relaxed.webhook(Fixtures.bytes("malformed/simplified-foreign-host.json"), signed: false)
        #expect(foreign.status == 400)
        #expect(foreign.string("error") == "invalid_room")
        #expect(try await relaxed.webhook(fixture: "simplified/participant-joined.json", signed: false).string("action") == "spawned")
        await relaxed.shutdown()
        let open = try await ServiceProcess.start(["AUTOSPAWN_WEBHOOK_SECRET": ""])
        #expect(open.log.contains("AUTOSPAWN_WEBHOOK_SECRET is not set"))
        await open.shutdown()
    }

    /// A bot started with `env` printed AUTOSPAWN_WEBHOOK_SECRET and AUTOSPAWN_ADMIN_TOKEN.
    @Test func aBotGetsTheAllowListedEnvironmentOnly() async throws {
        let service = try await ServiceProcess.start([
            "AUTOSPAWN_BOT_COMMAND": ServiceProcess.botCommand("env"), "AUTOSPAWN_ADMIN_TOKEN": "admin-token-for-env-test",
            "OPENAI_API_KEY": "sk-for-the-bot", "UNLISTED_SECRET": "not-for-the-bot", "AUTOSPAWN_BOT_ENV": "OPENAI_API_KEY",
            "AUTOSPAWN_BOT_NAME": "Env Bot",
        ])
        _ = try #require(try await service.webhook(fixture: "daily/participant-joined.json").string("session_id"))
        #expect(try await eventually { service.liveBots().count == 1 })
        let pid = try #require(service.liveBots().first)
        let names = Set(LiveProcesses.environment(of: pid).compactMap { $0.split(separator: "=", maxSplits: 1).first.map(String.init) })
        let allowed: Set<String> = [
            "PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "OPENAI_API_KEY", "DAILY_ROOM_URL", "DAILY_ROOM_TOKEN",
            "AUTOSPAWN_SESSION_ID", "AUTOSPAWN_ROOM_NAME", "AUTOSPAWN_BOT_NAME", "AUTOSPAWN_BODY", "AUTOSPAWN_BODY_FILE",
        ]
        #expect(names.isSubset(of: allowed), "unexpected: \(names.subtracting(allowed).sorted())")
        #expect(names.contains("OPENAI_API_KEY"))
        #expect(LiveProcesses.environment(of: pid).contains("AUTOSPAWN_BOT_NAME=Env Bot"))
        for secret in [ServiceProcess.secret, "admin-token-for-env-test", "not-for-the-bot"] {
            #expect(!LiveProcesses.environment(of: pid).contains { $0.contains(secret) })
        }
        await service.shutdown()
    }

    @Test func secretsFromFilesStayOutOfTheEnvironment() async throws {
        let directory = try ServiceProcess.makeDirectory()
        let secretFile = directory.appendingPathComponent("hmac").path
        let tokenFile = directory.appendingPathComponent("admin").path
        try (ServiceProcess.secret + "\n").write(toFile: secretFile, atomically: true, encoding: .utf8)
        try "admin-token-from-a-file\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let service = try await ServiceProcess.start(
            in: directory,
            [
                "AUTOSPAWN_WEBHOOK_SECRET": "", "AUTOSPAWN_WEBHOOK_SECRET_FILE": secretFile, "AUTOSPAWN_ADMIN_TOKEN_FILE": tokenFile,
            ]
        )
        #expect(try await service.webhook(fixture: "daily/participant-joined.json").string("action") == "spawned")
        #expect(try await service.webhook(Fixtures.bytes("daily/participant-left.json"), signed: false).status == 401)
        #expect(try await service.request(.GET, "/sessions").status == 401)
        let authorized = try await service.request(.GET, "/sessions", headers: [("Authorization", "Bearer admin-token-from-a-file")])
        #expect(authorized.status == 200)
        let environment = LiveProcesses.environment(of: service.process.processIdentifier)
        #expect(!environment.contains { $0.contains(ServiceProcess.secret) || $0.contains("admin-token-from-a-file") })
        await service.shutdown()

        // Both forms at once: one line naming the variable, exit 2.
        let both = await #expect(throws: HarnessError.self) {
            _ = try await ServiceProcess.start(in: directory, ["AUTOSPAWN_WEBHOOK_SECRET_FILE": secretFile])
        }
        #expect(both?.description.contains("exited with 2") == true)
        #expect(both?.description.contains("AUTOSPAWN_WEBHOOK_SECRET_FILE: set either") == true)
    }
}
