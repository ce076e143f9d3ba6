//! What the fuzz targets share: turning bytes into a stanza, the focus configurations they
//! run against, and a small driver that plays the runtime, Prosody and the reservation API
//! around the sans-IO core.
//!
//! A new target (e.g. `stream`, for the XML stream parser) is a file in `fuzz_targets/`
//! calling into this crate, a `[[bin]]` entry in `Cargo.toml` and a `seeds/<target>/`
//! directory; `scripts/fuzz.sh` picks up every target `cargo fuzz list` shows.
//!
//! Everything here is deterministic (fixed clock, no randomness, no global state that
//! survives an input), so every crash reproduces from its input alone.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use jitsi_focus::config::Config;
use jitsi_focus::core::reservation::{HttpCall, HttpOutcome, Method};
use jitsi_focus::core::{Effect, Focus, Input, Settings, Time};
use jitsi_focus::xmpp::stream::{Item, StreamLimits, StreamReader};
use minidom::Element;

/// The room the live-conference targets run; seeds address it.
pub const ROOM: &str = "room1@conference.meet.test";

/// The stream header Prosody sends, which every fuzzed stanza follows.
pub const STREAM_HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='fuzz' from='focus.meet.test'>";

/// A stream reader past Prosody's header, with the product's default limits.
pub fn stream_reader(limits: StreamLimits) -> StreamReader {
    let mut reader = StreamReader::new(limits);
    let mut header = STREAM_HEADER.as_bytes();
    match reader.next(&mut header) {
        Ok(Some(Item::Header { .. })) => reader,
        other => panic!("the stream header does not read: {other:?}"),
    }
}

/// The fuzz input as the focus receives it: read by the product's own stream reader (with its
/// default depth and size limits), so that what reaches the core is exactly what the runtime
/// would hand it. `None` unless the input is one complete stanza within the limits.
pub fn element(data: &[u8]) -> Option<Element> {
    let mut reader = stream_reader(StreamLimits::default());
    let mut rest = data;
    match reader.next(&mut rest) {
        Ok(Some(Item::Stanza(stanza))) => Some(stanza),
        _ => None,
    }
}

/// The fixed "now" the targets start at (the day the core tests use too).
pub fn start() -> Time {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").unwrap().with_timezone(&Utc)
}

/// The focus configurations the targets run against, from real TOML through the same
/// `Config` → `Settings` path as the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Reservation API on, no sign-in: the common deployment.
    Reservations,
    /// Reservation API on, sign-in with XMPP accounts on `auth.meet.test`.
    XmppAuth,
    /// No reservation API, sign-in with tokens (JWT) on `auth.meet.test`.
    JwtNoReservations,
    /// No reservation API, bridges in the brewery `jvbbrewery@internal.meet.test`: media.
    Media,
}

pub const VARIANTS: [Variant; 4] =
    [Variant::Reservations, Variant::XmppAuth, Variant::JwtNoReservations, Variant::Media];

/// The brewery of [`Variant::Media`] and the bridge the media driver puts in it.
pub const BREWERY: &str = "jvbbrewery@internal.meet.test";
pub const BRIDGE: &str = "jvbbrewery@internal.meet.test/jvb-1";

/// The configuration an input runs against, by its length: every input runs once (running
/// each against all configurations would divide the executions per second), each
/// configuration sees every kind of input, and a crash reproduces from the input alone.
pub fn pick<T: Copy>(data: &[u8], choices: &[T]) -> T {
    choices[data.len() % choices.len()]
}

const BASE_TOML: &str = r#"
[xmpp]
component = "focus.meet.test"
secret = "fuzz"
muc_domain = "conference.meet.test"
trusted_domains = ["recorder.meet.test"]
[conference]
initial_timeout = "15s"
request_timeout = "20s"
"#;

fn toml_for(variant: Variant) -> String {
    let extra = match variant {
        Variant::Reservations => {
            "[reservation]\nenabled = true\nbase_url = \"http://127.0.0.1:1\"\nretries = 2\nretry_delay = \"3s\"\n"
        }
        Variant::XmppAuth => {
            "[reservation]\nenabled = true\nbase_url = \"http://127.0.0.1:1\"\nretries = 1\n[auth]\nmode = \"xmpp\"\ndomain = \"auth.meet.test\"\n"
        }
        Variant::JwtNoReservations => "[auth]\nmode = \"jwt\"\ndomain = \"auth.meet.test\"\nsession_lifetime = \"1h\"\n",
        Variant::Media => "[bridges]\nbrewery = \"jvbbrewery@internal.meet.test\"\n",
    };
    format!("{BASE_TOML}{extra}")
}

/// Settings for `variant`, parsed once per process (parsing TOML costs more than a run).
pub fn settings(variant: Variant) -> Settings {
    static ALL: OnceLock<Vec<Settings>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        VARIANTS
            .iter()
            .map(|v| Settings::from_config(&Config::from_toml(&toml_for(*v)).expect("fuzz configuration is valid")))
            .collect()
    });
    all[VARIANTS.iter().position(|v| *v == variant).unwrap()].clone()
}

/// Plays the runtime around a [`Focus`]: feeds inputs, drains effects (serialising every
/// stanza as the runtime would), answers for Prosody and the reservation API when asked.
pub struct Driver {
    pub focus: Focus,
    pub now: Time,
    pub sent: Vec<Element>,
    pub calls: Vec<HttpCall>,
    /// `(nick, sid, bridge-session id)` of each session-initiate the media driver saw.
    pub sessions: Vec<(String, String, String)>,
}

/// More deadlines than this within one `advance` means the core asks to be woken again and
/// again without progress: a busy loop in the runtime.
const MAX_TIMEOUTS_PER_ADVANCE: usize = 10_000;

impl Driver {
    /// A fresh focus, connected.
    pub fn new(variant: Variant) -> Driver {
        let mut driver = Driver {
            focus: Focus::with_seed(settings(variant), 1),
            now: start(),
            sent: vec![],
            calls: vec![],
            sessions: vec![],
        };
        driver.input(Input::Connected);
        if variant == Variant::Media {
            // The brewery takes our join.
            driver.xml(&format!("<presence xmlns='jabber:component:accept' from='{BREWERY}/focus.meet.test' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='focus.meet.test/focus' affiliation='owner' role='moderator'/><status code='110'/></x></presence>"));
            driver.sent.clear();
        }
        driver
    }

    pub fn drain(&mut self) {
        while let Some(effect) = self.focus.poll_effect() {
            match effect {
                Effect::Send(stanza) => {
                    // What the runtime does with every outgoing stanza.
                    let _ = String::from(&stanza);
                    self.sent.push(stanza);
                }
                Effect::Http(call) => self.calls.push(call),
                Effect::Outbox(_) => {}
                Effect::AnswerHttp { .. } => {}
            }
        }
    }

    pub fn input(&mut self, input: Input) {
        self.focus.handle(self.now, input);
        self.drain();
    }

    pub fn stanza(&mut self, stanza: Element) {
        self.input(Input::Stanza(stanza));
    }

    /// A stanza from trusted text (the driver's own, never fuzzed).
    pub fn xml(&mut self, text: &str) {
        self.stanza(text.parse().unwrap_or_else(|e| panic!("driver stanza does not parse: {e}: {text}")));
    }

    /// Moves time forward by `seconds`, firing every deadline on the way, in order, as the
    /// runtime does.
    pub fn advance(&mut self, seconds: i64) {
        let target = self.now + Duration::seconds(seconds);
        let mut fired = 0;
        while let Some(at) = self.focus.poll_timeout().filter(|t| *t <= target) {
            fired += 1;
            assert!(
                fired <= MAX_TIMEOUTS_PER_ADVANCE,
                "timer spin: poll_timeout keeps returning {at} (now {}) after handle_timeout",
                self.now
            );
            self.now = at.max(self.now);
            self.focus.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    /// Answers every outstanding HTTP call: POST and GET grant the room named in the call
    /// (one hour from now), DELETE succeeds.
    pub fn grant_all(&mut self) {
        for call in std::mem::take(&mut self.calls) {
            let outcome = match call.method {
                Method::Post | Method::Get => {
                    let name = call.form.iter().find(|(k, _)| k == "name").map_or("room1", |(_, v)| v.as_str());
                    HttpOutcome::Response {
                        status: if call.method == Method::Post { 201 } else { 200 },
                        body: granted(name, call.id),
                    }
                }
                Method::Delete => HttpOutcome::Response { status: 204, body: String::new() },
            };
            self.input(Input::Http { id: call.id, outcome });
        }
    }

    /// Answers as Prosody would for every room the focus joined or configured since the last
    /// call: the self-presence as owner for a join, the configuration form for a config get,
    /// an empty result for other IQs to rooms.
    pub fn rooms_accept(&mut self) {
        for stanza in std::mem::take(&mut self.sent) {
            let Some(to) = stanza.attr("to") else { continue };
            let room = to.split('/').next().unwrap_or_default();
            if !room.ends_with("@conference.meet.test") {
                continue;
            }
            let reply = match (stanza.name(), stanza.attr("type")) {
                ("presence", None) if to.ends_with("/focus") => format!(
                    "<presence xmlns='jabber:component:accept' from='{}' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='focus.meet.test/focus' affiliation='owner' role='moderator'/><status code='110'/></x></presence>",
                    escape(to)
                ),
                ("iq", Some("get")) => format!(
                    "<iq xmlns='jabber:component:accept' type='result' id='{}' from='{}' to='focus.meet.test/focus'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'><field var='muc#roomconfig_whois'><value>anyone</value></field></x></query></iq>",
                    escape(stanza.attr("id").unwrap_or_default()),
                    escape(room)
                ),
                ("iq", Some("set")) => format!(
                    "<iq xmlns='jabber:component:accept' type='result' id='{}' from='{}' to='focus.meet.test/focus'/>",
                    escape(stanza.attr("id").unwrap_or_default()),
                    escape(room)
                ),
                _ => continue,
            };
            self.xml(&reply);
        }
    }

    /// Lets the outside world answer until nothing more happens (bounded).
    pub fn settle(&mut self) {
        for _ in 0..8 {
            if self.calls.is_empty() && self.sent.is_empty() {
                return;
            }
            self.grant_all();
            self.rooms_accept();
        }
    }

    /// Drives [`ROOM`] to a live conference with one participant `p1`, as
    /// `tests/bench_load.rs` does.
    pub fn live(variant: Variant) -> Driver {
        let mut d = Driver::new(variant);
        let request = |session: &str| {
            format!("<iq xmlns='jabber:component:accept' type='set' id='q1' from='alice@auth.meet.test/web' to='focus.meet.test'><conference xmlns='http://jitsi.org/protocol/focus' room='{ROOM}' machine-uid='m1'{session}/></iq>")
        };
        d.xml(&request(""));
        // With XMPP sign-in the first request only opens the session (ready='false'); the
        // client asks again with it.
        let session = d
            .sent
            .iter()
            .filter_map(|s| s.get_child("conference", "http://jitsi.org/protocol/focus"))
            .find_map(|c| c.attr("session-id"))
            .map(str::to_owned);
        if let (Some(session), 0) = (session, d.focus.conference_count()) {
            d.xml(&request(&format!(" session-id='{}'", escape(&session))));
        }
        d.settle();
        d.xml(&format!("<presence xmlns='jabber:component:accept' from='{ROOM}/p1' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='alice@auth.meet.test/web' affiliation='none' role='participant'/></x></presence>"));
        d.settle();
        d.sent.clear();
        d.calls.clear();
        d
    }
}

impl Driver {
    /// Answers as participants and the bridge would: disco#info with a current client's
    /// features, endpoint creates with a transport, everything else from us with a result.
    pub fn media_answer(&mut self) {
        for stanza in std::mem::take(&mut self.sent) {
            if stanza.name() != "iq" || !matches!(stanza.attr("type"), Some("get" | "set")) {
                continue;
            }
            let (Some(id), Some(to)) = (stanza.attr("id"), stanza.attr("to")) else { continue };
            if let Some(jingle) = stanza.get_child("jingle", "urn:xmpp:jingle:1") {
                if jingle.attr("action") == Some("session-initiate") {
                    let nick = to.rsplit('/').next().unwrap_or_default().to_owned();
                    let sid = jingle.attr("sid").unwrap_or_default().to_owned();
                    let bridge_session = jingle
                        .get_child("bridge-session", "http://jitsi.org/protocol/focus")
                        .and_then(|b| b.attr("id"))
                        .unwrap_or_default()
                        .to_owned();
                    self.sessions.push((nick, sid, bridge_session));
                }
            }
            let (id, to) = (escape(id), escape(to));
            let payload = if stanza.get_child("query", "http://jabber.org/protocol/disco#info").is_some() {
                "<query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:jingle:apps:rtp:audio'/><feature var='urn:xmpp:jingle:apps:rtp:video'/><feature var='urn:xmpp:jingle:transports:dtls-sctp:1'/><feature var='http://jitsi.org/source-name'/><feature var='http://jitsi.org/json-encoded-sources'/><feature var='http://jitsi.org/tcc'/><feature var='urn:ietf:rfc:4588'/></query>".to_owned()
            } else if let Some(modify) = stanza.get_child("conference-modify", "jitsi:colibri2") {
                let created: String = modify
                    .children()
                    .filter(|e| e.attr("create") == Some("true"))
                    .filter_map(|e| e.attr("id"))
                    .map(|ep| format!("<endpoint id='{}'><transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u' pwd='p'><candidate component='1' foundation='1' generation='0' ip='127.0.0.1' port='10000' priority='1' protocol='udp' type='host'/><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>AA</fingerprint></transport><sctp port='5000'/></transport></endpoint>", escape(ep)))
                    .collect();
                format!("<conference-modified xmlns='jitsi:colibri2'>{created}<sources><media-source type='audio' id='jvb-a0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='411312308' name='jvb-a0'/></media-source></sources></conference-modified>")
            } else {
                String::new()
            };
            self.xml(&format!("<iq xmlns='jabber:component:accept' type='result' id='{id}' from='{to}' to='focus.meet.test/focus'>{payload}</iq>"));
        }
    }

    /// Drives [`ROOM`] with media: a bridge in the brewery, participants `p1` and `p2` with
    /// sessions initiated on it (not accepted yet).
    /// The input with `SID1`/`SID2` and `BS1`/`BS2` replaced by p1's and p2's Jingle sid and
    /// bridge-session id, so that seeds reach past the sid check.
    pub fn substitute(&self, data: &[u8]) -> Vec<u8> {
        let mut text = String::from_utf8_lossy(data).into_owned();
        for (nick, sid, bridge_session) in &self.sessions {
            let n = nick.trim_start_matches('p');
            text = text.replace(&format!("SID{n}"), sid).replace(&format!("BS{n}"), bridge_session);
        }
        text.into_bytes()
    }

    pub fn media_live() -> Driver {
        let mut d = Driver::new(Variant::Media);
        d.xml(&format!("<presence xmlns='jabber:component:accept' from='{BRIDGE}' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/></x><stats xmlns='http://jitsi.org/protocol/colibri'><stat name='stress_level' value='0.1'/><stat name='drain' value='false'/></stats></presence>"));
        d.xml(&format!("<iq xmlns='jabber:component:accept' type='set' id='q1' from='alice@meet.test/web' to='focus.meet.test'><conference xmlns='http://jitsi.org/protocol/focus' room='{ROOM}' machine-uid='m1'/></iq>"));
        d.settle();
        for nick in ["p1", "p2"] {
            d.xml(&format!("<presence xmlns='jabber:component:accept' from='{ROOM}/{nick}' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='{nick}@meet.test/web' affiliation='none' role='participant'/></x></presence>"));
        }
        for _ in 0..4 {
            d.rooms_accept_and_media();
        }
        d.sent.clear();
        d
    }

    /// Room answers and media answers, once each; what they provoke stays in `sent`.
    pub fn rooms_accept_and_media(&mut self) {
        let (room, media): (Vec<Element>, Vec<Element>) = std::mem::take(&mut self.sent).into_iter().partition(|s| {
            let to = s.attr("to").unwrap_or_default();
            to.ends_with("@conference.meet.test") || to.ends_with("@conference.meet.test/focus")
        });
        self.sent = room;
        self.rooms_accept();
        let produced = std::mem::take(&mut self.sent);
        self.sent = media;
        self.media_answer();
        self.sent.extend(produced);
    }
}

/// A granted reservation for `name`, starting now, for an hour.
pub fn granted(name: &str, id: u64) -> String {
    format!(
        r#"{{"id":{id},"name":"{}","start_time":"2026-11-22T10:00:00.000Z","duration":3600}}"#,
        name.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

/// Escapes text for an XML attribute value in single quotes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_reach_the_core_through_the_products_stream_reader() {
        let ping = "<iq type='get' id='1' from='a@b/c'><ping xmlns='urn:xmpp:ping'/></iq>";
        let stanza = element(ping.as_bytes()).expect("a stanza");
        assert_eq!(stanza.ns(), "jabber:component:accept");
        let deep = format!("<iq type='get' id='1'>{}{}</iq>", "<a>".repeat(10_000), "</a>".repeat(10_000));
        assert!(element(deep.as_bytes()).is_none(), "over the depth limit: never built");
        assert!(element(b"<iq type='get' id='1'>").is_none(), "incomplete");
    }

    #[test]
    fn the_media_driver_initiates_sessions() {
        let mut d = Driver::media_live();
        assert_eq!(d.focus.footprint().jingle_sessions, 2);
        assert_eq!(d.sessions.len(), 2, "{:?}", d.sessions);
        assert_eq!(d.substitute(b"SID1"), d.sessions.iter().find(|s| s.0 == "p1").unwrap().1.as_bytes());
        d.advance(3600);
    }

    /// The media seeds get past the sid check: each is answered with a result.
    #[test]
    fn media_seeds_reach_the_sessions() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/media");
        for name in ["session-accept-2020.xml", "session-accept-current.xml", "terminate-restart.xml", "ice-failed.xml"]
        {
            let mut d = Driver::media_live();
            let data = std::fs::read(format!("{dir}/{name}")).unwrap();
            let stanza = element(&d.substitute(&data)).unwrap_or_else(|| panic!("{name} reads"));
            let id = stanza.attr("id").unwrap().to_owned();
            d.stanza(stanza);
            let reply = d
                .sent
                .iter()
                .find(|s| s.attr("id") == Some(id.as_str()))
                .unwrap_or_else(|| panic!("{name} unanswered"));
            assert_eq!(reply.attr("type"), Some("result"), "{name}: {}", String::from(reply));
        }
    }

    #[test]
    fn every_variant_reaches_a_live_conference() {
        for variant in VARIANTS {
            let mut d = Driver::live(variant);
            assert_eq!(d.focus.conference_count(), 1, "{variant:?}");
            d.advance(3600 * 30);
        }
    }
}
