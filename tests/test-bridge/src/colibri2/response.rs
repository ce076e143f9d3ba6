//! The XML the bridge answers Colibri2 requests with: `<conference-modified>` and the JVB error
//! shapes (`Colibri2Util.kt`: condition + text + `<error xmlns='jitsi:colibri2' reason/>`).

use minidom::Element;

use crate::xml::{elem, ElementExt, StanzaError, NS_COLIBRI2, NS_DTLS, NS_ICE_UDP, NS_SSMA};

/// The SCTP port JVB answers with (`DcSctpTransport.DEFAULT_SCTP_PORT`).
pub const SCTP_PORT: u16 = 5000;

/// One of the bridge's ICE candidates, as described in the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCandidate {
    pub foundation: String,
    pub priority: u32,
    pub ip: String,
    pub port: u16,
    pub id: String,
}

/// The bridge side of an endpoint's transport: what goes into the create answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalTransport {
    pub ufrag: String,
    pub pwd: String,
    /// e.g. `sha-256`.
    pub fingerprint_hash: String,
    /// Upper-case hex bytes separated by colons.
    pub fingerprint: String,
    pub candidates: Vec<LocalCandidate>,
}

/// `<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'>` as JVB describes its side:
/// candidates, `<rtcp-mux/>`, then the fingerprint with `setup='actpass'`.
pub fn ice_udp_element(t: &LocalTransport) -> Element {
    let mut el = elem("transport", NS_ICE_UDP).with_attr("pwd", &t.pwd).with_attr("ufrag", &t.ufrag);
    for c in &t.candidates {
        el.append_child(
            elem("candidate", NS_ICE_UDP)
                .with_attr("component", "1")
                .with_attr("foundation", &c.foundation)
                .with_attr("generation", "0")
                .with_attr("id", &c.id)
                .with_attr("network", "0")
                .with_attr("priority", c.priority.to_string())
                .with_attr("protocol", "udp")
                .with_attr("type", "host")
                .with_attr("ip", &c.ip)
                .with_attr("port", c.port.to_string()),
        );
    }
    el.append_child(elem("rtcp-mux", NS_ICE_UDP));
    el.append_child(
        elem("fingerprint", NS_DTLS)
            .with_attr("hash", &t.fingerprint_hash)
            .with_attr("setup", "actpass")
            .with_text(&t.fingerprint),
    );
    el
}

/// `<endpoint id><transport><transport ice-udp…/>[<sctp port role='server'/>]</transport></endpoint>`.
pub fn created_endpoint(id: &str, transport: &LocalTransport, sctp: bool) -> Element {
    let mut colibri_transport = elem("transport", NS_COLIBRI2).with_child(ice_udp_element(transport));
    if sctp {
        colibri_transport.append_child(
            elem("sctp", NS_COLIBRI2).with_attr("port", SCTP_PORT.to_string()).with_attr("role", "server"),
        );
    }
    elem("endpoint", NS_COLIBRI2).with_attr("id", id).with_child(colibri_transport)
}

/// `<endpoint id/>` (an update, or an unknown endpoint that is ignored), or with `expire='true'`.
pub fn plain_endpoint(id: &str, expired: bool) -> Element {
    let el = elem("endpoint", NS_COLIBRI2).with_attr("id", id);
    if expired {
        el.with_attr("expire", "true")
    } else {
        el
    }
}

/// The bridge's feedback sources, `jvb-a0` and `jvb-v0`, as JVB sends them on every create.
pub fn feedback_sources(audio_ssrc: u32, video_ssrc: u32) -> Element {
    let source = |kind: &str, id: &str, ssrc: u32| {
        elem("media-source", NS_COLIBRI2)
            .with_attr("type", kind)
            .with_attr("id", id)
            .with_child(elem("source", NS_SSMA).with_attr("ssrc", ssrc.to_string()).with_attr("name", id))
    };
    elem("sources", NS_COLIBRI2)
        .with_child(source("audio", "jvb-a0", audio_ssrc))
        .with_child(source("video", "jvb-v0", video_ssrc))
}

/// `<error xmlns='jitsi:colibri2' reason='…'/>`.
pub fn reason(reason: &str) -> Element {
    elem("error", NS_COLIBRI2).with_attr("reason", reason)
}

pub fn conference_already_exists(meeting_id: &str) -> StanzaError {
    StanzaError::new("conflict", format!("Conference already exists for ID: {meeting_id}"))
        .with_extension(reason("conference_already_exists"))
}

pub fn conference_not_found(meeting_id: &str) -> StanzaError {
    StanzaError::new("item-not-found", format!("Conference not found for ID: {meeting_id}"))
        .with_extension(reason("conference_not_found"))
}

pub fn graceful_shutdown() -> StanzaError {
    StanzaError::new("service-unavailable", "In graceful shutdown").with_extension(reason("graceful_shutdown"))
}

pub fn endpoint_not_found(endpoint_id: &str) -> StanzaError {
    StanzaError::new("item-not-found", format!("Endpoint not found for ID: {endpoint_id}"))
        .with_extension(reason("unknown_endpoint"))
        .with_extension(plain_endpoint(endpoint_id, false))
}

pub fn feature_not_implemented(message: &str) -> StanzaError {
    StanzaError::new("feature-not-implemented", message).with_extension(reason("feature_not_implemented"))
}

/// JVB's `IqProcessingException` answers: a condition and a text, no Colibri2 reason.
pub fn processing(condition: &str, message: impl Into<String>) -> StanzaError {
    StanzaError::new(condition, message)
}
