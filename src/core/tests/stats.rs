//! What `Focus::stats` and the debug views report in realistic scenarios: gauges follow
//! conferences and participants, counters count at their sites.

use super::media::{accepted, audio_content, creates, jingles, media_settings, sid_of, two_on_first_bridge, BREWERY};
use super::*;
use crate::core::stats::{ReservationCalls, Stats, CONFERENCE_SIZE_BUCKETS};

const ROOM2: &str = "room2@conference.meet.test";
const ROOM3: &str = "room3@conference.meet.test";

fn sizes(counts: &[(usize, u64)]) -> Vec<u64> {
    let mut sizes = vec![0; CONFERENCE_SIZE_BUCKETS];
    for (size, count) in counts {
        sizes[*size] = *count;
    }
    sizes
}

fn granted(id: u32, name: &str) -> String {
    format!(r#"{{"id":{id},"name":"{name}","start_time":"2026-11-22T10:00:00.000Z","duration":3600}}"#)
}

/// ROOM with alice and bob, ROOM2 with carol, dave and erin; no media.
fn two_live_conferences() -> Harness {
    let mut h = Harness::new(false);
    h.request("q1", ROOM);
    h.room_accepts_join(ROOM);
    h.request("q2", ROOM2);
    h.room_accepts_join(ROOM2);
    for nick in ["alice", "bob"] {
        h.participant(ROOM, nick, true);
    }
    for nick in ["carol", "dave", "erin"] {
        h.participant(ROOM2, nick, true);
    }
    h.take_sent();
    h
}

#[test]
fn conference_and_participant_gauges_follow_the_rooms() {
    let mut h = two_live_conferences();
    let stats = h.focus.stats();
    assert_eq!((stats.conferences, stats.conferences_starting), (2, 0));
    assert_eq!((stats.participants, stats.largest_conference, stats.participant_pairs), (5, 3, 2 + 6));
    assert_eq!(stats.conference_sizes, sizes(&[(2, 1), (3, 1)]));
    assert_eq!((stats.counters.conferences_created, stats.counters.participants_joined), (2, 5));
    assert!(stats.component_connected);

    // A participant leaves: the gauges drop, the join counter stays.
    h.participant(ROOM2, "erin", false);
    let stats = h.focus.stats();
    assert_eq!((stats.participants, stats.largest_conference, stats.participant_pairs), (4, 2, 2 + 2));
    assert_eq!(stats.conference_sizes, sizes(&[(2, 2)]));
    assert_eq!(stats.counters.participants_joined, 5);

    // A third conference not live yet: starting, of size 0.
    h.request("q3", ROOM3);
    let stats = h.focus.stats();
    assert_eq!((stats.conferences, stats.conferences_starting), (3, 1));
    assert_eq!(stats.conference_sizes, sizes(&[(0, 1), (2, 2)]));
    assert_eq!(stats.counters.conferences_created, 2, "created counts when live");

    // The last participants of ROOM leave: it ends.
    h.participant(ROOM, "alice", false);
    h.participant(ROOM, "bob", false);
    let stats = h.focus.stats();
    assert_eq!((stats.conferences, stats.participants, stats.participant_pairs), (2, 2, 2));
    assert_eq!(stats.conference_sizes, sizes(&[(0, 1), (2, 1)]));
}

#[test]
fn more_than_twenty_participants_fall_in_the_last_bucket() {
    let mut h = Harness::new(false);
    h.request("q1", ROOM);
    h.room_accepts_join(ROOM);
    for i in 0..23 {
        h.participant(ROOM, &format!("p{i}"), true);
    }
    let stats = h.focus.stats();
    assert_eq!(stats.conference_sizes, sizes(&[(CONFERENCE_SIZE_BUCKETS - 1, 1)]));
    assert_eq!((stats.largest_conference, stats.participant_pairs), (23, 23 * 22));
}

#[test]
fn requests_new_requests_and_errors_are_counted() {
    let mut h = two_live_conferences();
    let counters = h.focus.stats().counters;
    assert_eq!((counters.conference_requests, counters.conference_requests_new), (2, 2));
    // A request for a running conference is not new.
    h.request("q3", ROOM);
    assert!(ready(reply_to(&h.take_sent(), "q3")));
    // A request for a room on another domain is an error (and no room of ours is involved).
    h.request("q4", "room9@elsewhere.test");
    error_of(reply_to(&h.take_sent(), "q4"));
    let counters = h.focus.stats().counters;
    assert_eq!(
        (counters.conference_requests, counters.conference_requests_new, counters.conference_requests_errors),
        (4, 2, 1)
    );
}

#[test]
fn reservation_answers_are_counted_by_outcome() {
    let mut h = Harness::new(true);
    // 403: refused, and the request hears an error.
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    h.http(&post, 403, r#"{"message":"no booking"}"#);
    error_of(reply_to(&h.take_sent(), "q1"));
    let stats = h.focus.stats();
    assert_eq!(stats.counters.reservation_calls, ReservationCalls { refused: 1, ..Default::default() });
    assert_eq!(stats.counters.conference_requests_errors, 1);
    assert_eq!(stats.conferences, 0);
    // Within the refusal cache: refused again without a call, still a new request.
    h.request("q2", ROOM);
    error_of(reply_to(&h.take_sent(), "q2"));
    assert!(h.take_calls().is_empty());
    let counters = h.focus.stats().counters;
    assert_eq!(counters.reservation_calls.refused, 1);
    assert_eq!(
        (counters.conference_requests, counters.conference_requests_new, counters.conference_requests_errors),
        (2, 2, 2)
    );

    // 409 with a conflict id, then the GET grants it.
    h.request("r1", ROOM2);
    let post = h.take_calls().remove(0);
    h.http(&post, 409, r#"{"conflict_id": 43}"#);
    let get = h.take_calls().remove(0);
    h.http(&get, 200, &granted(43, "room2"));
    let calls = h.focus.stats().counters.reservation_calls;
    assert_eq!(calls, ReservationCalls { refused: 1, conflict: 1, allowed: 1, failed: 0 });

    // A 500 is retried: failed, then allowed.
    h.request("s1", ROOM3);
    let post = h.take_calls().remove(0);
    h.http(&post, 500, "");
    h.advance(3);
    let retry = h.take_calls().remove(0);
    h.http(&retry, 201, &granted(44, "room3"));
    let counters = h.focus.stats().counters;
    assert_eq!(counters.reservation_calls, ReservationCalls { refused: 1, conflict: 1, allowed: 2, failed: 1 });
    assert_eq!(counters.conference_requests_errors, 2, "granted requests are no errors");
    assert_eq!(h.focus.stats().conferences_starting, 2, "ROOM2 and ROOM3 are joining");
}

#[test]
fn a_lost_bridge_moves_its_participants() {
    let mut h = two_on_first_bridge();
    let stats = h.focus.stats();
    assert_eq!((stats.bridge_count, stats.operational_bridge_count, stats.in_shutdown_bridge_count), (2, 2, 0));
    let jvb1 = format!("{BREWERY}/jvb-1");
    let first = &stats.bridges[0];
    assert_eq!((first.jid.as_str(), first.conferences, first.endpoints), (jvb1.as_str(), 1, 2));
    assert!(first.operational && !first.draining && !first.graceful_shutdown);
    assert_eq!(first.stress, 0.1);
    assert_eq!((stats.bridges[1].conferences, stats.bridges[1].endpoints), (0, 0));
    assert_eq!(stats.jingle_sessions.initiated, 2);
    assert_eq!((stats.lost_bridges, stats.counters.participants_moved, stats.counters.bridges_removed), (0, 0, 0));

    h.bridge_left("jvb-1");
    let sent = h.take_sent();
    let stats = h.focus.stats();
    assert_eq!((stats.lost_bridges, stats.counters.participants_moved, stats.counters.bridges_removed), (1, 2, 1));
    assert_eq!(stats.bridge_count, 1);
    assert_eq!(stats.jingle_sessions.allocating, 2, "both wait for their allocation on jvb-2");
    assert_eq!(stats.counters.jingle_sent["session-terminate"], jingles(&sent, "session-terminate").len() as u64);
    assert_eq!(stats.counters.jingle_sent["session-terminate"], 2);

    // A bridge that announced its shutdown is not lost when it leaves.
    h.bridge("jvb-2", "<stat name='graceful_shutdown' value='true'/>");
    assert_eq!(h.focus.stats().in_shutdown_bridge_count, 1);
    h.bridge_left("jvb-2");
    let stats = h.focus.stats();
    assert_eq!((stats.lost_bridges, stats.bridge_count), (1, 0));
}

#[test]
fn jingle_is_counted_by_action_and_sessions_by_state() {
    let mut h = accepted(&["alice", "bob"]);
    let stats = h.focus.stats();
    assert_eq!(stats.jingle_sessions.active, 2);
    assert_eq!(stats.counters.jingle_sent.get("session-initiate"), Some(&2));
    assert_eq!(stats.counters.jingle_received.get("session-accept"), Some(&2));
    assert_eq!(stats.counters.jingle_received.get("source-add"), None);

    let alice = sid_of(&h, "alice");
    let add = format!(
        "<jingle xmlns='urn:xmpp:jingle:1' action='source-add' sid='{alice}'>{}</jingle>",
        audio_content(1111, Some("s t"))
    );
    assert_eq!(h.jingle_from("alice", "a1", &add).attr("type"), Some("result"));
    let unknown = format!("<jingle xmlns='urn:xmpp:jingle:1' action='content-modify' sid='{alice}'/>");
    error_of(&h.jingle_from("alice", "a2", &unknown));
    let sent = h.take_sent();
    let counters = h.focus.stats().counters;
    assert_eq!(counters.jingle_received.get("source-add"), Some(&1));
    assert_eq!(counters.jingle_received.get("other"), Some(&1));
    assert_eq!(counters.jingle_sent.get("source-add"), Some(&(jingles(&sent, "source-add").len() as u64)));
    assert_eq!(counters.jingle_sent.get("source-add"), Some(&1), "bob hears of alice's source");
    assert!(counters
        .jingle_received
        .keys()
        .chain(counters.jingle_sent.keys())
        .all(|k| { crate::core::stats::JINGLE_ACTIONS.contains(k) }));

    // A participant leaving takes its session with it.
    h.participant(ROOM, "bob", false);
    assert_eq!(h.focus.stats().jingle_sessions.active, 1);
}

#[test]
fn ice_failures_and_restart_requests_are_counted() {
    let mut h = two_on_first_bridge();
    let session = |h: &Harness| {
        let s = h.focus.conferences_for_tests(ROOM).media.participants["alice"].session.clone().unwrap();
        (s.sid, s.bridge_session_id)
    };
    let (sid, bs) = session(&h);
    let ice_failed = format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-info' sid='{sid}'><ice-state xmlns='http://jitsi.org/protocol/focus'>failed</ice-state><bridge-session xmlns='http://jitsi.org/protocol/focus' id='{bs}'/></jingle>");
    assert_eq!(h.jingle_from("alice", "i1", &ice_failed).attr("type"), Some("result"));
    let counters = h.focus.stats().counters;
    assert_eq!((counters.participants_ice_failed, counters.participants_restart_requested), (1, 0));
    assert_eq!(counters.jingle_received.get("session-info"), Some(&1));

    h.advance(6);
    let request = creates(&h.take_sent()).pop().expect("alice's fresh allocation");
    h.allocate(&request, 10000);
    let (sid, bs) = session(&h);
    let restart = format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-terminate' sid='{sid}'><bridge-session xmlns='http://jitsi.org/protocol/focus' id='{bs}' restart='true'/></jingle>");
    assert_eq!(h.jingle_from("alice", "t1", &restart).attr("type"), Some("result"));
    let counters = h.focus.stats().counters;
    assert_eq!((counters.participants_ice_failed, counters.participants_restart_requested), (1, 1));

    // A plain session-terminate is no restart request.
    let bob = sid_of(&h, "bob");
    let terminate = format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-terminate' sid='{bob}'/>");
    assert_eq!(h.jingle_from("bob", "t2", &terminate).attr("type"), Some("result"));
    let counters = h.focus.stats().counters;
    assert_eq!(counters.participants_restart_requested, 1);
    assert_eq!(counters.jingle_received.get("session-terminate"), Some(&2));
}

#[test]
fn reconnections_of_the_component_are_counted() {
    let mut h = two_live_conferences();
    let counters = h.focus.stats().counters;
    assert_eq!((counters.component_connects, counters.component_reconnects, counters.component_disconnects), (1, 0, 0));
    h.input(Input::Disconnected);
    h.input(Input::Disconnected);
    let stats = h.focus.stats();
    assert!(!stats.component_connected);
    assert_eq!(stats.counters.component_disconnects, 1, "only a link that was up goes down");
    h.input(Input::Connected);
    let stats = h.focus.stats();
    assert!(stats.component_connected);
    assert_eq!((stats.counters.component_connects, stats.counters.component_reconnects), (2, 1));
    // The rooms are joined again: the conferences are starting until the room answers.
    assert_eq!((stats.conferences, stats.conferences_starting), (2, 2));
}

#[test]
fn debug_conference_shows_participants_and_their_sessions() {
    let mut h = accepted(&["alice", "bob"]);
    let alice = sid_of(&h, "alice");
    let add = format!(
        "<jingle xmlns='urn:xmpp:jingle:1' action='source-add' sid='{alice}'>{}</jingle>",
        audio_content(1111, Some("s t"))
    );
    h.jingle_from("alice", "a1", &add);

    let debug = h.focus.debug_conference(ROOM).expect("ROOM runs");
    assert_eq!(h.focus.debug_conference("room1"), Some(debug.clone()), "the local part names it too");
    assert_eq!(debug["room"], ROOM);
    assert_eq!(debug["phase"], "live");
    assert!(debug["meeting_id"].is_string());
    assert!(debug["created_at"].as_str().unwrap().starts_with("2026-11-22T10:00:00"));
    assert!(debug["started_at"].is_string());
    let participants = debug["participants"].as_array().unwrap();
    let nicks: Vec<&str> = participants.iter().map(|p| p["nick"].as_str().unwrap()).collect();
    assert_eq!(nicks, ["alice", "bob"]);
    let first = &participants[0];
    assert_eq!(first["real_jid"], "alice@meet.test/r");
    assert_eq!(first["session"]["state"], "active");
    assert_eq!(first["session"]["sid"], alice.as_str());
    assert_eq!(first["session"]["bridge"], format!("{BREWERY}/jvb-1"));
    assert_eq!(first["session"]["endpoint_allocated"], true);
    assert_eq!(first["sources"]["sources"][0]["ssrc"], 1111);
    assert_eq!(first["sources"]["sources"][0]["media"], "audio");
    assert!(first["features"].as_array().unwrap().iter().any(|f| f == "audio"));
    assert_eq!(participants[1]["sources"]["sources"].as_array().map(Vec::len), Some(0));
    let sessions = debug["bridge_sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["endpoints"], serde_json::json!(["alice", "bob"]));

    assert_eq!(h.focus.debug_conference("nowhere"), None);
    assert_eq!(h.focus.debug_conference("room1@elsewhere.test"), None);
    assert_eq!(h.focus.debug_conference("not a jid@@"), None);

    let overview = h.focus.debug_overview();
    assert_eq!(overview["conference_count"], 1);
    let line = &overview["conferences"][0];
    assert_eq!((line["room"].as_str(), line["phase"].as_str()), (Some(ROOM), Some("live")));
    assert_eq!(line["participants"], 2);
    assert_eq!(line["bridges"], serde_json::json!([format!("{BREWERY}/jvb-1")]));
}

#[test]
fn debug_conference_of_a_starting_conference_and_the_stats_json() {
    let mut h = Harness::with(media_settings());
    h.request("q1", ROOM);
    let debug = h.focus.debug_conference(ROOM).unwrap();
    assert_eq!(debug["phase"], "joining");
    assert_eq!(debug["participants"], serde_json::json!([]));
    assert_eq!(debug["started_at"], serde_json::Value::Null);
    // The snapshot serializes flat, as Jicofo's /stats.
    let json = serde_json::to_value(h.focus.stats()).unwrap();
    assert_eq!(json["conferences"], 1);
    assert_eq!(json["conference_requests"], 1);
    assert_eq!(json["conference_sizes"].as_array().map(Vec::len), Some(CONFERENCE_SIZE_BUCKETS));
    assert_eq!(json["reservation_calls"]["allowed"], 0);
    assert_eq!(Stats::default().conference_sizes.len(), 0, "only a snapshot fills the histogram");
}
