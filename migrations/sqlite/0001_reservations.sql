-- Reservation server schema, SQLite dialect. Keep in step with ../postgres/0001_reservations.sql:
-- same tables, columns, constraint names and indexes; only types and identity columns differ.
-- Never edit an applied migration (sqlx refuses a database whose recorded checksum differs):
-- add the next numbered file instead, in both directories.
--
-- Times are integer microseconds since the Unix epoch (UTC), durations integer seconds: the
-- same numbers in both backends, no driver-specific date types, and exact round trips of what
-- the focus sends (start_time carries milliseconds).

CREATE TABLE meetings (
    -- AUTOINCREMENT: an id is never handed out twice, even if rows are deleted by hand.
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    room                TEXT    NOT NULL,
    start_us            INTEGER NOT NULL,
    end_us              INTEGER NOT NULL,
    time_zone           TEXT    NOT NULL,
    early_join_secs     INTEGER NOT NULL DEFAULT 0,
    -- Recurrence: all NULL for a one-off meeting; kind 'weekly' with an interval in weeks.
    recurrence_kind     TEXT,
    recurrence_interval INTEGER,
    recurrence_until_us INTEGER,
    max_participants    INTEGER,
    message             TEXT,
    cancelled           BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT meetings_room_not_empty CHECK (room <> ''),
    CONSTRAINT meetings_end_after_start CHECK (end_us > start_us),
    CONSTRAINT meetings_time_zone_not_empty CHECK (time_zone <> ''),
    CONSTRAINT meetings_early_join_not_negative CHECK (early_join_secs >= 0),
    CONSTRAINT meetings_recurrence_complete CHECK (
        (recurrence_kind IS NULL AND recurrence_interval IS NULL AND recurrence_until_us IS NULL)
        OR (recurrence_kind = 'weekly' AND recurrence_interval BETWEEN 1 AND 4294967295)
    ),
    CONSTRAINT meetings_max_participants_u32 CHECK (max_participants BETWEEN 0 AND 4294967295),
    CONSTRAINT meetings_cancelled_boolean CHECK (cancelled IN (0, 1))
);
-- The policy looks meetings up by room; listings are ordered by start.
CREATE INDEX meetings_room_start ON meetings (room, start_us);
CREATE INDEX meetings_start ON meetings (start_us);

-- Owners in their own rows (not a JSON column) so "which meetings may alice open" is a plain
-- indexed query in both dialects; position keeps the order they were given in.
CREATE TABLE meeting_owners (
    meeting_id INTEGER NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    jid        TEXT    NOT NULL,
    CONSTRAINT meeting_owners_pkey PRIMARY KEY (meeting_id, position),
    CONSTRAINT meeting_owners_jid_unique UNIQUE (meeting_id, jid),
    CONSTRAINT meeting_owners_jid_not_empty CHECK (jid <> '')
);
CREATE INDEX meeting_owners_jid ON meeting_owners (jid);

-- A room opened through POST /conference, running (ended_at NULL) or ended (kept as history).
CREATE TABLE conferences (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    room          TEXT    NOT NULL,
    -- SET NULL: deleting a meeting by hand must not delete the history of its conferences.
    meeting_id    INTEGER REFERENCES meetings (id) ON DELETE SET NULL,
    mail_owner    TEXT,
    started_at_us INTEGER NOT NULL,
    duration_secs INTEGER,
    max_occupants INTEGER,
    ended_at_us   INTEGER,
    CONSTRAINT conferences_room_not_empty CHECK (room <> ''),
    CONSTRAINT conferences_duration_not_negative CHECK (duration_secs >= 0),
    CONSTRAINT conferences_max_occupants_u32 CHECK (max_occupants BETWEEN 0 AND 4294967295),
    CONSTRAINT conferences_ended_after_start CHECK (ended_at_us >= started_at_us)
);
-- The rule that matters most: at most one running conference per room, enforced by the
-- database so that several server instances (or connections) racing for one room cannot both
-- open it. The store turns the violation into a 409 with the running conference's id.
CREATE UNIQUE INDEX conferences_one_running_per_room ON conferences (room) WHERE ended_at_us IS NULL;
CREATE INDEX conferences_room_started ON conferences (room, started_at_us);
CREATE INDEX conferences_started ON conferences (started_at_us);
