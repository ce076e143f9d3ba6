//! The reservation API in virtual time: grants, refusals and their cache, retries and
//! conflicts, the reserved time ending, and DELETEs (retried, checked, kept in the outbox,
//! resumed after a restart) that never remove a reservation someone else holds.

use super::*;

#[test]
fn refused_reservation_reaches_the_client_with_code_and_message_and_is_cached() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let calls = h.take_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, Method::Post);
    assert_eq!(calls[0].form[0], ("name".to_owned(), "room1".to_owned()));
    assert_eq!(calls[0].form[1], ("start_time".to_owned(), "2026-11-22T10:00:00.000Z".to_owned()));
    h.http(&calls[0], 403, r#"{"message":"Zutritt nur mit <Buchung> ✓"}"#);
    let sent = h.take_sent();
    let error = error_of(reply_to(&sent, "q1"));
    assert_eq!(parse_reservation_error(&error), Some((403, "Zutritt nur mit <Buchung> ✓".to_owned())));
    assert!(!sent.iter().any(|s| is_join(s, ROOM)));
    // Retrying clients get the same answer without another call for a while...
    h.advance(5);
    h.request("q2", ROOM);
    assert!(parse_reservation_error(&error_of(reply_to(&h.take_sent(), "q2"))).is_some());
    assert!(h.take_calls().is_empty());
    // ...then the API is asked again.
    h.advance(10);
    h.request("q3", ROOM);
    assert_eq!(h.take_calls().len(), 1);
}

#[test]
fn concurrent_requests_share_one_reservation_call_and_one_join() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    h.request("q2", ROOM);
    h.request("q3", ROOM);
    let calls = h.take_calls();
    assert_eq!(calls.len(), 1);
    h.http(&calls[0], 201, GRANTED);
    assert_eq!(h.take_sent().iter().filter(|s| is_join(s, ROOM)).count(), 1);
    h.room_accepts_join(ROOM);
    let sent = h.take_sent();
    for id in ["q1", "q2", "q3"] {
        assert!(ready(reply_to(&sent, id)));
    }
}

#[test]
fn server_errors_are_retried_after_the_delay_then_refused_with_the_last_status() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let first = h.take_calls().remove(0);
    h.http(&first, 500, "");
    assert!(h.take_calls().is_empty());
    h.advance(2);
    assert!(h.take_calls().is_empty(), "retried before retry_delay");
    h.advance(1);
    let second = h.take_calls().remove(0);
    h.http(&second, 200, GRANTED);
    assert!(h.take_sent().iter().any(|s| is_join(s, ROOM)));

    let other = "room2@conference.meet.test";
    h.request("r1", other);
    for _ in 0..3 {
        let call = h.take_calls().remove(0);
        h.input(Input::Http { id: call.id, outcome: HttpOutcome::Unreachable("connection refused".into()) });
        h.advance(3);
    }
    let error = error_of(reply_to(&h.take_sent(), "r1"));
    let (code, text) = parse_reservation_error(&error).unwrap();
    assert_eq!(code, reservation::codes::UNREACHABLE);
    assert!(text.contains("connection refused"), "{text}");
}

#[test]
fn conflict_is_resolved_by_reading_the_existing_reservation() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    h.http(&post, 409, r#"{"conflict_id": 42}"#);
    let get = h.take_calls().remove(0);
    assert_eq!((get.method, get.path.as_str()), (Method::Get, "/conference/42"));
    h.http(&get, 200, GRANTED);
    h.room_accepts_join(ROOM);
    assert!(ready(reply_to(&h.take_sent(), "q1")));
    // The adopted reservation is the one deleted at the end.
    h.advance(15);
    let delete = h.take_calls().remove(0);
    assert_eq!((delete.method, delete.path.as_str()), (Method::Delete, "/conference/42"));
}

#[test]
fn an_expired_reservation_is_refused_with_419() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    h.http(&post, 200, r#"{"id":1,"name":"room1","start_time":"2026-11-22T08:00:00Z","duration":3600}"#);
    let error = error_of(reply_to(&h.take_sent(), "q1"));
    assert_eq!(parse_reservation_error(&error), Some((419, "Reservation expired".to_owned())));
}

#[test]
fn last_participant_leaving_deletes_the_reservation_retrying_until_it_succeeds() {
    let mut h = Harness::new(true);
    h.live(GRANTED);
    h.participant(ROOM, "alice", true);
    h.participant(ROOM, "bob", true);
    h.advance(60); // participants keep it alive past the initial timeout
    h.participant(ROOM, "alice", false);
    assert!(h.take_calls().is_empty());
    h.participant(ROOM, "bob", false);
    assert!(h.take_sent().iter().any(|s| is_leave(s, ROOM)));
    let delete = h.take_calls().remove(0);
    h.http(&delete, 503, "");
    h.advance(2);
    assert!(h.take_calls().is_empty());
    h.advance(1); // first retry after retry_delay (3 s): is 42 still this room's reservation?
    let check = h.take_calls().remove(0);
    assert_eq!((check.method, check.path.as_str()), (Method::Get, "/conference/42"));
    h.input(Input::Http { id: check.id, outcome: HttpOutcome::Timeout });
    h.advance(5);
    assert!(h.take_calls().is_empty());
    h.advance(1); // then 6 s
    let check = h.take_calls().remove(0);
    h.http(&check, 200, GRANTED);
    let third = h.take_calls().remove(0);
    assert_eq!((third.method, third.path.as_str()), (Method::Delete, "/conference/42"));
    assert!(h.focus.has_pending_http());
    h.http(&third, 200, "");
    assert!(!h.focus.has_pending_http());
}

#[test]
fn the_reserved_duration_ending_destroys_the_room_and_deletes() {
    let mut h = Harness::new(true);
    h.live(r#"{"id":"x1","name":"room1","start_time":"2026-11-22T10:00:00Z","duration":120}"#);
    h.participant(ROOM, "alice", true);
    h.take_sent();
    h.advance(119);
    assert!(h.take_calls().is_empty());
    h.advance(1);
    let sent = h.take_sent();
    let destroy = sent.iter().find(|s| s.name() == "iq").expect("destroy request");
    let reason = String::from(destroy);
    assert!(reason.contains("reserved time"), "{reason}");
    assert_eq!(h.take_calls()[0].path, "/conference/x1");
}

#[test]
fn a_reservation_granted_after_its_conference_ended_is_deleted() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    h.focus.shutdown(h.now);
    h.drain();
    assert!(h.focus.has_pending_http(), "the runtime must wait for the POST");
    h.http(&post, 201, GRANTED);
    let delete = h.take_calls().remove(0);
    assert_eq!((delete.method, delete.path.as_str()), (Method::Delete, "/conference/42"));
}

#[test]
fn an_adopted_reservation_is_not_deleted_by_an_old_retrying_delete() {
    let mut h = Harness::new(true);
    h.live(GRANTED);
    h.advance(15); // nobody came: DELETE 42, which fails
    let delete = h.take_calls().remove(0);
    h.http(&delete, 503, "");
    h.request("q2", ROOM);
    let post = h.take_calls().remove(0);
    h.http(&post, 409, r#"{"conflict_id": 42}"#);
    let get = h.take_calls().remove(0);
    h.http(&get, 200, GRANTED);
    h.room_accepts_join(ROOM);
    h.participant(ROOM, "alice", true);
    h.advance(600);
    assert!(h.take_calls().is_empty(), "the old DELETE was retried while 42 is in use");
}

#[test]
fn a_huge_refusal_text_is_cut_and_the_cut_text_is_cached() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    let message = "ä".repeat(600_000);
    h.http(&post, 403, &format!(r#"{{"message":"{message}"}}"#));
    let (_, text) = parse_reservation_error(&error_of(reply_to(&h.take_sent(), "q1"))).unwrap();
    assert_eq!(text.chars().count(), 1024);
    assert!(text.ends_with('…'));
    h.request("q2", ROOM);
    let (_, cached) = parse_reservation_error(&error_of(reply_to(&h.take_sent(), "q2"))).unwrap();
    assert_eq!(cached, text);
}

#[test]
fn a_granted_reservation_is_in_the_outbox_until_its_delete_succeeds() {
    let mut h = Harness::new(true);
    h.live(GRANTED);
    let put = |ended: bool| move |c: &OutboxChange| matches!(c, OutboxChange::Put(r) if r.id == "42" && r.ended_at.is_some() == ended);
    assert!(h.outbox.iter().any(put(false)), "recorded when granted: {:?}", h.outbox);
    h.advance(15); // nobody joined
    assert!(h.outbox.iter().any(put(true)), "recorded as ended");
    let delete = h.take_calls().remove(0);
    h.http(&delete, 503, "");
    assert!(!h.outbox.iter().any(|c| matches!(c, OutboxChange::Remove(_))));
    h.advance(5);
    let check = h.take_calls().remove(0);
    h.http(&check, 200, GRANTED);
    let retry = h.take_calls().remove(0);
    h.http(&retry, 204, "");
    assert_eq!(h.outbox.last(), Some(&OutboxChange::Remove("42".into())));
}

#[test]
fn deletes_left_by_an_earlier_run_are_resumed_and_given_up_in_time() {
    let mut h = Harness::new(true);
    let stored = |id: &str, ended_at| StoredDelete { id: id.into(), room: ROOM.into(), ended_at };
    h.focus.restore_deletes(h.now, vec![stored("7", None), stored("8", Some(h.now - Duration::hours(23)))]);
    h.drain();
    let calls = h.take_calls();
    let mut paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/conference/7", "/conference/8"]);
    for call in &calls {
        h.http(call, 503, "");
    }
    // 8 ended 23 hours ago: it is given up within the hour; 7 goes on.
    for _ in 0..30 {
        for call in h.take_calls() {
            h.http(&call, 503, "");
        }
        h.advance(300);
    }
    assert!(h.outbox.contains(&OutboxChange::Remove("8".into())), "8 was given up");
    assert!(!h.outbox.contains(&OutboxChange::Remove("7".into())), "7 is still retried");
    assert!(h.focus.has_pending_http());
}

#[test]
fn control_characters_in_a_refusal_cannot_break_the_answer() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    h.http(&post, 403, r#"{"message":"no\u0000 \u001b[31mway\ufffe"}"#);
    let reply = reply_to(&h.take_sent(), "q1").clone();
    let mut bytes = Vec::new();
    reply.write_to(&mut bytes).expect("the answer serialises");
    let (_, text) = parse_reservation_error(&error_of(&reply)).unwrap();
    assert_eq!(text, "no\u{FFFD} \u{FFFD}[31mway\u{FFFD}");
}

#[test]
fn a_retried_delete_checks_the_id_first_and_spares_a_reused_one() {
    for (answer, body) in
        [(404, ""), (200, r#"{"id":42,"name":"someone-else","start_time":"2026-11-22T10:00:00Z","duration":60}"#)]
    {
        let mut h = Harness::new(true);
        h.live(GRANTED);
        h.advance(15);
        let delete = h.take_calls().remove(0);
        h.input(Input::Http { id: delete.id, outcome: HttpOutcome::Timeout }); // processed, or not?
        h.advance(3);
        let check = h.take_calls().remove(0);
        assert_eq!(check.method, Method::Get);
        h.http(&check, answer, body);
        assert!(h.take_calls().is_empty(), "no second DELETE after a {answer}");
        assert!(!h.focus.has_pending_http());
        assert_eq!(h.outbox.last(), Some(&OutboxChange::Remove("42".into())));
    }
}

#[test]
fn a_new_reservation_waits_for_the_previous_delete_of_the_room() {
    let mut h = Harness::new(true);
    h.live(GRANTED);
    h.advance(15); // nobody came: DELETE 42 goes out
    let delete = h.take_calls().remove(0);
    h.request("q2", ROOM);
    assert!(h.take_calls().is_empty(), "no POST while the DELETE is on the wire");
    h.http(&delete, 204, "");
    let post = h.take_calls().remove(0);
    assert_eq!(post.method, Method::Post);
    h.http(&post, 201, GRANTED);
    h.room_accepts_join(ROOM);
    assert!(ready(reply_to(&h.take_sent(), "q2")));
}
