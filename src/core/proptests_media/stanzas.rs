//! The stanzas the simulated world sends the focus: answers to its IQs (errors with stanza
//! conditions and Colibri2 reasons, disco#info features, Colibri2 results with or without a
//! transport, the room configuration), a client's Jingle (session-accept, source-add and
//! -remove, transport-info, terminate, ICE failure; with a current, stale or bogus sid),
//! occupant and bridge presences, and the Jingle contents that carry a client's sources.

use minidom::Element;

use super::generate::{BsPick, How, JingleKind, SidPick, Sources, Src, Stats};
use super::sim::{JingleRequest, Peer, Sim};
use super::{bridge_jid, room_jid, Check, BRIDGES, COLIBRI_REASONS, FOCUS_JID, NICKS, STANZA_CONDITIONS};
use crate::xmpp::ns;

impl Sim {
    /// The answer to one of the focus's IQs, from its addressee (or `from`, spoofed).
    pub(super) fn answer_text(&mut self, request: &Element, how: How, from: Option<&str>) -> String {
        let id = request.attr("id").unwrap_or_default().to_owned();
        let to = request.attr("to").unwrap_or_default().to_owned();
        let from = from.unwrap_or(&to).to_owned();
        let head = |type_: &str| {
            format!("<iq xmlns='jabber:component:accept' type='{type_}' id='{id}' from='{from}' to='{FOCUS_JID}'>")
        };
        let modify = request.get_child("conference-modify", ns::COLIBRI2);
        if !how.ok {
            let condition = STANZA_CONDITIONS[how.condition];
            let colibri = match (modify, COLIBRI_REASONS[how.reason]) {
                (Some(modify), Some(reason)) => {
                    let endpoint = modify
                        .children()
                        .find_map(|e| e.attr("id"))
                        .map(|e| format!("<endpoint xmlns='jitsi:colibri2' id='{e}'/>"))
                        .unwrap_or_default();
                    format!("<error xmlns='jitsi:colibri2' reason='{reason}'>{endpoint}</error>")
                }
                _ => String::new(),
            };
            return format!(
                "{}<error type='cancel'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>{colibri}</error></iq>",
                head("error")
            );
        }
        if request.get_child("query", ns::DISCO_INFO).is_some() {
            // Features by nick (a healthy world) or from the variant's bits.
            let nick = to.rsplit('/').next().unwrap_or_default();
            let bits = if how.variant == 0xff {
                [0b0000_1111u8, 0b0011_1111, 0b0000_0111, 0b0100_1111]
                    [NICKS.iter().position(|n| *n == nick).unwrap_or(0)]
            } else {
                how.variant
            };
            let vars = [
                "urn:xmpp:jingle:apps:rtp:audio",
                "urn:xmpp:jingle:apps:rtp:video",
                "urn:xmpp:jingle:transports:dtls-sctp:1",
                "http://jitsi.org/source-name",
                "http://jitsi.org/json-encoded-sources",
                "urn:ietf:rfc:4588",
                "http://jitsi.org/ssrc-rewriting-1",
                "http://jitsi.org/tcc",
            ];
            let features: String = vars
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, v)| format!("<feature var='{v}'/>"))
                .collect();
            return format!(
                "{}<query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='web'/>{features}</query></iq>",
                head("result")
            );
        }
        if let Some(modify) = modify {
            let bridge = BRIDGES.iter().position(|b| to.ends_with(&format!("/{b}"))).unwrap_or(0) as u32;
            let mut payload = String::new();
            for endpoint in modify.children().filter(|e| e.attr("create") == Some("true")) {
                let name = endpoint.attr("id").unwrap_or_default();
                // One in eight answers to a create lacks the transport (the focus moves on).
                let transport = if how.variant % 8 == 7 && how.variant != 0xff {
                    String::new()
                } else {
                    format!("<transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u-{id}' pwd='p'><candidate component='1' foundation='1' generation='0' ip='127.0.0.1' port='10000' priority='1' protocol='udp' type='host'/><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>AA</fingerprint></transport><sctp port='5000'/></transport>")
                };
                if !transport.is_empty() && from == to {
                    if let Some((room, nick)) = self.allocations.get(&id) {
                        self.allocation_answered = Some((room.clone(), nick.clone(), format!("u-{id}")));
                    }
                }
                payload.push_str(&format!("<endpoint id='{name}'>{transport}</endpoint>"));
            }
            if modify.attr("create") == Some("true") {
                payload.push_str(&format!("<sources><media-source type='audio' id='jvb-a0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{}' name='jvb-a0'/></media-source><media-source type='video' id='jvb-v0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{}' name='jvb-v0'/></media-source></sources>", 9000 + bridge, 9100 + bridge));
            }
            return format!(
                "{}<conference-modified xmlns='jitsi:colibri2' meeting-id='{}'>{payload}</conference-modified></iq>",
                head("result"),
                modify.attr("meeting-id").unwrap_or_default()
            );
        }
        if let Some(query) = request.get_child("query", ns::MUC_OWNER) {
            if request.attr("type") == Some("get") && query.children().next().is_none() {
                let room = to.split('@').next().unwrap_or_default();
                let meeting = if self.meeting_ids {
                    format!("<field var='muc#roominfo_meetingId'><value>meeting-{room}</value></field>")
                } else {
                    String::new()
                };
                return format!("{}<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'><field var='muc#roomconfig_whois'><value>anyone</value></field>{meeting}</x></query></iq>", head("result"));
            }
        }
        format!("{}</iq>", head("result"))
    }

    pub(super) fn jingle(
        &mut self,
        room: usize,
        nick: usize,
        live: Option<usize>,
        pick: SidPick,
        kind: JingleKind,
    ) -> Check {
        let (mut jid, mut nick) = (room_jid(room), NICKS[nick].to_owned());
        if let Some(live) = live {
            // One of the participants with a session, rather than anyone.
            let mut running: Vec<&(String, String)> =
                self.peers.iter().filter(|(_, p)| p.sid.is_some()).map(|(k, _)| k).collect();
            running.sort();
            if !running.is_empty() {
                (jid, nick) = running[live % running.len()].clone();
            }
        }
        let index = NICKS.iter().position(|n| *n == nick).unwrap();
        let kind = match kind {
            JingleKind::Accept { sources, transport } => {
                JingleKind::Accept { sources: resolve(sources, index), transport }
            }
            JingleKind::SourceAdd { sources, again } => {
                JingleKind::SourceAdd { sources: resolve(sources, index), again }
            }
            JingleKind::SourceRemove { pick, sources } => {
                JingleKind::SourceRemove { pick, sources: resolve(sources, index) }
            }
            other => other,
        };
        let key = (jid.clone(), nick.clone());
        let peer = self.peers.entry(key.clone()).or_default();
        let previous: Vec<String> = self
            .sids
            .iter()
            .filter(|(sid, (k, _))| *k == key && peer.sid.as_ref() != Some(*sid))
            .map(|(sid, _)| sid.clone())
            .collect();
        let sid = match pick {
            SidPick::Current => peer.sid.clone().or_else(|| previous.iter().min().cloned()),
            SidPick::Stale => previous.iter().max().cloned(),
            SidPick::Bogus => None,
        }
        .unwrap_or_else(|| "bogus".to_owned());
        let bs = |pick: BsPick, peer: &Peer| match pick {
            BsPick::Omitted => String::new(),
            BsPick::Right => peer.bridge_session.clone().map(|b| format!(" id='{b}'")).unwrap_or_default(),
            BsPick::Wrong => " id='wrong'".to_owned(),
        };
        let transport = "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='c' pwd='cp'><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>BB</fingerprint><candidate component='1' foundation='1' generation='0' id='1' ip='127.0.0.1' network='1' port='5000' priority='1' protocol='udp' type='host'/></transport>";
        let (action, body, ssrcs): (&'static str, String, Vec<(u32, bool, bool)>) = match kind {
            JingleKind::Accept { sources, transport: with } => {
                let body = contents(&nick, &sources, with.then_some(transport));
                ("session-accept", body, ssrcs_of(&sources))
            }
            JingleKind::SourceAdd { sources, again } => {
                let sources = if again && !peer.last_removed.is_empty() {
                    let sources = peer
                        .last_removed
                        .iter()
                        .map(|(ssrc, video)| Src {
                            ssrc: *ssrc,
                            shared: true,
                            video: *video,
                            msid: Some(0),
                            named: false,
                        })
                        .collect();
                    Sources { sources, group: 0 }
                } else {
                    sources
                };
                ("source-add", contents(&nick, &sources, None), ssrcs_of(&sources))
            }
            JingleKind::SourceRemove { pick, sources } => {
                let own: Vec<Src> = peer
                    .own
                    .iter()
                    .map(|(ssrc, video)| Src { ssrc: *ssrc, shared: true, video: *video, msid: None, named: false })
                    .collect();
                let unnamed: Vec<Src> = own.iter().filter(|s| peer.without_msid.contains(&s.ssrc)).cloned().collect();
                let sources = match pick {
                    0 if !own.is_empty() => Sources { sources: own, group: 0 },
                    1 if !own.is_empty() => Sources { sources: own[..1].to_vec(), group: 0 },
                    // The first half of an msid flip: the focus holds the removal.
                    3 if !unnamed.is_empty() => Sources { sources: unnamed, group: 0 },
                    _ => sources,
                };
                ("source-remove", contents(&nick, &sources, None), ssrcs_of(&sources))
            }
            JingleKind::TransportInfo { empty } => {
                let body = if empty {
                    "<content name='audio'/>".to_owned()
                } else {
                    format!("<content name='audio'>{transport}</content>")
                };
                ("transport-info", body, Vec::new())
            }
            JingleKind::Terminate { bs: pick, restart } => {
                let attrs = bs(pick, peer);
                let session = match pick {
                    BsPick::Omitted => String::new(),
                    _ => {
                        format!("<bridge-session xmlns='http://jitsi.org/protocol/focus'{attrs} restart='{restart}'/>")
                    }
                };
                ("session-terminate", format!("<reason><success/></reason>{session}"), Vec::new())
            }
            JingleKind::IceFailed { bs: pick } => {
                let attrs = bs(pick, peer);
                let session = match pick {
                    BsPick::Omitted => String::new(),
                    _ => format!("<bridge-session xmlns='http://jitsi.org/protocol/focus'{attrs}/>"),
                };
                (
                    "session-info",
                    format!("<ice-state xmlns='http://jitsi.org/protocol/focus'>failed</ice-state>{session}"),
                    Vec::new(),
                )
            }
            JingleKind::Unknown => ("content-modify", String::new(), Vec::new()),
        };
        let id = format!("j{}", self.serial());
        if self.connected {
            let request = JingleRequest { room: jid.clone(), nick: nick.clone(), sid: sid.clone(), action, ssrcs };
            self.jingle_requests.insert(id.clone(), request);
        }
        self.stanza(&format!("<iq xmlns='jabber:component:accept' type='set' id='{id}' from='{jid}/{nick}' to='{FOCUS_JID}'><jingle xmlns='urn:xmpp:jingle:1' action='{action}' sid='{sid}'>{body}</jingle></iq>"))
    }
}

pub(super) fn occupant_presence(room: &str, nick: &str, available: bool, owner: bool) -> String {
    let type_ = if available { "" } else { " type='unavailable'" };
    let affiliation = if owner { "owner" } else { "none" };
    let role = if available { "participant" } else { "none" };
    format!("<presence xmlns='jabber:component:accept'{type_} from='{room}/{nick}' to='{FOCUS_JID}'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='{nick}@meet.test/r' affiliation='{affiliation}' role='{role}'/></x></presence>")
}

pub(super) fn bridge_presence(bridge: usize, stats: &Stats) -> String {
    let mut text = String::new();
    if let Some(drain) = stats.drain {
        text.push_str(&format!("<stat name='drain' value='{drain}'/>"));
    }
    if stats.graceful {
        text.push_str("<stat name='graceful_shutdown' value='true'/>");
    }
    if stats.shutting_down {
        text.push_str("<stat name='shutting_down' value='true'/>");
    }
    text.push_str(&format!("<stat name='stress_level' value='0.{}'/>", stats.stress));
    text.push_str(&format!("<stat name='version' value='2.{}'/>", stats.version));
    format!("<presence xmlns='jabber:component:accept' from='{}' to='{FOCUS_JID}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/></x><stats xmlns='http://jitsi.org/protocol/colibri'>{text}</stats></presence>", bridge_jid(bridge))
}

pub(super) fn msid_value(nick: &str, k: u8) -> String {
    match k {
        3 => "shared t".to_owned(),
        k => format!("m{k}-{nick} t{k}"),
    }
}

/// Jingle contents carrying `sources` (and `transport` in the first).
pub(super) fn contents(nick: &str, sources: &Sources, transport: Option<&str>) -> String {
    let mut by_media = [String::new(), String::new()];
    for s in &sources.sources {
        let letter = if s.video { 'v' } else { 'a' };
        let name = if s.named { format!(" name='{nick}-{letter}0'") } else { String::new() };
        let msid =
            s.msid.map(|k| format!("<parameter name='msid' value='{}'/>", msid_value(nick, k))).unwrap_or_default();
        by_media[usize::from(s.video)].push_str(&format!(
            "<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{}'{name}>{msid}</source>",
            s.ssrc
        ));
    }
    let video: Vec<u32> = sources.sources.iter().filter(|s| s.video).map(|s| s.ssrc).collect();
    let group = |semantics: &str, ssrcs: &[u32]| {
        let members: String = ssrcs.iter().map(|s| format!("<source ssrc='{s}'/>")).collect();
        format!("<ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='{semantics}'>{members}</ssrc-group>")
    };
    match sources.group {
        1 if video.len() >= 2 => by_media[1].push_str(&group("FID", &video[..2])),
        2 if video.len() >= 2 => by_media[1].push_str(&group("SIM", &video[..video.len().min(3)])),
        3 => by_media[1].push_str(&group("FID", &[video.first().copied().unwrap_or(1), 77])),
        _ => {}
    }
    let mut out = String::new();
    let mut transport = transport;
    for (media, children) in ["audio", "video"].iter().zip(by_media) {
        if children.is_empty() && !(media == &"audio" && transport.is_some()) {
            continue;
        }
        let t = transport.take().unwrap_or_default();
        out.push_str(&format!("<content creator='initiator' name='{media}'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='{media}'>{children}</description>{t}</content>"));
    }
    out
}

/// The SSRCs a nick actually signals: its own range unless shared.
pub(super) fn resolve(mut sources: Sources, nick: usize) -> Sources {
    for s in &mut sources.sources {
        if s.ssrc != 0 && !s.shared {
            s.ssrc += 100 * (nick as u32 + 1);
        }
    }
    sources
}

pub(super) fn ssrcs_of(sources: &Sources) -> Vec<(u32, bool, bool)> {
    sources.sources.iter().map(|s| (s.ssrc, s.video, s.msid.is_some())).collect()
}
