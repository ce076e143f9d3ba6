//! The scheduling rules in virtual time: every `now` is an argument, every text is compared
//! exactly. Dates are in 2026: the last Sundays of March and October are the 29th and the
//! 25th (Europe/Berlin changes clocks then), America/New_York changes on 8 March and
//! 1 November; 1 December 2026 is a Tuesday.

use std::slice;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan, Zoned};
use proptest::prelude::*;

use super::*;
use crate::reservations::model::{Meeting, Recurrence};

const BERLIN: &str = "Europe/Berlin";
const NEW_YORK: &str = "America/New_York";

/// A wall-clock time in a zone (`2026-12-01 14:00`), resolved like the policy does.
fn at(zone: &str, local: &str) -> Timestamp {
    let dt: DateTime = local.parse().expect("civil datetime");
    TimeZone::get(zone).expect("zone").to_ambiguous_timestamp(dt).compatible().expect("in range")
}

fn local(zone: &str, ts: Timestamp) -> String {
    ts.to_zoned(TimeZone::get(zone).expect("zone")).strftime("%Y-%m-%d %H:%M %:z").to_string()
}

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

/// Meeting `id` in `room`, Berlin time, no owners, no early join, no recurrence.
fn meeting(id: i64, room: &str, start: &str, end: &str) -> Meeting {
    meeting_in(BERLIN, id, room, start, end)
}

fn meeting_in(zone: &str, id: i64, room: &str, start: &str, end: &str) -> Meeting {
    Meeting {
        id,
        room: room.to_owned(),
        owners: vec![],
        start: at(zone, start),
        end: at(zone, end),
        time_zone: zone.to_owned(),
        early_join: SignedDuration::ZERO,
        recurrence: None,
        max_participants: None,
        message: None,
        cancelled: false,
    }
}

fn owned(mut m: Meeting, owners: &[&str]) -> Meeting {
    m.owners = owners.iter().map(|o| (*o).to_owned()).collect();
    m
}

fn early(mut m: Meeting, minutes: i64) -> Meeting {
    m.early_join = mins(minutes);
    m
}

fn weekly(mut m: Meeting, interval: u32, until: Option<Timestamp>) -> Meeting {
    m.recurrence = Some(Recurrence::Weekly { interval, until });
    m
}

/// The `hello` meeting of the README: Tue 1 Dec 2026 14:00–15:00 Berlin, join from 13:50,
/// at most 20 people.
fn hello() -> Meeting {
    let mut m = early(meeting(1, "hello", "2026-12-01 14:00", "2026-12-01 15:00"), 10);
    m.max_participants = Some(20);
    m
}

const REFUSE: AdHocPolicy = AdHocPolicy { allow: false, patterns: Vec::new() };

fn ask(now: Timestamp, room: &str, owner: Option<&str>, meetings: &[Meeting]) -> Decision {
    decide(now, &Request { room, mail_owner: owner }, meetings, &REFUSE)
}

#[track_caller]
fn opened(d: Decision) -> Opening {
    match d {
        Decision::Open(o) => o,
        Decision::Refuse(r) => panic!("expected the room to open, got refused: {r:?}"),
    }
}

#[track_caller]
fn refused(d: Decision) -> Refusal {
    match d {
        Decision::Refuse(r) => r,
        Decision::Open(o) => panic!("expected a refusal, got {o:?}"),
    }
}

#[track_caller]
fn refusal_text(d: Decision) -> String {
    refused(d).message
}

fn nanos(n: i64) -> SignedDuration {
    SignedDuration::from_nanos(n)
}

// ---------------------------------------------------------------------------------------
// The window: [start - early_join, end)
// ---------------------------------------------------------------------------------------

#[test]
fn before_the_window_says_when_it_starts_and_when_to_join() {
    let r = refused(ask(at(BERLIN, "2026-12-01 09:00"), "hello", None, &[hello()]));
    assert_eq!(r.message, "Meeting «hello» starts at 14:00 (Europe/Berlin); you can join from 13:50");
    assert_eq!(r.meeting_id, Some(1));
}

#[test]
fn one_nanosecond_before_the_window_is_refused() {
    let now = at(BERLIN, "2026-12-01 13:50") - nanos(1);
    assert_eq!(
        refusal_text(ask(now, "hello", None, &[hello()])),
        "Meeting «hello» starts at 14:00 (Europe/Berlin); you can join from 13:50"
    );
}

#[test]
fn exactly_at_the_early_join_time_opens_until_the_end() {
    let o = opened(ask(at(BERLIN, "2026-12-01 13:50"), "hello", None, &[hello()]));
    assert_eq!(
        o,
        Opening { meeting_id: Some(1), ends_at: Some(at(BERLIN, "2026-12-01 15:00")), max_occupants: Some(20) }
    );
}

#[test]
fn inside_the_meeting_opens() {
    let o = opened(ask(at(BERLIN, "2026-12-01 14:30"), "hello", None, &[hello()]));
    assert_eq!(o.ends_at, Some(at(BERLIN, "2026-12-01 15:00")));
}

#[test]
fn without_early_join_the_window_starts_at_the_start() {
    let m = meeting(1, "hello", "2026-12-01 14:00", "2026-12-01 15:00");
    assert!(matches!(
        ask(at(BERLIN, "2026-12-01 14:00") - nanos(1), "hello", None, slice::from_ref(&m)),
        Decision::Refuse(_)
    ));
    opened(ask(at(BERLIN, "2026-12-01 14:00"), "hello", None, &[m]));
}

#[test]
fn the_end_is_exclusive() {
    let end = at(BERLIN, "2026-12-01 15:00");
    opened(ask(end - nanos(1), "hello", None, &[hello()]));
    let r = refused(ask(end, "hello", None, &[hello()]));
    assert_eq!(r.message, "The meeting «hello» ended at 15:00 (Europe/Berlin)");
    assert_eq!(r.meeting_id, Some(1));
}

#[test]
fn after_the_end_on_another_day_the_date_is_given() {
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-02 09:00"), "hello", None, &[hello()])),
        "The meeting «hello» ended on Tue 1 Dec 2026 at 15:00 (Europe/Berlin)"
    );
}

#[test]
fn a_start_on_another_day_gives_the_date() {
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-11-30 09:00"), "hello", None, &[hello()])),
        "Meeting «hello» starts on Tue 1 Dec 2026 at 14:00 (Europe/Berlin); you can join from 13:50"
    );
}

#[test]
fn no_early_join_no_join_from() {
    let m = meeting(1, "hello", "2026-12-01 14:00", "2026-12-01 15:00");
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-01 09:00"), "hello", None, &[m])),
        "Meeting «hello» starts at 14:00 (Europe/Berlin)"
    );
}

#[test]
fn joining_the_day_before_the_start_names_that_day() {
    let m = early(meeting(1, "night", "2026-12-02 00:05", "2026-12-02 01:00"), 10);
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-01 12:00"), "night", None, &[m])),
        "Meeting «night» starts on Wed 2 Dec 2026 at 00:05 (Europe/Berlin); you can join from Tue 1 Dec 2026 at 23:55"
    );
}

#[test]
fn the_join_time_shown_is_rounded_up_to_the_minute() {
    // Window opens at 13:50:30: "from 13:50" would be refused at 13:50:00.
    let m = early(meeting(1, "hello", "2026-12-01 14:00:30", "2026-12-01 15:00"), 10);
    let r = refused(ask(at(BERLIN, "2026-12-01 13:50"), "hello", None, slice::from_ref(&m)));
    assert_eq!(r.message, "Meeting «hello» starts at 14:00 (Europe/Berlin); you can join from 13:51");
    opened(ask(at(BERLIN, "2026-12-01 13:51"), "hello", None, &[m]));
}

#[test]
fn today_is_the_meetings_day_not_utcs() {
    // 20:00 in New York is 01:00 UTC the next day; at 18:00 New York it is still today there.
    let m = meeting_in(NEW_YORK, 3, "evening", "2026-12-01 20:00", "2026-12-01 21:00");
    let now = at(NEW_YORK, "2026-12-01 18:00");
    assert_ne!(now.to_zoned(TimeZone::UTC).date(), m.start.to_zoned(TimeZone::UTC).date());
    assert_eq!(refusal_text(ask(now, "evening", None, &[m])), "Meeting «evening» starts at 20:00 (America/New_York)");
}

#[test]
fn a_time_zone_spelled_in_lower_case_is_shown_canonically() {
    let mut m = hello();
    m.time_zone = "europe/berlin".to_owned();
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-01 09:00"), "hello", None, &[m])),
        "Meeting «hello» starts at 14:00 (Europe/Berlin); you can join from 13:50"
    );
}

#[test]
fn an_unknown_stored_time_zone_counts_as_utc() {
    let mut m = meeting_in("UTC", 1, "hello", "2026-12-01 14:00", "2026-12-01 15:00");
    m.time_zone = "Mars/Olympus_Mons".to_owned();
    assert_eq!(
        refusal_text(ask(at("UTC", "2026-12-01 09:00"), "hello", None, slice::from_ref(&m))),
        "Meeting «hello» starts at 14:00 (UTC)"
    );
    opened(ask(at("UTC", "2026-12-01 14:00"), "hello", None, &[m]));
}

#[test]
fn a_negative_early_join_counts_as_none() {
    let m = early(meeting(1, "hello", "2026-12-01 14:00", "2026-12-01 15:00"), -30);
    let r = refusal_text(ask(at(BERLIN, "2026-12-01 13:59"), "hello", None, slice::from_ref(&m)));
    assert_eq!(r, "Meeting «hello» starts at 14:00 (Europe/Berlin)");
    opened(ask(at(BERLIN, "2026-12-01 14:00"), "hello", None, &[m]));
}

#[test]
fn a_huge_early_join_opens_any_time_before() {
    let mut m = hello();
    m.early_join = SignedDuration::MAX;
    let o = opened(ask(Timestamp::MIN, "hello", None, &[m]));
    assert_eq!(o.ends_at, Some(at(BERLIN, "2026-12-01 15:00")));
}

#[test]
fn a_meeting_ending_before_it_starts_never_opens() {
    let m = meeting(1, "broken", "2026-12-01 15:00", "2026-12-01 14:00");
    let r = refused(ask(at(BERLIN, "2026-12-01 14:30"), "broken", None, &[m]));
    assert_eq!(r, Refusal { message: "Room «broken» has no meeting booked".to_owned(), meeting_id: None });
}

// ---------------------------------------------------------------------------------------
// Owners
// ---------------------------------------------------------------------------------------

#[test]
fn an_owner_opens_the_room() {
    let m = owned(hello(), &["alice@example.com"]);
    let o = opened(ask(at(BERLIN, "2026-12-01 14:00"), "hello", Some("alice@example.com"), &[m]));
    assert_eq!(o.meeting_id, Some(1));
}

#[test]
fn owners_compare_case_insensitively_and_by_the_bare_jid() {
    let m = owned(hello(), &["Alice@Example.com"]);
    let now = at(BERLIN, "2026-12-01 14:00");
    opened(ask(now, "hello", Some("alice@EXAMPLE.COM"), slice::from_ref(&m)));
    opened(ask(now, "hello", Some("ALICE@example.com/phone-123"), slice::from_ref(&m)));
    refused(ask(now, "hello", Some("alice@example.org"), slice::from_ref(&m)));
    refused(ask(now, "hello", Some("example.com"), &[m]));
}

#[test]
fn someone_else_is_told_whom_the_room_is_booked_for() {
    let m = owned(hello(), &["alice@example.com"]);
    let r = refused(ask(at(BERLIN, "2026-12-01 14:10"), "hello", Some("bob@example.com"), &[m]));
    assert_eq!(r, Refusal { message: "This room is booked for alice@example.com".to_owned(), meeting_id: Some(1) });
}

#[test]
fn an_anonymous_requester_is_not_an_owner() {
    let m = owned(hello(), &["alice@example.com"]);
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-01 14:10"), "hello", None, &[m])),
        "This room is booked for alice@example.com"
    );
}

#[test]
fn no_owners_means_anyone_even_anonymous() {
    let now = at(BERLIN, "2026-12-01 14:10");
    opened(ask(now, "hello", None, &[hello()]));
    opened(ask(now, "hello", Some("mallory@evil.example"), &[hello()]));
}

#[test]
fn owner_lists_name_three_then_count_the_rest() {
    let now = at(BERLIN, "2026-12-01 14:10");
    let text = |owners: &[&str]| refusal_text(ask(now, "hello", Some("zed@example.com"), &[owned(hello(), owners)]));
    assert_eq!(text(&["a@x.org", "b@x.org"]), "This room is booked for a@x.org and b@x.org");
    assert_eq!(text(&["a@x.org", "b@x.org", "c@x.org"]), "This room is booked for a@x.org, b@x.org and c@x.org");
    assert_eq!(
        text(&["a@x.org", "b@x.org", "c@x.org", "d@x.org"]),
        "This room is booked for a@x.org, b@x.org, c@x.org and 1 other"
    );
    assert_eq!(
        text(&["a@x.org", "b@x.org", "c@x.org", "d@x.org", "e@x.org"]),
        "This room is booked for a@x.org, b@x.org, c@x.org and 2 others"
    );
}

#[test]
fn someone_elses_next_meeting_says_when_and_for_whom() {
    let m = owned(hello(), &["alice@example.com"]);
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-01 09:00"), "hello", Some("bob@example.com"), slice::from_ref(&m))),
        "Meeting «hello» starts at 14:00 (Europe/Berlin) and is booked for alice@example.com"
    );
    // The owner, asking at the same time, is told when to join.
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-01 09:00"), "hello", Some("alice@example.com"), &[m])),
        "Meeting «hello» starts at 14:00 (Europe/Berlin); you can join from 13:50"
    );
}

#[test]
fn the_requested_room_is_lower_cased() {
    let now = at(BERLIN, "2026-12-01 14:10");
    assert_eq!(opened(ask(now, "HeLLo", None, &[hello()])).meeting_id, Some(1));
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-01 09:00"), "HELLO", None, &[hello()])),
        "Meeting «hello» starts at 14:00 (Europe/Berlin); you can join from 13:50"
    );
}

// ---------------------------------------------------------------------------------------
// Several meetings of one room, other rooms, cancellation, own messages
// ---------------------------------------------------------------------------------------

#[test]
fn each_owner_opens_their_own_meeting() {
    let alice = owned(meeting(1, "shared", "2026-12-01 10:00", "2026-12-01 11:00"), &["alice@x.org"]);
    let bob = owned(meeting(2, "shared", "2026-12-01 10:00", "2026-12-01 11:30"), &["bob@x.org"]);
    let all = [alice, bob];
    let now = at(BERLIN, "2026-12-01 10:15");
    let a = opened(ask(now, "shared", Some("alice@x.org"), &all));
    assert_eq!((a.meeting_id, a.ends_at), (Some(1), Some(at(BERLIN, "2026-12-01 11:00"))));
    let b = opened(ask(now, "shared", Some("bob@x.org"), &all));
    assert_eq!((b.meeting_id, b.ends_at), (Some(2), Some(at(BERLIN, "2026-12-01 11:30"))));
    // Carol is told about the meeting in session: both started together, the lower id wins.
    let r = refused(ask(now, "shared", Some("carol@x.org"), &all));
    assert_eq!(r, Refusal { message: "This room is booked for alice@x.org".to_owned(), meeting_id: Some(1) });
}

#[test]
fn back_to_back_meetings_open_the_one_ending_last() {
    let first = owned(meeting(1, "room", "2026-12-01 13:00", "2026-12-01 14:00"), &["alice@x.org", "bob@x.org"]);
    let second = early(owned(meeting(2, "room", "2026-12-01 14:00", "2026-12-01 15:00"), &["alice@x.org"]), 10);
    let all = [first, second];
    let now = at(BERLIN, "2026-12-01 13:55");
    // Alice owns both: the conference is not ended at 14:00 to be reopened at once.
    let a = opened(ask(now, "room", Some("alice@x.org"), &all));
    assert_eq!((a.meeting_id, a.ends_at), (Some(2), Some(at(BERLIN, "2026-12-01 15:00"))));
    // Bob owns only the first.
    let b = opened(ask(now, "room", Some("bob@x.org"), &all));
    assert_eq!((b.meeting_id, b.ends_at), (Some(1), Some(at(BERLIN, "2026-12-01 14:00"))));
}

#[test]
fn a_meeting_in_session_is_told_before_the_requesters_own_next_one() {
    let bobs = owned(meeting(1, "room", "2026-12-01 10:00", "2026-12-01 11:00"), &["bob@x.org"]);
    let alices = owned(meeting(2, "room", "2026-12-01 16:00", "2026-12-01 17:00"), &["alice@x.org"]);
    let r = refused(ask(at(BERLIN, "2026-12-01 10:30"), "room", Some("alice@x.org"), &[bobs, alices]));
    assert_eq!(r, Refusal { message: "This room is booked for bob@x.org".to_owned(), meeting_id: Some(1) });
}

#[test]
fn the_requesters_own_next_meeting_is_told_before_a_sooner_one_of_others() {
    let bobs = owned(meeting(1, "room", "2026-12-01 12:00", "2026-12-01 13:00"), &["bob@x.org"]);
    let alices = early(owned(meeting(2, "room", "2026-12-01 16:00", "2026-12-01 17:00"), &["alice@x.org"]), 5);
    let all = [bobs, alices];
    let now = at(BERLIN, "2026-12-01 10:00");
    let r = refused(ask(now, "room", Some("alice@x.org"), &all));
    assert_eq!(
        r,
        Refusal {
            message: "Meeting «room» starts at 16:00 (Europe/Berlin); you can join from 15:55".to_owned(),
            meeting_id: Some(2)
        }
    );
    // Carol owns neither: she hears about the sooner one.
    assert_eq!(
        refusal_text(ask(now, "room", Some("carol@x.org"), &all)),
        "Meeting «room» starts at 12:00 (Europe/Berlin) and is booked for bob@x.org"
    );
}

#[test]
fn the_next_meeting_is_told_before_a_past_one() {
    let past = meeting(1, "room", "2026-11-30 10:00", "2026-11-30 11:00");
    let next = meeting(2, "room", "2026-12-03 10:00", "2026-12-03 11:00");
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-01 10:00"), "room", None, &[past, next])),
        "Meeting «room» starts on Thu 3 Dec 2026 at 10:00 (Europe/Berlin)"
    );
}

#[test]
fn the_latest_past_meeting_is_told() {
    let older = meeting(1, "room", "2026-11-20 10:00", "2026-11-20 11:00");
    let newer = meeting(2, "room", "2026-11-30 10:00", "2026-11-30 11:00");
    let r = refused(ask(at(BERLIN, "2026-12-01 10:00"), "room", None, &[newer, older]));
    assert_eq!(
        r,
        Refusal {
            message: "The meeting «room» ended on Mon 30 Nov 2026 at 11:00 (Europe/Berlin)".to_owned(),
            meeting_id: Some(2)
        }
    );
}

#[test]
fn meetings_of_other_rooms_do_not_count() {
    let other = meeting(1, "hello2", "2026-12-01 14:00", "2026-12-01 15:00");
    let prefix = meeting(2, "hell", "2026-12-01 14:00", "2026-12-01 15:00");
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-01 14:30"), "hello", None, &[other, prefix])),
        "Room «hello» has no meeting booked"
    );
}

#[test]
fn a_cancelled_meeting_never_opens_the_room() {
    let mut m = hello();
    m.cancelled = true;
    m.message = Some("Ask Alice".to_owned());
    let now = at(BERLIN, "2026-12-01 14:30");
    let r = refused(ask(now, "hello", None, slice::from_ref(&m)));
    assert_eq!(r, Refusal { message: "The meeting «hello» was cancelled".to_owned(), meeting_id: Some(1) });
    // With ad-hoc rooms allowed it is an ordinary room again, with no limits.
    let allow = AdHocPolicy { allow: true, patterns: vec![] };
    let d = decide(now, &Request { room: "hello", mail_owner: None }, &[m], &allow);
    assert_eq!(d, Decision::Open(Opening { meeting_id: None, ends_at: None, max_occupants: None }));
}

#[test]
fn a_cancelled_meeting_does_not_hide_a_live_one() {
    let mut cancelled = hello();
    cancelled.cancelled = true;
    let mut live = hello();
    live.id = 2;
    assert_eq!(opened(ask(at(BERLIN, "2026-12-01 14:30"), "hello", None, &[cancelled, live])).meeting_id, Some(2));
}

#[test]
fn the_meetings_own_message_replaces_the_generated_one() {
    let mut m = owned(hello(), &["alice@example.com"]);
    m.message = Some("Bitte warten Sie auf Frau Schmidt".to_owned());
    for now in ["2026-12-01 09:00", "2026-12-01 14:30", "2026-12-02 09:00"] {
        let r = refused(ask(at(BERLIN, now), "hello", Some("bob@example.com"), slice::from_ref(&m)));
        assert_eq!(
            r,
            Refusal { message: "Bitte warten Sie auf Frau Schmidt".to_owned(), meeting_id: Some(1) },
            "{now}"
        );
    }
}

#[test]
fn a_blank_own_message_is_ignored() {
    let mut m = hello();
    m.message = Some("  ".to_owned());
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-01 09:00"), "hello", None, &[m])),
        "Meeting «hello» starts at 14:00 (Europe/Berlin); you can join from 13:50"
    );
}

// ---------------------------------------------------------------------------------------
// Ad-hoc rooms
// ---------------------------------------------------------------------------------------

#[test]
fn a_room_with_no_meeting_is_refused_by_default() {
    let r = refused(ask(at(BERLIN, "2026-12-01 14:30"), "blocked-demo", Some("alice@x.org"), &[]));
    assert_eq!(r, Refusal { message: "Room «blocked-demo» has no meeting booked".to_owned(), meeting_id: None });
}

#[test]
fn ad_hoc_allowed_opens_without_limits() {
    let allow = AdHocPolicy { allow: true, patterns: vec![] };
    let d = decide(at(BERLIN, "2026-12-01 14:30"), &Request { room: "anything", mail_owner: None }, &[], &allow);
    assert_eq!(d, Decision::Open(Opening { meeting_id: None, ends_at: None, max_occupants: None }));
}

#[test]
fn ad_hoc_patterns_match_whole_names() {
    let policy = AdHocPolicy { allow: false, patterns: vec!["test-*".to_owned(), "Room-??".to_owned()] };
    let now = at(BERLIN, "2026-12-01 14:30");
    let open = |room: &str| matches!(decide(now, &Request { room, mail_owner: None }, &[], &policy), Decision::Open(_));
    assert!(open("test-"));
    assert!(open("test-1"));
    assert!(open("TEST-Big")); // lower-cased, and the pattern too
    assert!(open("room-42"));
    assert!(!open("atest-1"));
    assert!(!open("test"));
    assert!(!open("room-4"));
    assert!(!open("room-423"));
    assert_eq!(
        refusal_text(decide(now, &Request { room: "Other", mail_owner: None }, &[], &policy)),
        "Room «other» has no meeting booked"
    );
}

#[test]
fn a_room_whose_meetings_are_over_is_ad_hoc_again() {
    let allow = AdHocPolicy { allow: false, patterns: vec!["*".to_owned()] };
    let d = decide(at(BERLIN, "2026-12-02 09:00"), &Request { room: "hello", mail_owner: None }, &[hello()], &allow);
    assert_eq!(d, Decision::Open(Opening { meeting_id: None, ends_at: None, max_occupants: None }));
}

#[test]
fn a_room_with_a_meeting_to_come_stays_reserved_even_if_ad_hoc_is_allowed() {
    let allow = AdHocPolicy { allow: true, patterns: vec![] };
    let d = decide(at(BERLIN, "2026-12-01 09:00"), &Request { room: "hello", mail_owner: None }, &[hello()], &allow);
    assert_eq!(refusal_text(d), "Meeting «hello» starts at 14:00 (Europe/Berlin); you can join from 13:50");
    let mine = owned(hello(), &["alice@x.org"]);
    let d = decide(at(BERLIN, "2026-12-01 14:30"), &Request { room: "hello", mail_owner: None }, &[mine], &allow);
    assert_eq!(refusal_text(d), "This room is booked for alice@x.org");
}

#[test]
fn glob_matching() {
    let cases = [
        ("*", "", true),
        ("*", "anything", true),
        ("", "", true),
        ("", "a", false),
        ("a", "a", true),
        ("a", "ab", false),
        ("?", "", false),
        ("?", "é", true),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
        ("a*b", "abab", true),
        ("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
        ("**", "x", true),
        ("x?z", "xyz", true),
        ("x?z", "xz", false),
    ];
    for (pattern, name, expected) in cases {
        assert_eq!(glob_match(pattern, name), expected, "{pattern:?} vs {name:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Weekly recurrence
// ---------------------------------------------------------------------------------------

#[test]
fn a_weekly_meeting_opens_next_week_at_the_same_time() {
    let m = weekly(hello(), 1, None);
    let o = opened(ask(at(BERLIN, "2026-12-08 13:50"), "hello", None, slice::from_ref(&m)));
    assert_eq!((o.meeting_id, o.ends_at), (Some(1), Some(at(BERLIN, "2026-12-08 15:00"))));
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-02 09:00"), "hello", None, slice::from_ref(&m))),
        "Meeting «hello» starts on Tue 8 Dec 2026 at 14:00 (Europe/Berlin); you can join from 13:50"
    );
    // Between the window of one week and the next: the next, not "ended".
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-08 15:00"), "hello", None, &[m])),
        "Meeting «hello» starts on Tue 15 Dec 2026 at 14:00 (Europe/Berlin); you can join from 13:50"
    );
}

#[test]
fn an_interval_of_two_weeks_skips_a_week() {
    let m = weekly(hello(), 2, None);
    refused(ask(at(BERLIN, "2026-12-08 14:30"), "hello", None, slice::from_ref(&m)));
    assert_eq!(opened(ask(at(BERLIN, "2026-12-15 14:30"), "hello", None, &[m])).meeting_id, Some(1));
}

#[test]
fn an_interval_of_zero_counts_as_one() {
    let m = weekly(hello(), 0, None);
    opened(ask(at(BERLIN, "2026-12-08 14:30"), "hello", None, slice::from_ref(&m)));
    assert_eq!(occurrences(&m, at(BERLIN, "2026-12-01 00:00"), at(BERLIN, "2026-12-20 00:00")).len(), 3);
}

#[test]
fn until_includes_an_occurrence_starting_exactly_then() {
    let m = weekly(hello(), 1, Some(at(BERLIN, "2026-12-08 14:00")));
    opened(ask(at(BERLIN, "2026-12-08 14:30"), "hello", None, slice::from_ref(&m)));
    refused(ask(at(BERLIN, "2026-12-15 14:30"), "hello", None, slice::from_ref(&m)));
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-15 14:30"), "hello", None, &[m])),
        "The meeting «hello» ended on Tue 8 Dec 2026 at 15:00 (Europe/Berlin)"
    );
}

#[test]
fn until_excludes_an_occurrence_starting_after_it() {
    let m = weekly(hello(), 1, Some(at(BERLIN, "2026-12-08 13:59")));
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-08 14:30"), "hello", None, &[m])),
        "The meeting «hello» ended on Tue 1 Dec 2026 at 15:00 (Europe/Berlin)"
    );
}

#[test]
fn until_before_the_start_leaves_the_first_occurrence() {
    let m = weekly(hello(), 1, Some(at(BERLIN, "2026-11-01 00:00")));
    opened(ask(at(BERLIN, "2026-12-01 14:30"), "hello", None, slice::from_ref(&m)));
    refused(ask(at(BERLIN, "2026-12-08 14:30"), "hello", None, &[m]));
}

/// Local start times (with offsets) of the occurrences in a range.
fn local_starts(m: &Meeting, from: &str, to: &str) -> Vec<String> {
    occurrences(m, at(&m.time_zone, from), at(&m.time_zone, to))
        .into_iter()
        .map(|(start, end)| format!("{} – {}", local(&m.time_zone, start), local(&m.time_zone, end)))
        .collect()
}

#[test]
fn weekly_keeps_wall_clock_time_when_berlin_springs_forward() {
    let m = weekly(meeting(1, "sunday", "2026-03-22 10:00", "2026-03-22 11:00"), 1, None);
    assert_eq!(
        local_starts(&m, "2026-03-20 00:00", "2026-04-06 00:00"),
        [
            "2026-03-22 10:00 +01:00 – 2026-03-22 11:00 +01:00",
            "2026-03-29 10:00 +02:00 – 2026-03-29 11:00 +02:00",
            "2026-04-05 10:00 +02:00 – 2026-04-05 11:00 +02:00",
        ]
    );
    // And the policy agrees: open at 10:00 local on the day of the change, not at 11:00.
    let o = opened(ask(at(BERLIN, "2026-03-29 10:00"), "sunday", None, slice::from_ref(&m)));
    assert_eq!(o.ends_at, Some("2026-03-29T09:00:00Z".parse().unwrap()));
    refused(ask(at(BERLIN, "2026-03-29 09:59"), "sunday", None, &[m]));
}

#[test]
fn weekly_keeps_wall_clock_time_when_berlin_falls_back() {
    let m = weekly(early(meeting(1, "sunday", "2026-10-18 10:00", "2026-10-18 11:00"), 15), 1, None);
    assert_eq!(
        local_starts(&m, "2026-10-18 00:00", "2026-11-02 00:00"),
        [
            "2026-10-18 10:00 +02:00 – 2026-10-18 11:00 +02:00",
            "2026-10-25 10:00 +01:00 – 2026-10-25 11:00 +01:00",
            "2026-11-01 10:00 +01:00 – 2026-11-01 11:00 +01:00",
        ]
    );
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-10-25 09:40"), "sunday", None, slice::from_ref(&m))),
        "Meeting «sunday» starts at 10:00 (Europe/Berlin); you can join from 09:45"
    );
    let o = opened(ask(at(BERLIN, "2026-10-25 09:45"), "sunday", None, &[m]));
    assert_eq!(o.ends_at, Some("2026-10-25T10:00:00Z".parse().unwrap()));
}

#[test]
fn weekly_keeps_wall_clock_time_in_new_york_both_ways() {
    let spring = weekly(meeting_in(NEW_YORK, 1, "standup", "2026-03-02 09:00", "2026-03-02 09:15"), 1, None);
    let utc: Vec<_> = occurrences(&spring, at(NEW_YORK, "2026-03-01 00:00"), at(NEW_YORK, "2026-03-15 00:00"))
        .into_iter()
        .map(|(s, _)| s.to_string())
        .collect();
    assert_eq!(utc, ["2026-03-02T14:00:00Z", "2026-03-09T13:00:00Z"]);

    let autumn = weekly(meeting_in(NEW_YORK, 2, "standup", "2026-10-26 09:00", "2026-10-26 09:15"), 1, None);
    let utc: Vec<_> = occurrences(&autumn, at(NEW_YORK, "2026-10-25 00:00"), at(NEW_YORK, "2026-11-08 00:00"))
        .into_iter()
        .map(|(s, _)| s.to_string())
        .collect();
    assert_eq!(utc, ["2026-10-26T13:00:00Z", "2026-11-02T14:00:00Z"]);
    let o = opened(ask(at(NEW_YORK, "2026-11-02 09:00"), "standup", None, &[autumn]));
    assert_eq!(o.ends_at, Some("2026-11-02T14:15:00Z".parse().unwrap()));
}

#[test]
fn a_start_in_the_spring_forward_gap_moves_forward_by_the_gap() {
    // 02:30 does not exist in Berlin on 29 March 2026: "compatible" makes it 03:30 CEST.
    // The civil end (03:00 CEST) would be before that, so the booking's length is kept.
    let m = weekly(meeting(1, "night", "2026-03-22 02:30", "2026-03-22 03:00"), 1, None);
    assert_eq!(
        local_starts(&m, "2026-03-22 00:00", "2026-04-06 00:00"),
        [
            "2026-03-22 02:30 +01:00 – 2026-03-22 03:00 +01:00",
            "2026-03-29 03:30 +02:00 – 2026-03-29 04:00 +02:00",
            "2026-04-05 02:30 +02:00 – 2026-04-05 03:00 +02:00",
        ]
    );
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-03-29 01:00"), "night", None, slice::from_ref(&m))),
        "Meeting «night» starts at 03:30 (Europe/Berlin)"
    );
    let o = opened(ask(at(BERLIN, "2026-03-29 03:30"), "night", None, &[m]));
    assert_eq!(o.ends_at, Some("2026-03-29T02:00:00Z".parse().unwrap()));
}

#[test]
fn a_meeting_spanning_the_gap_keeps_its_wall_clock_end() {
    let m = weekly(meeting(1, "night", "2026-03-22 01:00", "2026-03-22 04:00"), 1, None);
    assert_eq!(
        local_starts(&m, "2026-03-28 00:00", "2026-03-30 00:00"),
        ["2026-03-29 01:00 +01:00 – 2026-03-29 04:00 +02:00"] // two hours of real time
    );
}

#[test]
fn a_start_in_the_fall_back_fold_takes_the_earlier_instant() {
    // 02:30 happens twice in Berlin on 25 October 2026; "compatible" takes the first (CEST).
    let m = weekly(meeting(1, "night", "2026-10-18 02:30", "2026-10-18 03:30"), 1, None);
    assert_eq!(
        local_starts(&m, "2026-10-24 00:00", "2026-10-26 00:00"),
        ["2026-10-25 02:30 +02:00 – 2026-10-25 03:30 +01:00"]
    );
}

#[test]
fn a_booking_in_the_second_half_of_the_fold_is_kept_exactly() {
    // Booked at the second 02:30 (01:30 UTC): occurrence 0 is exactly as stored; the next
    // week 02:30 exists once.
    let mut m = meeting(1, "night", "2026-10-25 02:30", "2026-10-25 04:00");
    m.start = "2026-10-25T01:30:00Z".parse().unwrap();
    let m = weekly(m, 1, None);
    let occ = occurrences(&m, at(BERLIN, "2026-10-24 00:00"), at(BERLIN, "2026-11-02 00:00"));
    assert_eq!(
        occ,
        [
            ("2026-10-25T01:30:00Z".parse().unwrap(), "2026-10-25T03:00:00Z".parse().unwrap()),
            ("2026-11-01T01:30:00Z".parse().unwrap(), "2026-11-01T03:00:00Z".parse().unwrap()),
        ]
    );
}

#[test]
fn a_weekly_meeting_from_long_ago_is_found_by_arithmetic() {
    // Weekly since 2 January 1990 (a Tuesday), 14:00 Berlin: in December 2026 still 14:00.
    let m = weekly(meeting(1, "old", "1990-01-02 14:00", "1990-01-02 15:00"), 1, None);
    let o = opened(ask(at(BERLIN, "2026-12-01 14:00"), "old", None, slice::from_ref(&m)));
    assert_eq!(o.ends_at, Some(at(BERLIN, "2026-12-01 15:00")));
    assert_eq!(
        refusal_text(ask(at(BERLIN, "2026-12-02 09:00"), "old", None, slice::from_ref(&m))),
        "Meeting «old» starts on Tue 8 Dec 2026 at 14:00 (Europe/Berlin)"
    );
    // From the first day of the calendar to the last: same cost.
    let m = weekly(meeting(2, "old", "0001-01-01 00:00", "0001-01-01 01:00"), 1, None);
    assert!(matches!(ask(at(BERLIN, "9000-06-01 00:30"), "old", None, &[m]), Decision::Open(_) | Decision::Refuse(_)));
}

#[test]
fn overlapping_occurrences_open_until_the_latest_end() {
    // 8 days long, every week: on the 9th day two occurrences are running.
    let m = weekly(meeting(1, "long", "2026-12-01 00:00", "2026-12-09 00:00"), 1, None);
    let o = opened(ask(at(BERLIN, "2026-12-08 12:00"), "long", None, &[m]));
    assert_eq!(o.ends_at, Some(at(BERLIN, "2026-12-16 00:00")));
}

#[test]
fn meetings_at_the_edges_of_time_do_not_panic() {
    let mut m = weekly(hello(), u32::MAX, None);
    m.start = Timestamp::MAX - SignedDuration::from_hours(2);
    m.end = Timestamp::MAX;
    m.early_join = SignedDuration::MAX;
    for now in [Timestamp::MIN, Timestamp::UNIX_EPOCH, Timestamp::MAX - nanos(1), Timestamp::MAX] {
        let _ = ask(now, "hello", None, slice::from_ref(&m));
    }
    let mut m = weekly(hello(), 1, None);
    m.start = Timestamp::MIN;
    m.end = Timestamp::MIN + SignedDuration::from_hours(1);
    for now in [Timestamp::MIN, Timestamp::UNIX_EPOCH, Timestamp::MAX] {
        let _ = ask(now, "hello", None, slice::from_ref(&m));
    }
    assert_eq!(occurrences(&m, Timestamp::MIN, Timestamp::MAX).len(), MAX_OCCURRENCES);
}

#[test]
fn at_the_end_of_time_the_last_representable_occurrence_counts() {
    // Windows reaching past year 9999: the occurrences nearest the join limit have ends jiff
    // cannot represent, so they do not exist; the last one that does is the one open now.
    let mut m = weekly(meeting(1, "room", "2023-11-14 23:00", "2023-12-04 23:00"), 1, None);
    m.early_join = SignedDuration::MAX;
    let o = opened(ask(at(BERLIN, "2029-05-01 06:00"), "room", None, &[m]));
    let end = o.ends_at.unwrap();
    assert!(end <= Timestamp::MAX && Timestamp::MAX.duration_since(end) < SignedDuration::from_hours(24 * 9), "{end}");
}

// ---------------------------------------------------------------------------------------
// occurrences()
// ---------------------------------------------------------------------------------------

#[test]
fn occurrences_overlap_a_half_open_range() {
    let m = hello();
    let (start, end) = (m.start, m.end);
    let one = vec![(start, end)];
    assert_eq!(occurrences(&m, start, end), one);
    assert_eq!(occurrences(&m, end - nanos(1), end), one);
    assert_eq!(occurrences(&m, start - nanos(1), start + nanos(1)), one);
    assert!(occurrences(&m, end, end + SignedDuration::from_hours(1)).is_empty()); // ended at `from`
    assert!(occurrences(&m, start - SignedDuration::from_hours(1), start).is_empty()); // starts at `to`
    assert!(occurrences(&m, end, start).is_empty()); // empty range
                                                     // The early-join window is not part of an occurrence.
    assert!(occurrences(&m, start - mins(5), start).is_empty());
}

#[test]
fn occurrences_of_a_weekly_meeting_in_a_month() {
    let m = weekly(hello(), 1, Some(at(BERLIN, "2026-12-22 14:00")));
    let days: Vec<_> = occurrences(&m, at(BERLIN, "2026-12-01 00:00"), at(BERLIN, "2027-01-01 00:00"))
        .into_iter()
        .map(|(s, _)| local(BERLIN, s))
        .collect();
    assert_eq!(
        days,
        ["2026-12-01 14:00 +01:00", "2026-12-08 14:00 +01:00", "2026-12-15 14:00 +01:00", "2026-12-22 14:00 +01:00"]
    );
    // A range in the middle starts at the right week.
    let mid = occurrences(&m, at(BERLIN, "2026-12-15 14:30"), at(BERLIN, "2026-12-16 00:00"));
    assert_eq!(mid, [(at(BERLIN, "2026-12-15 14:00"), at(BERLIN, "2026-12-15 15:00"))]);
}

// ---------------------------------------------------------------------------------------
// Booking checks
// ---------------------------------------------------------------------------------------

#[test]
fn valid_room_names() {
    for room in ["hello", "a", "7", "team-1.b_c", "x--", ".x", &"a".repeat(64)] {
        assert_eq!(validate_room_name(room), Ok(()), "{room:?}");
    }
}

#[test]
fn room_name_texts() {
    let cases: [(&str, &str); 11] = [
        ("", "The room name is empty"),
        (&"a".repeat(65), "The room name is 65 characters long; the limit is 64"),
        ("Hello", "The room name «Hello» has capital letters; Jitsi Meet room names are lower case: «hello»"),
        (
            "my room",
            "The room name «my room» contains a space; use only lower-case letters a-z, digits 0-9, dots, hyphens and underscores",
        ),
        (
            "My Room",
            "The room name «My Room» contains a space; use only lower-case letters a-z, digits 0-9, dots, hyphens and underscores",
        ),
        (
            "room@conference.example.com",
            "The room name «room@conference.example.com» contains «@»; use only lower-case letters a-z, digits 0-9, dots, hyphens and underscores",
        ),
        (
            "a/b",
            "The room name «a/b» contains «/»; use only lower-case letters a-z, digits 0-9, dots, hyphens and underscores",
        ),
        (
            "grüße",
            "The room name «grüße» contains «ü»; use only lower-case letters a-z, digits 0-9, dots, hyphens and underscores",
        ),
        (
            "a\tb",
            "The room name «a\u{FFFD}b» contains a tab; use only lower-case letters a-z, digits 0-9, dots, hyphens and underscores",
        ),
        ("..", "The room name «..» needs at least one letter or digit"),
        ("-_", "The room name «-_» needs at least one letter or digit"),
    ];
    for (room, text) in cases {
        assert_eq!(validate_room_name(room), Err(text.to_owned()), "{room:?}");
    }
}

#[test]
fn valid_owners() {
    for jid in ["alice@example.com", "Alice@Example.COM", "example.com", "alice@192.0.2.1", "alice@例え.jp"] {
        assert_eq!(validate_owner(jid), Ok(()), "{jid:?}");
    }
}

#[test]
fn owner_texts() {
    let cases = [
        ("", "The owner is empty; give a JID such as alice@example.com"),
        ("  ", "The owner is empty; give a JID such as alice@example.com"),
        ("alice @example.com", "The owner «alice @example.com» contains a space; give a JID such as alice@example.com"),
        (
            "alice@example.com/phone",
            "The owner «alice@example.com/phone» has a resource (the part from «/»); give the bare JID: «alice@example.com»",
        ),
        ("a@b@example.com", "The owner «a@b@example.com» has more than one «@»; give a JID such as alice@example.com"),
        ("@example.com", "The owner «@example.com» has nothing before the «@»"),
        ("alice@", "The owner «alice@» has no domain after the «@»"),
        (
            "al:ice@example.com",
            "The owner «al:ice@example.com» has a character a JID does not allow before the «@» (such as \" & ' : < >)",
        ),
        (
            "alice@exa..mple.com",
            "The owner «alice@exa..mple.com» has «exa..mple.com» as its domain, which is not a valid domain name",
        ),
    ];
    for (jid, text) in cases {
        assert_eq!(validate_owner(jid), Err(text.to_owned()), "{jid:?}");
    }
    let long = format!("{}@example.com", "a".repeat(1024));
    assert_eq!(
        validate_owner(&long).unwrap_err(),
        format!("The owner «{}…» has more than 1023 bytes before the «@»", "a".repeat(64))
    );
}

fn schedule_check(
    start: &str,
    end: &str,
    zone: &str,
    early_join: i64,
    recurrence: Option<Recurrence>,
) -> Result<(), String> {
    validate_schedule(at(BERLIN, start), at(BERLIN, end), zone, mins(early_join), recurrence)
}

#[test]
fn valid_schedules() {
    assert_eq!(schedule_check("2026-12-01 14:00", "2026-12-01 15:00", BERLIN, 10, None), Ok(()));
    assert_eq!(schedule_check("2026-12-01 14:00", "2026-12-01 14:00:01", "UTC", 0, None), Ok(()));
    let weekly = Recurrence::Weekly { interval: 1, until: Some(at(BERLIN, "2026-12-01 14:00")) };
    assert_eq!(schedule_check("2026-12-01 14:00", "2026-12-08 14:00", "america/new_york", 0, Some(weekly)), Ok(()));
    assert_eq!(
        schedule_check("2026-12-01 14:00", "2026-12-01 15:00", BERLIN, 6 * 24 * 60 + 23 * 60, Some(weekly)),
        Ok(())
    );
    assert_eq!(canonical_time_zone("america/new_york"), Ok("America/New_York".to_owned()));
}

#[test]
fn schedule_texts() {
    let weekly =
        |interval, until: Option<&str>| Some(Recurrence::Weekly { interval, until: until.map(|u| at(BERLIN, u)) });
    let cases = [
        (
            schedule_check("2026-12-01 14:00", "2026-12-01 15:00", "Europe/Berlyn", 0, None),
            "Unknown time zone «Europe/Berlyn»; use an IANA name such as Europe/Berlin, America/New_York or UTC",
        ),
        (
            schedule_check("2026-12-01 14:00", "2026-12-01 15:00", "", 0, None),
            "Unknown time zone «»; use an IANA name such as Europe/Berlin, America/New_York or UTC",
        ),
        (
            schedule_check("2026-12-01 14:00", "2026-12-01 14:00", "europe/berlin", 0, None),
            "The meeting ends when it starts (Tue 1 Dec 2026 at 14:00, Europe/Berlin); the end must be after the start",
        ),
        (
            schedule_check("2026-12-01 14:00", "2026-12-01 13:00", BERLIN, 0, None),
            "The meeting ends (Tue 1 Dec 2026 at 13:00) before it starts (Tue 1 Dec 2026 at 14:00, Europe/Berlin); the end must be after the start",
        ),
        (
            schedule_check("2026-12-01 14:00:30", "2026-12-01 14:00:10", BERLIN, 0, None),
            "The meeting ends (Tue 1 Dec 2026 at 14:00:10) before it starts (Tue 1 Dec 2026 at 14:00:30, Europe/Berlin); the end must be after the start",
        ),
        (
            schedule_check("2026-12-01 14:00", "2026-12-01 15:00", BERLIN, -10, None),
            "The early-join time must not be negative (it is -10 minutes)",
        ),
        (
            schedule_check("2026-12-01 14:00", "2026-12-01 15:00", BERLIN, 0, weekly(0, None)),
            "A weekly repetition needs an interval of at least 1 week (it is 0)",
        ),
        (
            schedule_check("2026-12-01 14:00", "2026-12-01 15:00", BERLIN, 0, weekly(1, Some("2026-11-30 09:00"))),
            "The repetition ends (Mon 30 Nov 2026 at 09:00) before the first meeting starts (Tue 1 Dec 2026 at 14:00, Europe/Berlin)",
        ),
        (
            schedule_check("2026-12-01 14:00", "2026-12-09 15:00", BERLIN, 0, weekly(1, None)),
            "A meeting repeated every week must not last longer than that; this one lasts 8 days 1 hour",
        ),
        (
            schedule_check("2026-12-01 14:00", "2026-12-01 15:00", BERLIN, 7 * 24 * 60 - 59, weekly(1, None)),
            "A meeting repeated every week must not be open for longer than that; this one lasts 1 hour and can be joined 6 days 23 hours 1 minute early",
        ),
        (
            schedule_check("2026-12-01 14:00", "2026-12-16 14:00:01", BERLIN, 0, weekly(2, None)),
            "A meeting repeated every 2 weeks must not last longer than that; this one lasts 15 days 1 second",
        ),
    ];
    for (got, text) in cases {
        assert_eq!(got, Err(text.to_owned()));
    }
}

#[test]
fn meeting_checks() {
    let mut m = owned(weekly(hello(), 1, None), &["alice@example.com"]);
    assert_eq!(validate_meeting(&m), Ok(()));
    m.owners.push("bob@example.com/laptop".to_owned());
    assert_eq!(
        validate_meeting(&m).unwrap_err(),
        "The owner «bob@example.com/laptop» has a resource (the part from «/»); give the bare JID: «bob@example.com»"
    );
    m.owners.pop();
    m.room = "Hello".to_owned();
    assert!(validate_meeting(&m).unwrap_err().starts_with("The room name «Hello» has capital letters"));
    m.room = "hello".to_owned();
    m.max_participants = Some(0);
    assert_eq!(
        validate_meeting(&m).unwrap_err(),
        "The participant limit must be at least 1 (leave it out for no limit)"
    );
    m.max_participants = Some(1);
    m.message = Some("x".repeat(1001));
    assert_eq!(validate_meeting(&m).unwrap_err(), "The refusal message is 1001 characters long; the limit is 1000");
    m.message = Some("Wait\nplease".to_owned());
    assert_eq!(
        validate_meeting(&m).unwrap_err(),
        "The refusal message contains a line break; use plain text (line breaks are not allowed either)"
    );
    m.message = Some("Bitte warten — «Frau Schmidt» kommt gleich".to_owned());
    assert_eq!(validate_meeting(&m), Ok(()));
}

#[test]
fn texts_echo_names_shortened_and_without_control_characters() {
    let long = format!("{}\u{7}", "x".repeat(70));
    let r = refusal_text(ask(Timestamp::UNIX_EPOCH, &long, None, &[]));
    assert_eq!(r, format!("Room «{}…» has no meeting booked", "x".repeat(64)));
    assert_eq!(texts::echo("a\u{0}b"), "a\u{FFFD}b");
}

#[test]
fn human_durations() {
    assert_eq!(texts::human_duration(SignedDuration::ZERO), "less than a second");
    assert_eq!(texts::human_duration(SignedDuration::from_secs(90)), "1 minute 30 seconds");
    assert_eq!(texts::human_duration(SignedDuration::from_hours(49)), "2 days 1 hour");
    assert_eq!(texts::human_duration(SignedDuration::MIN), "106751991167300 days 15 hours 30 minutes 8 seconds");
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

const ZONES: &[&str] =
    &[BERLIN, NEW_YORK, "UTC", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Apia", "Nope/Nowhere"];
const PEOPLE: &[&str] = &["alice@x.org", "bob@x.org", "carol@y.org"];

/// Instants mostly near 2026 (where the rules matter) and sometimes anywhere in jiff's range.
fn instant() -> impl Strategy<Value = Timestamp> {
    let (min, max) = (Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    prop_oneof![
        4 => (1_700_000_000i64..1_900_000_000).prop_map(|s| Timestamp::from_second(s).unwrap()),
        1 => (min..=max).prop_map(|s| Timestamp::from_second(s).unwrap()),
        1 => prop_oneof![Just(Timestamp::MIN), Just(Timestamp::MAX), Just(Timestamp::UNIX_EPOCH)],
    ]
}

fn span_secs() -> impl Strategy<Value = i64> {
    prop_oneof![4 => 1i64..20 * 86_400, 1 => -86_400i64..0, 1 => any::<i64>()]
}

fn arb_meeting() -> impl Strategy<Value = Meeting> {
    (
        0i64..6,
        prop_oneof![Just("room"), Just("other")],
        instant(),
        span_secs(),
        prop::sample::select(ZONES),
        span_secs(),
        proptest::option::of((0u32..4, proptest::option::of(instant()))),
        prop::sample::subsequence(PEOPLE, 0..=2),
        proptest::option::of(1u32..50),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(id, room, start, length, zone, early, recurrence, owners, max, message, cancelled)| {
            let end = start.checked_add(SignedDuration::from_secs(length)).unwrap_or(Timestamp::MAX);
            Meeting {
                id,
                room: room.to_owned(),
                owners: owners.into_iter().map(str::to_owned).collect(),
                start,
                end,
                time_zone: zone.to_owned(),
                early_join: SignedDuration::from_secs(early),
                recurrence: recurrence.map(|(interval, until)| Recurrence::Weekly { interval, until }),
                max_participants: max,
                message: message.then(|| "own text".to_owned()),
                cancelled,
            }
        })
}

/// A room mostly booked near `now`: meetings start within a few weeks of it.
fn scenario() -> impl Strategy<Value = (Timestamp, Vec<Meeting>)> {
    (instant(), prop::collection::vec((arb_meeting(), -30 * 86_400i64..30 * 86_400, any::<bool>()), 0..5)).prop_map(
        |(now, meetings)| {
            let meetings = meetings
                .into_iter()
                .map(|(mut m, offset, near)| {
                    if near {
                        let length = m.end.duration_since(m.start);
                        if let Ok(start) = now.checked_add(SignedDuration::from_secs(offset)) {
                            m.start = start;
                            m.end = start.checked_add(length).unwrap_or(Timestamp::MAX);
                        }
                    }
                    m
                })
                .collect();
            (now, meetings)
        },
    )
}

fn requester() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        prop::sample::select(PEOPLE).prop_map(str::to_owned),
        prop::sample::select(PEOPLE).prop_map(|p| p.to_uppercase()),
        prop::sample::select(PEOPLE).prop_map(|p| format!("{p}/res")),
        Just("mallory@z.org".to_owned()),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// `decide` never panics; an Open for a meeting always comes from a live occurrence of a
    /// matching meeting that admits the requester and contains `now` in its window, with
    /// `ends_at` that occurrence's end; and when such an occurrence exists, the room opens
    /// for a meeting (never refused, never ad hoc).
    #[test]
    fn an_opening_comes_from_an_occurrence_containing_now(
        (now, meetings) in scenario(),
        who in requester(),
        room in prop_oneof![Just("room"), Just("ROOM"), Just("adhoc-1")],
        allow in any::<bool>(),
    ) {
        let policy = AdHocPolicy { allow, patterns: vec!["adhoc-*".to_owned()] };
        let request = Request { room, mail_owner: who.as_deref() };
        let admits = |m: &Meeting| {
            m.owners.is_empty() || who.as_deref().is_some_and(|w| m.owners.iter().any(|o| owner_key(o) == owner_key(w)))
        };
        // Some meeting of the room admits the requester and has a window containing `now`.
        let should_open = meetings.iter().filter(|m| m.room == room.to_lowercase() && !m.cancelled && admits(m)).any(|m| {
            let join_limit = now.checked_add(m.early_join.max(SignedDuration::ZERO)).unwrap_or(Timestamp::MAX);
            let to = join_limit.checked_add(nanos(1)).unwrap_or(Timestamp::MAX);
            occurrences(m, now, to).iter().any(|&(s, e)| s <= join_limit && now < e)
        });
        let decision = decide(now, &request, &meetings, &policy);
        prop_assert_eq!(matches!(decision, Decision::Open(Opening { meeting_id: Some(_), .. })), should_open, "{:?}", decision);
        match decision {
            Decision::Open(Opening { meeting_id: Some(id), ends_at, max_occupants }) => {
                let candidates: Vec<_> = meetings.iter().filter(|m| m.id == id && m.room == room.to_lowercase()).collect();
                let ok = candidates.iter().any(|m| {
                    let early = m.early_join.max(SignedDuration::ZERO);
                    let join_limit = now.checked_add(early).unwrap_or(Timestamp::MAX);
                    // The occurrences around the end the policy chose (not all those whose
                    // window contains `now`: absurd early joins make those too many to list).
                    let Some(end) = ends_at else { return false };
                    let from = end.checked_sub(nanos(1)).unwrap_or(Timestamp::MIN);
                    !m.cancelled
                        && admits(m)
                        && max_occupants == m.max_participants
                        && occurrences(m, from, end)
                            .iter()
                            .any(|&(s, e)| s <= join_limit && now < e && ends_at == Some(e))
                });
                prop_assert!(ok, "open {id} at {now} not backed by an occurrence: {meetings:?}");
            }
            Decision::Open(opening) => {
                prop_assert_eq!(opening, Opening { meeting_id: None, ends_at: None, max_occupants: None });
                prop_assert!(policy.admits(&room.to_lowercase()));
            }
            Decision::Refuse(refusal) => {
                prop_assert!(!refusal.message.is_empty());
                if let Some(id) = refusal.meeting_id {
                    prop_assert!(meetings.iter().any(|m| m.id == id && m.room == room.to_lowercase()));
                }
            }
        }
    }

    /// `occurrences` (index arithmetic) equals walking week by week with jiff's own zoned
    /// arithmetic from the first occurrence.
    #[test]
    fn occurrences_match_a_week_by_week_walk(
        start_secs in 0i64..4_000_000_000,
        length in 60i64..3 * 86_400,
        zone in prop::sample::select(&ZONES[..6]),
        interval in 1u32..4,
        // Anywhere, or within three hours of an occurrence's end (where the index estimate
        // and a daylight-saving shift disagree by one).
        from_offset in prop_oneof![
            (-86_400i64..600 * 7 * 86_400).prop_map(Some),
            Just(None),
        ],
        near_end in (0i64..600, -3 * 3_600i64..3 * 3_600),
        window_days in 1i64..60,
        until_offset in proptest::option::of(0i64..700 * 7 * 86_400),
    ) {
        let tz = TimeZone::get(zone).unwrap();
        let start = Timestamp::from_second(start_secs).unwrap();
        let end = start + SignedDuration::from_secs(length);
        let until = until_offset.map(|secs| start + SignedDuration::from_secs(secs));
        let m = Meeting {
            id: 1,
            room: "r".to_owned(),
            owners: vec![],
            start,
            end,
            time_zone: zone.to_owned(),
            early_join: SignedDuration::ZERO,
            recurrence: Some(Recurrence::Weekly { interval, until }),
            max_participants: None,
            message: None,
            cancelled: false,
        };
        let from = match from_offset {
            Some(secs) => start + SignedDuration::from_secs(secs),
            None => {
                let (k, jitter) = near_end;
                end + SignedDuration::from_secs(k * 7 * 86_400 * i64::from(interval) + jitter)
            }
        };
        let to = from + SignedDuration::from_hours(window_days * 24);

        let (zs, ze) = (start.to_zoned(tz.clone()), end.to_zoned(tz.clone()));
        let mut expected = vec![];
        for k in 0i64.. {
            let (s, e) = if k == 0 {
                (start, end)
            } else {
                let days = (k * 7 * i64::from(interval)).days();
                let s = zs.datetime().checked_add(days).unwrap().to_zoned(tz.clone()).unwrap().timestamp();
                let e = ze.datetime().checked_add(days).unwrap().to_zoned(tz.clone()).unwrap().timestamp();
                (s, if e > s { e } else { s + end.duration_since(start) })
            };
            if s >= to || (k > 0 && until.is_some_and(|u| s > u)) {
                break;
            }
            if e > from {
                expected.push((s, e));
            }
        }
        prop_assert_eq!(occurrences(&m, from, to), expected);
    }

    #[test]
    fn checks_never_panic(s in "\\PC{0,80}|[a-zA-Z0-9@/._ -]{0,80}") {
        let _ = validate_room_name(&s);
        let _ = validate_owner(&s);
        let _ = canonical_time_zone(&s);
        let _ = glob_match(&s, "some-room");
        let _ = glob_match("so*e-?oom", &s);
        if validate_room_name(&s).is_ok() {
            prop_assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c)));
        }
    }
}

#[test]
fn zoned_helper_is_consistent() {
    // Sanity of the test helper itself: `at` resolves like the policy does.
    let z: Zoned = "2026-03-29T02:30[Europe/Berlin]".parse().unwrap();
    assert_eq!(z.timestamp(), at(BERLIN, "2026-03-29 02:30"));
}
