//! A fuzzed stanza to a focus running media: a live conference in `room1@conference.meet.test`
//! with participants `p1` and `p2` whose sessions were initiated on bridge `jvb-1` of the
//! brewery (`focus_fuzz::Driver::media_live`). The stanza is parsed by every media wire module,
//! then delivered twice with the participants' and bridge's answers in between (so that a
//! session-accept, source-add or terminate leads on to Colibri2 updates and re-invites); then
//! time runs past every timeout and the focus shuts down.
#![no_main]

use focus_fuzz::{element, Driver};
use jitsi_focus::xmpp::brewery::BridgeStats;
use jitsi_focus::xmpp::colibri2::{Colibri2Error, ConferenceModified};
use jitsi_focus::xmpp::jingle::Jingle;
use jitsi_focus::xmpp::jingle_sources;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = Driver::media_live();
    let Some(stanza) = element(&d.substitute(data)) else { return };
    for child in stanza.children() {
        if let Ok(jingle) = Jingle::parse(child) {
            for content in &jingle.contents {
                let _ = jingle_sources::parse_content(&content.element);
            }
        }
        let _ = ConferenceModified::parse(child);
    }
    let _ = Colibri2Error::parse(&stanza);
    let _ = BridgeStats::from_presence(&stanza);

    d.stanza(stanza.clone());
    d.rooms_accept_and_media();
    d.stanza(stanza);
    for _ in 0..3 {
        d.rooms_accept_and_media();
    }
    d.advance(60);
    d.rooms_accept_and_media();
    d.advance(300);
    d.focus.shutdown(d.now);
    d.drain();
});
