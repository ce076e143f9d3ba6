//! Storage of meetings and conferences: SQLite (a file, zero setup; the default) or PostgreSQL
//! (several server instances behind one load balancer), through sqlx, with the schema in
//! versioned migrations (`migrations/sqlite/`, `migrations/postgres/`) applied on connect.
//!
//! Both backends run the same SQL text: SQLite accepts PostgreSQL's `$N` parameters, and both
//! have `RETURNING` and partial indexes. Only the migrations are per dialect. Times are stored
//! as integer microseconds since the epoch, durations as integer seconds (see `rows`).
//!
//! The rule that matters across instances, one running conference per room, is the database's
//! (a partial unique index), not a lock in this process: [`Store::start_conference`] inserts,
//! and a unique violation means another request, from this instance or another, won the room.

mod error;
mod rows;

pub use error::{redact_url, ConstraintKind, StoreError};

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Connection;

use self::rows::{group_meetings, micros, ConferenceRow, ConferenceValues, MeetingRow, MeetingValues};
use super::model::{Conference, Meeting, Recurrence};

// Embedded at compile time. A *new* migration file is not noticed by cargo on its own (sqlx's
// macro tracks only the files it already saw): build.rs must say `rerun-if-changed=migrations`.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a SQLite writer waits for another connection's write lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// One connection: SQLite allows one writer at a time, and with several connections writers
/// wait for each other's lock in SQLite's busy handler, which sleeps in growing steps —
/// measured with 16 clients (`tests/bench_reservations.rs`): p99 84 ms and a worst case of
/// 2.5 s with 8 connections. One connection queues requests in the pool instead.
const SQLITE_MAX_CONNECTIONS: u32 = 1;
const POSTGRES_MAX_CONNECTIONS: u32 = 10;
/// How long a query waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// [`Store::start_conference`] retries when the running conference it collided with ended
/// before it could be read; more than a few rounds means something keeps opening and closing
/// the room, and the caller gets an error rather than a loop.
const START_ATTEMPTS: usize = 5;

/// A meeting to book, or the new state of one (see [`Store::update_meeting`]). Times are kept to
/// the microsecond and `early_join` to the second (finer digits are dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMeeting {
    pub room: String,
    /// Bare JIDs, kept in this order; empty: anyone may open the room. The same JID twice is
    /// refused ([`StoreError::Constraint`]).
    pub owners: Vec<String>,
    pub start: Timestamp,
    /// After `start`, or the database refuses the meeting.
    pub end: Timestamp,
    pub time_zone: String,
    /// Not negative.
    pub early_join: SignedDuration,
    pub recurrence: Option<Recurrence>,
    pub max_participants: Option<u32>,
    pub message: Option<String>,
}

impl From<Meeting> for NewMeeting {
    /// The editable part of a stored meeting, e.g. to change one field and update it.
    fn from(m: Meeting) -> Self {
        NewMeeting {
            room: m.room,
            owners: m.owners,
            start: m.start,
            end: m.end,
            time_zone: m.time_zone,
            early_join: m.early_join,
            recurrence: m.recurrence,
            max_participants: m.max_participants,
            message: m.message,
        }
    }
}

/// A conference to record as running (`POST /conference` granted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConference {
    pub room: String,
    pub meeting_id: Option<i64>,
    pub mail_owner: Option<String>,
    /// Kept to the microsecond.
    pub started_at: Timestamp,
    /// Not negative.
    pub duration_secs: Option<i64>,
    pub max_occupants: Option<u32>,
}

/// The outcome of [`Store::start_conference`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// Recorded; the room is now running this conference.
    Started(Conference),
    /// The room already has a running conference (this one): nothing was recorded.
    Conflict(Conference),
}

/// The reservation server's storage; cheap to clone (a pool handle).
#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the pool: its options hold the URL's password.
        f.debug_struct("Store").field("backend", &self.backend()).finish_non_exhaustive()
    }
}

/// Runs the same code on whichever pool the store has: `$pool` is a `&SqlitePool` in one arm and
/// a `&PgPool` in the other, so sqlx's generic calls resolve for each driver.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

const MEETING_SELECT: &str = "SELECT m.id, m.room, m.start_us, m.end_us, m.time_zone, m.early_join_secs, \
     m.recurrence_kind, m.recurrence_interval, m.recurrence_until_us, m.max_participants, m.message, \
     m.cancelled, o.jid AS owner \
     FROM meetings m LEFT JOIN meeting_owners o ON o.meeting_id = m.id";
const MEETING_INSERT: &str = "INSERT INTO meetings (room, start_us, end_us, time_zone, early_join_secs, \
     recurrence_kind, recurrence_interval, recurrence_until_us, max_participants, message) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id, cancelled";
const MEETING_UPDATE: &str = "UPDATE meetings SET room = $1, start_us = $2, end_us = $3, time_zone = $4, \
     early_join_secs = $5, recurrence_kind = $6, recurrence_interval = $7, recurrence_until_us = $8, \
     max_participants = $9, message = $10 WHERE id = $11 RETURNING cancelled";
const OWNER_INSERT: &str = "INSERT INTO meeting_owners (meeting_id, position, jid) VALUES ($1, $2, $3)";
const OWNERS_DELETE: &str = "DELETE FROM meeting_owners WHERE meeting_id = $1";
const CONFERENCE_COLUMNS: &str =
    "id, room, meeting_id, mail_owner, started_at_us, duration_secs, max_occupants, ended_at_us";

/// Binds a meeting's values in `MEETING_INSERT`/`MEETING_UPDATE` order (`$1`…`$10`).
macro_rules! bind_meeting {
    ($query:expr, $v:expr) => {
        $query
            .bind(&$v.room)
            .bind($v.start_us)
            .bind($v.end_us)
            .bind(&$v.time_zone)
            .bind($v.early_join_secs)
            .bind($v.recurrence_kind)
            .bind($v.recurrence_interval)
            .bind($v.recurrence_until_us)
            .bind($v.max_participants)
            .bind(&$v.message)
    };
}

impl Store {
    /// Opens the database and brings its schema up to date.
    ///
    /// - `sqlite://PATH` (or `sqlite:PATH`; `sqlite:///abs/path` for an absolute one): the file
    ///   is created if missing (not its directory), in WAL mode (readers never wait for the
    ///   writer), with foreign keys on and a busy timeout, so concurrent writers queue instead
    ///   of failing.
    /// - `postgres://…` or `postgresql://…` (libpq URL syntax): the database must exist.
    ///   Several instances may connect and migrate at once (sqlx holds an advisory lock while
    ///   migrating).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let shown = redact_url(url);
        let connect_error = |source| StoreError::Connect { url: shown.clone(), source };
        let migrate_error = |source| StoreError::Migrate { url: shown.clone(), source };
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(connect_error)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                // With WAL, NORMAL loses no committed data on a crash of the process (only on
                // a power loss) and saves an fsync per commit.
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
            let mut pool = SqlitePoolOptions::new().max_connections(SQLITE_MAX_CONNECTIONS);
            if url.contains(":memory:") || url.contains("mode=memory") {
                // An in-memory database lives as long as one of its connections and sees
                // concurrent writers as table-lock errors (shared cache): keep exactly one.
                pool = pool.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
            }
            let pool = pool.acquire_timeout(ACQUIRE_TIMEOUT).connect_with(options).await.map_err(connect_error)?;
            SQLITE_MIGRATIONS.run(&pool).await.map_err(migrate_error)?;
            Ok(Store { pool: Pool::Sqlite(pool) })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options =
                PgConnectOptions::from_str(url).map_err(connect_error)?.application_name("jitsi-reservations");
            // One plain connection first: a pool retries a refused connection until its acquire
            // timeout and then reports only "timed out", while this fails at once with the cause.
            let probe = PgConnection::connect_with(&options).await.map_err(connect_error)?;
            let _ = probe.close().await;
            let pool = PgPoolOptions::new()
                .max_connections(POSTGRES_MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .map_err(connect_error)?;
            POSTGRES_MIGRATIONS.run(&pool).await.map_err(migrate_error)?;
            Ok(Store { pool: Pool::Postgres(pool) })
        } else {
            Err(StoreError::UnsupportedUrl { url: shown })
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool's connections (waiting for those in use to be returned).
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// Books a meeting: the meeting and its owners in one transaction, so a refused owner leaves
    /// no meeting behind.
    pub async fn add_meeting(&self, m: &NewMeeting) -> Result<Meeting, StoreError> {
        let values = MeetingValues::new(m);
        let (id, cancelled): (i64, bool) = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (id, cancelled): (i64, bool) =
                bind_meeting!(sqlx::query_as(MEETING_INSERT), values).fetch_one(&mut *tx).await?;
            for (position, jid) in (0_i64..).zip(&values.owners) {
                sqlx::query(OWNER_INSERT).bind(id).bind(position).bind(jid).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            (id, cancelled)
        });
        values.into_meeting(id, cancelled)
    }

    /// Replaces a meeting's fields and owners (one transaction); `None` if there is no such
    /// meeting. A cancelled meeting stays cancelled.
    pub async fn update_meeting(&self, id: i64, m: &NewMeeting) -> Result<Option<Meeting>, StoreError> {
        let values = MeetingValues::new(m);
        let cancelled: Option<bool> = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // The UPDATE comes first: in SQLite it takes the write lock at once (waiting under
            // the busy timeout), where a read first could fail on upgrading to a write.
            let cancelled: Option<bool> = bind_meeting!(sqlx::query_scalar(MEETING_UPDATE), values)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if cancelled.is_some() {
                sqlx::query(OWNERS_DELETE).bind(id).execute(&mut *tx).await?;
                for (position, jid) in (0_i64..).zip(&values.owners) {
                    sqlx::query(OWNER_INSERT).bind(id).bind(position).bind(jid).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            cancelled
        });
        cancelled.map(|cancelled| values.into_meeting(id, cancelled)).transpose()
    }

    /// Marks a meeting cancelled (kept as history, never opens a room again); idempotent.
    /// `None` if there is no such meeting.
    pub async fn cancel_meeting(&self, id: i64) -> Result<Option<Meeting>, StoreError> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE meetings SET cancelled = TRUE WHERE id = $1").bind(id).execute(pool).await?;
        });
        self.meeting(id).await
    }

    pub async fn meeting(&self, id: i64) -> Result<Option<Meeting>, StoreError> {
        let sql = format!("{MEETING_SELECT} WHERE m.id = $1 ORDER BY o.position");
        // One statement (a join, not a second query for the owners): a consistent snapshot in
        // both databases without a transaction.
        let rows: Vec<MeetingRow> = on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_all(pool).await?);
        Ok(group_meetings(rows)?.pop())
    }

    /// Meetings, of one room or all, ordered by start then id; cancelled ones only if asked.
    pub async fn meetings(&self, room: Option<&str>, include_cancelled: bool) -> Result<Vec<Meeting>, StoreError> {
        let mut conditions = Vec::new();
        if room.is_some() {
            conditions.push("m.room = $1");
        }
        if !include_cancelled {
            conditions.push("NOT m.cancelled");
        }
        let sql = format!("{MEETING_SELECT}{} ORDER BY m.start_us, m.id, o.position", where_clause(&conditions));
        let rows: Vec<MeetingRow> = on_pool!(self, pool => {
            let mut query = sqlx::query_as(&sql);
            if let Some(room) = room {
                query = query.bind(room);
            }
            query.fetch_all(pool).await?
        });
        group_meetings(rows)
    }

    /// Records a running conference for a room, unless the room already has one: then nothing is
    /// recorded and the running one is returned as [`Started::Conflict`]. The database decides
    /// (the unique index on running conferences), so this holds across connections and server
    /// instances.
    pub async fn start_conference(&self, c: &NewConference) -> Result<Started, StoreError> {
        let values = ConferenceValues::new(c);
        let insert = format!(
            "INSERT INTO conferences (room, meeting_id, mail_owner, started_at_us, duration_secs, max_occupants) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {CONFERENCE_COLUMNS}"
        );
        for _ in 0..START_ATTEMPTS {
            let inserted: Result<ConferenceRow, sqlx::Error> = on_pool!(self, pool => {
                sqlx::query_as(&insert)
                    .bind(&values.room)
                    .bind(values.meeting_id)
                    .bind(&values.mail_owner)
                    .bind(values.started_at_us)
                    .bind(values.duration_secs)
                    .bind(values.max_occupants)
                    .fetch_one(pool)
                    .await
            });
            match inserted {
                Ok(row) => return Ok(Started::Started(row.try_into()?)),
                Err(e) if is_running_conflict(&e) => {
                    // Read after the failed insert: in PostgreSQL the insert waited for the
                    // winner to commit, so the winner is visible now (READ COMMITTED).
                    if let Some(running) = self.running_conference(&values.room).await? {
                        return Ok(Started::Conflict(running));
                    }
                    // It ended in between: the room is free again, try once more.
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Contended { room: values.room, attempts: START_ATTEMPTS })
    }

    /// The running conference of a room, if any.
    pub async fn running_conference(&self, room: &str) -> Result<Option<Conference>, StoreError> {
        let sql = format!("SELECT {CONFERENCE_COLUMNS} FROM conferences WHERE room = $1 AND ended_at_us IS NULL");
        let row: Option<ConferenceRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(room).fetch_optional(pool).await?);
        row.map(Conference::try_from).transpose()
    }

    pub async fn conference(&self, id: i64) -> Result<Option<Conference>, StoreError> {
        let sql = format!("SELECT {CONFERENCE_COLUMNS} FROM conferences WHERE id = $1");
        let row: Option<ConferenceRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?);
        row.map(Conference::try_from).transpose()
    }

    /// Ends a conference at `at` (the record stays, as history); idempotent: a conference that
    /// already ended keeps its first end. `None` if there is no such conference. An `at` before
    /// the start (clocks of two instances disagreeing) is recorded as the start.
    pub async fn end_conference(&self, id: i64, at: Timestamp) -> Result<Option<Conference>, StoreError> {
        // `ended_at_us IS NULL` in the WHERE makes concurrent ends safe too: in PostgreSQL the
        // second UPDATE waits for the first and then re-checks the condition on the new row.
        let sql = "UPDATE conferences SET ended_at_us = CASE WHEN $2 < started_at_us THEN started_at_us ELSE $2 END \
                   WHERE id = $1 AND ended_at_us IS NULL";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(id).bind(micros(at)).execute(pool).await?;
        });
        self.conference(id).await
    }

    /// Conferences, newest first (by start, then id): running ones (`Some(true)`), ended ones
    /// (`Some(false)`) or both, of one room or all, at most `limit`.
    pub async fn conferences(
        &self,
        running: Option<bool>,
        room: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Conference>, StoreError> {
        let mut conditions = Vec::new();
        match running {
            Some(true) => conditions.push("ended_at_us IS NULL"),
            Some(false) => conditions.push("ended_at_us IS NOT NULL"),
            None => {}
        }
        if room.is_some() {
            conditions.push("room = $2");
        }
        let sql = format!(
            "SELECT {CONFERENCE_COLUMNS} FROM conferences{} ORDER BY started_at_us DESC, id DESC LIMIT $1",
            where_clause(&conditions)
        );
        let rows: Vec<ConferenceRow> = on_pool!(self, pool => {
            let mut query = sqlx::query_as(&sql).bind(i64::from(limit));
            if let Some(room) = room {
                query = query.bind(room);
            }
            query.fetch_all(pool).await?
        });
        rows.into_iter().map(Conference::try_from).collect()
    }
}

fn where_clause(conditions: &[&str]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// Whether an INSERT into `conferences` failed because the room already has a running
/// conference. Both databases report the partial unique index as a unique violation; it is the
/// only unique rule an insert with a fresh id can break.
fn is_running_conflict(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each migration exists in both dialects, with the same version and description: a
    /// database of either kind is at the same schema after the same release.
    #[test]
    fn migrations_pair_up() {
        let list = |m: &Migrator| m.iter().map(|m| (m.version, m.description.to_string())).collect::<Vec<_>>();
        assert!(!list(&SQLITE_MIGRATIONS).is_empty());
        assert_eq!(list(&SQLITE_MIGRATIONS), list(&POSTGRES_MIGRATIONS));
    }

    #[test]
    fn where_clauses() {
        assert_eq!(where_clause(&[]), "");
        assert_eq!(where_clause(&["a = $1", "NOT b"]), " WHERE a = $1 AND NOT b");
    }
}
