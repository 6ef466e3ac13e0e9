extension Config {
    /// The secrets that may come from a file instead (the Docker and Kubernetes convention): `<NAME>_FILE` names a
    /// file whose content, less one trailing newline, is the value. So no secret has to sit in the service's
    /// environment or on its command line, where `ps` shows it.
    /// `AUTOSPAWN_DB` is among them: a PostgreSQL URL carries its password.
    package static let fileSecrets =
        [
            "AUTOSPAWN_WEBHOOK_SECRET", "AUTOSPAWN_DIALIN_SECRET", "AUTOSPAWN_ADMIN_TOKEN", "DAILY_API_KEY", "AUTOSPAWN_DB",
        ] + TelephonySettings.secretVariables

    /// The environment with every `<NAME>_FILE` of `fileSecrets` replaced by `<NAME>` and the file's content.
    /// Reading is the caller's (`read` returns a file's content or throws), so that this stays free of I/O.
    package static func resolvingSecretFiles(
        _ environment: [String: String],
        read: (String) throws -> String
    ) throws(ConfigError) -> [String: String] {
        var resolved = environment
        for name in fileSecrets {
            let fileVariable = name + "_FILE"
            guard let path = environment[fileVariable], !path.isEmpty else { continue }
            if let value = environment[name], !value.isEmpty {
                throw ConfigError(fileVariable, "set either \(name) or \(fileVariable), not both")
            }
            var content: String
            do {
                content = try read(path)
            } catch {
                throw ConfigError(fileVariable, "cannot read '\(path)' (\(error))")
            }
            if content.hasSuffix("\r\n") {
                content.removeLast(1)  // "\r\n" is one Character
            } else if content.hasSuffix("\n") {
                content.removeLast()
            }
            guard !content.isEmpty else { throw ConfigError(fileVariable, "'\(path)' is empty") }
            resolved[name] = content
            resolved[fileVariable] = nil
        }
        return resolved
    }
}
