//! A `<conference-modify xmlns='jitsi:colibri2'>` request read into plain types.
//!
//! Where JVB's parser (Smack providers in jitsi-xmpp-extensions) would refuse the stanza, reading
//! fails with a [`ParseError`] and the bridge answers `bad-request` with its text: a test tool
//! reports, it never drops a request silently or panics on what a peer sends.

use minidom::Element;

use crate::xml::{java_bool, NS_COLIBRI2, NS_DTLS, NS_ICE_UDP, NS_RTP, NS_RTP_HDREXT, NS_SSMA};

const NS_RTCP_FB: &str = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0";

/// Why a request could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(message.into()))
}

/// `audio` or `video` (the Colibri2 media and source types a bridge handles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MediaType {
    Audio,
    Video,
}

impl MediaType {
    fn parse(value: Option<&str>, what: &str) -> Result<MediaType, ParseError> {
        match value.map(str::to_ascii_lowercase).as_deref() {
            Some("audio") => Ok(MediaType::Audio),
            Some("video") => Ok(MediaType::Video),
            Some(other) => err(format!("{what}: unsupported media type {other:?}")),
            None => err(format!("{what}: missing 'type'")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Audio => "audio",
            MediaType::Video => "video",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceModify {
    pub meeting_id: String,
    /// The conference name (room JID), sent on create.
    pub name: Option<String>,
    pub create: bool,
    pub expire: bool,
    pub rtcstats_enabled: bool,
    pub endpoints: Vec<EndpointRequest>,
    pub relays: Vec<RelayRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayRequest {
    pub id: String,
    pub create: bool,
    pub expire: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointRequest {
    pub id: String,
    pub create: bool,
    pub expire: bool,
    pub stats_id: Option<String>,
    /// `muc-role` (`visitor` for visitors).
    pub muc_role: Option<String>,
    pub capabilities: Vec<String>,
    pub media: Vec<MediaDescription>,
    pub transport: Option<TransportRequest>,
    pub sources: Option<Vec<MediaSource>>,
    pub force_mute: Option<ForceMute>,
    pub initial_last_n: Option<i32>,
}

impl EndpointRequest {
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| c == name)
    }

    /// JVB's test for "creates or carries media, transport or sources".
    pub fn is_substantial(&self) -> bool {
        self.create || !self.media.is_empty() || self.transport.is_some() || self.sources.is_some()
    }
}

/// The Colibri2 `<transport>` of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransportRequest {
    pub ice_controlling: bool,
    pub ice_restart: bool,
    pub sctp: Option<SctpRequest>,
    pub ice_udp: Option<IceUdpTransport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SctpRequest {
    /// `client` or `server`, lower case.
    pub role: Option<String>,
    pub port: Option<i64>,
}

/// `<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'>` as the client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IceUdpTransport {
    pub ufrag: Option<String>,
    pub pwd: Option<String>,
    pub rtcp_mux: bool,
    pub fingerprints: Vec<DtlsFingerprint>,
    pub candidates: Vec<IceCandidate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtlsFingerprint {
    /// e.g. `sha-256`.
    pub hash: String,
    /// `active`, `passive` or `actpass`.
    pub setup: Option<String>,
    /// Hex bytes separated by colons.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceCandidate {
    pub component: u16,
    pub foundation: String,
    pub generation: u32,
    pub priority: u32,
    pub protocol: String,
    pub kind: String,
    pub ip: String,
    pub port: u16,
}

/// `<media type>` with the Jingle payload types and header extensions of the participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    pub kind: MediaType,
    pub payload_types: Vec<PayloadType>,
    pub rtp_hdrexts: Vec<RtpHdrExt>,
    pub extmap_allow_mixed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadType {
    pub id: u8,
    pub name: String,
    pub clockrate: Option<u32>,
    pub channels: Option<u8>,
    pub parameters: Vec<(String, String)>,
    /// `(type, subtype)` of each `<rtcp-fb>`.
    pub rtcp_fbs: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpHdrExt {
    pub id: u8,
    pub uri: String,
}

/// `<media-source type id>` of `<sources>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSource {
    pub kind: MediaType,
    pub id: String,
    pub sources: Vec<Source>,
    pub ssrc_groups: Vec<SsrcGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub ssrc: u32,
    pub name: Option<String>,
    pub video_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcGroup {
    pub semantics: String,
    pub ssrcs: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForceMute {
    pub audio: bool,
    pub video: bool,
}

fn parse_num<T: std::str::FromStr>(value: Option<&str>, what: &str) -> Result<Option<T>, ParseError> {
    match value {
        None => Ok(None),
        Some(v) => match v.trim().parse() {
            Ok(n) => Ok(Some(n)),
            Err(_) => err(format!("invalid {what}: {v:?}")),
        },
    }
}

fn required<T: std::str::FromStr>(value: Option<&str>, what: &str) -> Result<T, ParseError> {
    parse_num(value, what)?.map_or_else(|| err(format!("missing {what}")), Ok)
}

fn colibri2_children<'a>(el: &'a Element, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
    el.children().filter(move |c| c.is(name, NS_COLIBRI2))
}

impl ConferenceModify {
    /// Reads the `<conference-modify>` element.
    pub fn parse(el: &Element) -> Result<ConferenceModify, ParseError> {
        if !el.is("conference-modify", NS_COLIBRI2) {
            return err("not a jitsi:colibri2 conference-modify");
        }
        let meeting_id = match el.attr("meeting-id").map(str::trim) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => return err("conference-modify without a meeting-id"),
        };
        let mut endpoints = Vec::new();
        for e in colibri2_children(el, "endpoint") {
            endpoints.push(EndpointRequest::parse(e)?);
        }
        // Relays (with their own <endpoints>) are only read as far as JVB needs to refuse them.
        let relays = colibri2_children(el, "relay")
            .map(|r| match r.attr("id") {
                Some(id) if !id.is_empty() => Ok(RelayRequest {
                    id: id.to_string(),
                    create: java_bool(r.attr("create")),
                    expire: java_bool(r.attr("expire")),
                }),
                _ => err("relay without an id"),
            })
            .collect::<Result<_, _>>()?;
        Ok(ConferenceModify {
            meeting_id,
            name: el.attr("name").map(str::to_string),
            create: java_bool(el.attr("create")),
            expire: java_bool(el.attr("expire")),
            rtcstats_enabled: el.attr("rtcstats-enabled").is_none_or(|v| !v.eq_ignore_ascii_case("false")),
            endpoints,
            relays,
        })
    }
}

impl EndpointRequest {
    fn parse(el: &Element) -> Result<EndpointRequest, ParseError> {
        let id = match el.attr("id") {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => return err("endpoint without an id"),
        };
        let capabilities =
            colibri2_children(el, "capability").filter_map(|c| c.attr("name")).map(str::to_string).collect();
        let media = colibri2_children(el, "media").map(MediaDescription::parse).collect::<Result<_, _>>()?;
        let transport = colibri2_children(el, "transport").next().map(TransportRequest::parse).transpose()?;
        let sources = colibri2_children(el, "sources")
            .next()
            .map(|s| colibri2_children(s, "media-source").map(MediaSource::parse).collect::<Result<Vec<_>, _>>())
            .transpose()?;
        let force_mute = colibri2_children(el, "force-mute")
            .next()
            .map(|f| ForceMute { audio: java_bool(f.attr("audio")), video: java_bool(f.attr("video")) });
        let initial_last_n = match colibri2_children(el, "initial-last-n").next() {
            Some(n) => Some(required(n.attr("value"), "initial-last-n value")?),
            None => None,
        };
        Ok(EndpointRequest {
            id,
            create: java_bool(el.attr("create")),
            expire: java_bool(el.attr("expire")),
            stats_id: el.attr("stats-id").map(str::to_string),
            muc_role: el.attr("muc-role").map(str::to_string),
            capabilities,
            media,
            transport,
            sources,
            force_mute,
            initial_last_n,
        })
    }
}

impl TransportRequest {
    fn parse(el: &Element) -> Result<TransportRequest, ParseError> {
        let sctp = match colibri2_children(el, "sctp").next() {
            Some(s) => {
                let role = s.attr("role").map(str::to_ascii_lowercase);
                if let Some(r) = &role {
                    if r != "client" && r != "server" {
                        return err(format!("Invalid value for the 'role' attribute: {r}"));
                    }
                }
                Some(SctpRequest { role, port: parse_num(s.attr("port"), "sctp port")? })
            }
            None => None,
        };
        let ice_udp = el.children().find(|c| c.is("transport", NS_ICE_UDP)).map(IceUdpTransport::parse).transpose()?;
        Ok(TransportRequest {
            ice_controlling: java_bool(el.attr("ice-controlling")),
            ice_restart: java_bool(el.attr("ice-restart")),
            sctp,
            ice_udp,
        })
    }
}

impl IceUdpTransport {
    pub fn parse(el: &Element) -> Result<IceUdpTransport, ParseError> {
        let fingerprints = el
            .children()
            .filter(|c| c.is("fingerprint", NS_DTLS))
            .map(|f| DtlsFingerprint {
                hash: f.attr("hash").unwrap_or("sha-256").to_string(),
                setup: f.attr("setup").map(str::to_string),
                value: f.text().trim().to_string(),
            })
            .collect();
        let candidates = el
            .children()
            .filter(|c| c.is("candidate", NS_ICE_UDP))
            .map(IceCandidate::parse)
            .collect::<Result<_, _>>()?;
        Ok(IceUdpTransport {
            ufrag: el.attr("ufrag").map(str::to_string),
            pwd: el.attr("pwd").map(str::to_string),
            rtcp_mux: el.has_child("rtcp-mux", NS_ICE_UDP),
            fingerprints,
            candidates,
        })
    }
}

impl IceCandidate {
    fn parse(el: &Element) -> Result<IceCandidate, ParseError> {
        Ok(IceCandidate {
            component: parse_num(el.attr("component"), "candidate component")?.unwrap_or(1),
            foundation: el.attr("foundation").unwrap_or("").to_string(),
            generation: parse_num(el.attr("generation"), "candidate generation")?.unwrap_or(0),
            priority: required(el.attr("priority"), "candidate priority")?,
            protocol: el.attr("protocol").unwrap_or("udp").to_ascii_lowercase(),
            kind: el.attr("type").unwrap_or("host").to_ascii_lowercase(),
            ip: el.attr("ip").map(str::to_string).map_or_else(|| err("candidate without ip"), Ok)?,
            port: required(el.attr("port"), "candidate port")?,
        })
    }
}

impl MediaDescription {
    fn parse(el: &Element) -> Result<MediaDescription, ParseError> {
        let kind = MediaType::parse(el.attr("type"), "media")?;
        let payload_types =
            el.children().filter(|c| c.is("payload-type", NS_RTP)).map(PayloadType::parse).collect::<Result<_, _>>()?;
        let rtp_hdrexts = el
            .children()
            .filter(|c| c.is("rtp-hdrext", NS_RTP_HDREXT))
            .map(|h| {
                Ok(RtpHdrExt {
                    id: required(h.attr("id"), "rtp-hdrext id")?,
                    uri: h.attr("uri").unwrap_or("").to_string(),
                })
            })
            .collect::<Result<_, ParseError>>()?;
        Ok(MediaDescription {
            kind,
            payload_types,
            rtp_hdrexts,
            extmap_allow_mixed: el.has_child("extmap-allow-mixed", NS_RTP_HDREXT),
        })
    }
}

impl PayloadType {
    fn parse(el: &Element) -> Result<PayloadType, ParseError> {
        Ok(PayloadType {
            id: required(el.attr("id"), "payload-type id")?,
            name: el.attr("name").unwrap_or("").to_string(),
            clockrate: parse_num(el.attr("clockrate"), "payload-type clockrate")?,
            channels: parse_num(el.attr("channels"), "payload-type channels")?,
            parameters: el
                .children()
                .filter(|p| p.is("parameter", NS_RTP))
                .map(|p| (p.attr("name").unwrap_or("").to_string(), p.attr("value").unwrap_or("").to_string()))
                .collect(),
            rtcp_fbs: el
                .children()
                .filter(|f| f.is("rtcp-fb", NS_RTCP_FB))
                .map(|f| (f.attr("type").unwrap_or("").to_string(), f.attr("subtype").map(str::to_string)))
                .collect(),
        })
    }
}

impl MediaSource {
    fn parse(el: &Element) -> Result<MediaSource, ParseError> {
        let kind = MediaType::parse(el.attr("type"), "media-source")?;
        let id = el.attr("id").map(str::to_string).map_or_else(|| err("media-source without an id"), Ok)?;
        let sources = el
            .children()
            .filter(|s| s.is("source", NS_SSMA))
            .map(|s| {
                Ok(Source {
                    ssrc: required(s.attr("ssrc"), "source ssrc")?,
                    name: s.attr("name").map(str::to_string),
                    video_type: s.attr("videoType").map(str::to_string),
                })
            })
            .collect::<Result<_, ParseError>>()?;
        let ssrc_groups = el
            .children()
            .filter(|g| g.is("ssrc-group", NS_SSMA))
            .map(|g| {
                Ok(SsrcGroup {
                    semantics: g.attr("semantics").unwrap_or("").to_string(),
                    ssrcs: g
                        .children()
                        .filter(|s| s.is("source", NS_SSMA))
                        .map(|s| required(s.attr("ssrc"), "ssrc-group source ssrc"))
                        .collect::<Result<_, _>>()?,
                })
            })
            .collect::<Result<_, ParseError>>()?;
        Ok(MediaSource { kind, id, sources, ssrc_groups })
    }
}
