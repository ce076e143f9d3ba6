//! Every text a person reads from the reservation policy, in one place so the README can list
//! them and a change of wording is one edit: the refusals the focus shows when a room may not
//! open (HTTP 403 `message`, shown in Jitsi Meet), and the booking checks' answers (HTTP 400).
//!
//! The refusals are for people who are not operators: plain words, the meeting's own time zone,
//! times as `14:00`, and a date only when it is not today there (`Tue 1 Dec 2026`). English
//! only; a meeting's own `message` replaces the generated refusal when an operator wants
//! another language or wording.

use jiff::civil::{Date, Weekday};
use jiff::{SignedDuration, Timestamp, Zoned};

/// Longest room name (characters) a Jitsi room may have here; see [`super::validate_room_name`].
pub const ROOM_NAME_MAX_CHARS: usize = 64;
/// Longest room name (bytes) `POST /conference` accepts: the XMPP limit of a JID's local part;
/// see [`super::validate_conference_name`].
pub const CONFERENCE_NAME_MAX_BYTES: usize = 1023;
/// Longest custom refusal text (characters) a meeting may carry.
pub const MESSAGE_MAX_CHARS: usize = 1000;
/// How many owners a "booked for" text names before saying "and N others".
pub const OWNERS_NAMED: usize = 3;

// ---------------------------------------------------------------------------------------
// Refusals (HTTP 403, read by meeting participants)
// ---------------------------------------------------------------------------------------

/// The room's meeting is on now, and the requester is not one of its owners.
/// `This room is booked for alice@example.com`
pub fn booked_for(owners: &[String]) -> String {
    format!("This room is booked for {}", list_owners(owners))
}

/// The requester's next meeting in this room has not opened yet.
/// `Meeting «hello» starts at 14:00 (Europe/Berlin); you can join from 13:50`, with the date
/// when it is not today (`starts on Tue 1 Dec 2026 at 14:00`), and without the second part when
/// the meeting has no early-join time.
pub fn starts(room: &str, start: &Zoned, join_from: Option<&Zoned>, today: Date, tz_name: &str) -> String {
    let mut text = format!("Meeting «{}» starts {} ({tz_name})", echo(room), on_at(start, today));
    if let Some(join) = join_from {
        let join = ceil_to_minute(join);
        // The date was already said for the start; repeat one only if joining opens on another day.
        let when = if join.date() == start.date() { hh_mm(&join) } else { date_at(&join) };
        text.push_str(&format!("; you can join from {when}"));
    }
    text
}

/// The room's next meeting is someone else's: the requester learns when and for whom.
/// `Meeting «hello» starts at 14:00 (Europe/Berlin) and is booked for bob@example.com`
pub fn starts_booked_for(room: &str, start: &Zoned, today: Date, tz_name: &str, owners: &[String]) -> String {
    format!(
        "Meeting «{}» starts {} ({tz_name}) and is booked for {}",
        echo(room),
        on_at(start, today),
        list_owners(owners)
    )
}

/// Every occurrence of the room's meetings is over.
/// `The meeting «hello» ended at 15:00 (Europe/Berlin)` (with the date when not today).
pub fn ended(room: &str, end: &Zoned, today: Date, tz_name: &str) -> String {
    format!("The meeting «{}» ended {} ({tz_name})", echo(room), on_at(end, today))
}

/// The room's only meetings were cancelled.
pub fn cancelled(room: &str) -> String {
    format!("The meeting «{}» was cancelled", echo(room))
}

/// No meeting was ever booked for the room, and rooms without one may not be opened.
pub fn no_meeting(room: &str) -> String {
    format!("Room «{}» has no meeting booked", echo(room))
}

// ---------------------------------------------------------------------------------------
// Booking checks (HTTP 400, read by whoever books: a person on the page or a script)
// ---------------------------------------------------------------------------------------

pub fn room_empty() -> String {
    "The room name is empty".to_owned()
}

pub fn room_too_long(chars: usize) -> String {
    format!("The room name is {chars} characters long; the limit is {ROOM_NAME_MAX_CHARS}")
}

/// An upper-case letter: say which lower-case name to use instead.
pub fn room_upper_case(room: &str) -> String {
    format!(
        "The room name «{}» has capital letters; Jitsi Meet room names are lower case: «{}»",
        echo(room),
        echo(&room.to_lowercase())
    )
}

pub fn room_bad_char(room: &str, c: char) -> String {
    format!(
        "The room name «{}» contains {}; use only lower-case letters a-z, digits 0-9, dots, hyphens and underscores",
        echo(room),
        describe_char(c)
    )
}

pub fn conference_name_too_long(bytes: usize) -> String {
    format!("The room name is {bytes} bytes long; a room (an XMPP local part) has at most {CONFERENCE_NAME_MAX_BYTES}")
}

pub fn conference_name_bad_char(room: &str, c: char) -> String {
    format!("The room name «{}» contains {}, which no Jitsi room name has", echo(room), describe_char(c))
}

pub fn room_no_alnum(room: &str) -> String {
    format!("The room name «{}» needs at least one letter or digit", echo(room))
}

pub fn owner_empty() -> String {
    "The owner is empty; give a JID such as alice@example.com".to_owned()
}

pub fn owner_space(jid: &str) -> String {
    format!("The owner «{}» contains a space; give a JID such as alice@example.com", echo(jid))
}

pub fn owner_resource(jid: &str, bare: &str) -> String {
    format!("The owner «{}» has a resource (the part from «/»); give the bare JID: «{}»", echo(jid), echo(bare))
}

pub fn owner_two_ats(jid: &str) -> String {
    format!("The owner «{}» has more than one «@»; give a JID such as alice@example.com", echo(jid))
}

pub fn owner_no_local(jid: &str) -> String {
    format!("The owner «{}» has nothing before the «@»", echo(jid))
}

pub fn owner_no_domain(jid: &str) -> String {
    format!("The owner «{}» has no domain after the «@»", echo(jid))
}

pub fn owner_bad_local(jid: &str) -> String {
    format!("The owner «{}» has a character a JID does not allow before the «@» (such as \" & ' : < >)", echo(jid))
}

pub fn owner_local_too_long(jid: &str) -> String {
    format!("The owner «{}» has more than 1023 bytes before the «@»", echo(jid))
}

pub fn owner_bad_domain(jid: &str, domain: &str) -> String {
    format!("The owner «{}» has «{}» as its domain, which is not a valid domain name", echo(jid), echo(domain))
}

pub fn owner_invalid(jid: &str, why: &str) -> String {
    format!("The owner «{}» is not a valid JID: {why}", echo(jid))
}

pub fn unknown_time_zone(name: &str) -> String {
    format!("Unknown time zone «{}»; use an IANA name such as Europe/Berlin, America/New_York or UTC", echo(name))
}

pub fn end_not_after_start(start: &Zoned, end: &Zoned, tz_name: &str) -> String {
    if start.timestamp() == end.timestamp() {
        format!(
            "The meeting ends when it starts ({}, {tz_name}); the end must be after the start",
            date_at_exact(start)
        )
    } else {
        format!(
            "The meeting ends ({}) before it starts ({}, {tz_name}); the end must be after the start",
            date_at_exact(end),
            date_at_exact(start)
        )
    }
}

pub fn early_join_negative(early_join: SignedDuration) -> String {
    format!("The early-join time must not be negative (it is -{})", human_duration(early_join))
}

pub fn interval_zero() -> String {
    "A weekly repetition needs an interval of at least 1 week (it is 0)".to_owned()
}

pub fn until_before_start(until: &Zoned, start: &Zoned, tz_name: &str) -> String {
    format!(
        "The repetition ends ({}) before the first meeting starts ({}, {tz_name})",
        date_at_exact(until),
        date_at_exact(start)
    )
}

pub fn longer_than_interval(interval: u32, length: SignedDuration) -> String {
    let every = if interval == 1 { "every week".to_owned() } else { format!("every {interval} weeks") };
    format!("A meeting repeated {every} must not last longer than that; this one lasts {}", human_duration(length))
}

pub fn open_longer_than_interval(interval: u32, length: SignedDuration, early_join: SignedDuration) -> String {
    let every = if interval == 1 { "every week".to_owned() } else { format!("every {interval} weeks") };
    format!(
        "A meeting repeated {every} must not be open for longer than that; this one lasts {} and can be joined {} early",
        human_duration(length),
        human_duration(early_join)
    )
}

pub fn max_participants_zero() -> String {
    "The participant limit must be at least 1 (leave it out for no limit)".to_owned()
}

pub fn message_too_long(chars: usize) -> String {
    format!("The refusal message is {chars} characters long; the limit is {MESSAGE_MAX_CHARS}")
}

pub fn message_control_char(c: char) -> String {
    format!("The refusal message contains {}; use plain text (line breaks are not allowed either)", describe_char(c))
}

// ---------------------------------------------------------------------------------------
// Pieces
// ---------------------------------------------------------------------------------------

/// `alice`, `alice and bob`, `alice, bob and carol`, `alice, bob, carol and 2 others`.
pub fn list_owners(owners: &[String]) -> String {
    let named: Vec<&str> = owners.iter().take(OWNERS_NAMED).map(String::as_str).collect();
    let rest = owners.len().saturating_sub(OWNERS_NAMED);
    match (named.as_slice(), rest) {
        ([], _) => "someone else".to_owned(),
        ([one], 0) => (*one).to_owned(),
        (names, 0) => format!("{} and {}", names[..names.len() - 1].join(", "), names[names.len() - 1]),
        (names, 1) => format!("{} and 1 other", names.join(", ")),
        (names, n) => format!("{} and {n} others", names.join(", ")),
    }
}

/// A name echoed in a text: at most [`ROOM_NAME_MAX_CHARS`] characters (then `…`), control
/// characters replaced, so a hostile request cannot make the text huge or break the XML it
/// ends up in on the focus's side.
pub fn echo(name: &str) -> String {
    let mut out: String = name
        .chars()
        .take(ROOM_NAME_MAX_CHARS)
        .map(|c| if c.is_control() { char::REPLACEMENT_CHARACTER } else { c })
        .collect();
    if name.chars().nth(ROOM_NAME_MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// `at 14:00` today, `on Tue 1 Dec 2026 at 14:00` another day.
fn on_at(z: &Zoned, today: Date) -> String {
    if z.date() == today {
        format!("at {}", hh_mm(z))
    } else {
        format!("on {}", date_at(z))
    }
}

/// `Tue 1 Dec 2026 at 14:00`.
fn date_at(z: &Zoned) -> String {
    format!("{} at {}", day(z.date()), hh_mm(z))
}

/// Like [`date_at`], with seconds when they are not zero (a booking check must not say
/// "ends at 14:00 before it starts at 14:00").
fn date_at_exact(z: &Zoned) -> String {
    if z.second() == 0 && z.subsec_nanosecond() == 0 {
        date_at(z)
    } else {
        format!("{} at {:02}:{:02}:{:02}", day(z.date()), z.hour(), z.minute(), z.second())
    }
}

fn hh_mm(z: &Zoned) -> String {
    format!("{:02}:{:02}", z.hour(), z.minute())
}

/// `Tue 1 Dec 2026`. Written out by hand rather than with strftime: it cannot fail, and it
/// does not depend on a locale.
fn day(d: Date) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let weekday = match d.weekday() {
        Weekday::Monday => "Mon",
        Weekday::Tuesday => "Tue",
        Weekday::Wednesday => "Wed",
        Weekday::Thursday => "Thu",
        Weekday::Friday => "Fri",
        Weekday::Saturday => "Sat",
        Weekday::Sunday => "Sun",
    };
    let month = MONTHS[usize::try_from(d.month() - 1).unwrap_or(0).min(11)];
    format!("{weekday} {} {month} {}", d.day(), d.year())
}

/// A join time shown to a person is rounded *up* to the minute: "you can join from 13:50"
/// must not be refused at 13:50:00 because the window opens at 13:50:30.
fn ceil_to_minute(z: &Zoned) -> Zoned {
    let ts = z.timestamp();
    let secs = ts.as_second();
    if secs.rem_euclid(60) == 0 && ts.subsec_nanosecond() == 0 {
        return z.clone();
    }
    let up = secs - secs.rem_euclid(60) + 60;
    match Timestamp::from_second(up) {
        Ok(up) => up.to_zoned(z.time_zone().clone()),
        Err(_) => z.clone(),
    }
}

/// `8 days 1 hour`, `10 minutes`, `90 seconds` → `1 minute 30 seconds`; the sign is ignored.
pub fn human_duration(d: SignedDuration) -> String {
    let total = d.as_secs().unsigned_abs();
    let parts =
        [(total / 86_400, "day"), (total / 3_600 % 24, "hour"), (total / 60 % 60, "minute"), (total % 60, "second")];
    let words: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| if *n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") })
        .collect();
    if words.is_empty() {
        "less than a second".to_owned()
    } else {
        words.join(" ")
    }
}

/// A character named so a person can find it: `a space`, `a line break`, `«@»`.
fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '\n' | '\r' => "a line break".to_owned(),
        '\t' => "a tab".to_owned(),
        c if c.is_whitespace() => format!("a space character (U+{:04X})", u32::from(c)),
        c if c.is_control() => format!("a control character (U+{:04X})", u32::from(c)),
        c => format!("«{c}»"),
    }
}
