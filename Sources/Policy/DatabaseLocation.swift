/// `AUTOSPAWN_DB`: a path selects SQLite (one host), a `postgres://` or `postgresql://` URL selects PostgreSQL
/// (a cluster of replicas on one database).
package enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    package static func parse(_ text: String) throws(ConfigError) -> DatabaseLocation {
        let lowered = text.lowercased()
        guard lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://") else {
            if lowered.contains("://") {
                throw ConfigError("AUTOSPAWN_DB", "only a file path (SQLite) or a postgres:// or postgresql:// URL is understood")
            }
            return .sqlite(path: text)
        }
        return .postgres(try PostgresLocation(url: text))
    }

    /// Safe to log: never the password.
    package var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let location): location.description
        }
    }
}

/// Where a PostgreSQL database is, as libpq's URLs say it: `postgres://user:password@host:port/db?sslmode=…`.
package struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    /// libpq's `sslmode`, by its names.
    package enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    package var host: String
    package var port: Int
    package var user: String
    package var password: String?
    package var database: String
    package var sslMode: SSLMode
    /// `sslrootcert`: a PEM file of the authorities that may sign the server's certificate.
    package var sslRootCertificate: String?
    /// A host that is a path (`?host=/var/run/postgresql`) is the folder of the server's Unix socket.
    package var unixSocketPath: String? {
        host.hasPrefix("/") ? host + "/.s.PGSQL.\(port)" : nil
    }

    package init(
        host: String,
        port: Int = 5432,
        user: String,
        password: String? = nil,
        database: String,
        sslMode: SSLMode = .prefer,
        sslRootCertificate: String? = nil
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.sslRootCertificate = sslRootCertificate
    }

    init(url: String) throws(ConfigError) {
        func invalid(_ why: String) -> ConfigError { ConfigError("AUTOSPAWN_DB", why) }
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else { throw invalid("is not a URL") }
        var rest = Substring(url[url.index(colon, offsetBy: 3)...])
        var query = Substring("")
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path = Substring("")
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var user = "postgres"
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                user = try Self.percentDecoded(userInfo[..<colon])
                password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...])
            } else {
                user = try Self.percentDecoded(userInfo)
            }
        }
        var host = "localhost"
        var port = 5432
        var hostPart = rest
        if hostPart.hasPrefix("[") {
            // An IPv6 address: [::1]:5432.
            guard let close = hostPart.firstIndex(of: "]") else { throw invalid("has an unclosed '[' in its host") }
            host = String(hostPart[hostPart.index(after: hostPart.startIndex)..<close])
            hostPart = hostPart[hostPart.index(after: close)...]
            if !hostPart.isEmpty && !hostPart.hasPrefix(":") { throw invalid("has text after its IPv6 host") }
        } else if let colon = hostPart.lastIndex(of: ":") {
            host = String(hostPart[..<colon])
            hostPart = hostPart[colon...]
        } else if !hostPart.isEmpty {
            host = String(hostPart)
            hostPart = ""
        }
        if hostPart.hasPrefix(":") {
            guard let number = Int(hostPart.dropFirst()), (1...65535).contains(number) else {
                throw invalid("has a port that is not a number from 1 to 65535")
            }
            port = number
        }
        if host.isEmpty { host = "localhost" }
        var database = try Self.percentDecoded(path)
        var sslMode = SSLMode.prefer
        var rootCertificate: String?
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            let value = try Self.percentDecoded(parts.count > 1 ? parts[1] : "")
            switch name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw invalid("sslmode '\(value)' is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = mode
            case "sslrootcert": rootCertificate = value
            case "host": host = value
            case "port":
                guard let number = Int(value), (1...65535).contains(number) else {
                    throw invalid("has a port that is not a number from 1 to 65535")
                }
                port = number
            case "user": user = value
            case "password": password = value
            case "dbname": database = value
            case "application_name", "connect_timeout":
                break
            default:
                throw invalid("parameter '\(name)' is not understood (sslmode, sslrootcert, host, port, user, password, dbname)")
            }
        }
        if database.isEmpty { database = user }
        self.init(
            host: host,
            port: port,
            user: user,
            password: password,
            database: database,
            sslMode: sslMode,
            sslRootCertificate: rootCertificate
        )
    }

    /// The URL without its password: what logs and errors may show.
    package var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(shownHost):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    static func percentDecoded(_ text: Substring) throws(ConfigError) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(\.hexDigitValue), let low = iterator.next().flatMap(\.hexDigitValue) else {
                throw ConfigError("AUTOSPAWN_DB", "has a '%' that is not followed by two hex digits")
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
