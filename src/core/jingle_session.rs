//! A participant's Jingle session with the focus (protocol.md §7.3, §7.6): where it is in its
//! life, which bridge and Colibri2 session carry it, and how often the participant may ask for
//! a restart.

use std::collections::VecDeque;

use minidom::Element;
use xmpp_parsers::jid::FullJid;

use super::features::Features;
use super::offer::{self, Offer};
use super::sources::EndpointSources;
use super::Time;
use crate::config::CodecsConfig;
use crate::xmpp::build::{elem, ElementExt};
use crate::xmpp::jingle::{self, Action};
use crate::xmpp::jingle_ice::{IceUdpTransport, SctpMap};
use crate::xmpp::jingle_rtp::RtpFormats;
use crate::xmpp::ns;

/// Where a session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// Waiting for the bridge to allocate the endpoint (Colibri2 IQ id).
    Allocating { request: String },
    /// session-initiate sent; waiting for its IQ answer and then session-accept.
    Initiated,
    /// session-accept received: the participant's transport and sources are on the bridge.
    Active,
}

/// One Jingle session (one `sid`) of one participant.
#[derive(Debug, Clone)]
pub struct JingleSession {
    pub sid: String,
    pub state: SessionState,
    pub bridge: FullJid,
    /// Our Colibri2 session id with that bridge (`<bridge-session id>`): a client's restart
    /// request must name it.
    pub bridge_session_id: String,
    pub offer: Offer,
    /// Sources the participant removed whose removal is not told to anyone yet: possibly the
    /// first half of an msid flip (see `core::focus::jingle`), as they were stored.
    pub held_remove: Option<EndpointSources>,
}

impl JingleSession {
    pub fn new(sid: String, bridge: FullJid, bridge_session_id: String, request: String, offer: Offer) -> Self {
        JingleSession {
            sid,
            state: SessionState::Allocating { request },
            bridge,
            bridge_session_id,
            offer,
            held_remove: None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.state == SessionState::Active
    }
}

/// What a participant's media needs: its features (from disco) and its sessions.
#[derive(Debug, Clone, Default)]
pub struct ParticipantMedia {
    /// `None` while disco#info is outstanding.
    pub features: Option<Features>,
    pub session: Option<JingleSession>,
    pub restarts: RestartLimiter,
    /// Moves to another bridge that the focus made (bridge failures, Colibri2 errors).
    pub moves: MoveLimiter,
    /// Colibri2 updates for it awaiting an answer.
    pub awaited_updates: u32,
    /// The sids of its last few sessions, to answer Jingle for them as Jicofo does.
    pub previous_sids: VecDeque<String>,
    /// Forced mute state on the bridge (moderator mute), re-applied after a move.
    pub force_mute_audio: bool,
    pub force_mute_video: bool,
}

impl ParticipantMedia {
    /// Sessions remembered per participant for [`ParticipantMedia::previous_sids`].
    const PREVIOUS_SIDS: usize = 4;

    pub fn remember_sid(&mut self, sid: &str) {
        if self.previous_sids.len() == Self::PREVIOUS_SIDS {
            self.previous_sids.pop_front();
        }
        self.previous_sids.push_back(sid.to_owned());
    }

    pub fn offer(&self, codecs: &CodecsConfig) -> Offer {
        offer::build(codecs, &self.features.unwrap_or_default())
    }
}

/// Jicofo's restart rule: at least 5 s between requests and at most 5 in any minute.
#[derive(Debug, Clone, Default)]
pub struct RestartLimiter {
    granted: VecDeque<Time>,
}

impl RestartLimiter {
    const MIN_GAP_SECONDS: i64 = 5;
    const PER_MINUTE: usize = 5;

    /// Whether a restart may happen `now`; counts it if so.
    pub fn try_restart(&mut self, now: Time) -> bool {
        while self.granted.front().is_some_and(|t| now - *t >= chrono::Duration::minutes(1)) {
            self.granted.pop_front();
        }
        if self.granted.back().is_some_and(|t| now - *t < chrono::Duration::seconds(Self::MIN_GAP_SECONDS)) {
            return false;
        }
        if self.granted.len() >= Self::PER_MINUTE {
            return false;
        }
        self.granted.push_back(now);
        true
    }
}

/// At most ten moves of one participant in any minute: a bridge that fails every allocation
/// must not make the focus re-invite in a loop.
#[derive(Debug, Clone, Default)]
pub struct MoveLimiter {
    moves: VecDeque<Time>,
}

impl MoveLimiter {
    const PER_MINUTE: usize = 10;

    pub fn try_move(&mut self, now: Time) -> bool {
        while self.moves.front().is_some_and(|t| now - *t >= chrono::Duration::minutes(1)) {
            self.moves.pop_front();
        }
        if self.moves.len() >= Self::PER_MINUTE {
            return false;
        }
        self.moves.push_back(now);
        true
    }
}

/// What the bridge allocated for an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub transport: IceUdpTransport,
    pub sctp_port: Option<u16>,
    pub region: Option<String>,
}

/// The pieces of a session-initiate besides the offer and the allocation.
pub struct InitiateParts {
    pub sid: String,
    pub initiator: String,
    pub bridge_session_id: String,
    /// `<source>`/`<ssrc-group>` elements per media type for the description.
    pub audio_sources: Vec<Element>,
    pub video_sources: Vec<Element>,
    /// `<json-message>` when the participant reads JSON sources.
    pub json_sources: Option<Element>,
    pub start_muted: Option<(bool, bool)>,
}

/// Builds session-initiate (§7.4): one content per offered media, each with the bridge's
/// transport (the data content also with `<sctpmap>`), `<rtcp-mux/>` in every description,
/// the BUNDLE group, `<bridge-session>` and, when needed, `<startmuted>` and `<json-message>`.
pub fn session_initiate(offer: &Offer, allocation: &Allocation, parts: InitiateParts) -> Element {
    let mut element = jingle::jingle(Action::SessionInitiate, &parts.sid, Some(&parts.initiator));
    let mut names = Vec::new();
    let media: [(&str, &Option<RtpFormats>, Vec<Element>); 2] =
        [("audio", &offer.audio, parts.audio_sources), ("video", &offer.video, parts.video_sources)];
    let mut transport = allocation.transport.clone();
    transport.rtcp_mux = true;
    transport.sctp = None;
    for (name, formats, sources) in media {
        let Some(formats) = formats else { continue };
        let mut description = elem("description", ns::JINGLE_RTP).with_attr("media", name);
        if name == "audio" {
            description = description.with_attr("maxptime", "60");
        }
        for child in formats.elements() {
            description.append_child(child);
        }
        description.append_child(elem("rtcp-mux", ns::JINGLE_RTP));
        for source in sources {
            description.append_child(source);
        }
        element.append_child(jingle::content(name).with_child(description).with_child(transport.to_element()));
        names.push(name);
    }
    if offer.data {
        if let Some(port) = allocation.sctp_port {
            let mut data_transport = transport.clone();
            data_transport.sctp = Some(SctpMap::webrtc_datachannel(port));
            let description = elem("description", ns::JINGLE_RTP)
                .with_attr("media", "application")
                .with_child(elem("rtcp-mux", ns::JINGLE_RTP));
            element
                .append_child(jingle::content("data").with_child(description).with_child(data_transport.to_element()));
            names.push("data");
        }
    }
    element.append_child(jingle::bundle(names));
    if let Some((audio, video)) = parts.start_muted {
        element.append_child(jingle::start_muted(audio, video));
    }
    element.append_child(jingle::bridge_session(&parts.bridge_session_id, allocation.region.as_deref()));
    if let Some(json) = parts.json_sources {
        element.append_child(json);
    }
    element
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmpp::jingle::Jingle;

    fn at(seconds: i64) -> Time {
        chrono::DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn restarts_need_five_seconds_and_at_most_five_a_minute() {
        let mut limiter = RestartLimiter::default();
        assert!(limiter.try_restart(at(0)));
        assert!(!limiter.try_restart(at(4)), "less than 5 s after the last");
        assert!(limiter.try_restart(at(5)));
        for t in [10, 15, 20] {
            assert!(limiter.try_restart(at(t)));
        }
        assert!(!limiter.try_restart(at(25)), "a sixth within the minute");
        assert!(!limiter.try_restart(at(59)));
        assert!(limiter.try_restart(at(60)), "the first has left the window");
    }

    fn allocation() -> Allocation {
        let transport: Element = "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u' pwd='p'><candidate component='1' foundation='1' generation='0' ip='127.0.0.1' port='10000' priority='1' protocol='udp' type='host'/><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>AA</fingerprint></transport>".parse().unwrap();
        Allocation {
            transport: IceUdpTransport::parse(&transport).unwrap(),
            sctp_port: Some(5000),
            region: Some("eu".into()),
        }
    }

    fn parts() -> InitiateParts {
        InitiateParts {
            sid: "sid1".into(),
            initiator: "focus.meet.test/focus".into(),
            bridge_session_id: "bs-1".into(),
            audio_sources: Vec::new(),
            video_sources: Vec::new(),
            json_sources: None,
            start_muted: None,
        }
    }

    #[test]
    fn session_initiate_copies_the_bridge_transport_into_every_content() {
        let offer = offer::build(&CodecsConfig::default(), &Features::default());
        let element = session_initiate(&offer, &allocation(), parts());
        let jingle = Jingle::parse(&element).unwrap();
        let names: Vec<&str> = jingle.contents.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["audio", "video", "data"]);
        for content in &jingle.contents {
            let transport = content.transport.as_ref().unwrap();
            assert_eq!(transport.ufrag.as_deref(), Some("u"));
            assert!(transport.rtcp_mux);
            assert_eq!(transport.fingerprints[0].setup.as_deref(), Some("actpass"));
            assert_eq!(transport.sctp.is_some(), content.name == "data", "sctpmap only in data");
            let description = content.element.get_child("description", ns::JINGLE_RTP).unwrap();
            assert!(description.get_child("rtcp-mux", ns::JINGLE_RTP).is_some());
        }
        let session = jingle.bridge_session.unwrap();
        assert_eq!((session.id.as_str(), session.region.as_deref()), ("bs-1", Some("eu")));
        let group = element.get_child("group", ns::JINGLE_GROUPING).unwrap();
        assert_eq!(group.children().count(), 3);
    }

    #[test]
    fn no_data_content_without_sctp_and_start_muted_when_asked() {
        let offer = offer::build(&CodecsConfig::default(), &Features { sctp: false, ..Features::default() });
        let mut parts = parts();
        parts.start_muted = Some((true, false));
        let element = session_initiate(&offer, &allocation(), parts);
        assert_eq!(Jingle::parse(&element).unwrap().contents.len(), 2);
        let muted = element.get_child("startmuted", ns::START_MUTED).unwrap();
        assert_eq!((muted.attr("audio"), muted.attr("video")), (Some("true"), Some("false")));
    }
}
