//! Between the model types and the columns: times as integer microseconds since the epoch,
//! durations as integer seconds, counts as `i64` (the one integer type both drivers decode
//! from every integer column the schema declares).

use jiff::{SignedDuration, Timestamp};

use super::{NewConference, NewMeeting, StoreError};
use crate::reservations::model::{Conference, Meeting, Recurrence};

/// The only recurrence kind so far; the schema's CHECK allows exactly these names.
const WEEKLY: &str = "weekly";

/// Stored time: whole microseconds (sub-microsecond digits are dropped, towards zero).
pub(super) fn micros(ts: Timestamp) -> i64 {
    ts.as_microsecond()
}

fn timestamp(what: &'static str, us: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(us).map_err(|e| StoreError::Corrupt { what, why: e.to_string() })
}

fn u32_of(what: &'static str, n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt { what, why: format!("{n} is not a 32-bit unsigned count") })
}

/// A meeting's columns as bound in INSERT/UPDATE (`$1`… in this order, see `MEETING_VALUES`).
pub(super) struct MeetingValues {
    pub room: String,
    pub start_us: i64,
    pub end_us: i64,
    pub time_zone: String,
    pub early_join_secs: i64,
    pub recurrence_kind: Option<&'static str>,
    pub recurrence_interval: Option<i64>,
    pub recurrence_until_us: Option<i64>,
    pub max_participants: Option<i64>,
    pub message: Option<String>,
    pub owners: Vec<String>,
}

impl MeetingValues {
    pub fn new(m: &NewMeeting) -> Self {
        let (recurrence_kind, recurrence_interval, recurrence_until_us) = match m.recurrence {
            None => (None, None, None),
            Some(Recurrence::Weekly { interval, until }) => {
                (Some(WEEKLY), Some(i64::from(interval)), until.map(micros))
            }
        };
        MeetingValues {
            room: m.room.clone(),
            start_us: micros(m.start),
            end_us: micros(m.end),
            time_zone: m.time_zone.clone(),
            // Whole seconds, towards zero; a negative window is left for the schema to refuse.
            early_join_secs: m.early_join.as_secs(),
            recurrence_kind,
            recurrence_interval,
            recurrence_until_us,
            max_participants: m.max_participants.map(i64::from),
            message: m.message.clone(),
            owners: m.owners.clone(),
        }
    }

    /// The meeting as it now is in the database (same truncation as a read gives back).
    pub fn into_meeting(self, id: i64, cancelled: bool) -> Result<Meeting, StoreError> {
        MeetingRow {
            id,
            room: self.room,
            start_us: self.start_us,
            end_us: self.end_us,
            time_zone: self.time_zone,
            early_join_secs: self.early_join_secs,
            recurrence_kind: self.recurrence_kind.map(str::to_string),
            recurrence_interval: self.recurrence_interval,
            recurrence_until_us: self.recurrence_until_us,
            max_participants: self.max_participants,
            message: self.message,
            cancelled,
            owner: None,
        }
        .into_meeting(self.owners)
    }
}

/// One row of `meetings LEFT JOIN meeting_owners`: the meeting's columns and one owner (none
/// when the meeting has no owners).
#[derive(sqlx::FromRow)]
pub(super) struct MeetingRow {
    pub id: i64,
    pub room: String,
    pub start_us: i64,
    pub end_us: i64,
    pub time_zone: String,
    pub early_join_secs: i64,
    pub recurrence_kind: Option<String>,
    pub recurrence_interval: Option<i64>,
    pub recurrence_until_us: Option<i64>,
    pub max_participants: Option<i64>,
    pub message: Option<String>,
    pub cancelled: bool,
    pub owner: Option<String>,
}

impl MeetingRow {
    fn into_meeting(self, owners: Vec<String>) -> Result<Meeting, StoreError> {
        let recurrence = match (self.recurrence_kind.as_deref(), self.recurrence_interval) {
            (None, _) => None,
            (Some(WEEKLY), Some(interval)) => Some(Recurrence::Weekly {
                interval: u32_of("meeting recurrence interval", interval)?,
                until: self.recurrence_until_us.map(|us| timestamp("meeting recurrence end", us)).transpose()?,
            }),
            (Some(kind), _) => {
                return Err(StoreError::Corrupt {
                    what: "meeting recurrence",
                    why: format!("kind {kind:?} with interval {:?}", self.recurrence_interval),
                })
            }
        };
        Ok(Meeting {
            id: self.id,
            room: self.room,
            owners,
            start: timestamp("meeting start", self.start_us)?,
            end: timestamp("meeting end", self.end_us)?,
            time_zone: self.time_zone,
            early_join: SignedDuration::from_secs(self.early_join_secs),
            recurrence,
            max_participants: self.max_participants.map(|n| u32_of("meeting max_participants", n)).transpose()?,
            message: self.message,
            cancelled: self.cancelled,
        })
    }
}

/// Folds join rows (ordered by meeting, then owner position) into meetings.
pub(super) fn group_meetings(rows: Vec<MeetingRow>) -> Result<Vec<Meeting>, StoreError> {
    let mut out: Vec<Meeting> = Vec::new();
    for mut row in rows {
        let owner = row.owner.take();
        match out.last_mut() {
            Some(last) if last.id == row.id => last.owners.extend(owner),
            _ => out.push(row.into_meeting(owner.into_iter().collect())?),
        }
    }
    Ok(out)
}

/// A conference's columns as bound in INSERT (`$1`… in this order, see `CONFERENCE_INSERT`).
pub(super) struct ConferenceValues {
    pub room: String,
    pub meeting_id: Option<i64>,
    pub mail_owner: Option<String>,
    pub started_at_us: i64,
    pub duration_secs: Option<i64>,
    pub max_occupants: Option<i64>,
}

impl ConferenceValues {
    pub fn new(c: &NewConference) -> Self {
        ConferenceValues {
            room: c.room.clone(),
            meeting_id: c.meeting_id,
            mail_owner: c.mail_owner.clone(),
            started_at_us: micros(c.started_at),
            duration_secs: c.duration_secs,
            max_occupants: c.max_occupants.map(i64::from),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ConferenceRow {
    pub id: i64,
    pub room: String,
    pub meeting_id: Option<i64>,
    pub mail_owner: Option<String>,
    pub started_at_us: i64,
    pub duration_secs: Option<i64>,
    pub max_occupants: Option<i64>,
    pub ended_at_us: Option<i64>,
}

impl TryFrom<ConferenceRow> for Conference {
    type Error = StoreError;

    fn try_from(row: ConferenceRow) -> Result<Self, StoreError> {
        Ok(Conference {
            id: row.id,
            room: row.room,
            meeting_id: row.meeting_id,
            mail_owner: row.mail_owner,
            started_at: timestamp("conference start", row.started_at_us)?,
            duration_secs: row.duration_secs,
            max_occupants: row.max_occupants.map(|n| u32_of("conference max_occupants", n)).transpose()?,
            ended_at: row.ended_at_us.map(|us| timestamp("conference end", us)).transpose()?,
        })
    }
}
