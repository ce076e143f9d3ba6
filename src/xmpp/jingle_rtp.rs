//! `urn:xmpp:jingle:apps:rtp:1` descriptions: payload types with their parameters and RTCP
//! feedback, header extensions and `extmap-allow-mixed`. The focus builds these from its codec
//! configuration for offers and copies them into Colibri2 `<media>`; it parses them only from
//! captured stanzas and bridges' echoes, never to decide anything a client claims.

use minidom::Element;

use super::build::{elem, ElementExt};
use super::jingle::{bounded_attr, JingleError};
use super::ns;

/// `<payload-type id name clockrate [channels]>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadType {
    pub id: u8,
    pub name: String,
    pub clockrate: u32,
    pub channels: Option<u8>,
    /// `<parameter name value>`; RED's parameter has no name (`value='111/111'`).
    pub parameters: Vec<(Option<String>, String)>,
    pub rtcp_fb: Vec<RtcpFb>,
}

/// `<rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type [subtype]>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpFb {
    pub type_: String,
    pub subtype: Option<String>,
}

impl RtcpFb {
    pub fn new(type_: &str, subtype: Option<&str>) -> RtcpFb {
        RtcpFb { type_: type_.to_owned(), subtype: subtype.map(str::to_owned) }
    }
}

/// `<rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id uri>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderExtension {
    pub id: u8,
    pub uri: String,
}

/// Payload types, header extensions and whether mixed one/two-byte extensions are allowed: the
/// part of a description that both Jingle and Colibri2 `<media>` carry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtpFormats {
    pub payload_types: Vec<PayloadType>,
    pub header_extensions: Vec<HeaderExtension>,
    pub extmap_allow_mixed: bool,
}

/// Payload types or header extensions read from one description.
const MAX_FORMATS: usize = 64;

impl PayloadType {
    pub fn new(id: u8, name: &str, clockrate: u32) -> PayloadType {
        PayloadType {
            id,
            name: name.to_owned(),
            clockrate,
            channels: None,
            parameters: Vec::new(),
            rtcp_fb: Vec::new(),
        }
    }

    pub fn to_element(&self) -> Element {
        let mut pt = elem("payload-type", ns::JINGLE_RTP)
            .with_attr("id", self.id.to_string())
            .with_attr("name", &self.name)
            .with_attr("clockrate", self.clockrate.to_string());
        if let Some(channels) = self.channels {
            pt = pt.with_attr("channels", channels.to_string());
        }
        for (name, value) in &self.parameters {
            let mut parameter = elem("parameter", ns::JINGLE_RTP);
            if let Some(name) = name {
                parameter = parameter.with_attr("name", name);
            }
            pt.append_child(parameter.with_attr("value", value));
        }
        for fb in &self.rtcp_fb {
            let mut element = elem("rtcp-fb", ns::JINGLE_RTCP_FB).with_attr("type", &fb.type_);
            if let Some(subtype) = &fb.subtype {
                element = element.with_attr("subtype", subtype);
            }
            pt.append_child(element);
        }
        pt
    }

    pub fn parse(element: &Element) -> Result<PayloadType, JingleError> {
        let id = element
            .attr("id")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| JingleError::new("<payload-type/> needs a numeric 'id'"))?;
        let mut pt = PayloadType::new(
            id,
            bounded_attr(element, "name").unwrap_or_default(),
            element.attr("clockrate").and_then(|v| v.parse().ok()).unwrap_or(0),
        );
        pt.channels = element.attr("channels").and_then(|v| v.parse().ok());
        for child in element.children().take(MAX_FORMATS) {
            if child.is("parameter", ns::JINGLE_RTP) {
                let value = bounded_attr(child, "value").unwrap_or_default().to_owned();
                pt.parameters.push((bounded_attr(child, "name").map(str::to_owned), value));
            } else if child.is("rtcp-fb", ns::JINGLE_RTCP_FB) {
                if let Some(type_) = bounded_attr(child, "type") {
                    pt.rtcp_fb.push(RtcpFb::new(type_, bounded_attr(child, "subtype")));
                }
            }
        }
        Ok(pt)
    }
}

impl HeaderExtension {
    pub fn new(id: u8, uri: &str) -> HeaderExtension {
        HeaderExtension { id, uri: uri.to_owned() }
    }

    pub fn to_element(&self) -> Element {
        elem("rtp-hdrext", ns::JINGLE_RTP_HDREXT).with_attr("id", self.id.to_string()).with_attr("uri", &self.uri)
    }
}

impl RtpFormats {
    /// The elements in Jitsi's wire order: payload types, header extensions, then
    /// `extmap-allow-mixed`.
    pub fn elements(&self) -> Vec<Element> {
        let mut elements: Vec<Element> = self.payload_types.iter().map(PayloadType::to_element).collect();
        elements.extend(self.header_extensions.iter().map(HeaderExtension::to_element));
        if self.extmap_allow_mixed {
            elements.push(elem("extmap-allow-mixed", ns::JINGLE_RTP_HDREXT));
        }
        elements
    }

    /// Reads the formats among `parent`'s children (a Jingle `<description>` or a Colibri2
    /// `<media>`); other children are left to their own parsers.
    pub fn parse(parent: &Element) -> Result<RtpFormats, JingleError> {
        let mut formats = RtpFormats::default();
        for child in parent.children() {
            if child.is("payload-type", ns::JINGLE_RTP) {
                if formats.payload_types.len() == MAX_FORMATS {
                    return Err(JingleError::new(format!("more than {MAX_FORMATS} payload types")));
                }
                formats.payload_types.push(PayloadType::parse(child)?);
            } else if child.is("rtp-hdrext", ns::JINGLE_RTP_HDREXT) {
                if formats.header_extensions.len() == MAX_FORMATS {
                    return Err(JingleError::new(format!("more than {MAX_FORMATS} header extensions")));
                }
                let id = child
                    .attr("id")
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| JingleError::new("<rtp-hdrext/> needs a numeric 'id'"))?;
                let uri = bounded_attr(child, "uri").ok_or_else(|| JingleError::new("<rtp-hdrext/> needs 'uri'"))?;
                formats.header_extensions.push(HeaderExtension::new(id, uri));
            } else if child.is("extmap-allow-mixed", ns::JINGLE_RTP_HDREXT) {
                formats.extmap_allow_mixed = true;
            }
        }
        Ok(formats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmpp::build::assert_same_xml;

    /// The audio formats of a session-initiate from current Jicofo (protocol.md §7.4), as
    /// lib-jitsi-meet's tests and Jicofo's logs show them.
    const AUDIO: &str = "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><payload-type id='111' name='opus' clockrate='48000' channels='2'><parameter name='minptime' value='10'/><parameter name='useinbandfec' value='1'/><rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/></payload-type><payload-type id='126' name='telephone-event' clockrate='8000'/><rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/><rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='5' uri='http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01'/><extmap-allow-mixed xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0'/></description>";

    #[test]
    fn formats_round_trip_in_wire_order() {
        let description: Element = AUDIO.parse().unwrap();
        let formats = RtpFormats::parse(&description).unwrap();
        assert_eq!(formats.payload_types.len(), 2);
        assert_eq!(formats.payload_types[0].channels, Some(2));
        assert_eq!(formats.payload_types[0].rtcp_fb, vec![RtcpFb::new("transport-cc", None)]);
        assert_eq!(formats.header_extensions[1].id, 5);
        assert!(formats.extmap_allow_mixed);
        let mut rebuilt = elem("description", ns::JINGLE_RTP).with_attr("media", "audio");
        for e in formats.elements() {
            rebuilt.append_child(e);
        }
        assert_same_xml(&rebuilt, AUDIO);
    }

    #[test]
    fn red_parameter_without_name_round_trips() {
        let mut red = PayloadType::new(112, "red", 48000);
        red.channels = Some(2);
        red.parameters.push((None, "111/111".to_owned()));
        assert_same_xml(&red.to_element(), "<payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='112' name='red' clockrate='48000' channels='2'><parameter value='111/111'/></payload-type>");
        assert_eq!(PayloadType::parse(&red.to_element()).unwrap(), red);
    }

    #[test]
    fn bad_ids_are_refused() {
        let bad = AUDIO.replace("id='111'", "id='300'");
        let err = RtpFormats::parse(&bad.parse().unwrap()).unwrap_err();
        assert_eq!(err.to_string(), "<payload-type/> needs a numeric 'id'");
    }
}
