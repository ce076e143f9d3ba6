//! Whether a room may open now, and the refusal a person reads otherwise.
//!
//! Sans-IO and deterministic: [`decide`] takes the instant, the request and the room's
//! meetings, and returns a [`Decision`]; nothing here reads a clock, a socket or a database,
//! so every rule is tested in virtual time. The only outside input is the system time-zone
//! database (`/usr/share/zoneinfo`, read and cached by jiff) behind each meeting's zone name.
//!
//! The rules, in the order [`decide`] applies them to the meetings of the requested room:
//! 1. cancelled meetings never open a room (they only explain a refusal, rule 7);
//! 2. a meeting is *open* from `start - early_join` (inclusive) to `end` (exclusive) of each
//!    occurrence; an open meeting whose owners admit the requester opens the room, until the
//!    end of that occurrence — if several do, the one ending last (so the focus does not end a
//!    conference that a following meeting continues), then the lowest id;
//! 3. an open meeting of other owners: "This room is booked for …";
//! 4. the requester's next meeting, if any: "Meeting «x» starts at 14:00 (…); you can join from
//!    13:50"; else another owner's next meeting: "… and is booked for …";
//! 5. nothing open or to come (no meeting, or all over, or all cancelled): the ad-hoc policy
//!    decides, so a room used for a meeting last month is an ordinary room again, while a room
//!    with a booking to come stays reserved for it;
//! 6. refused by that policy, a room whose meetings are over: "The meeting «x» ended at …";
//! 7. … whose meetings were cancelled: "The meeting «x» was cancelled";
//! 8. … with no meeting at all: "Room «x» has no meeting booked".
//!
//! A meeting's own `message`, when set (not blank), replaces the generated text of rules 3, 4
//! and 6. All texts are in [`texts`].
//!
//! The policy is lenient with what is stored (it must never fail a focus request over a bad
//! record): an unknown zone counts as UTC, a negative early join as none, a weekly interval of
//! 0 as 1, an `until` before the start leaves the first occurrence, and a meeting whose end is
//! not after its start has no occurrence. The booking checks ([`validate_meeting`] and its
//! parts) refuse all of these with a precise text, so they only arrive by other routes.

mod schedule;
#[cfg(test)]
mod tests;
pub mod texts;

use std::cmp::Reverse;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use xmpp_parsers::jid::{BareJid, Error as JidError};

use crate::reservations::model::{Meeting, Recurrence};
use schedule::Schedule;

/// At most this many occurrences are returned by one [`occurrences`] call; a forever-weekly
/// meeting asked about the whole of representable time would otherwise allocate a million.
pub const MAX_OCCURRENCES: usize = 10_000;

/// What happens to a room that has no meeting (none booked, or none open or to come).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdHocPolicy {
    /// Any such room may open.
    pub allow: bool,
    /// Rooms whose whole name matches one of these may open: `*` matches any run of
    /// characters (also none), `?` exactly one; matched against the lower-cased room name,
    /// case-insensitively (`test-*`, `*-adhoc`, `room-??`).
    pub patterns: Vec<String>,
}

impl AdHocPolicy {
    /// Whether a room without a meeting may open (`room` already lower case).
    pub fn admits(&self, room: &str) -> bool {
        self.allow || self.patterns.iter().any(|p| glob_match(&p.to_lowercase(), room))
    }
}

/// What the focus asked: `POST /conference` with `name` and, when the user is authenticated,
/// `mail_owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The room's name (MUC local part); compared after lower-casing.
    pub room: &'a str,
    /// The requester's JID; only its bare part counts.
    pub mail_owner: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Open(Opening),
    Refuse(Refusal),
}

/// The room may open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    /// The meeting that allows it; `None` for an ad-hoc room.
    pub meeting_id: Option<i64>,
    /// The end of the occurrence: the conference's duration is counted to it, so the focus
    /// ends the conference when the meeting ends. `None`: no limit (ad hoc).
    pub ends_at: Option<Timestamp>,
    /// The meeting's participant limit, sent as `max_occupants`.
    pub max_occupants: Option<u32>,
}

/// The room may not open; `message` is for the person who tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    /// The meeting the refusal is about, if any.
    pub meeting_id: Option<i64>,
}

/// Where one meeting stands at an instant.
enum Status {
    /// An occurrence's window contains the instant (the latest-ending such occurrence).
    Open((Timestamp, Timestamp)),
    /// The next occurrence, whose window opens later.
    Upcoming((Timestamp, Timestamp)),
    /// Every occurrence is over; the last one.
    Past((Timestamp, Timestamp)),
    Never,
}

fn status(schedule: &Schedule, now: Timestamp) -> Status {
    // Occurrence k is open at `now` iff end_k > now and start_k <= now + early_join. Ends and
    // starts both grow with k, so the open ones are a run a..=b.
    let join_limit = now.checked_add(schedule.early_join).unwrap_or(Timestamp::MAX);
    let first_not_over = schedule.first_ending_after(now);
    let last_joinable = schedule.last_starting_at_or_before(join_limit);
    if let (Some(a), Some(b)) = (first_not_over, last_joinable) {
        if a <= b {
            if let Some(occurrence) = schedule.nth(b).filter(|&(start, end)| start <= join_limit && now < end) {
                return Status::Open(occurrence);
            }
        }
    }
    let next = last_joinable.map_or(Some(0), |b| b.checked_add(1));
    if let Some(occurrence) = next.and_then(|k| schedule.nth(k)).filter(|&(start, _)| start > join_limit) {
        return Status::Upcoming(occurrence);
    }
    let last_over = match first_not_over {
        Some(a) => a.checked_sub(1).filter(|&k| k >= 0),
        None => schedule.last_starting_at_or_before(now),
    };
    match last_over.and_then(|k| schedule.nth(k)).filter(|&(_, end)| end <= now) {
        Some(occurrence) => Status::Past(occurrence),
        None => Status::Never,
    }
}

/// A meeting with the occurrence that made it a candidate, and its zone for the texts.
struct Candidate<'m> {
    meeting: &'m Meeting,
    start: Timestamp,
    end: Timestamp,
    tz: TimeZone,
    tz_name: String,
    early_join: SignedDuration,
}

impl<'m> Candidate<'m> {
    fn new(meeting: &'m Meeting, schedule: &Schedule, (start, end): (Timestamp, Timestamp)) -> Self {
        Candidate {
            meeting,
            start,
            end,
            tz: schedule.tz.clone(),
            tz_name: schedule.tz_name.clone(),
            early_join: schedule.early_join,
        }
    }

    /// Today's date in the meeting's zone ("starts at 14:00" needs no date if it is today).
    fn today(&self, now: Timestamp) -> jiff::civil::Date {
        now.to_zoned(self.tz.clone()).date()
    }
}

/// Keeps whichever of the slot's candidate and `new` ranks first (ranks end with the meeting
/// id, so ties go to the lower id and the choice never depends on the order of `meetings`).
fn keep_first<'m, R: Ord>(slot: &mut Option<Candidate<'m>>, new: Candidate<'m>, rank: impl Fn(&Candidate<'m>) -> R) {
    if slot.as_ref().is_none_or(|old| rank(&new) < rank(old)) {
        *slot = Some(new);
    }
}

/// Rank: the latest end first.
fn latest_end(c: &Candidate<'_>) -> (Reverse<Timestamp>, i64) {
    (Reverse(c.end), c.meeting.id)
}

/// Rank: the earliest start first.
fn earliest_start(c: &Candidate<'_>) -> (Timestamp, i64) {
    (c.start, c.meeting.id)
}

/// Whether `room` may open at `now` for `request.mail_owner`, given the stored meetings (all
/// of them or those of the room: others are ignored). See the module docs for the rules.
pub fn decide(now: Timestamp, request: &Request<'_>, meetings: &[Meeting], ad_hoc: &AdHocPolicy) -> Decision {
    let room = request.room.to_lowercase();
    let requester = request.mail_owner.map(owner_key);

    let mut open_admitted = None; // so the focus does not end what a following meeting continues
    let mut open_other = None; // the meeting in session
    let mut next_admitted = None;
    let mut next_other = None;
    let mut past = None; // the most recent
    let mut cancelled: Option<&Meeting> = None;

    for meeting in meetings.iter().filter(|m| m.room == room) {
        if meeting.cancelled {
            if cancelled.is_none_or(|c| meeting.id < c.id) {
                cancelled = Some(meeting);
            }
            continue;
        }
        let Some(schedule) = Schedule::new(meeting) else { continue };
        let admitted = admits(meeting, requester.as_deref());
        let candidate = |occurrence| Candidate::new(meeting, &schedule, occurrence);
        match status(&schedule, now) {
            Status::Open(occ) if admitted => keep_first(&mut open_admitted, candidate(occ), latest_end),
            Status::Open(occ) => keep_first(&mut open_other, candidate(occ), earliest_start),
            Status::Upcoming(occ) if admitted => keep_first(&mut next_admitted, candidate(occ), earliest_start),
            Status::Upcoming(occ) => keep_first(&mut next_other, candidate(occ), earliest_start),
            Status::Past(occ) => keep_first(&mut past, candidate(occ), latest_end),
            Status::Never => {}
        }
    }

    if let Some(c) = open_admitted {
        return Decision::Open(Opening {
            meeting_id: Some(c.meeting.id),
            ends_at: Some(c.end),
            max_occupants: c.meeting.max_participants,
        });
    }
    if let Some(c) = open_other {
        return refuse(c.meeting, || texts::booked_for(&c.meeting.owners));
    }
    let requesters_next = next_admitted.is_some();
    if let Some(c) = next_admitted.or(next_other) {
        return refuse(c.meeting, || {
            let today = c.today(now);
            let start = c.start.to_zoned(c.tz.clone());
            if requesters_next {
                let join = (!c.early_join.is_zero())
                    .then(|| c.start.checked_sub(c.early_join).ok())
                    .flatten()
                    .map(|join| join.to_zoned(c.tz.clone()));
                texts::starts(&room, &start, join.as_ref(), today, &c.tz_name)
            } else {
                texts::starts_booked_for(&room, &start, today, &c.tz_name, &c.meeting.owners)
            }
        });
    }
    if ad_hoc.admits(&room) {
        return Decision::Open(Opening { meeting_id: None, ends_at: None, max_occupants: None });
    }
    if let Some(c) = past {
        return refuse(c.meeting, || texts::ended(&room, &c.end.to_zoned(c.tz.clone()), c.today(now), &c.tz_name));
    }
    if let Some(meeting) = cancelled {
        // The meeting's own message was written for the meeting taking place, not for its
        // cancellation, so the generated text is used here.
        return Decision::Refuse(Refusal { message: texts::cancelled(&room), meeting_id: Some(meeting.id) });
    }
    Decision::Refuse(Refusal { message: texts::no_meeting(&room), meeting_id: None })
}

/// A refusal about `meeting`: its own message if it has one, else the generated text.
fn refuse(meeting: &Meeting, generated: impl FnOnce() -> String) -> Decision {
    let message = match meeting.message.as_deref() {
        Some(own) if !own.trim().is_empty() => own.to_owned(),
        _ => generated(),
    };
    Decision::Refuse(Refusal { message, meeting_id: Some(meeting.id) })
}

/// Owners empty: anyone (also an anonymous requester); else the requester's bare JID must be
/// one of them, case-insensitively.
fn admits(meeting: &Meeting, requester: Option<&str>) -> bool {
    meeting.owners.is_empty()
        || requester.is_some_and(|requester| meeting.owners.iter().any(|owner| owner_key(owner) == requester))
}

/// The form in which owners and `mail_owner` are compared: the bare part (a resource is
/// dropped), lower case. Deliberately not a full JID parse: a `mail_owner` the focus sends is
/// compared as it is, never rejected.
pub fn owner_key(jid: &str) -> String {
    jid.split('/').next().unwrap_or(jid).to_lowercase()
}

/// Occurrences `(start, end)` of `meeting` that overlap `[from, to)` (`start < to` and
/// `end > from`), in order, at most [`MAX_OCCURRENCES`]. A weekly recurrence keeps the
/// meeting's local wall-clock time across daylight-saving changes (see the `schedule` module
/// docs for gaps and folds). Occurrences are the meeting's own times, without the early-join
/// window; `cancelled` is not looked at (callers filter on it).
pub fn occurrences(meeting: &Meeting, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp)> {
    let mut out = Vec::new();
    if from >= to {
        return out;
    }
    let Some(schedule) = Schedule::new(meeting) else { return out };
    let Some(mut k) = schedule.first_ending_after(from) else { return out };
    while out.len() < MAX_OCCURRENCES {
        match schedule.nth(k) {
            Some(occurrence) if occurrence.0 < to => out.push(occurrence),
            _ => break,
        }
        match k.checked_add(1) {
            Some(next) => k = next,
            None => break,
        }
    }
    out
}

/// Whole-name glob match: `*` any run of characters (also none), `?` exactly one character,
/// anything else itself. Linear backtracking to the last `*`, so it is O(pattern × name) at
/// worst and never recursive.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                last_star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match last_star {
                Some((star, matched)) => {
                    last_star = Some((star, matched + 1));
                    p = star + 1;
                    n = matched + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// What a room name booked here may be: 1 to 64 characters, each a lower-case letter `a-z`, a
/// digit, `.`, `_` or `-`, and at least one letter or digit.
///
/// Why so strict: the name is the MUC local part the focus sends (Jitsi Meet lower-cases
/// it), a path segment in the meeting URL and a value in forms and SQL; this set is safe in
/// all of them without escaping (no `@`, `/`, spaces or `%`), and the letter-or-digit rule
/// keeps out `.` and `..`, which a browser resolves as paths. Upper case is refused rather
/// than folded so the stored name is the one the focus will ask for; the text says which.
pub fn validate_room_name(room: &str) -> Result<(), String> {
    if room.is_empty() {
        return Err(texts::room_empty());
    }
    let chars = room.chars().count();
    if chars > texts::ROOM_NAME_MAX_CHARS {
        return Err(texts::room_too_long(chars));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
    if let Some(bad) = room.chars().find(|&c| !allowed(c) && !c.is_ascii_uppercase()) {
        return Err(texts::room_bad_char(room, bad));
    }
    if room.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(texts::room_upper_case(room));
    }
    if !room.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err(texts::room_no_alnum(room));
    }
    Ok(())
}

/// What a room name in `POST /conference` may be: any MUC local part the focus can send, which
/// is more than a booking accepts ([`validate_room_name`]). Jitsi Meet sends
/// `encodeURIComponent` of the lower-cased name (`Café` → `caf%c3%a9`, with `!*()~'` kept), and
/// names of any length; such rooms cannot be booked, but the ad-hoc policy still decides for
/// them, so they must not be turned away as malformed. Refused: the empty name, more than
/// [`texts::CONFERENCE_NAME_MAX_BYTES`] bytes (the XMPP limit of a local part), and whitespace,
/// control characters, `@` and `/`, which no local part contains.
pub fn validate_conference_name(room: &str) -> Result<(), String> {
    if room.is_empty() {
        return Err(texts::room_empty());
    }
    if room.len() > texts::CONFERENCE_NAME_MAX_BYTES {
        return Err(texts::conference_name_too_long(room.len()));
    }
    if let Some(bad) = room.chars().find(|&c| c.is_whitespace() || c.is_control() || c == '@' || c == '/') {
        return Err(texts::conference_name_bad_char(room, bad));
    }
    Ok(())
}

/// An owner is a bare JID: `local@domain` or `domain`, no resource. Checked with
/// `xmpp_parsers::jid::BareJid` (nodeprep and IDNA), with the common mistakes named first.
pub fn validate_owner(jid: &str) -> Result<(), String> {
    if jid.trim().is_empty() {
        return Err(texts::owner_empty());
    }
    if jid.chars().any(char::is_whitespace) {
        return Err(texts::owner_space(jid));
    }
    if let Some(slash) = jid.find('/') {
        return Err(texts::owner_resource(jid, &jid[..slash]));
    }
    if jid.matches('@').count() > 1 {
        return Err(texts::owner_two_ats(jid));
    }
    if jid.starts_with('@') {
        return Err(texts::owner_no_local(jid));
    }
    if jid.ends_with('@') {
        return Err(texts::owner_no_domain(jid));
    }
    let domain = jid.rsplit('@').next().unwrap_or(jid);
    match BareJid::new(jid) {
        Ok(_) => Ok(()),
        Err(JidError::NodePrep) => Err(texts::owner_bad_local(jid)),
        Err(JidError::NodeTooLong) => Err(texts::owner_local_too_long(jid)),
        Err(JidError::NamePrep | JidError::Idna) => Err(texts::owner_bad_domain(jid, domain)),
        Err(other) => Err(texts::owner_invalid(jid, &other.to_string())),
    }
}

/// The IANA name of a time zone the system knows, in its canonical spelling (`europe/berlin`
/// → `Europe/Berlin`), or the text saying it is unknown. What a booking should store.
pub fn canonical_time_zone(name: &str) -> Result<String, String> {
    known_zone(name).map(|(_, canonical)| canonical)
}

fn known_zone(name: &str) -> Result<(TimeZone, String), String> {
    let tz = TimeZone::get(name).map_err(|_| texts::unknown_time_zone(name))?;
    let canonical = tz.iana_name().unwrap_or(name).to_owned();
    Ok((tz, canonical))
}

/// The time fields of a booking: a time zone the system knows, an end after the start, an
/// early join of zero or more, and for a weekly recurrence an interval of at least one week,
/// an `until` no earlier than the start, and a length — early join included — no longer than
/// the interval (longer occurrences would overlap the next one, and "which one is on now"
/// would stop having one answer). The first problem found is returned.
pub fn validate_schedule(
    start: Timestamp,
    end: Timestamp,
    time_zone: &str,
    early_join: SignedDuration,
    recurrence: Option<Recurrence>,
) -> Result<(), String> {
    let (tz, tz_name) = known_zone(time_zone)?;
    if end <= start {
        return Err(texts::end_not_after_start(&start.to_zoned(tz.clone()), &end.to_zoned(tz), &tz_name));
    }
    if early_join.is_negative() {
        return Err(texts::early_join_negative(early_join));
    }
    if let Some(Recurrence::Weekly { interval, until }) = recurrence {
        if interval == 0 {
            return Err(texts::interval_zero());
        }
        if let Some(until) = until.filter(|&until| until < start) {
            return Err(texts::until_before_start(&until.to_zoned(tz.clone()), &start.to_zoned(tz), &tz_name));
        }
        let length = end.duration_since(start);
        let period = SignedDuration::from_hours(7 * 24 * i64::from(interval));
        if length > period {
            return Err(texts::longer_than_interval(interval, length));
        }
        if length.checked_add(early_join).is_none_or(|open| open > period) {
            return Err(texts::open_longer_than_interval(interval, length, early_join));
        }
    }
    Ok(())
}

/// Every booking check on a whole meeting (its `id` and `cancelled` are not looked at): the
/// room name, each owner, the schedule, a participant limit of at least 1, and a custom
/// refusal text of plain text and at most [`texts::MESSAGE_MAX_CHARS`] characters (it ends
/// up in an XMPP error, where control characters are not allowed).
pub fn validate_meeting(meeting: &Meeting) -> Result<(), String> {
    validate_room_name(&meeting.room)?;
    for owner in &meeting.owners {
        validate_owner(owner)?;
    }
    validate_schedule(meeting.start, meeting.end, &meeting.time_zone, meeting.early_join, meeting.recurrence)?;
    if meeting.max_participants == Some(0) {
        return Err(texts::max_participants_zero());
    }
    if let Some(message) = &meeting.message {
        let chars = message.chars().count();
        if chars > texts::MESSAGE_MAX_CHARS {
            return Err(texts::message_too_long(chars));
        }
        if let Some(c) = message.chars().find(|c| c.is_control()) {
            return Err(texts::message_control_char(c));
        }
    }
    Ok(())
}
