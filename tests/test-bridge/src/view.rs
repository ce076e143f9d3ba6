//! What tests can observe: connection state, conferences and endpoints as the Colibri2 handler
//! keeps them, transport (ICE/DTLS) state from the media runtime, and counters. Published
//! through a `tokio::sync::watch` channel so tests await a condition instead of sleeping.

use std::collections::BTreeMap;

use crate::colibri2::{IceUdpTransport, LocalTransport, MediaDescription, MediaSource};

/// An endpoint of a conference on this bridge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointKey {
    pub meeting_id: String,
    pub endpoint_id: String,
}

impl EndpointKey {
    pub fn new(meeting_id: &str, endpoint_id: &str) -> Self {
        EndpointKey { meeting_id: meeting_id.to_string(), endpoint_id: endpoint_id.to_string() }
    }
}

impl std::fmt::Display for EndpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.meeting_id, self.endpoint_id)
    }
}

/// A conference as the bridge keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConferenceView {
    pub meeting_id: String,
    pub name: Option<String>,
    /// SSRC of the feedback source `jvb-a0`.
    pub feedback_audio_ssrc: u32,
    /// SSRC of the feedback source `jvb-v0`.
    pub feedback_video_ssrc: u32,
    pub endpoints: BTreeMap<String, EndpointView>,
}

/// An endpoint as the bridge keeps it. `ice_connected`/`dtls_connected`/`ice_state` are filled
/// from the media runtime when read through [`crate::TestBridge::endpoint`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointView {
    pub id: String,
    pub stats_id: Option<String>,
    pub visitor: bool,
    pub capabilities: Vec<String>,
    pub ice_controlling: bool,
    /// An SCTP association was asked for (the bridge is its server).
    pub sctp: bool,
    /// The bridge's side, as answered.
    pub local: LocalTransport,
    /// The client's side, from the last transport update.
    pub remote: Option<IceUdpTransport>,
    pub media: Vec<MediaDescription>,
    pub sources: Vec<MediaSource>,
    pub force_mute_audio: bool,
    pub force_mute_video: bool,
    pub initial_last_n: Option<i32>,
    pub transport: TransportState,
}

/// ICE and DTLS state of one endpoint's str0m `Rtc`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransportState {
    /// str0m's ICE connection state (`New`, `Checking`, `Connected`, `Completed`, `Disconnected`).
    pub ice_state: String,
    /// ICE reached connected (stays true once reached).
    pub ice_connected: bool,
    /// DTLS handshake done with the expected fingerprint (str0m's `Connected` event).
    pub dtls_connected: bool,
    /// An SCTP data channel was opened by the client (label).
    pub data_channel: Option<String>,
    /// The transport failed (str0m error), with why.
    pub failure: Option<String>,
    /// RTP packets received from this endpoint (published at most every 100 ms).
    pub rtp_received: u64,
    /// RTP packets forwarded to this endpoint (published at most every 100 ms).
    pub rtp_sent: u64,
}

/// Counters of what the bridge received and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub health_checks: u64,
    pub colibri_requests: u64,
    /// Colibri2 requests answered with an error.
    pub colibri_errors: u64,
    /// Colibri2 requests left unanswered (switch).
    pub colibri_unanswered: u64,
    /// Other IQ requests (ping, version, disco, unknown).
    pub other_iqs: u64,
    /// Brewery presences sent (joins and updates).
    pub presences_sent: u64,
    /// Endpoints whose ICE connected.
    pub ice_connected: u64,
    /// Endpoints whose DTLS connected.
    pub dtls_connected: u64,
    /// RTP packets received from endpoints (the media counters are published at most every
    /// 100 ms).
    pub rtp_received: u64,
    /// RTP packets forwarded (one per receiver).
    pub rtp_forwarded: u64,
    /// RTP packets not forwarded because their sender is force-muted.
    pub rtp_dropped_muted: u64,
    /// Keyframe requests passed on to senders.
    pub keyframe_requests_forwarded: u64,
}

/// Everything observable about a running bridge.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BridgeView {
    /// Logged in to the XMPP server (false after the connection is gone).
    pub xmpp_connected: bool,
    /// The full JID the server bound.
    pub jid: Option<String>,
    /// In the brewery room (self-presence seen).
    pub in_brewery: bool,
    /// Why the bridge stopped working (connection lost, join refused), if it did.
    pub failure: Option<String>,
    pub conferences: BTreeMap<String, ConferenceView>,
    pub transports: BTreeMap<EndpointKey, TransportState>,
    pub counters: Counters,
}

impl BridgeView {
    /// An endpoint with its transport state merged in.
    pub fn endpoint(&self, meeting_id: &str, endpoint_id: &str) -> Option<EndpointView> {
        let mut endpoint = self.conferences.get(meeting_id)?.endpoints.get(endpoint_id)?.clone();
        if let Some(t) = self.transports.get(&EndpointKey::new(meeting_id, endpoint_id)) {
            endpoint.transport = t.clone();
        }
        Some(endpoint)
    }
}
