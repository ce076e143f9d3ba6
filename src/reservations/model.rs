//! What the reservation server keeps: meetings (bookings) and conferences (a room actually
//! opened through the reservation API, running or ended).

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// A booking: who may open which room, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meeting {
    pub id: i64,
    /// The room's name (the MUC local part, lower case), as the focus sends it in `name`.
    pub room: String,
    /// Bare JIDs allowed to open the room (compared with `mail_owner`, case-insensitively);
    /// empty: anyone.
    pub owners: Vec<String>,
    /// Start of the (first) occurrence.
    pub start: Timestamp,
    /// End of the (first) occurrence; after `start`.
    pub end: Timestamp,
    /// IANA time zone the meeting was booked in: refusal texts and weekly recurrence use it
    /// (a weekly 14:00 Berlin meeting stays at 14:00 across daylight-saving changes).
    pub time_zone: String,
    /// How long before `start` the room may be opened.
    pub early_join: SignedDuration,
    pub recurrence: Option<Recurrence>,
    /// Sent to the focus as `max_occupants`.
    pub max_participants: Option<u32>,
    /// A refusal text of the operator's own, used instead of the generated ones.
    pub message: Option<String>,
    /// Cancelled meetings are kept (history) but never open a room.
    pub cancelled: bool,
}

/// How a meeting repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Recurrence {
    /// Every `interval` weeks on the same weekday and local time, until `until` (the last
    /// occurrence starts no later), or forever.
    Weekly { interval: u32, until: Option<Timestamp> },
}

/// A room opened through the reservation API (`POST /conference` answered 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conference {
    /// The id the focus uses for `GET`/`DELETE /conference/{id}`.
    pub id: i64,
    pub room: String,
    /// The meeting that allowed it (none for an ad-hoc room).
    pub meeting_id: Option<i64>,
    pub mail_owner: Option<String>,
    pub started_at: Timestamp,
    /// Seconds until the focus ends the conference (the meeting's end), if any.
    pub duration_secs: Option<i64>,
    pub max_occupants: Option<u32>,
    /// When it ended (a `DELETE`, or a new `POST` for the room after its duration had run
    /// out); `None` while running.
    pub ended_at: Option<Timestamp>,
}
