//! A fuzzed IQ (conference request, login-url, logout, disco, ping, answers to our own IQs…)
//! sent to a fresh, connected focus in one of the configurations of `focus_fuzz::VARIANTS`,
//! chosen by the input's length (see `focus_fuzz::pick`).
//!
//! The same stanza arrives three times: for a new room, while its conference starts (after
//! the reservation API granted it and the room accepted our join) and once it is live. Then
//! time runs on past every deadline (request timeout, empty-room timeout, session expiry) and
//! the focus shuts down. Nothing may panic.
#![no_main]

use focus_fuzz::{element, pick, Driver, VARIANTS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(stanza) = element(data) else { return };
    {
        let mut d = Driver::new(pick(data, &VARIANTS));
        d.stanza(stanza.clone());
        d.settle();
        d.stanza(stanza.clone());
        d.settle();
        d.stanza(stanza.clone());
        d.advance(30);
        d.settle();
        d.advance(2 * 24 * 3600);
        // A late wake-up straight to a far future, as after a suspended machine.
        let later = d.now + chrono::Duration::days(400);
        d.focus.handle_timeout(later);
        d.drain();
        d.now = later;
        d.focus.shutdown(d.now);
        d.drain();
    }
});
