//! The reservation server's storage, the same suite on SQLite (a temporary file) and on a real
//! PostgreSQL (the Debian package, started per test by `support::postgres`): meetings with
//! owners and recurrence round-trip exactly, one running conference per room enforced by the
//! database (also under a race of 20 requests, on PostgreSQL from two pools as two server
//! instances would), ended conferences kept as history, and no half-records.

mod support;

use std::path::Path;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use jitsi_focus::reservations::model::{Conference, Meeting, Recurrence};
use jitsi_focus::reservations::store::{ConstraintKind, NewConference, NewMeeting, Started, Store, StoreError};
use support::postgres::Postgres;
use tempfile::TempDir;

/// A store on a fresh database, and what keeps that database alive.
struct TestDb {
    store: Store,
    url: String,
    // After `store`: the pool goes before the server or file it uses.
    keep: Keep,
}

/// Held only for its `Drop`: the temporary directory, or the server (stopped on drop).
#[allow(dead_code)]
enum Keep {
    Sqlite(TempDir),
    Postgres(Postgres),
}

impl TestDb {
    async fn sqlite() -> TestDb {
        let dir = tempfile::Builder::new().prefix("reservation-store-").tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("reservations.db").display());
        let store = Store::connect(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(store.backend(), "sqlite");
        TestDb { store, url, keep: Keep::Sqlite(dir) }
    }

    async fn postgres() -> TestDb {
        let pg = Postgres::start().await.unwrap_or_else(|e| panic!("starting PostgreSQL: {e:#}"));
        let url = pg.url();
        let store = Store::connect(&url).await.unwrap_or_else(|e| panic!("{url}: {e}\n{}", pg.log_contents()));
        assert_eq!(store.backend(), "postgres");
        TestDb { store, url, keep: Keep::Postgres(pg) }
    }

    /// The stores a race is run from: on PostgreSQL two pools, as two server instances behind a
    /// load balancer would have; on SQLite (one server instance) the one pool.
    async fn instances(&self) -> Vec<Store> {
        match self.keep {
            Keep::Sqlite(_) => vec![self.store.clone()],
            Keep::Postgres(_) => vec![self.store.clone(), Store::connect(&self.url).await.expect("second instance")],
        }
    }
}

/// Generates each case once per backend: `on_sqlite::NAME` and `on_postgres::NAME`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = super::TestDb::sqlite().await;
                    super::$case(&db).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = super::TestDb::postgres().await;
                    super::$case(&db).await;
                }
            )*
        }
    };
}

on_both_backends!(
    meetings_round_trip,
    meetings_listed_by_room_and_start,
    update_replaces_fields_and_owners,
    cancel_is_idempotent_and_kept,
    second_conference_conflicts_until_the_first_ends,
    end_is_idempotent_and_history_is_kept,
    end_before_start_is_recorded_as_the_start,
    conferences_filters,
    no_half_records,
    race_for_one_room,
    concurrent_bookings,
    reconnect_sees_the_data,
);

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn new_meeting(room: &str, start: &str, end: &str) -> NewMeeting {
    NewMeeting {
        room: room.to_string(),
        owners: Vec::new(),
        start: ts(start),
        end: ts(end),
        time_zone: "UTC".to_string(),
        early_join: SignedDuration::ZERO,
        recurrence: None,
        max_participants: None,
        message: None,
    }
}

/// Everything set, and times with milliseconds.
fn full_meeting() -> NewMeeting {
    NewMeeting {
        room: "weekly-sync".to_string(),
        owners: vec!["bob@meet.test".to_string(), "alice@auth.meet.test".to_string()],
        start: ts("2030-03-26T13:00:00.250Z"),
        end: ts("2030-03-26T14:00:00Z"),
        time_zone: "Europe/Berlin".to_string(),
        early_join: SignedDuration::from_mins(10),
        recurrence: Some(Recurrence::Weekly { interval: 2, until: Some(ts("2030-12-31T23:59:59.999Z")) }),
        max_participants: Some(u32::MAX),
        message: Some("Ask «Bob» for the link — ünïcödé ok".to_string()),
    }
}

fn expected(id: i64, m: &NewMeeting, cancelled: bool) -> Meeting {
    Meeting {
        id,
        room: m.room.clone(),
        owners: m.owners.clone(),
        start: m.start,
        end: m.end,
        time_zone: m.time_zone.clone(),
        early_join: m.early_join,
        recurrence: m.recurrence,
        max_participants: m.max_participants,
        message: m.message.clone(),
        cancelled,
    }
}

fn new_conference(room: &str, started_at: &str) -> NewConference {
    NewConference {
        room: room.to_string(),
        meeting_id: None,
        mail_owner: None,
        started_at: ts(started_at),
        duration_secs: None,
        max_occupants: None,
    }
}

fn started(outcome: Started) -> Conference {
    match outcome {
        Started::Started(c) => c,
        Started::Conflict(c) => panic!("expected Started, got Conflict with {c:?}"),
    }
}

fn conflict(outcome: Started) -> Conference {
    match outcome {
        Started::Conflict(c) => c,
        Started::Started(c) => panic!("expected Conflict, got Started {c:?}"),
    }
}

fn ids(conferences: &[Conference]) -> Vec<i64> {
    conferences.iter().map(|c| c.id).collect()
}

async fn meetings_round_trip(db: &TestDb) {
    let s = &db.store;
    let full = full_meeting();
    let added = s.add_meeting(&full).await.unwrap();
    assert_eq!(added, expected(added.id, &full, false));
    assert_eq!(s.meeting(added.id).await.unwrap(), Some(added.clone()));

    // Nothing optional set, forever-weekly.
    let mut bare = new_meeting("bare", "2030-01-01T00:00:00Z", "2030-01-01T00:00:01Z");
    bare.recurrence = Some(Recurrence::Weekly { interval: 1, until: None });
    let bare_added = s.add_meeting(&bare).await.unwrap();
    assert_ne!(bare_added.id, added.id);
    assert_eq!(s.meeting(bare_added.id).await.unwrap(), Some(expected(bare_added.id, &bare, false)));

    // Kept to the microsecond: finer digits are dropped, the same way on write and on read.
    let mut fine = new_meeting("fine", "2030-01-01T00:00:00.123456789Z", "2030-01-01T01:00:00Z");
    fine.early_join = SignedDuration::new(90, 500_000_000);
    let fine_added = s.add_meeting(&fine).await.unwrap();
    assert_eq!(fine_added.start, ts("2030-01-01T00:00:00.123456Z"));
    assert_eq!(fine_added.early_join, SignedDuration::from_secs(90));
    assert_eq!(s.meeting(fine_added.id).await.unwrap(), Some(fine_added));

    // Times before the epoch are stored too.
    let old = new_meeting("old", "1969-07-20T20:17:40.5Z", "1969-07-20T22:00:00Z");
    let old_added = s.add_meeting(&old).await.unwrap();
    assert_eq!(s.meeting(old_added.id).await.unwrap(), Some(expected(old_added.id, &old, false)));

    assert_eq!(s.meeting(999_999).await.unwrap(), None);
}

async fn meetings_listed_by_room_and_start(db: &TestDb) {
    let s = &db.store;
    let late = s.add_meeting(&new_meeting("a", "2030-01-03T10:00:00Z", "2030-01-03T11:00:00Z")).await.unwrap();
    let mut with_owners = new_meeting("b", "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z");
    with_owners.owners = vec!["z@x".into(), "a@x".into(), "m@x".into()];
    let early = s.add_meeting(&with_owners).await.unwrap();
    // Same start as `late`: the id decides.
    let tie = s.add_meeting(&new_meeting("a", "2030-01-03T10:00:00Z", "2030-01-03T12:00:00Z")).await.unwrap();

    let all = s.meetings(None, false).await.unwrap();
    assert_eq!(all, vec![early.clone(), late.clone(), tie.clone()]);
    assert_eq!(all[0].owners, vec!["z@x", "a@x", "m@x"], "owners keep their order");
    assert_eq!(s.meetings(Some("a"), false).await.unwrap(), vec![late, tie]);
    assert_eq!(s.meetings(Some("b"), true).await.unwrap(), vec![early]);
    assert_eq!(s.meetings(Some("nobody"), true).await.unwrap(), vec![]);
}

async fn update_replaces_fields_and_owners(db: &TestDb) {
    let s = &db.store;
    let added = s.add_meeting(&full_meeting()).await.unwrap();
    let other = s.add_meeting(&full_meeting()).await.unwrap();

    let mut changed = NewMeeting::from(added.clone());
    changed.room = "renamed".into();
    changed.owners = vec!["carol@meet.test".into(), "bob@meet.test".into()];
    changed.start = ts("2031-01-01T09:00:00Z");
    changed.end = ts("2031-01-01T09:30:00Z");
    changed.time_zone = "America/New_York".into();
    changed.early_join = SignedDuration::ZERO;
    changed.recurrence = None;
    changed.max_participants = None;
    changed.message = None;
    let updated = s.update_meeting(added.id, &changed).await.unwrap().expect("exists");
    assert_eq!(updated, expected(added.id, &changed, false));
    assert_eq!(s.meeting(added.id).await.unwrap(), Some(updated.clone()));

    // Owners removed entirely, then given again.
    changed.owners.clear();
    assert_eq!(s.update_meeting(added.id, &changed).await.unwrap().unwrap().owners, Vec::<String>::new());
    assert_eq!(s.meeting(added.id).await.unwrap().unwrap().owners, Vec::<String>::new());
    changed.owners = vec!["dave@meet.test".into()];
    s.update_meeting(added.id, &changed).await.unwrap();
    assert_eq!(s.meeting(added.id).await.unwrap().unwrap().owners, vec!["dave@meet.test"]);

    // The other meeting is untouched.
    assert_eq!(s.meeting(other.id).await.unwrap(), Some(other));
    assert_eq!(s.update_meeting(999_999, &changed).await.unwrap(), None);
}

async fn cancel_is_idempotent_and_kept(db: &TestDb) {
    let s = &db.store;
    let kept = s.add_meeting(&new_meeting("r", "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")).await.unwrap();
    let gone = s.add_meeting(&full_meeting()).await.unwrap();

    let cancelled = s.cancel_meeting(gone.id).await.unwrap().expect("exists");
    assert_eq!(cancelled, Meeting { cancelled: true, ..gone.clone() });
    assert_eq!(s.cancel_meeting(gone.id).await.unwrap(), Some(cancelled.clone()), "idempotent");
    assert_eq!(s.meeting(gone.id).await.unwrap(), Some(cancelled.clone()), "kept as history");

    assert_eq!(s.meetings(None, false).await.unwrap(), vec![kept.clone()]);
    assert_eq!(s.meetings(None, true).await.unwrap(), vec![kept, cancelled.clone()]);
    assert_eq!(s.meetings(Some("weekly-sync"), false).await.unwrap(), vec![]);

    // An update changes a cancelled meeting's fields, not its cancellation.
    let mut changed = NewMeeting::from(cancelled);
    changed.message = Some("moved".into());
    let updated = s.update_meeting(gone.id, &changed).await.unwrap().unwrap();
    assert!(updated.cancelled);
    assert_eq!(s.meeting(gone.id).await.unwrap(), Some(updated));

    assert_eq!(s.cancel_meeting(999_999).await.unwrap(), None);
}

async fn second_conference_conflicts_until_the_first_ends(db: &TestDb) {
    let s = &db.store;
    let meeting = s.add_meeting(&full_meeting()).await.unwrap();
    let request = NewConference {
        room: "weekly-sync".into(),
        meeting_id: Some(meeting.id),
        mail_owner: Some("alice@auth.meet.test".into()),
        started_at: ts("2030-03-26T12:55:00.123Z"),
        duration_secs: Some(3900),
        max_occupants: Some(25),
    };
    let first = started(s.start_conference(&request).await.unwrap());
    assert_eq!(
        first,
        Conference {
            id: first.id,
            room: request.room.clone(),
            meeting_id: request.meeting_id,
            mail_owner: request.mail_owner.clone(),
            started_at: request.started_at,
            duration_secs: request.duration_secs,
            max_occupants: request.max_occupants,
            ended_at: None,
        }
    );
    assert_eq!(s.conference(first.id).await.unwrap(), Some(first.clone()));

    // Same room, someone else, later: the running one is the answer, nothing new is stored.
    let mut again = new_conference("weekly-sync", "2030-03-26T12:56:00Z");
    again.mail_owner = Some("mallory@meet.test".into());
    assert_eq!(conflict(s.start_conference(&again).await.unwrap()), first);
    assert_eq!(ids(&s.conferences(None, None, 100).await.unwrap()), vec![first.id]);

    // Another room is independent.
    let elsewhere = started(s.start_conference(&new_conference("elsewhere", "2030-03-26T12:57:00Z")).await.unwrap());

    let ended = s.end_conference(first.id, ts("2030-03-26T14:00:00Z")).await.unwrap().expect("exists");
    assert_eq!(ended, Conference { ended_at: Some(ts("2030-03-26T14:00:00Z")), ..first.clone() });
    let next = started(s.start_conference(&again).await.unwrap());
    assert!(next.id > first.id && next.id != elsewhere.id, "a fresh id: {next:?}");
    assert_eq!(conflict(s.start_conference(&request).await.unwrap()).id, next.id);
}

async fn end_is_idempotent_and_history_is_kept(db: &TestDb) {
    let s = &db.store;
    let mut history = Vec::new();
    for round in 0..3 {
        let c =
            started(s.start_conference(&new_conference("room", &format!("2030-01-01T1{round}:00:00Z"))).await.unwrap());
        let end = ts(&format!("2030-01-01T1{round}:30:00Z"));
        let ended = s.end_conference(c.id, end).await.unwrap().unwrap();
        assert_eq!(ended.ended_at, Some(end));
        // A second DELETE (the focus retrying, or another instance) keeps the first end.
        let again = s.end_conference(c.id, ts("2030-06-01T00:00:00Z")).await.unwrap().unwrap();
        assert_eq!(again, ended);
        history.push(ended);
    }
    history.reverse();
    assert_eq!(s.conferences(None, Some("room"), 10).await.unwrap(), history, "all kept, newest first");
    assert_eq!(s.conferences(Some(true), Some("room"), 10).await.unwrap(), vec![]);
    assert_eq!(s.end_conference(999_999, ts("2030-01-01T00:00:00Z")).await.unwrap(), None);
    assert_eq!(s.conference(999_999).await.unwrap(), None);
}

async fn end_before_start_is_recorded_as_the_start(db: &TestDb) {
    let s = &db.store;
    let c = started(s.start_conference(&new_conference("skew", "2030-01-01T10:00:00.5Z")).await.unwrap());
    // Another instance whose clock is behind ends it "before" it started.
    let ended = s.end_conference(c.id, ts("2030-01-01T09:59:59Z")).await.unwrap().unwrap();
    assert_eq!(ended.ended_at, Some(c.started_at));
}

async fn conferences_filters(db: &TestDb) {
    let s = &db.store;
    let a1 = started(s.start_conference(&new_conference("a", "2030-01-01T10:00:00Z")).await.unwrap());
    s.end_conference(a1.id, ts("2030-01-01T10:30:00Z")).await.unwrap();
    let b1 = started(s.start_conference(&new_conference("b", "2030-01-01T11:00:00Z")).await.unwrap());
    let a2 = started(s.start_conference(&new_conference("a", "2030-01-01T12:00:00Z")).await.unwrap());
    // Started earlier than b1 but recorded later: ordering is by start, not by id.
    let c1 = started(s.start_conference(&new_conference("c", "2030-01-01T09:00:00Z")).await.unwrap());
    s.end_conference(c1.id, ts("2030-01-01T09:10:00Z")).await.unwrap();

    assert_eq!(ids(&s.conferences(None, None, 100).await.unwrap()), vec![a2.id, b1.id, a1.id, c1.id]);
    assert_eq!(ids(&s.conferences(Some(true), None, 100).await.unwrap()), vec![a2.id, b1.id]);
    assert_eq!(ids(&s.conferences(Some(false), None, 100).await.unwrap()), vec![a1.id, c1.id]);
    assert_eq!(ids(&s.conferences(None, Some("a"), 100).await.unwrap()), vec![a2.id, a1.id]);
    assert_eq!(ids(&s.conferences(Some(true), Some("a"), 100).await.unwrap()), vec![a2.id]);
    assert_eq!(ids(&s.conferences(Some(false), Some("b"), 100).await.unwrap()), Vec::<i64>::new());
    assert_eq!(ids(&s.conferences(None, None, 2).await.unwrap()), vec![a2.id, b1.id]);
    assert_eq!(ids(&s.conferences(None, None, 0).await.unwrap()), Vec::<i64>::new());
    assert_eq!(s.running_conference("a").await.unwrap().map(|c| c.id), Some(a2.id));
    assert_eq!(s.running_conference("c").await.unwrap(), None);
}

fn assert_constraint(result: Result<impl std::fmt::Debug, StoreError>, kind: ConstraintKind, name: Option<&str>) {
    match result {
        Err(StoreError::Constraint { kind: got, constraint, message }) => {
            assert_eq!(got, kind, "{message}");
            if let Some(name) = name {
                assert_eq!(constraint.as_deref(), Some(name), "{message}");
            }
        }
        other => panic!("expected a {kind} constraint error, got {other:?}"),
    }
}

async fn no_half_records(db: &TestDb) {
    let s = &db.store;
    // The meeting row is inserted, then the second owner breaks UNIQUE (meeting_id, jid): the
    // transaction must take the meeting and the first owner back with it.
    let mut twice = full_meeting();
    twice.owners = vec!["a@x".into(), "b@x".into(), "a@x".into()];
    assert_constraint(s.add_meeting(&twice).await, ConstraintKind::Unique, None);
    let mut empty_owner = full_meeting();
    empty_owner.owners = vec!["a@x".into(), String::new()];
    assert_constraint(s.add_meeting(&empty_owner).await, ConstraintKind::Check, Some("meeting_owners_jid_not_empty"));
    assert_eq!(s.meetings(None, true).await.unwrap(), vec![]);

    // The schema's own rules, refused before anything is stored.
    let backwards = new_meeting("r", "2030-01-01T11:00:00Z", "2030-01-01T10:00:00Z");
    assert_constraint(s.add_meeting(&backwards).await, ConstraintKind::Check, Some("meetings_end_after_start"));
    let mut negative = new_meeting("r", "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z");
    negative.early_join = SignedDuration::from_secs(-60);
    assert_constraint(s.add_meeting(&negative).await, ConstraintKind::Check, Some("meetings_early_join_not_negative"));
    let nameless = new_meeting("", "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z");
    assert_constraint(s.add_meeting(&nameless).await, ConstraintKind::Check, Some("meetings_room_not_empty"));
    assert_eq!(s.meetings(None, true).await.unwrap(), vec![]);

    // A failed update leaves the meeting as it was, owners included.
    let kept = s.add_meeting(&full_meeting()).await.unwrap();
    let mut bad = NewMeeting::from(kept.clone());
    bad.message = Some("changed".into());
    bad.owners = vec!["new@x".into(), "new@x".into()];
    assert_constraint(s.update_meeting(kept.id, &bad).await, ConstraintKind::Unique, None);
    assert_eq!(s.meeting(kept.id).await.unwrap(), Some(kept.clone()));
    assert_eq!(s.meetings(None, true).await.unwrap(), vec![kept]);

    // Conferences: a meeting that does not exist, a negative duration.
    let mut orphan = new_conference("r", "2030-01-01T10:00:00Z");
    orphan.meeting_id = Some(999_999);
    assert_constraint(s.start_conference(&orphan).await, ConstraintKind::ForeignKey, None);
    let mut negative = new_conference("r", "2030-01-01T10:00:00Z");
    negative.duration_secs = Some(-1);
    assert_constraint(
        s.start_conference(&negative).await,
        ConstraintKind::Check,
        Some("conferences_duration_not_negative"),
    );
    assert_eq!(s.conferences(None, None, 100).await.unwrap(), vec![]);
    // And the room is still free.
    started(s.start_conference(&new_conference("r", "2030-01-01T10:00:00Z")).await.unwrap());
}

/// 20 requests for one room at once, from every instance: exactly one wins, the others are told
/// the winner's id. Repeated over a few rounds, ending the winner in between.
async fn race_for_one_room(db: &TestDb) {
    const REQUESTS: usize = 20;
    let instances = db.instances().await;
    for round in 0..5 {
        let barrier = Arc::new(tokio::sync::Barrier::new(REQUESTS));
        let tasks: Vec<_> = (0..REQUESTS)
            .map(|i| {
                let store = instances[i % instances.len()].clone();
                let barrier = barrier.clone();
                let mut request = new_conference("contended", &format!("2030-01-01T10:0{round}:00Z"));
                request.mail_owner = Some(format!("user{i}@meet.test"));
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.start_conference(&request).await
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut conflicts = Vec::new();
        for task in tasks {
            match task.await.expect("task").unwrap_or_else(|e| panic!("round {round}: {e}")) {
                Started::Started(c) => winners.push(c),
                Started::Conflict(c) => conflicts.push(c),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one winner, got {winners:?}");
        let winner = winners.pop().unwrap();
        assert_eq!(conflicts.len(), REQUESTS - 1);
        assert!(conflicts.iter().all(|c| *c == winner), "round {round}: every loser is told the winner");
        assert_eq!(ids(&db.store.conferences(Some(true), Some("contended"), 100).await.unwrap()), vec![winner.id]);
        db.store.end_conference(winner.id, ts(&format!("2030-01-01T10:0{round}:30Z"))).await.unwrap();
    }
    assert_eq!(db.store.conferences(None, Some("contended"), 100).await.unwrap().len(), 5, "one record per round");
}

/// Many bookings at once (on SQLite: writers queueing on the busy timeout, each transaction
/// starting with its write): all stored, each with its own owners.
async fn concurrent_bookings(db: &TestDb) {
    let instances = db.instances().await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = instances[i % instances.len()].clone();
            let mut m = full_meeting();
            m.room = format!("room{i}");
            m.owners = vec![format!("owner{i}@x"), format!("second{i}@x")];
            tokio::spawn(async move { (store.add_meeting(&m).await, m) })
        })
        .collect();
    for task in tasks {
        let (added, m) = task.await.expect("task");
        let added = added.unwrap_or_else(|e| panic!("{}: {e}", m.room));
        assert_eq!(db.store.meeting(added.id).await.unwrap(), Some(expected(added.id, &m, false)));
    }
    assert_eq!(db.store.meetings(None, false).await.unwrap().len(), 20);
}

async fn reconnect_sees_the_data(db: &TestDb) {
    let meeting = db.store.add_meeting(&full_meeting()).await.unwrap();
    let conference =
        started(db.store.start_conference(&new_conference("weekly-sync", "2030-01-01T10:00:00Z")).await.unwrap());
    // A second connect runs the migrations again (already applied: nothing to do) and sees
    // everything, as a restarted server would.
    let again = Store::connect(&db.url).await.unwrap();
    assert_eq!(again.meeting(meeting.id).await.unwrap(), Some(meeting));
    assert_eq!(again.conference(conference.id).await.unwrap(), Some(conference));
    again.close().await;
}

// --- backend-specific ---

#[tokio::test]
async fn sqlite_file_is_created_but_not_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("new.db");
    assert!(!file.exists());
    let store = Store::connect(&format!("sqlite://{}", file.display())).await.unwrap();
    assert!(file.exists());
    store.close().await;
    // WAL mode is a property of the file: it stays.
    assert_eq!(journal_mode(&file).await, "wal");

    let missing = dir.path().join("no/such/dir/res.db");
    let url = format!("sqlite://{}", missing.display());
    match Store::connect(&url).await {
        Err(e @ StoreError::Connect { .. }) => assert!(e.to_string().contains(&url), "{e}"),
        other => panic!("expected a Connect error, got {other:?}"),
    }
}

async fn journal_mode(file: &Path) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display())).await.unwrap();
    sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await.unwrap()
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let m = store.add_meeting(&full_meeting()).await.unwrap();
    assert_eq!(store.meetings(None, false).await.unwrap(), vec![m]);
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    for url in ["mysql://root:hunter2@db/res", "/var/lib/res.db", ""] {
        match Store::connect(url).await {
            Err(e @ StoreError::UnsupportedUrl { .. }) => assert!(!e.to_string().contains("hunter2"), "{e}"),
            other => panic!("{url}: expected UnsupportedUrl, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn connect_errors_never_show_the_password() {
    // Nothing listens on port 1: refused at once (not after the pool's acquire timeout).
    let started = std::time::Instant::now();
    let url = "postgres://res:hunter2@127.0.0.1:1/res?password=hunter2";
    let e = Store::connect(url).await.expect_err("nothing listens on port 1");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(matches!(e, StoreError::Connect { .. }), "{e:?}");
    let mut shown = format!("{e} {e:?}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        shown.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("postgres://res:***@127.0.0.1:1/res"), "{shown}");
}

#[tokio::test]
async fn postgres_wrong_database_is_a_connect_error() {
    let pg = Postgres::start().await.unwrap();
    let e = Store::connect(&pg.url_for("missing")).await.expect_err("no such database");
    assert!(matches!(e, StoreError::Connect { .. }), "{e:?}");
    assert!(e.to_string().contains("missing"), "{e}");
    // And the harness's own database works, with a second created on the same server.
    let other = pg.create_database("second").await.unwrap();
    let store = Store::connect(&other).await.unwrap();
    assert_eq!(store.meetings(None, true).await.unwrap(), vec![]);
}

/// The two dialects' migrations build the same tables (columns in the same order, the same
/// nullability) and the same indexes, so the store's shared SQL means the same on both.
#[tokio::test]
async fn both_schemas_match() {
    let sqlite = TestDb::sqlite().await;
    let pg = Postgres::start().await.unwrap();
    let mut pg_conn = {
        use sqlx::Connection;
        Store::connect(&pg.url()).await.unwrap().close().await;
        sqlx::PgConnection::connect(&pg.url()).await.unwrap()
    };
    let mut lite_conn = {
        use sqlx::Connection;
        sqlx::SqliteConnection::connect(&sqlite.url).await.unwrap()
    };
    for table in ["meetings", "meeting_owners", "conferences"] {
        let lite_columns: Vec<(String, bool)> =
            sqlx::query_as(r#"SELECT name, "notnull" = 1 OR pk = 1 FROM pragma_table_info($1) ORDER BY cid"#)
                .bind(table)
                .fetch_all(&mut lite_conn)
                .await
                .unwrap();
        let pg_columns: Vec<(String, bool)> = sqlx::query_as(
            "SELECT column_name::text, is_nullable = 'NO' FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&mut pg_conn)
        .await
        .unwrap();
        assert!(!lite_columns.is_empty(), "{table}");
        assert_eq!(lite_columns, pg_columns, "{table}: columns (name, not null)");

        // Indexes created by name (not those backing a primary key or UNIQUE constraint).
        let mut lite_indexes: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL",
        )
        .bind(table)
        .fetch_all(&mut lite_conn)
        .await
        .unwrap();
        let mut pg_indexes: Vec<String> = sqlx::query_scalar(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1 \
             AND indexname NOT IN (SELECT conname FROM pg_constraint)",
        )
        .bind(table)
        .fetch_all(&mut pg_conn)
        .await
        .unwrap();
        lite_indexes.sort();
        pg_indexes.sort();
        assert_eq!(lite_indexes, pg_indexes, "{table}: indexes");
    }
}
