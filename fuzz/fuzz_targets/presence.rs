//! A fuzzed presence: parsed as a MUC occupant presence and for its Jitsi extensions, then
//! delivered to a focus that runs a live conference in `room1@conference.meet.test` (one
//! participant, `p1`), without sign-in or with token sign-in (chosen by the input's length, see
//! `focus_fuzz::pick`). The same presence arrives twice (a join, then
//! an update), then time runs on past the empty-room timeout and the focus shuts down.
#![no_main]

use focus_fuzz::{element, pick, Driver, Variant};
use jitsi_focus::xmpp::jitsi_presence::ParticipantInfo;
use jitsi_focus::xmpp::muc::OccupantPresence;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(stanza) = element(data) else { return };
    if let Some(occupant) = OccupantPresence::parse(&stanza) {
        let _ = occupant.is_self();
    }
    let info = ParticipantInfo::parse(&stanza);
    let _ = info.claims_service();

    {
        let mut d = Driver::live(pick(data, &[Variant::Reservations, Variant::JwtNoReservations]));
        d.stanza(stanza.clone());
        d.settle();
        d.stanza(stanza.clone());
        d.settle();
        d.advance(60);
        d.settle();
        d.advance(2 * 3600);
        d.focus.shutdown(d.now);
        d.drain();
    }
});
