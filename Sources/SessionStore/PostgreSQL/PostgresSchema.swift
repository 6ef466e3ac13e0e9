import Logging
import PostgresNIO

/// The PostgreSQL backend's tables: the SQLite schema's (SQLite/SQLiteSchema.swift) in PostgreSQL's types, each
/// migration applied once, in order, recorded in `schema_migration`.
enum PostgresSchema {
    /// Any fixed number: the key of the advisory lock under which migrations run, so that replicas starting
    /// together apply each migration once.
    static let migrationLockKey: Int64 = 0x6175_746F_7370_776E  // "autospwn"

    static let migrations: [(name: String, sql: [PostgresQuery])] = [
        (
            "v1",
            [
                """
                CREATE TABLE session (
                    id TEXT PRIMARY KEY,
                    room_name TEXT NOT NULL,
                    room_url TEXT,
                    state TEXT NOT NULL CHECK (state IN ('starting','running','stopping','ended','failed')),
                    launcher TEXT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL,
                    updated_at DOUBLE PRECISION NOT NULL,
                    ended_at DOUBLE PRECISION,
                    end_reason TEXT,
                    exit_code INTEGER,
                    pid INTEGER,
                    pid_start_time BIGINT,
                    owner_instance TEXT NOT NULL,
                    stop_at DOUBLE PRECISION,
                    stop_reason TEXT,
                    body TEXT NOT NULL DEFAULT '{}',
                    bot_user_id TEXT,
                    placed_at DOUBLE PRECISION
                )
                """,
                // Invariant 1: one active session per room, whichever replica writes.
                """
                CREATE UNIQUE INDEX session_one_active_per_room ON session (room_name)
                    WHERE state IN ('starting','running','stopping')
                """,
                "CREATE INDEX session_by_state ON session (state, created_at)",
                "CREATE INDEX session_by_room ON session (room_name, created_at)",
                "CREATE INDEX session_active_by_owner ON session (owner_instance, created_at) WHERE state IN ('starting','running','stopping')",
                """
                CREATE TABLE participant (
                    room_name TEXT NOT NULL,
                    key TEXT NOT NULL,
                    present BOOLEAN NOT NULL,
                    sent_at DOUBLE PRECISION,
                    updated_at DOUBLE PRECISION NOT NULL,
                    PRIMARY KEY (room_name, key)
                )
                """,
                // Invariant 3: an event id is acted upon once.
                "CREATE TABLE seen_event (id TEXT PRIMARY KEY, received_at DOUBLE PRECISION NOT NULL)",
                "CREATE INDEX seen_event_by_time ON seen_event (received_at)",
                // Every change to a room's sessions takes this row's lock first: one room's events, ends and claims
                // are serialised across replicas, and always in the same order (room, then the count) so that two
                // transactions never wait on each other.
                """
                CREATE TABLE room (
                    name TEXT PRIMARY KEY,
                    url TEXT,
                    last_event_at DOUBLE PRECISION NOT NULL,
                    respawn_pending BOOLEAN NOT NULL DEFAULT FALSE,
                    presence_checked_at DOUBLE PRECISION,
                    failures INTEGER NOT NULL DEFAULT 0,
                    retry_at DOUBLE PRECISION,
                    waiting_since DOUBLE PRECISION
                )
                """,
                "CREATE INDEX room_waiting ON room (waiting_since) WHERE waiting_since IS NOT NULL",
                """
                CREATE TABLE instance (
                    id TEXT PRIMARY KEY,
                    pid INTEGER NOT NULL,
                    pid_start_time BIGINT NOT NULL,
                    started_at DOUBLE PRECISION NOT NULL,
                    host_id TEXT NOT NULL DEFAULT '',
                    lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
                    advertise_url TEXT
                )
                """,
                // Invariant 2: a claim locks this row (`FOR UPDATE`) and reads the count under the lock, so no two
                // replicas can both take the last place. Triggers keep it, whoever writes.
                "CREATE TABLE active_count (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)",
                "INSERT INTO active_count (id, n) VALUES (1, 0)",
                """
                CREATE FUNCTION session_active_count() RETURNS trigger LANGUAGE plpgsql AS $$
                DECLARE
                    was BOOLEAN := TG_OP <> 'INSERT' AND OLD.state IN ('starting','running','stopping');
                    now_active BOOLEAN := TG_OP <> 'DELETE' AND NEW.state IN ('starting','running','stopping');
                BEGIN
                    IF was <> now_active THEN
                        UPDATE active_count SET n = n + CASE WHEN now_active THEN 1 ELSE -1 END WHERE id = 1;
                    END IF;
                    RETURN NULL;
                END $$
                """,
                """
                CREATE TRIGGER session_active_count AFTER INSERT OR DELETE OR UPDATE OF state ON session
                    FOR EACH ROW EXECUTE FUNCTION session_active_count()
                """,
                // `/ready` writes this instance's row: the database takes writes.
                "CREATE TABLE ready_probe (instance_id TEXT PRIMARY KEY, checked_at DOUBLE PRECISION NOT NULL)",
            ]
        ),
        (
            "v2-profiles",
            [
                // The bot profile a session runs (AUTOSPAWN_PROFILES) and the one a room's next bot is of; a room the
                // service created keeps the profile it was made for and is always eligible.
                "ALTER TABLE session ADD COLUMN profile TEXT NOT NULL DEFAULT 'default'",
                "ALTER TABLE room ADD COLUMN profile TEXT",
                "ALTER TABLE room ADD COLUMN service_created BOOLEAN NOT NULL DEFAULT FALSE",
                """
                CREATE INDEX session_active_by_profile ON session(profile) WHERE state IN ('starting','running','stopping')
                """,
            ]
        ),
        (
            "v3-phone-calls",
            [
                // How the session's caller reaches its bot (a Daily room, a carrier's stream), and the digest of the one
                // stream token the carrier may open the call's stream with, until when.
                "ALTER TABLE session ADD COLUMN transport TEXT NOT NULL DEFAULT 'daily'",
                "ALTER TABLE session ADD COLUMN stream_token TEXT",
                "ALTER TABLE session ADD COLUMN stream_token_until DOUBLE PRECISION",
                "CREATE UNIQUE INDEX session_stream_token ON session(stream_token) WHERE stream_token IS NOT NULL",
            ]
        ),
    ]

    /// Applies the migrations this database lacks, under a session-level advisory lock held on one connection.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        do {
            try await connection.query("SELECT pg_advisory_lock(\(migrationLockKey))", logger: logger)
            do {
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS schema_migration (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                    logger: logger
                )
                let applied = Set(
                    try await connection.query("SELECT name FROM schema_migration", logger: logger).collect()
                        .map { try $0.decode(String.self) }
                )
                for migration in migrations where !applied.contains(migration.name) {
                    try await connection.query("BEGIN", logger: logger)
                    do {
                        for statement in migration.sql { try await connection.query(statement, logger: logger) }
                        try await connection.query("INSERT INTO schema_migration (name) VALUES (\(migration.name))", logger: logger)
                        try await connection.query("COMMIT", logger: logger)
                    } catch {
                        _ = try? await connection.query("ROLLBACK", logger: logger)
                        throw error
                    }
                    logger.info("database migrated", metadata: ["migration": "\(migration.name)"])
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(migrationLockKey))", logger: logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(\(migrationLockKey))", logger: logger)
        }
    }
}
