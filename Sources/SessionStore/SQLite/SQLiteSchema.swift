import GRDB

enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE session (
                        id TEXT PRIMARY KEY NOT NULL,
                        room_name TEXT NOT NULL,
                        room_url TEXT,
                        state TEXT NOT NULL CHECK (state IN ('starting','running','stopping','ended','failed')),
                        launcher TEXT NOT NULL,
                        created_at DOUBLE NOT NULL,
                        updated_at DOUBLE NOT NULL,
                        ended_at DOUBLE,
                        end_reason TEXT,
                        exit_code INTEGER,
                        pid INTEGER,
                        pid_start_time INTEGER,
                        owner_instance TEXT NOT NULL,
                        stop_at DOUBLE,
                        stop_reason TEXT,
                        body TEXT NOT NULL DEFAULT '{}'
                    );
                    -- Invariant 1: one active session per room, whatever writes to the file.
                    CREATE UNIQUE INDEX session_one_active_per_room ON session(room_name)
                        WHERE state IN ('starting','running','stopping');
                    CREATE INDEX session_by_state ON session(state, created_at);
                    CREATE INDEX session_by_room ON session(room_name, created_at);

                    -- Humans in each room. present = 0 is a tombstone: a leave that arrived before its join.
                    CREATE TABLE participant (
                        room_name TEXT NOT NULL,
                        key TEXT NOT NULL,
                        present INTEGER NOT NULL,
                        sent_at DOUBLE,
                        updated_at DOUBLE NOT NULL,
                        PRIMARY KEY (room_name, key)
                    ) WITHOUT ROWID;

                    -- Invariant 3: an event id is acted upon once.
                    CREATE TABLE seen_event (
                        id TEXT PRIMARY KEY NOT NULL,
                        received_at DOUBLE NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX seen_event_by_time ON seen_event(received_at);

                    CREATE TABLE room (
                        name TEXT PRIMARY KEY NOT NULL,
                        url TEXT,
                        last_event_at DOUBLE NOT NULL,
                        respawn_pending INTEGER NOT NULL DEFAULT 0
                    ) WITHOUT ROWID;

                    CREATE TABLE instance (
                        id TEXT PRIMARY KEY NOT NULL,
                        pid INTEGER NOT NULL,
                        pid_start_time INTEGER NOT NULL,
                        started_at DOUBLE NOT NULL
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v2-daily") { db in
            // The user id the bot's meeting token carries: what stopping an agent bot ejects.
            try db.execute(sql: "ALTER TABLE session ADD COLUMN bot_user_id TEXT")
            // When Daily's presence was last asked about the room (at most once per AUTOSPAWN_ORPHAN_AFTER_S).
            try db.execute(sql: "ALTER TABLE room ADD COLUMN presence_checked_at DOUBLE")
        }
        migrator.registerMigration("v3-waiting-rooms") { db in
            // Failed sessions in a row, and no new bot before retry_at: a room whose bot keeps failing backs off.
            try db.execute(sql: "ALTER TABLE room ADD COLUMN failures INTEGER NOT NULL DEFAULT 0")
            try db.execute(sql: "ALTER TABLE room ADD COLUMN retry_at DOUBLE")
            // Set while humans are in the room without a bot they should have (capacity, backoff, a failed bot);
            // the supervisor starts one as soon as it may, longest waiting first.
            try db.execute(sql: "ALTER TABLE room ADD COLUMN waiting_since DOUBLE")
            try db.execute(sql: "CREATE INDEX room_waiting ON room(waiting_since) WHERE waiting_since IS NOT NULL")
        }
        migrator.registerMigration("v4-active-count") { db in
            // Every event's decision reads how many sessions are active; counting them walked one index entry per
            // active session. Triggers keep the number instead, whoever writes to the file (BENCHMARKS.md).
            try db.execute(
                sql: """
                    CREATE TABLE active_count (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
                    INSERT INTO active_count (id, n)
                        SELECT 1, count(*) FROM session WHERE state IN ('starting','running','stopping');
                    CREATE TRIGGER session_active_insert AFTER INSERT ON session
                        WHEN NEW.state IN ('starting','running','stopping')
                        BEGIN UPDATE active_count SET n = n + 1 WHERE id = 1; END;
                    CREATE TRIGGER session_active_delete AFTER DELETE ON session
                        WHEN OLD.state IN ('starting','running','stopping')
                        BEGIN UPDATE active_count SET n = n - 1 WHERE id = 1; END;
                    CREATE TRIGGER session_active_update AFTER UPDATE OF state ON session
                        WHEN (OLD.state IN ('starting','running','stopping')) <> (NEW.state IN ('starting','running','stopping'))
                        BEGIN
                            UPDATE active_count
                            SET n = n + CASE WHEN NEW.state IN ('starting','running','stopping') THEN 1 ELSE -1 END
                            WHERE id = 1;
                        END;
                    """
            )
        }
        migrator.registerMigration("v5-ready-probe") { db in
            // `/ready` writes this row: a write to the database file itself, where a full disk or a read-only
            // file system shows.
            try db.execute(sql: "CREATE TABLE ready_probe (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at DOUBLE NOT NULL)")
        }
        migrator.registerMigration("v6-leases") { db in
            // Instances on other hosts are judged by a lease they renew, not by a pid this host cannot see.
            try db.execute(sql: "ALTER TABLE instance ADD COLUMN host_id TEXT NOT NULL DEFAULT ''")
            try db.execute(sql: "ALTER TABLE instance ADD COLUMN lease_until DOUBLE NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v7-placement") { db in
            // A session whose receiver had no room for its bot waits, owner '', for an instance that has; the start
            // timeout runs from its placement.
            try db.execute(sql: "ALTER TABLE session ADD COLUMN placed_at DOUBLE")
            try db.execute(sql: "UPDATE session SET placed_at = created_at")
            // How other instances reach this one (a bot's log).
            try db.execute(sql: "ALTER TABLE instance ADD COLUMN advertise_url TEXT")
            try db.execute(
                sql: """
                    CREATE INDEX session_active_by_owner ON session(owner_instance, created_at)
                        WHERE state IN ('starting','running','stopping')
                    """
            )
        }
        migrator.registerMigration("v8-profiles") { db in
            // The bot profile a session runs (AUTOSPAWN_PROFILES), and the one a room's next bot is of: a room that
            // waits for a bot is given its profile's.
            try db.execute(sql: "ALTER TABLE session ADD COLUMN profile TEXT NOT NULL DEFAULT 'default'")
            try db.execute(sql: "ALTER TABLE room ADD COLUMN profile TEXT")
            // A room the service created (`/start`, a call) keeps the profile it was made for, and is always eligible.
            try db.execute(sql: "ALTER TABLE room ADD COLUMN service_created INTEGER NOT NULL DEFAULT 0")
            try db.execute(
                sql: """
                    CREATE INDEX session_active_by_profile ON session(profile) WHERE state IN ('starting','running','stopping')
                    """
            )
        }
        migrator.registerMigration("v9-phone-calls") { db in
            // How the session's caller reaches its bot (a Daily room, a carrier's stream), and the digest of the one
            // stream token the carrier may open the call's stream with, until when.
            try db.execute(sql: "ALTER TABLE session ADD COLUMN transport TEXT NOT NULL DEFAULT 'daily'")
            try db.execute(sql: "ALTER TABLE session ADD COLUMN stream_token TEXT")
            try db.execute(sql: "ALTER TABLE session ADD COLUMN stream_token_until DOUBLE")
            try db.execute(sql: "CREATE UNIQUE INDEX session_stream_token ON session(stream_token) WHERE stream_token IS NOT NULL")
        }
        return migrator
    }
}
