//! A fuzzed body from the reservation API: read by the pure policy functions with the statuses
//! that read a body, then given to the focus as the answer to its POST for `room1` (409 when
//! the body names a `conflict_id`, followed by the GET of that reservation answered with the
//! same body; 201 otherwise). Nothing may panic, whatever the server sends.
#![no_main]

use focus_fuzz::{start, Driver, Variant, ROOM};
use jitsi_focus::core::reservation::{
    judge_create, judge_delete, parse_reservation, parse_time, HttpOutcome, Method, Verdict,
};
use jitsi_focus::core::Input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };
    let now = start();
    // Statuses whose handling reads the body; 500 on the last attempt (4 of 1 + 3 retries).
    for (status, attempt) in [(201, 1), (409, 1), (403, 1), (500, 4)] {
        let outcome = HttpOutcome::Response { status, body: body.to_owned() };
        if let Verdict::Granted(reservation) = judge_create(&outcome, "room1", attempt, 3) {
            // As the focus does with every grant.
            let _ = reservation.ends_at() <= now;
        }
    }
    let _ = judge_delete(&HttpOutcome::Response { status: 403, body: body.to_owned() });
    if let Ok(reservation) = parse_reservation(body, "room1") {
        let _ = reservation.ends_at();
    }
    let _ = parse_time(body);

    // The same body through the focus.
    let status = if body.contains("conflict_id") { 409 } else { 201 };
    let mut d = Driver::new(Variant::Reservations);
    d.xml(&format!("<iq xmlns='jabber:component:accept' type='set' id='q1' from='abc@meet.test/r' to='focus.meet.test'><conference xmlns='http://jitsi.org/protocol/focus' room='{ROOM}' machine-uid='m1'/></iq>"));
    let post = d.calls.pop().expect("a new room is POSTed");
    d.input(Input::Http { id: post.id, outcome: HttpOutcome::Response { status, body: body.to_owned() } });
    if let Some(get) = d.calls.iter().position(|c| c.method == Method::Get) {
        let get = d.calls.remove(get);
        d.input(Input::Http { id: get.id, outcome: HttpOutcome::Response { status: 200, body: body.to_owned() } });
    }
    d.settle();
    d.advance(7200);
    d.settle();
    d.focus.shutdown(d.now);
    d.drain();
});
