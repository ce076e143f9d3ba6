//! Fuzzed bytes on the component stream, after Prosody's header: cleaned by the product's
//! `ByteFilter` and read by its `StreamReader` in chunks whose size the first byte picks, with small limits (depth 8,
//! 2 KiB) so that the fuzzer reaches them; every stanza and every rejected envelope goes to a
//! focus, as the runtime hands them over. The reader must never panic, never build a
//! stanza deeper or larger than its limits, and consume every byte it is given.
#![no_main]

use focus_fuzz::{pick, stream_reader, Driver, Variant};
use jitsi_focus::core::Input;
use jitsi_focus::xmpp::stream::{ByteFilter, Item, StreamLimits};
use libfuzzer_sys::fuzz_target;
use minidom::Element;

const LIMITS: StreamLimits = StreamLimits { max_stanza_size: 2048, max_depth: 8, max_nodes: 100 };

fn depth(element: &Element) -> usize {
    1 + element.children().map(depth).max().unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else { return };
    let chunk = 1 + usize::from(first) * 17;
    let mut reader = stream_reader(LIMITS);
    // A fresh focus (the `presence` and `conference_iq` targets cover live conferences): the
    // reader is what this target is about, and setting up a live room for every input would
    // cost most of its executions.
    let mut d = Driver::new(pick(data, &[Variant::Reservations, Variant::XmppAuth]));
    let mut filter = ByteFilter::default();
    for piece in bytes.chunks(chunk) {
        let mut piece = piece.to_vec();
        filter.clean(&mut piece);
        let mut rest = &piece[..];
        loop {
            match reader.next(&mut rest) {
                Ok(Some(Item::Stanza(stanza))) => {
                    assert!(depth(&stanza) <= LIMITS.max_depth, "a stanza over the depth limit was built");
                    // Escaping can grow text up to fivefold (">" is written "&gt;"); the stream's
                    // namespace declarations add a little.
                    assert!(String::from(&stanza).len() <= 6 * LIMITS.max_stanza_size, "a huge stanza was built");
                    d.input(Input::Stanza(stanza));
                }
                Ok(Some(Item::Rejected(rejected))) => d.input(Input::Rejected(rejected)),
                Ok(Some(Item::Header { .. } | Item::Closed)) => {}
                Ok(None) => {
                    assert!(rest.is_empty(), "the reader asked for more without consuming all it had");
                    break;
                }
                // Broken XML ends the stream (the runtime reconnects): nothing more to read.
                Err(_) => return,
            }
        }
    }
    d.advance(3600);
    d.focus.shutdown(d.now);
    d.drain();
});
