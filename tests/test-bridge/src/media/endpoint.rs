//! One endpoint's str0m `Rtc`: ICE, DTLS and SCTP as JVB runs them, and the streams it sends
//! and receives. What its `Rtc` emits for other endpoints (RTP packets, keyframe requests) is
//! handed back to the runtime, which routes it ([`super::forward`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use str0m::config::Fingerprint;
use str0m::media::{KeyframeRequestKind, MediaKind, Mid};
use str0m::net::Protocol;
use str0m::rtp::RtpPacket;
use str0m::{Candidate, CandidateKind, Event, IceConnectionState, IceCreds, Output, Rtc};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use crate::colibri2::{IceUdpTransport, MediaSource, MediaType};
use crate::view::{EndpointKey, TransportState};

/// A stream an endpoint sends (from its Colibri2 sources): a primary SSRC with its RTX SSRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentStream {
    pub ssrc: u32,
    pub rtx: Option<u32>,
    pub kind: MediaType,
}

/// The streams of Colibri2 sources: every SSRC that is not the second member of an FID group
/// is a primary; the FID partner is its RTX. (SIM layers are each forwarded: the test bridge
/// selects no layer.)
pub fn sent_streams(sources: &[MediaSource]) -> Vec<SentStream> {
    let mut streams = Vec::new();
    for source in sources {
        let fid: Vec<(u32, u32)> = source
            .ssrc_groups
            .iter()
            .filter(|g| g.semantics.eq_ignore_ascii_case("FID") && g.ssrcs.len() == 2)
            .map(|g| (g.ssrcs[0], g.ssrcs[1]))
            .collect();
        for s in &source.sources {
            if fid.iter().any(|(_, rtx)| *rtx == s.ssrc) || streams.iter().any(|x: &SentStream| x.ssrc == s.ssrc) {
                continue;
            }
            let rtx = fid.iter().find(|(primary, _)| *primary == s.ssrc).map(|(_, rtx)| *rtx);
            streams.push(SentStream { ssrc: s.ssrc, rtx, kind: source.kind });
        }
    }
    streams
}

/// The mid of an endpoint's own media of a kind (the Jingle content name).
pub fn mid_of(kind: MediaType) -> Mid {
    Mid::from(kind.as_str())
}

pub fn media_kind(kind: MediaType) -> MediaKind {
    match kind {
        MediaType::Audio => MediaKind::Audio,
        MediaType::Video => MediaKind::Video,
    }
}

/// A transmit stream declared on a receiving endpoint for another endpoint's source.
#[derive(Debug, Clone, Copy)]
pub struct TxStream {
    pub rtx: Option<u32>,
    pub kind: MediaType,
    /// The sender's rollover counter when the first packet was forwarded: subtracted, so that
    /// the 16-bit sequence numbers on the wire stay the sender's while this receiver's SRTP
    /// starts at rollover 0 (it learns no ROC out of band).
    pub roc_base: Option<u64>,
}

/// What an endpoint's `Rtc` produced for the router. Lives only in the short batch of one
/// poll, so the packet is not boxed (that would be an allocation per packet).
#[allow(clippy::large_enum_variant)]
pub enum Routed {
    Rtp(RtpPacket),
    KeyframeRequest(KeyframeRequestKind),
}

/// Media counters of one endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaCounters {
    pub rtp_received: u64,
    pub rtp_forwarded_to: u64,
}

/// One endpoint in the runtime.
pub struct Endpoint {
    pub rtc: Rtc,
    sctp_wanted: bool,
    sctp_started: bool,
    dtls_started: bool,
    /// The mids declared (from the Colibri2 media at create).
    pub media: BTreeSet<MediaType>,
    /// What it sends, from its Colibri2 sources.
    pub sending: Vec<SentStream>,
    /// Receive streams declared in its `Rtc` (primary SSRCs).
    pub expected: BTreeSet<u32>,
    /// Transmit streams declared in its `Rtc` for other endpoints' sources, by primary SSRC.
    pub receiving: BTreeMap<u32, TxStream>,
    pub force_mute_audio: bool,
    pub force_mute_video: bool,
    pub state: TransportState,
    /// `state` changed since it was last published.
    pub dirty: bool,
    pub counters: MediaCounters,
    /// Got input (or a command) since it was last polled.
    pub needs_poll: bool,
    /// When str0m wants time to pass (`None` once the `Rtc` is closed).
    pub next_at: Option<Instant>,
}

impl Endpoint {
    pub fn new(mut rtc: Rtc, media: &[MediaType]) -> Self {
        for kind in media {
            rtc.direct_api().declare_media(mid_of(*kind), media_kind(*kind));
        }
        Endpoint {
            rtc,
            sctp_wanted: false,
            sctp_started: false,
            dtls_started: false,
            media: media.iter().copied().collect(),
            sending: Vec::new(),
            expected: BTreeSet::new(),
            receiving: BTreeMap::new(),
            force_mute_audio: false,
            force_mute_video: false,
            state: TransportState { ice_state: "New".to_string(), ..TransportState::default() },
            dirty: true,
            counters: MediaCounters::default(),
            needs_poll: true,
            next_at: None,
        }
    }

    pub fn fail(&mut self, key: &EndpointKey, why: String) {
        warn!(endpoint = %key, "transport failed: {why}");
        self.state.failure = Some(why);
        self.dirty = true;
        self.rtc.disconnect();
    }

    pub fn want_sctp(&mut self, key: &EndpointKey) {
        self.sctp_wanted = true;
        self.maybe_start_sctp(key);
    }

    pub fn set_remote(&mut self, key: &EndpointKey, remote: &IceUdpTransport) {
        if let (Some(ufrag), Some(pwd)) = (&remote.ufrag, &remote.pwd) {
            self.rtc.direct_api().set_remote_ice_credentials(IceCreds { ufrag: ufrag.clone(), pass: pwd.clone() });
        }
        for c in &remote.candidates {
            if c.protocol != "udp" {
                continue;
            }
            let ip = match c.ip.parse::<IpAddr>() {
                Ok(ip) if !ip.is_unspecified() && !ip.is_multicast() && c.port != 0 => ip,
                _ => {
                    debug!(endpoint = %key, ip = %c.ip, port = c.port, "skipping an unusable candidate");
                    continue;
                }
            };
            let kind = match c.kind.as_str() {
                "srflx" => CandidateKind::ServerReflexive,
                "prflx" => CandidateKind::PeerReflexive,
                "relay" => CandidateKind::Relayed,
                _ => CandidateKind::Host,
            };
            let candidate = Candidate::from_parts(
                c.foundation.clone(),
                c.component,
                Protocol::Udp,
                c.priority,
                SocketAddr::new(ip, c.port),
                kind,
                None,
                None,
                remote.ufrag.clone(),
            );
            self.rtc.add_remote_candidate(candidate);
        }
        // Prefer sha-256 when several fingerprints are offered.
        let fingerprint = remote
            .fingerprints
            .iter()
            .find(|f| f.hash.eq_ignore_ascii_case("sha-256"))
            .or_else(|| remote.fingerprints.first());
        if let Some(f) = fingerprint {
            match format!("{} {}", f.hash.to_ascii_lowercase(), f.value).parse::<Fingerprint>() {
                Ok(parsed) => self.rtc.direct_api().set_remote_fingerprint(parsed),
                Err(e) => return self.fail(key, format!("unreadable DTLS fingerprint {:?}: {e}", f.value)),
            }
            if !self.dtls_started {
                // The client answers the bridge's actpass: `active` makes the bridge the DTLS server.
                let active = f.setup.as_deref() == Some("passive");
                if let Err(e) = self.rtc.direct_api().start_dtls(active) {
                    return self.fail(key, format!("starting DTLS: {e}"));
                }
                self.dtls_started = true;
                info!(endpoint = %key, role = if active { "client" } else { "server" }, "DTLS started");
            }
        }
        self.maybe_start_sctp(key);
    }

    fn maybe_start_sctp(&mut self, key: &EndpointKey) {
        if self.sctp_wanted && self.dtls_started && !self.sctp_started {
            self.rtc.direct_api().start_sctp(false);
            self.sctp_started = true;
            debug!(endpoint = %key, "SCTP started as server");
        }
    }

    /// Polls the `Rtc` until it wants time to pass; sends what it transmits and hands what is
    /// for other endpoints to `routed`. Returns when to poll again.
    pub fn drive(&mut self, key: &EndpointKey, socket: &UdpSocket, routed: &mut Vec<Routed>) -> Option<Instant> {
        while self.rtc.is_alive() {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => return Some(at),
                Ok(Output::Transmit(t)) => {
                    if let Err(e) = socket.try_send_to(&t.contents, t.destination) {
                        debug!(endpoint = %key, to = %t.destination, "datagram not sent: {e}");
                    }
                }
                Ok(Output::Event(event)) => self.on_event(key, event, routed),
                Err(e) => {
                    self.fail(key, format!("str0m: {e}"));
                    return None;
                }
            }
        }
        None
    }

    fn on_event(&mut self, key: &EndpointKey, event: Event, routed: &mut Vec<Routed>) {
        match event {
            Event::IceConnectionStateChange(ice) => {
                self.state.ice_state = format!("{ice:?}");
                if matches!(ice, IceConnectionState::Connected | IceConnectionState::Completed)
                    && !self.state.ice_connected
                {
                    self.state.ice_connected = true;
                    info!(endpoint = %key, "ICE connected");
                }
                self.dirty = true;
            }
            Event::Connected if !self.state.dtls_connected => {
                self.state.dtls_connected = true;
                self.dirty = true;
                info!(endpoint = %key, "DTLS connected");
            }
            Event::ChannelOpen(_, label) => {
                info!(endpoint = %key, %label, "data channel open");
                self.state.data_channel = Some(label);
                self.dirty = true;
            }
            Event::RtpPacket(packet) => {
                self.counters.rtp_received += 1;
                routed.push(Routed::Rtp(packet));
            }
            Event::KeyframeRequest(request) => {
                debug!(endpoint = %key, mid = %request.mid, kind = ?request.kind, "keyframe request");
                routed.push(Routed::KeyframeRequest(request.kind));
            }
            _ => {}
        }
    }
}
