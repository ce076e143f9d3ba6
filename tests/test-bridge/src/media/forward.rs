//! Selective forwarding between the endpoints of one conference, as JVB does for audio and
//! non-simulcast video: every source an endpoint sends is forwarded to every other endpoint of
//! its conference with its original SSRC, payload type, sequence number, timestamp, marker and
//! header-extension values. str0m keeps what an SFU must do per hop: receiver reports and
//! NACKs towards the sender (RTX unwrapped on the way in), sender reports and answers to the
//! receiver's NACKs from its cache (with the sender's RTX SSRC and payload type) on the way out.
//! Keyframe requests (PLI/FIR) of a receiver go to the video senders it receives.
//!
//! The streams declared in each `Rtc` are reconciled with the Colibri2 sources whenever an
//! endpoint or its sources change ([`reconcile`]); routing is then a lookup ([`route`]).
//!
//! Each forwarded stream gets a media (mid) of its own in the receiver's `Rtc`: str0m's pacer
//! sends from one transmit stream per mid, so a second sender's audio in the same mid would
//! never leave. These mids are internal labels: the mid header extension is not mapped
//! ([`super::codecs`]), so they never reach the wire.

use std::collections::{BTreeMap, BTreeSet};

use str0m::rtp::{RtpWrite, Ssrc};
use tracing::{debug, info};

use str0m::media::Mid;

use super::endpoint::{media_kind, mid_of, Endpoint, Routed, SentStream, TxStream};
use crate::colibri2::MediaType;
use crate::view::EndpointKey;

pub type Endpoints = BTreeMap<EndpointKey, Endpoint>;

/// Bridge-wide media counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwardCounters {
    /// RTP packets received from endpoints (after SRTP, RTX unwrapped).
    pub rtp_received: u64,
    /// RTP packets written towards receivers (one per receiver).
    pub rtp_forwarded: u64,
    /// RTP packets dropped because their sender is force-muted for that media.
    pub rtp_dropped_muted: u64,
    /// Keyframe requests passed on to a sender (one per sender).
    pub keyframe_requests_forwarded: u64,
}

fn in_meeting<'a>(endpoints: &'a Endpoints, meeting_id: &'a str) -> impl Iterator<Item = &'a EndpointKey> + 'a {
    let start = EndpointKey::new(meeting_id, "");
    endpoints.range(start..).map(|(k, _)| k).take_while(move |k| k.meeting_id == meeting_id)
}

/// Makes the receive and transmit streams declared in each endpoint of `meeting_id` match the
/// sources: each endpoint expects its own streams and transmits every other endpoint's. An SSRC
/// claimed by two endpoints belongs to the first (the focus never allows that).
pub fn reconcile(endpoints: &mut Endpoints, meeting_id: &str) {
    let keys: Vec<EndpointKey> = in_meeting(endpoints, meeting_id).cloned().collect();
    let mut owners: BTreeMap<u32, (EndpointKey, SentStream)> = BTreeMap::new();
    for key in &keys {
        for stream in &endpoints[key].sending {
            owners.entry(stream.ssrc).or_insert_with(|| (key.clone(), *stream));
        }
    }
    for key in &keys {
        let Some(endpoint) = endpoints.get_mut(key) else { continue };
        if !endpoint.rtc.is_alive() {
            continue;
        }
        let own: BTreeMap<u32, SentStream> = owners
            .iter()
            .filter(|(_, (owner, _))| owner == key)
            .filter(|(_, (_, s))| endpoint.media.contains(&s.kind))
            .map(|(ssrc, (_, s))| (*ssrc, *s))
            .collect();
        let others: BTreeMap<u32, SentStream> = owners
            .iter()
            .filter(|(_, (owner, _))| owner != key)
            .filter(|(_, (_, s))| endpoint.media.contains(&s.kind))
            .map(|(ssrc, (_, s))| (*ssrc, *s))
            .collect();
        sync_receive(endpoint, key, &own);
        sync_transmit(endpoint, key, &others);
        endpoint.needs_poll = true;
    }
}

fn sync_receive(endpoint: &mut Endpoint, key: &EndpointKey, own: &BTreeMap<u32, SentStream>) {
    let stale: Vec<u32> = endpoint.expected.iter().filter(|s| !own.contains_key(s)).copied().collect();
    for ssrc in stale {
        endpoint.rtc.direct_api().remove_stream_rx(Ssrc::from(ssrc));
        endpoint.expected.remove(&ssrc);
    }
    for (ssrc, stream) in own {
        if endpoint.expected.insert(*ssrc) {
            let rtx = stream.rtx.map(Ssrc::from);
            endpoint.rtc.direct_api().expect_stream_rx(Ssrc::from(*ssrc), rtx, mid_of(stream.kind), None);
            debug!(endpoint = %key, ssrc, ?stream.rtx, kind = stream.kind.as_str(), "receive stream declared");
        }
    }
}

fn sync_transmit(endpoint: &mut Endpoint, key: &EndpointKey, others: &BTreeMap<u32, SentStream>) {
    let stale: Vec<u32> = endpoint
        .receiving
        .iter()
        .filter(|(ssrc, tx)| others.get(ssrc).is_none_or(|s| s.rtx != tx.rtx || s.kind != tx.kind))
        .map(|(ssrc, _)| *ssrc)
        .collect();
    for ssrc in stale {
        if let Some(tx) = endpoint.receiving.remove(&ssrc) {
            // Removes the stream with its media.
            endpoint.rtc.direct_api().remove_media(forwarded_mid(ssrc, tx.kind));
        }
    }
    for (ssrc, stream) in others {
        if endpoint.receiving.contains_key(ssrc) {
            continue;
        }
        let rtx = stream.rtx.map(Ssrc::from);
        let mid = forwarded_mid(*ssrc, stream.kind);
        let mut api = endpoint.rtc.direct_api();
        api.declare_media(mid, media_kind(stream.kind));
        api.declare_stream_tx(Ssrc::from(*ssrc), rtx, mid, None);
        endpoint.receiving.insert(*ssrc, TxStream { rtx: stream.rtx, kind: stream.kind, roc_base: None });
        debug!(endpoint = %key, ssrc, ?stream.rtx, kind = stream.kind.as_str(), "transmit stream declared");
    }
}

/// The receiver-side mid of a forwarded stream: `a`/`v` and the SSRC in hex (at most 9 of
/// str0m's 16 bytes).
fn forwarded_mid(ssrc: u32, kind: MediaType) -> Mid {
    let prefix = match kind {
        MediaType::Audio => 'a',
        MediaType::Video => 'v',
    };
    Mid::from(format!("{prefix}{ssrc:x}").as_str())
}

/// Routes what `from`'s `Rtc` produced. Receivers that got something are marked for polling.
pub fn route(endpoints: &mut Endpoints, from: &EndpointKey, routed: Vec<Routed>, counters: &mut ForwardCounters) {
    for item in routed {
        match item {
            Routed::Rtp(packet) => forward_rtp(endpoints, from, &packet, counters),
            Routed::KeyframeRequest(kind) => {
                // str0m names no SSRC in the event: every video sender this endpoint receives
                // is asked (JVB knows which one; with one video each here it is the same).
                let Some(receiver) = endpoints.get(from) else { continue };
                let wanted: BTreeSet<u32> =
                    receiver.receiving.iter().filter(|(_, tx)| tx.kind == MediaType::Video).map(|(s, _)| *s).collect();
                let senders: Vec<EndpointKey> = in_meeting(endpoints, &from.meeting_id)
                    .filter(|k| *k != from && endpoints[*k].expected.iter().any(|s| wanted.contains(s)))
                    .cloned()
                    .collect();
                for key in senders {
                    let Some(sender) = endpoints.get_mut(&key) else { continue };
                    for ssrc in sender.expected.iter().filter(|s| wanted.contains(s)).copied().collect::<Vec<_>>() {
                        if let Some(stream) = sender.rtc.direct_api().stream_rx(&Ssrc::from(ssrc)) {
                            stream.request_keyframe(kind);
                            counters.keyframe_requests_forwarded += 1;
                            debug!(from = %from, to = %key, ssrc, ?kind, "keyframe request forwarded");
                        }
                    }
                    sender.needs_poll = true;
                }
            }
        }
    }
}

fn forward_rtp(
    endpoints: &mut Endpoints,
    from: &EndpointKey,
    packet: &str0m::rtp::RtpPacket,
    counters: &mut ForwardCounters,
) {
    counters.rtp_received += 1;
    let ssrc = *packet.header.ssrc;
    let Some(sender) = endpoints.get(from) else { return };
    let Some(stream) = sender.sending.iter().find(|s| s.ssrc == ssrc) else {
        return; // str0m only delivers declared streams; a source removed meanwhile
    };
    let muted = match stream.kind {
        MediaType::Audio => sender.force_mute_audio,
        MediaType::Video => sender.force_mute_video,
    };
    if muted {
        if counters.rtp_dropped_muted == 0 {
            info!(endpoint = %from, ssrc, "dropping media of a force-muted endpoint");
        }
        counters.rtp_dropped_muted += 1;
        return;
    }
    let nackable = stream.kind == MediaType::Video;
    let roc = packet.seq_no.roc();
    let receivers: Vec<EndpointKey> = in_meeting(endpoints, &from.meeting_id).filter(|k| *k != from).cloned().collect();
    for key in receivers {
        let Some(receiver) = endpoints.get_mut(&key) else { continue };
        if !receiver.rtc.is_alive() {
            continue;
        }
        let Some(tx) = receiver.receiving.get_mut(&ssrc) else { continue };
        let base = *tx.roc_base.get_or_insert(roc);
        let Some(rebased) = roc.checked_sub(base) else {
            continue; // reordered from before the first forwarded packet's rollover
        };
        let seq_no = (rebased << 16) | u64::from(packet.seq_no.as_u16());
        let write = RtpWrite::new(
            packet.header.payload_type,
            seq_no.into(),
            packet.header.timestamp,
            packet.timestamp,
            packet.payload.clone(),
        )
        .marker(packet.header.marker)
        .ext_vals(packet.header.ext_vals.clone())
        .nackable(nackable);
        if let Some(out) = receiver.rtc.direct_api().stream_tx(&Ssrc::from(ssrc)) {
            out.write_rtp(write);
            receiver.counters.rtp_forwarded_to += 1;
            receiver.needs_poll = true;
            counters.rtp_forwarded += 1;
        }
    }
}
