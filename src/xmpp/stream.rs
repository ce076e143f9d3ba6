//! The XEP-0114 stream as the focus reads it: a sans-IO reader that turns bytes into stanzas
//! under hard limits on nesting depth and stanza size.
//!
//! Anything Prosody relays reaches us here, so the limits are what keeps hostile input from
//! crashing the process or cutting the link. `minidom` elements are recursive (cloning,
//! dropping and serialising them recurses once per level), so a stanza nested deeper than
//! `max_depth` is never built: its events are counted and thrown away, and only its envelope
//! (name, `id`, `type`, `from`, `to`) is kept so that the core can answer it. The same for a
//! stanza over `max_stanza_size` bytes. The XML lexer's own token limit (which ends the whole
//! stream when exceeded) is set far above anything Prosody relays, so one long attribute is just
//! an oversized stanza, not a broken link.

use std::collections::BTreeMap;

use minidom::rxml::{self, Parse, RawEvent, RawParser, WithOptions};
use minidom::tree_builder::TreeBuilder;
use minidom::Element;

use crate::errors::{self, ErrorEntry};

/// The lexer's token limit is at least this (Prosody's largest default stanza limit, s2s, is
/// 512 KiB; an attribute value can be no longer than its stanza).
const MIN_TOKEN_LENGTH: usize = 2 * 1024 * 1024;
/// Longest `type`, `from` or `to` kept from a rejected stanza: a JID is at most 3071 bytes.
const MAX_ENVELOPE_VALUE: usize = 3072;
/// Longest `id` kept (and echoed in the answer): far below Prosody's 512 KiB limit on what a
/// component may send, which an echoed id must never push an answer over.
const MAX_ENVELOPE_ID: usize = 64 * 1024;
/// A rejected stanza is skipped up to 16 times the size limit, and at least this far.
const MAX_SKIPPED: usize = 16 * 1024 * 1024;

/// Limits on what one stanza may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Bytes of one stanza, counted as they appear on the wire.
    pub max_stanza_size: usize,
    /// Element nesting: the stanza element itself is depth 1.
    pub max_depth: usize,
    /// Elements, attributes and text nodes of one stanza. A tree costs some 200 bytes of
    /// memory per node however small its text, so the byte limit alone would let a 256 KiB
    /// stanza of empty elements take 14 MB.
    pub max_nodes: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits { max_stanza_size: 256 * 1024, max_depth: 32, max_nodes: 5000 }
    }
}

/// Why a stanza was not built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    TooDeep {
        limit: usize,
    },
    TooLarge {
        limit: usize,
    },
    TooManyNodes {
        limit: usize,
    },
    /// Not namespace-well-formed (an undeclared prefix, say).
    Malformed,
}

impl Rejection {
    /// The error an IQ request rejected this way is answered with.
    pub fn entry(&self) -> &'static ErrorEntry {
        match self {
            Rejection::TooDeep { .. } => &errors::LIMITS_TOO_DEEP,
            Rejection::TooLarge { .. } => &errors::LIMITS_TOO_LARGE,
            Rejection::TooManyNodes { .. } => &errors::LIMITS_TOO_MANY_NODES,
            Rejection::Malformed => &errors::IQ_NOT_XML,
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::TooDeep { limit } | Rejection::TooLarge { limit } | Rejection::TooManyNodes { limit } => {
                f.write_str(&self.entry().text_with(&[("limit", &limit.to_string())]))
            }
            Rejection::Malformed => f.write_str(self.entry().text),
        }
    }
}

/// What is left of a stanza that was not built: enough to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedStanza {
    /// The element's local name: `iq`, `presence`, `message` or anything else.
    pub name: String,
    pub id: Option<String>,
    pub type_: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub why: Rejection,
}

/// What the reader produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// The peer's stream header, with its `id` (needed for the component handshake).
    Header {
        id: Option<String>,
    },
    Stanza(Element),
    Rejected(RejectedStanza),
    /// `</stream:stream>`: the peer closed the stream.
    Closed,
}

/// The stream is broken beyond one stanza: the connection must be dropped.
#[derive(Debug, thiserror::Error)]
#[error("invalid XML on the stream: {0}")]
pub struct StreamError(String);

/// The stanza being read.
struct Current {
    /// `None` once the stanza was rejected: the rest of it is skipped.
    builder: Option<TreeBuilder>,
    envelope: RejectedStanza,
    bytes: usize,
    nodes: usize,
}

/// Replaces, in bytes read from Prosody, the characters XML 1.0 forbids by harmless ones, so
/// that they reach the reader as text instead of ending the stream. Prosody 0.12 lets some
/// through into text its modules add (its `valid_xml_cdata` pattern `\20-\255` is decimal in
/// Lua, so bytes 0x14–0x1F pass, and so do U+FFFE and U+FFFF): a JWT user name with an escape
/// character in a presence would otherwise cut the link on every reconnect. C0 controls other
/// than tab, newline and carriage return become spaces (such bytes never occur inside a UTF-8
/// sequence); U+FFFE and U+FFFF become U+FFFD, also when split across two reads.
#[derive(Debug, Default)]
pub struct ByteFilter {
    /// The last two bytes of the previous read.
    previous: [u8; 2],
}

impl ByteFilter {
    pub fn clean(&mut self, bytes: &mut [u8]) {
        for i in 0..bytes.len() {
            let byte = bytes[i];
            if byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r') {
                bytes[i] = b' ';
            } else if matches!(byte, 0xBE | 0xBF) {
                let before = |back: usize| if i >= back { bytes[i - back] } else { self.previous[2 - (back - i)] };
                if before(2) == 0xEF && before(1) == 0xBF {
                    bytes[i] = 0xBD;
                }
            }
        }
        self.previous = match *bytes {
            [] => self.previous,
            [only] => [self.previous[1], only],
            [.., a, b] => [a, b],
        };
    }
}

/// Reads a component stream: feed it bytes with [`StreamReader::next`].
pub struct StreamReader {
    parser: RawParser,
    limits: StreamLimits,
    /// Element depth, counting the stream element as 1.
    depth: usize,
    /// Namespace declarations of the stream header, which every stanza inherits.
    stream_prefixes: BTreeMap<Option<String>, String>,
    header_id: Option<String>,
    current: Option<Current>,
}

impl StreamReader {
    pub fn new(limits: StreamLimits) -> StreamReader {
        let options = rxml::Options {
            max_token_length: limits.max_stanza_size.max(MIN_TOKEN_LENGTH),
            ..rxml::Options::default()
        };
        StreamReader {
            parser: RawParser::with_options(options),
            limits,
            depth: 0,
            stream_prefixes: BTreeMap::new(),
            header_id: None,
            current: None,
        }
    }

    /// Reads from `buf` (advancing it) until an item is complete; `Ok(None)` means every byte was
    /// consumed and more are needed. Call again with the rest of `buf` after an item.
    pub fn next(&mut self, buf: &mut &[u8]) -> Result<Option<Item>, StreamError> {
        loop {
            let event = match self.parser.parse(buf, false) {
                Ok(Some(event)) => event,
                Ok(None) => return Ok(Some(Item::Closed)),
                Err(rxml::error::EndOrError::NeedMoreData) => return Ok(None),
                Err(rxml::error::EndOrError::Error(e)) => return Err(StreamError(e.to_string())),
            };
            if let Some(item) = self.on_event(event)? {
                return Ok(Some(item));
            }
        }
    }

    fn on_event(&mut self, event: RawEvent) -> Result<Option<Item>, StreamError> {
        let size = event.metrics().len();
        match &event {
            RawEvent::XmlDeclaration(..) => return Ok(None),
            RawEvent::ElementHeadOpen(..) => self.depth += 1,
            _ => {}
        }
        let depth = self.depth;
        if let RawEvent::ElementFoot(_) = event {
            self.depth -= 1;
        }
        match depth {
            0 => Ok(None), // text between stanzas: whitespace keepalives
            1 => Ok(self.on_stream_event(event)),
            _ => self.on_stanza_event(event, depth, size),
        }
    }

    fn on_stream_event(&mut self, event: RawEvent) -> Option<Item> {
        match event {
            RawEvent::Attribute(_, (prefix, name), value) => {
                match (prefix.as_ref().map(|p| p.as_str()), name.as_str()) {
                    (None, "xmlns") => {
                        self.stream_prefixes.insert(None, value);
                    }
                    (Some("xmlns"), prefix) => {
                        self.stream_prefixes.insert(Some(prefix.to_owned()), value);
                    }
                    (None, "id") => self.header_id = Some(value),
                    _ => {}
                }
                None
            }
            RawEvent::ElementHeadClose(_) => Some(Item::Header { id: self.header_id.take() }),
            RawEvent::ElementFoot(_) => Some(Item::Closed),
            _ => None,
        }
    }

    fn on_stanza_event(&mut self, event: RawEvent, depth: usize, size: usize) -> Result<Option<Item>, StreamError> {
        // Depth 2 is the stanza element itself.
        let stanza_depth = depth - 1;
        if let RawEvent::ElementHeadOpen(_, (_, name)) = &event {
            if stanza_depth == 1 {
                let builder = TreeBuilder::new().with_prefixes_stack(vec![self.stream_prefixes.clone().into()]);
                self.current = Some(Current {
                    builder: Some(builder),
                    envelope: RejectedStanza {
                        // Only compared with the stanza names; a huge one need not be kept.
                        name: name.chars().take(64).collect(),
                        id: None,
                        type_: None,
                        from: None,
                        to: None,
                        why: Rejection::Malformed,
                    },
                    bytes: 0,
                    nodes: 0,
                });
            }
        }
        let Some(current) = self.current.as_mut() else { return Ok(None) };
        current.bytes = current.bytes.saturating_add(size);
        if matches!(event, RawEvent::ElementHeadOpen(..) | RawEvent::Attribute(..) | RawEvent::Text(..)) {
            current.nodes += 1;
        }
        // Skipping costs no memory, but a stanza may not go on forever either: far beyond
        // anything Prosody relays, the stream is broken.
        if current.bytes > self.limits.max_stanza_size.saturating_mul(16).max(MAX_SKIPPED) {
            return Err(StreamError("a stanza of more than 16 times the size limit".into()));
        }
        if stanza_depth == 1 {
            if let RawEvent::Attribute(_, (None, name), value) = &event {
                let (slot, limit) = match name.as_str() {
                    "id" => (Some(&mut current.envelope.id), MAX_ENVELOPE_ID),
                    "type" => (Some(&mut current.envelope.type_), MAX_ENVELOPE_VALUE),
                    "from" => (Some(&mut current.envelope.from), MAX_ENVELOPE_VALUE),
                    "to" => (Some(&mut current.envelope.to), MAX_ENVELOPE_VALUE),
                    _ => (None, 0),
                };
                if let Some(slot) = slot.filter(|_| value.len() <= limit) {
                    *slot = Some(value.clone());
                }
            }
        }
        let ends_stanza = stanza_depth == 1 && matches!(event, RawEvent::ElementFoot(_));
        if current.builder.is_some() {
            let rejection = if stanza_depth > self.limits.max_depth {
                Some(Rejection::TooDeep { limit: self.limits.max_depth })
            } else if current.bytes > self.limits.max_stanza_size {
                Some(Rejection::TooLarge { limit: self.limits.max_stanza_size })
            } else if current.nodes > self.limits.max_nodes {
                Some(Rejection::TooManyNodes { limit: self.limits.max_nodes })
            } else {
                let builder = current.builder.as_mut().expect("checked above");
                builder.process_event(event).err().map(|_| Rejection::Malformed)
            };
            if let Some(why) = rejection {
                // Dropping the partial tree is safe: it is at most `max_depth` deep.
                current.builder = None;
                current.envelope.why = why;
            }
        }
        if !ends_stanza {
            return Ok(None);
        }
        let current = self.current.take().expect("checked above");
        Ok(Some(match current.builder.and_then(|mut b| b.root.take()) {
            Some(stanza) => Item::Stanza(stanza),
            None => Item::Rejected(current.envelope),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='focus.meet.test' id='abc123'>";

    /// Feeds `input` in chunks of `chunk` bytes and collects the items.
    fn read_all(limits: StreamLimits, input: &str, chunk: usize) -> Result<Vec<Item>, StreamError> {
        let mut reader = StreamReader::new(limits);
        let mut items = Vec::new();
        for piece in input.as_bytes().chunks(chunk) {
            let mut buf = piece;
            while let Some(item) = reader.next(&mut buf)? {
                items.push(item);
            }
            assert!(buf.is_empty(), "the reader consumes everything before asking for more");
        }
        Ok(items)
    }

    fn stanzas(items: &[Item]) -> Vec<&Element> {
        items.iter().filter_map(|i| if let Item::Stanza(s) = i { Some(s) } else { None }).collect()
    }

    #[test]
    fn header_and_stanzas_in_any_chunking() {
        let input = format!("{HEADER}<handshake/> <iq type='get' id='1' from='a@b/c' to='focus.meet.test'><ping xmlns='urn:xmpp:ping'/></iq><presence from='r@conference.meet.test/n'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner'/></x></presence></stream:stream>");
        for chunk in [1, 3, 7, 64, 10_000] {
            let items = read_all(StreamLimits::default(), &input, chunk).unwrap();
            assert_eq!(items.first(), Some(&Item::Header { id: Some("abc123".into()) }), "chunk {chunk}");
            assert_eq!(items.last(), Some(&Item::Closed));
            let stanzas = stanzas(&items);
            assert_eq!(stanzas.len(), 3);
            assert!(stanzas[0].is("handshake", "jabber:component:accept"));
            assert!(stanzas[1].get_child("ping", "urn:xmpp:ping").is_some());
            assert_eq!(stanzas[1].ns(), "jabber:component:accept", "inherits the stream's default namespace");
            assert_eq!(stanzas[2].attr("from"), Some("r@conference.meet.test/n"));
        }
    }

    fn nested(depth: usize) -> String {
        format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth))
    }

    #[test]
    fn a_deep_stanza_is_rejected_with_its_envelope_and_the_stream_goes_on() {
        for depth in [31, 32, 4_000, 100_000] {
            let input = format!(
                "{HEADER}<iq type='set' id='deep' from='u@meet.test/r' to='focus.meet.test'><conference xmlns='http://jitsi.org/protocol/focus'>{}</conference></iq><iq type='get' id='after' from='u@meet.test/r'/>",
                nested(depth)
            );
            let items =
                read_all(StreamLimits { max_stanza_size: 10 << 20, max_depth: 32, max_nodes: 1_000_000 }, &input, 4096)
                    .unwrap();
            let after = stanzas(&items).into_iter().find(|s| s.attr("id") == Some("after"));
            assert!(after.is_some(), "the next stanza is read (depth {depth})");
            let rejected = items.iter().find_map(|i| if let Item::Rejected(r) = i { Some(r) } else { None });
            // iq(1) > conference(2) > a… : `depth` a-elements reach depth depth+2.
            if depth + 2 <= 32 {
                assert!(rejected.is_none(), "depth {depth} is within the limit");
            } else {
                let rejected = rejected.expect("rejected");
                assert_eq!(rejected.why, Rejection::TooDeep { limit: 32 });
                assert_eq!(
                    (rejected.name.as_str(), rejected.id.as_deref(), rejected.type_.as_deref()),
                    ("iq", Some("deep"), Some("set"))
                );
                assert_eq!(rejected.from.as_deref(), Some("u@meet.test/r"));
            }
        }
    }

    #[test]
    fn a_long_attribute_is_an_oversized_stanza_not_a_broken_stream() {
        let long = "x".repeat(300_000);
        let input = format!(
            "{HEADER}<iq type='set' id='long' from='u@meet.test/r'><conference xmlns='http://jitsi.org/protocol/focus' room='{long}'/></iq><iq type='get' id='after' from='u@meet.test/r'/>"
        );
        let items = read_all(StreamLimits::default(), &input, 8192).unwrap();
        let rejected = items.iter().find_map(|i| if let Item::Rejected(r) = i { Some(r) } else { None }).unwrap();
        assert_eq!(rejected.why, Rejection::TooLarge { limit: 256 * 1024 });
        assert_eq!(stanzas(&items).last().unwrap().attr("id"), Some("after"));
        // 9,000 bytes is well within the stanza limit: the stanza is read whole.
        let input = format!(
            "{HEADER}<iq type='set' id='9k' from='u@meet.test/r'><c xmlns='x' room='{}'/></iq>",
            "y".repeat(9000)
        );
        let items = read_all(StreamLimits::default(), &input, 1000).unwrap();
        assert_eq!(stanzas(&items)[0].get_child("c", "x").unwrap().attr("room").unwrap().len(), 9000);
    }

    #[test]
    fn many_small_nodes_are_rejected_before_they_cost_memory() {
        let input = format!("{HEADER}<presence id='p' type='unavailable' from='r@c/n'>{}</presence><iq id='n' type='get' from='a@b/c'/>", "<a/>".repeat(65_000));
        let items = read_all(StreamLimits::default(), &input, 65536).unwrap();
        let Item::Rejected(rejected) = &items[1] else { panic!("{:?}", items[1]) };
        assert_eq!(rejected.why, Rejection::TooManyNodes { limit: 5000 });
        assert_eq!((rejected.name.as_str(), rejected.type_.as_deref()), ("presence", Some("unavailable")));
        assert_eq!(stanzas(&items)[0].attr("id"), Some("n"));
    }

    #[test]
    fn a_stanza_that_never_ends_breaks_the_stream_eventually() {
        let limits = StreamLimits { max_stanza_size: 1024, max_depth: 32, max_nodes: 5000 };
        let input = format!("{HEADER}<message id='m'><body>{}", "z".repeat(17 << 20));
        assert!(read_all(limits, &input, 1 << 20).is_err());
    }

    #[test]
    fn huge_text_is_rejected_by_size() {
        let input = format!(
            "{HEADER}<message id='m' from='a@b/c'><body>{}</body></message><iq id='n' type='get' from='a@b/c'/>",
            "z".repeat(1 << 20)
        );
        let items = read_all(StreamLimits::default(), &input, 65536).unwrap();
        assert!(matches!(&items[1], Item::Rejected(r) if r.name == "message" && r.id.as_deref() == Some("m")));
        assert_eq!(stanzas(&items).len(), 1);
    }

    #[test]
    fn an_undeclared_prefix_rejects_only_that_stanza() {
        let input =
            format!("{HEADER}<iq type='get' id='p' from='a@b/c'><foo:bar/></iq><iq id='n' type='get' from='a@b/c'/>");
        let items = read_all(StreamLimits::default(), &input, 16).unwrap();
        assert!(
            matches!(&items[1], Item::Rejected(r) if r.why == Rejection::Malformed && r.id.as_deref() == Some("p"))
        );
        assert_eq!(stanzas(&items)[0].attr("id"), Some("n"));
    }

    #[test]
    fn forbidden_characters_from_prosody_become_text_not_a_broken_stream() {
        let input = format!("{HEADER}<presence from='r@c/n'><name>a\u{1b}b\u{FFFE}c\u{FFFF}</name></presence>");
        for chunk in [1, 2, 3, 5, 4096] {
            let mut filter = ByteFilter::default();
            let mut reader = StreamReader::new(StreamLimits::default());
            let mut stanzas = Vec::new();
            for piece in input.as_bytes().chunks(chunk) {
                let mut piece = piece.to_vec();
                filter.clean(&mut piece);
                let mut buf = &piece[..];
                while let Some(item) = reader.next(&mut buf).expect("the stream survives") {
                    if let Item::Stanza(s) = item {
                        stanzas.push(s);
                    }
                }
            }
            let name = stanzas[0].get_child("name", "jabber:component:accept").unwrap().text();
            assert_eq!(name, "a b\u{FFFD}c\u{FFFD}", "chunk {chunk}");
        }
        let mut plain = "tab\tä€𝄞\u{FFFD}".as_bytes().to_vec();
        ByteFilter::default().clean(&mut plain);
        assert_eq!(plain, "tab\tä€𝄞\u{FFFD}".as_bytes(), "valid text is untouched");
    }

    #[test]
    fn broken_xml_is_a_stream_error() {
        assert!(read_all(StreamLimits::default(), &format!("{HEADER}<iq></presence>"), 5).is_err());
        assert!(read_all(StreamLimits::default(), &format!("{HEADER}<iq>&undefined;</iq>"), 5).is_err());
    }

    #[test]
    fn envelope_values_longer_than_a_jid_are_not_kept() {
        let input =
            format!("{HEADER}<iq type='get' id='{}' from='{}'>{}</iq>", "i".repeat(5000), "f".repeat(5000), nested(40));
        let items = read_all(StreamLimits::default(), &input, 999).unwrap();
        let Item::Rejected(rejected) = &items[1] else { panic!("{items:?}") };
        assert_eq!(rejected.id.as_ref().map(String::len), Some(5000), "a long id is still answered");
        assert_eq!(rejected.from, None, "no JID is that long");
        let input = format!("{HEADER}<iq type='get' id='{}' from='a@b/c'>{}</iq>", "i".repeat(70_000), nested(40));
        let items = read_all(StreamLimits::default(), &input, 999).unwrap();
        let Item::Rejected(rejected) = &items[1] else { panic!("{items:?}") };
        assert_eq!(rejected.id, None, "an id whose echo could exceed Prosody's limit is not kept");
    }
}
