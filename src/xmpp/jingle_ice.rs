//! `urn:xmpp:jingle:transports:ice-udp:1` as Jitsi uses it: the ICE credentials, candidates and
//! DTLS fingerprint of one side, plus Jitsi's `<web-socket>` (bridge channel URL) and the
//! legacy `<sctpmap>` that tells the client the bridge's SCTP port.
//!
//! A participant's transport is forwarded to its bridge, so it is parsed into these types and
//! rebuilt rather than copied: nothing a client adds to its transport reaches a bridge.

use minidom::Element;

use super::build::{elem, ElementExt};
use super::jingle::{bounded_attr, JingleError};
use super::ns;

/// Candidates kept from one transport: a browser gathers a handful per interface.
pub const MAX_CANDIDATES: usize = 32;
/// Fingerprints kept from one transport (one per hash function at most).
pub const MAX_FINGERPRINTS: usize = 4;
/// Bridge-channel URLs kept from one transport.
pub const MAX_WEB_SOCKETS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IceUdpTransport {
    pub ufrag: Option<String>,
    pub pwd: Option<String>,
    pub rtcp_mux: bool,
    pub fingerprints: Vec<Fingerprint>,
    pub candidates: Vec<Candidate>,
    pub web_sockets: Vec<String>,
    /// `<sctpmap>`: only in the `data` content of an offer.
    pub sctp: Option<SctpMap>,
}

/// `<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash setup>value</fingerprint>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub hash: String,
    /// `actpass` from a bridge; `active` (usually) from a browser's answer.
    pub setup: Option<String>,
    pub value: String,
}

/// One ICE candidate; attribute names as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub component: u8,
    pub foundation: String,
    pub generation: u32,
    pub id: Option<String>,
    pub ip: String,
    pub port: u16,
    pub priority: u32,
    pub protocol: String,
    pub type_: String,
    pub network: Option<u32>,
    pub rel_addr: Option<String>,
    pub rel_port: Option<u16>,
    pub tcptype: Option<String>,
}

/// `<sctpmap number protocol streams>`: clients build `a=sctp-port` from `number`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SctpMap {
    pub number: u16,
    pub protocol: String,
    pub streams: u32,
}

impl SctpMap {
    /// What Jitsi offers for the bridge channel on SCTP port `number`.
    pub fn webrtc_datachannel(number: u16) -> SctpMap {
        SctpMap { number, protocol: "webrtc-datachannel".to_owned(), streams: 1024 }
    }
}

fn number<T: std::str::FromStr>(element: &Element, name: &str) -> Result<T, JingleError> {
    let value = element.attr(name).ok_or_else(|| JingleError::new(format!("<{}/> needs '{name}'", element.name())))?;
    value.trim().parse().map_err(|_| JingleError::new(format!("<{}/> has an invalid '{name}'", element.name())))
}

fn optional_number<T: std::str::FromStr>(element: &Element, name: &str) -> Result<Option<T>, JingleError> {
    match element.attr_nonempty(name) {
        None => Ok(None),
        Some(_) => number(element, name).map(Some),
    }
}

impl Candidate {
    fn parse(element: &Element) -> Result<Candidate, JingleError> {
        let text = |name: &str| bounded_attr(element, name).map(str::to_owned);
        let required = |name: &str| text(name).ok_or_else(|| JingleError::new(format!("<candidate/> needs '{name}'")));
        Ok(Candidate {
            component: number(element, "component")?,
            foundation: required("foundation")?,
            generation: optional_number(element, "generation")?.unwrap_or(0),
            id: text("id"),
            ip: required("ip")?,
            port: number(element, "port")?,
            priority: number(element, "priority")?,
            protocol: required("protocol")?,
            type_: required("type")?,
            network: optional_number(element, "network")?,
            rel_addr: text("rel-addr"),
            rel_port: optional_number(element, "rel-port")?,
            tcptype: text("tcptype"),
        })
    }

    fn to_element(&self) -> Element {
        let mut candidate = elem("candidate", ns::JINGLE_ICE_UDP)
            .with_attr("component", self.component.to_string())
            .with_attr("foundation", &self.foundation)
            .with_attr("generation", self.generation.to_string());
        if let Some(id) = &self.id {
            candidate = candidate.with_attr("id", id);
        }
        candidate = candidate
            .with_attr("ip", &self.ip)
            .with_attr("port", self.port.to_string())
            .with_attr("priority", self.priority.to_string())
            .with_attr("protocol", &self.protocol)
            .with_attr("type", &self.type_);
        if let Some(network) = self.network {
            candidate = candidate.with_attr("network", network.to_string());
        }
        if let Some(addr) = &self.rel_addr {
            candidate = candidate.with_attr("rel-addr", addr);
        }
        if let Some(port) = self.rel_port {
            candidate = candidate.with_attr("rel-port", port.to_string());
        }
        if let Some(tcptype) = &self.tcptype {
            candidate = candidate.with_attr("tcptype", tcptype);
        }
        candidate
    }
}

impl IceUdpTransport {
    /// Reads a `<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'>`. Counts and lengths are
    /// bounded; an unusable candidate is an error rather than silently dropped, so that a client
    /// hears what was wrong.
    pub fn parse(element: &Element) -> Result<IceUdpTransport, JingleError> {
        if !element.is("transport", ns::JINGLE_ICE_UDP) {
            return Err(JingleError::new("expected <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'/>"));
        }
        let mut transport = IceUdpTransport {
            ufrag: bounded_attr(element, "ufrag").map(str::to_owned),
            pwd: bounded_attr(element, "pwd").map(str::to_owned),
            ..IceUdpTransport::default()
        };
        for child in element.children() {
            match (child.name(), child.ns().as_str()) {
                ("candidate", ns::JINGLE_ICE_UDP) => {
                    if transport.candidates.len() == MAX_CANDIDATES {
                        return Err(JingleError::new(format!("more than {MAX_CANDIDATES} candidates")));
                    }
                    transport.candidates.push(Candidate::parse(child)?);
                }
                ("fingerprint", ns::JINGLE_DTLS) => {
                    if transport.fingerprints.len() == MAX_FINGERPRINTS {
                        return Err(JingleError::new(format!("more than {MAX_FINGERPRINTS} fingerprints")));
                    }
                    let hash =
                        bounded_attr(child, "hash").ok_or_else(|| JingleError::new("<fingerprint/> needs 'hash'"))?;
                    let value = child.text();
                    if value.is_empty() || value.len() > 256 {
                        return Err(JingleError::new("<fingerprint/> needs a value of at most 256 characters"));
                    }
                    transport.fingerprints.push(Fingerprint {
                        hash: hash.to_owned(),
                        setup: bounded_attr(child, "setup").map(str::to_owned),
                        value: value.trim().to_owned(),
                    });
                }
                ("rtcp-mux", _) => transport.rtcp_mux = true,
                ("web-socket", ns::COLIBRI) => {
                    if let Some(url) = bounded_attr(child, "url") {
                        if transport.web_sockets.len() < MAX_WEB_SOCKETS {
                            transport.web_sockets.push(url.to_owned());
                        }
                    }
                }
                ("sctpmap", ns::JINGLE_DTLS_SCTP) => {
                    transport.sctp = Some(SctpMap {
                        number: number(child, "number")?,
                        protocol: bounded_attr(child, "protocol").unwrap_or("webrtc-datachannel").to_owned(),
                        streams: optional_number(child, "streams")?.unwrap_or(1024),
                    });
                }
                _ => {} // unknown extensions are not ours to forward
            }
        }
        Ok(transport)
    }

    pub fn to_element(&self) -> Element {
        let mut transport = elem("transport", ns::JINGLE_ICE_UDP);
        if let Some(ufrag) = &self.ufrag {
            transport = transport.with_attr("ufrag", ufrag);
        }
        if let Some(pwd) = &self.pwd {
            transport = transport.with_attr("pwd", pwd);
        }
        for candidate in &self.candidates {
            transport.append_child(candidate.to_element());
        }
        for url in &self.web_sockets {
            transport.append_child(elem("web-socket", ns::COLIBRI).with_attr("url", url));
        }
        if self.rtcp_mux {
            transport.append_child(elem("rtcp-mux", ns::JINGLE_ICE_UDP));
        }
        for fingerprint in &self.fingerprints {
            let mut f = elem("fingerprint", ns::JINGLE_DTLS).with_attr("hash", &fingerprint.hash);
            if let Some(setup) = &fingerprint.setup {
                f = f.with_attr("setup", setup);
            }
            transport.append_child(f.with_text(&fingerprint.value));
        }
        if let Some(sctp) = &self.sctp {
            transport.append_child(
                elem("sctpmap", ns::JINGLE_DTLS_SCTP)
                    .with_attr("number", sctp.number.to_string())
                    .with_attr("protocol", &sctp.protocol)
                    .with_attr("streams", sctp.streams.to_string()),
            );
        }
        transport
    }

    /// True when it tells the other side anything: credentials, a fingerprint or candidates.
    pub fn is_empty(&self) -> bool {
        self.ufrag.is_none() && self.pwd.is_none() && self.fingerprints.is_empty() && self.candidates.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmpp::build::{assert_same_xml, to_xml};

    /// A bridge transport as JVB answers it in Colibri2 (jitsi-xmpp-extensions' Colibri2 tests
    /// and JVB's conference-modified), with a web-socket URL.
    const BRIDGE: &str = "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='2ehb41g1lhq6jr' pwd='4v9snmmt0bl3ls4h0bsapbavrp'><candidate component='1' foundation='1' generation='0' id='653aa1ba295b62b07f4c3d9b' ip='10.0.0.5' port='10000' priority='2130706431' protocol='udp' type='host' network='0'/><candidate component='1' foundation='2' generation='0' id='5c2d0b1f' ip='203.0.113.5' port='10000' priority='1694498815' protocol='udp' type='srflx' network='0' rel-addr='10.0.0.5' rel-port='10000'/><web-socket xmlns='http://jitsi.org/protocol/colibri' url='wss://meet.example.com/colibri-ws/default-id/7a2f/ep1?pwd=4v9s'/><rtcp-mux/><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>A1:B2:C3:D4:E5:F6:07:18:29:3A:4B:5C:6D:7E:8F:90:A1:B2:C3:D4:E5:F6:07:18:29:3A:4B:5C:6D:7E:8F:90</fingerprint></transport>";

    /// A browser's transport as lib-jitsi-meet 2.1.5 in Chromium 156 sends it in session-accept
    /// (captured), with its `active` setup.
    const CLIENT: &str = "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Kq4b' pwd='4sWb7XJ3cM0Jm7cq3dI7hQ2L'><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>0F:7C:3E:21:AA:90:5B:11:CE:42:08:D3:9A:7F:61:E5:23:B8:04:C9:6D:1A:F0:37:82:5E:99:B4:12:6C:DE:03</fingerprint><candidate component='1' foundation='2960326657' generation='0' id='1' ip='127.0.0.1' network='1' port='54107' priority='2122260223' protocol='udp' type='host'/></transport>";

    fn parse(xml: &str) -> Element {
        xml.parse().expect("test XML")
    }

    #[test]
    fn bridge_transport_round_trips() {
        let transport = IceUdpTransport::parse(&parse(BRIDGE)).unwrap();
        assert_eq!(transport.ufrag.as_deref(), Some("2ehb41g1lhq6jr"));
        assert_eq!(transport.candidates.len(), 2);
        assert_eq!(transport.candidates[1].rel_port, Some(10000));
        assert_eq!(transport.fingerprints[0].setup.as_deref(), Some("actpass"));
        assert!(transport.rtcp_mux);
        assert_eq!(transport.web_sockets.len(), 1);
        assert_same_xml(&transport.to_element(), BRIDGE);
        assert_eq!(IceUdpTransport::parse(&transport.to_element()).unwrap(), transport);
    }

    #[test]
    fn client_transport_is_read() {
        let transport = IceUdpTransport::parse(&parse(CLIENT)).unwrap();
        assert_eq!(transport.fingerprints[0].setup.as_deref(), Some("active"));
        assert_eq!(transport.candidates[0].port, 54107);
        assert!(!transport.rtcp_mux);
        assert_eq!(IceUdpTransport::parse(&transport.to_element()).unwrap(), transport);
    }

    #[test]
    fn hostile_transports_are_refused_with_a_reason() {
        let bad_port = CLIENT.replace("port='54107'", "port='99999'");
        assert_eq!(
            IceUdpTransport::parse(&parse(&bad_port)).unwrap_err().to_string(),
            "<candidate/> has an invalid 'port'"
        );
        let no_ip = CLIENT.replace("ip='127.0.0.1' ", "");
        assert_eq!(IceUdpTransport::parse(&parse(&no_ip)).unwrap_err().to_string(), "<candidate/> needs 'ip'");
        let candidate = "<candidate component='1' foundation='1' generation='0' ip='127.0.0.1' port='1' priority='1' protocol='udp' type='host'/>";
        let many = CLIENT.replace("</transport>", &format!("{}</transport>", candidate.repeat(MAX_CANDIDATES)));
        assert_eq!(IceUdpTransport::parse(&parse(&many)).unwrap_err().to_string(), "more than 32 candidates");
        let long_ufrag = CLIENT.replace("ufrag='Kq4b'", &format!("ufrag='{}'", "u".repeat(300)));
        assert_eq!(IceUdpTransport::parse(&parse(&long_ufrag)).unwrap().ufrag, None);
    }

    #[test]
    fn unknown_children_are_not_forwarded() {
        let extra = CLIENT.replace("</transport>", "<evil xmlns='x'>payload</evil></transport>");
        let transport = IceUdpTransport::parse(&parse(&extra)).unwrap();
        assert!(!to_xml(&transport.to_element()).contains("evil"));
    }
}
