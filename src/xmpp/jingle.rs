//! `urn:xmpp:jingle:1` in Jitsi's dialect (protocol.md §7): the `<jingle>` envelope, its
//! actions (with the legacy `addsource`/`removesource` names), contents, the BUNDLE group,
//! `<reason>`, and Jitsi's `<bridge-session>`, `<ice-state>` and `<json-message>` extensions.
//!
//! Descriptions' formats live in [`super::jingle_rtp`], transports in [`super::jingle_ice`], and
//! sources in [`super::jingle_sources`]: a content keeps its element so that the source parser
//! reads it where the client put the sources (under `<description>` or directly in `<content>`).

use minidom::Element;
use thiserror::Error;

use super::build::{elem, ElementExt};
use super::jingle_ice::IceUdpTransport;
use super::ns;

/// A malformed Jingle element; the text goes to the client in a `bad-request`.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct JingleError(String);

impl JingleError {
    pub fn new(text: impl Into<String>) -> JingleError {
        JingleError(text.into())
    }
}

/// Longest attribute value kept from a client's Jingle; longer ones are treated as absent.
pub const MAX_ATTR: usize = 256;
/// Contents read from one Jingle element (audio, video, data; a few more for future clients).
pub const MAX_CONTENTS: usize = 8;

/// An attribute that is present, non-empty and at most [`MAX_ATTR`] bytes.
pub fn bounded_attr<'a>(element: &'a Element, name: &'a str) -> Option<&'a str> {
    element.attr(name).filter(|v| !v.is_empty() && v.len() <= MAX_ATTR)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    SessionInitiate,
    SessionAccept,
    SessionTerminate,
    SessionInfo,
    TransportInfo,
    TransportReplace,
    TransportAccept,
    TransportReject,
    SourceAdd,
    SourceRemove,
    /// Any other action, e.g. `content-modify` or `description-info`: answered
    /// `feature-not-implemented`.
    Unsupported,
}

impl Action {
    pub fn parse(action: &str) -> Action {
        match action {
            "session-initiate" => Action::SessionInitiate,
            "session-accept" => Action::SessionAccept,
            "session-terminate" => Action::SessionTerminate,
            "session-info" => Action::SessionInfo,
            "transport-info" => Action::TransportInfo,
            "transport-replace" => Action::TransportReplace,
            "transport-accept" => Action::TransportAccept,
            "transport-reject" => Action::TransportReject,
            // The legacy names old clients (and some current code paths) still send.
            "source-add" | "addsource" => Action::SourceAdd,
            "source-remove" | "removesource" => Action::SourceRemove,
            _ => Action::Unsupported,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::SessionInitiate => "session-initiate",
            Action::SessionAccept => "session-accept",
            Action::SessionTerminate => "session-terminate",
            Action::SessionInfo => "session-info",
            Action::TransportInfo => "transport-info",
            Action::TransportReplace => "transport-replace",
            Action::TransportAccept => "transport-accept",
            Action::TransportReject => "transport-reject",
            Action::SourceAdd => "source-add",
            Action::SourceRemove => "source-remove",
            Action::Unsupported => "unsupported",
        }
    }
}

/// One `<content>` of a client's Jingle.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    pub name: String,
    /// `<description media='…'>`; current clients name contents by mid (`0`, `1`), so the
    /// media type comes from here when present.
    pub media: Option<String>,
    pub transport: Option<IceUdpTransport>,
    /// `<initial-last-n xmlns='jitsi:colibri2' value='N'/>` (in the video content).
    pub initial_last_n: Option<u32>,
    /// The whole content, for the source parser.
    pub element: Element,
}

/// Jitsi's `<bridge-session xmlns='http://jitsi.org/protocol/focus' id [region] [restart]>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BridgeSession {
    pub id: String,
    pub region: Option<String>,
    /// In session-terminate: the client asks for a new session (ICE failed).
    pub restart: bool,
    /// In session-info: the client asks for an ICE restart in place.
    pub ice_restart: bool,
}

/// A client's `<jingle>` element, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Jingle {
    pub action: Action,
    /// The action as sent, for logs and error texts.
    pub action_name: String,
    pub sid: String,
    pub contents: Vec<Content>,
    pub bridge_session: Option<BridgeSession>,
    /// `<ice-state xmlns='http://jitsi.org/protocol/focus'>failed</ice-state>` (session-info).
    pub ice_state: Option<String>,
    /// The text of `<json-message xmlns='http://jitsi.org/jitmeet'>`.
    pub json_message: Option<String>,
    /// The condition name of `<reason>`, e.g. `success`, `general-error`.
    pub reason: Option<String>,
}

impl Jingle {
    pub fn parse(element: &Element) -> Result<Jingle, JingleError> {
        if !element.is("jingle", ns::JINGLE) {
            return Err(JingleError::new("expected <jingle xmlns='urn:xmpp:jingle:1'/>"));
        }
        let action_name = bounded_attr(element, "action").ok_or_else(|| JingleError::new("missing 'action'"))?;
        let sid = bounded_attr(element, "sid").ok_or_else(|| JingleError::new("missing 'sid'"))?;
        let mut jingle = Jingle {
            action: Action::parse(action_name),
            action_name: action_name.to_owned(),
            sid: sid.to_owned(),
            contents: Vec::new(),
            bridge_session: None,
            ice_state: None,
            json_message: None,
            reason: None,
        };
        for child in element.children() {
            match (child.name(), child.ns().as_str()) {
                ("content", ns::JINGLE) => {
                    if jingle.contents.len() == MAX_CONTENTS {
                        return Err(JingleError::new(format!("more than {MAX_CONTENTS} contents")));
                    }
                    jingle.contents.push(Content::parse(child)?);
                }
                ("bridge-session", ns::FOCUS) => {
                    jingle.bridge_session = Some(BridgeSession {
                        id: bounded_attr(child, "id").unwrap_or_default().to_owned(),
                        region: bounded_attr(child, "region").map(str::to_owned),
                        restart: child.attr("restart") == Some("true"),
                        ice_restart: child.attr("ice-restart") == Some("true"),
                    });
                }
                ("ice-state", ns::FOCUS) => jingle.ice_state = Some(child.text().chars().take(32).collect()),
                ("json-message", ns::JITMEET) => jingle.json_message = Some(child.text()),
                ("reason", ns::JINGLE) => {
                    jingle.reason = child
                        .children()
                        .find(|c| c.ns() == ns::JINGLE && c.name() != "text")
                        .map(|c| c.name().to_owned());
                }
                _ => {}
            }
        }
        Ok(jingle)
    }
}

impl Content {
    fn parse(element: &Element) -> Result<Content, JingleError> {
        let name = bounded_attr(element, "name").ok_or_else(|| JingleError::new("<content/> needs a 'name'"))?;
        let description = element.get_child("description", ns::JINGLE_RTP);
        let transport = match element.get_child("transport", ns::JINGLE_ICE_UDP) {
            Some(t) => Some(IceUdpTransport::parse(t)?),
            None => None,
        };
        let initial_last_n = [Some(element), description]
            .into_iter()
            .flatten()
            .find_map(|e| e.get_child("initial-last-n", ns::COLIBRI2))
            .and_then(|e| e.attr("value")?.parse().ok());
        Ok(Content {
            name: name.to_owned(),
            media: description.and_then(|d| bounded_attr(d, "media")).map(str::to_owned),
            transport,
            initial_last_n,
            element: element.clone(),
        })
    }

    /// The media type: the description's, else the content's name (`audio`, `video`, `data`).
    pub fn media_type(&self) -> &str {
        self.media.as_deref().unwrap_or(&self.name)
    }
}

/// `<jingle action sid [initiator]>`, to be filled by the caller.
pub fn jingle(action: Action, sid: &str, initiator: Option<&str>) -> Element {
    let mut jingle = elem("jingle", ns::JINGLE).with_attr("action", action.as_str());
    if let Some(initiator) = initiator {
        jingle = jingle.with_attr("initiator", initiator);
    }
    jingle.with_attr("sid", sid)
}

/// `<content creator='initiator' name senders='both'>`.
pub fn content(name: &str) -> Element {
    elem("content", ns::JINGLE).with_attr("creator", "initiator").with_attr("name", name).with_attr("senders", "both")
}

/// `<group xmlns='urn:xmpp:jingle:apps:grouping:0' semantics='BUNDLE'>` over `names`.
pub fn bundle<'a>(names: impl IntoIterator<Item = &'a str>) -> Element {
    let mut group = elem("group", ns::JINGLE_GROUPING).with_attr("semantics", "BUNDLE");
    for name in names {
        group.append_child(elem("content", ns::JINGLE_GROUPING).with_attr("name", name));
    }
    group
}

/// `<bridge-session xmlns='http://jitsi.org/protocol/focus' id [region]/>`.
pub fn bridge_session(id: &str, region: Option<&str>) -> Element {
    let mut session = elem("bridge-session", ns::FOCUS).with_attr("id", id);
    if let Some(region) = region {
        session = session.with_attr("region", region);
    }
    session
}

/// `<reason><condition/>[<text>]</reason>`, e.g. `success` "moving", `general-error`.
pub fn reason(condition: &str, text: Option<&str>) -> Element {
    let mut reason = elem("reason", ns::JINGLE).with_child(elem(condition, ns::JINGLE));
    if let Some(text) = text {
        reason.append_child(elem("text", ns::JINGLE).with_text(text));
    }
    reason
}

/// `<startmuted xmlns='http://jitsi.org/jitmeet/start-muted' audio video/>`.
pub fn start_muted(audio: bool, video: bool) -> Element {
    elem("startmuted", ns::START_MUTED).with_attr("audio", audio.to_string()).with_attr("video", video.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmpp::build::assert_same_xml;

    /// session-terminate with restart, as current lib-jitsi-meet sends it after ICE failed
    /// (IceFailedHandling.ts / JingleSessionPC.terminate).
    const TERMINATE_RESTART: &str = "<jingle xmlns='urn:xmpp:jingle:1' action='session-terminate' sid='7ef9ld0kh8j3'><reason><connectivity-error/><text>ICE FAILED</text></reason><bridge-session xmlns='http://jitsi.org/protocol/focus' id='ce4b0ab6-1b58-4f1c-9f3c-0e3b6c0f34aa' restart='true'/></jingle>";

    /// The legacy ice-failed notification of 2020 clients (LJM-old sendIceFailedNotification).
    const ICE_FAILED: &str = "<jingle xmlns='urn:xmpp:jingle:1' action='session-info' initiator='focus.meet.test/focus' sid='a1b2c3'><ice-state xmlns='http://jitsi.org/protocol/focus'>failed</ice-state><bridge-session xmlns='http://jitsi.org/protocol/focus' id='s-1'/></jingle>";

    /// A Unified-Plan transport-info from @lyno/lib-jitsi-meet 2.6726.2: contents named by mid.
    const TRANSPORT_INFO: &str = "<jingle xmlns='urn:xmpp:jingle:1' action='transport-info' initiator='focus.meet.test/focus' sid='q1'><content creator='initiator' name='0'><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Kq4b' pwd='4sWb7XJ3cM0Jm7cq3dI7hQ2L'><candidate component='1' foundation='1' generation='0' id='x' ip='127.0.0.1' network='1' port='5000' priority='1' protocol='udp' type='host'/></transport></content></jingle>";

    fn parse(xml: &str) -> Jingle {
        Jingle::parse(&xml.parse().unwrap()).unwrap()
    }

    #[test]
    fn terminate_with_restart_is_read() {
        let jingle = parse(TERMINATE_RESTART);
        assert_eq!(jingle.action, Action::SessionTerminate);
        assert_eq!(jingle.reason.as_deref(), Some("connectivity-error"));
        let session = jingle.bridge_session.unwrap();
        assert!(session.restart && !session.ice_restart);
        assert_eq!(session.id, "ce4b0ab6-1b58-4f1c-9f3c-0e3b6c0f34aa");
    }

    #[test]
    fn legacy_ice_failed_is_read() {
        let jingle = parse(ICE_FAILED);
        assert_eq!(jingle.action, Action::SessionInfo);
        assert_eq!(jingle.ice_state.as_deref(), Some("failed"));
        assert_eq!(jingle.bridge_session.unwrap().id, "s-1");
    }

    #[test]
    fn contents_named_by_mid_keep_their_transport() {
        let jingle = parse(TRANSPORT_INFO);
        assert_eq!(jingle.contents.len(), 1);
        assert_eq!(jingle.contents[0].name, "0");
        assert_eq!(jingle.contents[0].transport.as_ref().unwrap().candidates[0].port, 5000);
    }

    #[test]
    fn legacy_action_names_and_unknown_actions() {
        assert_eq!(Action::parse("addsource"), Action::SourceAdd);
        assert_eq!(Action::parse("removesource"), Action::SourceRemove);
        assert_eq!(Action::parse("content-modify"), Action::Unsupported);
        let missing = "<jingle xmlns='urn:xmpp:jingle:1' sid='x'/>";
        assert_eq!(Jingle::parse(&missing.parse().unwrap()).unwrap_err().to_string(), "missing 'action'");
    }

    #[test]
    fn builders_write_jitsi_shapes() {
        let mut terminate = jingle(Action::SessionTerminate, "s", Some("focus.meet.test/focus"));
        terminate.append_child(reason("success", Some("moving")));
        assert_same_xml(&terminate, "<jingle xmlns='urn:xmpp:jingle:1' action='session-terminate' initiator='focus.meet.test/focus' sid='s'><reason><success/><text>moving</text></reason></jingle>");
        assert_same_xml(&bundle(["audio", "video"]), "<group xmlns='urn:xmpp:jingle:apps:grouping:0' semantics='BUNDLE'><content name='audio'/><content name='video'/></group>");
    }
}

/// Every Jingle stanza captured from the real clients (tests/fixtures/jingle) reads, and so do
/// its transports and sources; a transport rebuilt from what was read reads the same again.
#[cfg(test)]
mod captured {
    use super::*;
    use crate::xmpp::jingle_sources;

    const FIXTURES: &[(&str, &str)] = &[
        (
            "2020 session-accept",
            include_str!("../../tests/fixtures/jingle/lib-jitsi-meet-dist-2.1.5/session-accept.xml"),
        ),
        (
            "2020 transport-info",
            include_str!("../../tests/fixtures/jingle/lib-jitsi-meet-dist-2.1.5/transport-info.xml"),
        ),
        (
            "2020 source-add",
            include_str!("../../tests/fixtures/jingle/lib-jitsi-meet-dist-2.1.5/source-add-msid-flip.xml"),
        ),
        (
            "2020 source-remove",
            include_str!("../../tests/fixtures/jingle/lib-jitsi-meet-dist-2.1.5/source-remove-msid-flip.xml"),
        ),
        (
            "2021 session-accept",
            include_str!("../../tests/fixtures/jingle/lyno-lib-jitsi-meet-2.6726.2/session-accept.xml"),
        ),
        (
            "2021 audio-only accept",
            include_str!("../../tests/fixtures/jingle/lyno-lib-jitsi-meet-2.6726.2/session-accept-audio-only.xml"),
        ),
        ("2021 source-add", include_str!("../../tests/fixtures/jingle/lyno-lib-jitsi-meet-2.6726.2/source-add.xml")),
        (
            "2021 transport-info",
            include_str!("../../tests/fixtures/jingle/lyno-lib-jitsi-meet-2.6726.2/transport-info.xml"),
        ),
    ];

    #[test]
    fn captured_client_jingle_reads_and_round_trips() {
        for (what, xml) in FIXTURES {
            let iq: Element = xml.trim().parse().unwrap_or_else(|e| panic!("{what}: {e}"));
            let element = iq.get_child("jingle", ns::JINGLE).unwrap_or_else(|| panic!("{what}: no jingle"));
            let jingle = Jingle::parse(element).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(!jingle.sid.is_empty() && jingle.action != Action::Unsupported, "{what}");
            let mut ssrcs = 0;
            for content in &jingle.contents {
                let sources = jingle_sources::parse_content(&content.element).unwrap_or_else(|e| panic!("{what}: {e}"));
                ssrcs += sources.sources.len();
                if let Some(transport) = &content.transport {
                    let again = crate::xmpp::jingle_ice::IceUdpTransport::parse(&transport.to_element()).unwrap();
                    assert_eq!(&again, transport, "{what}");
                }
            }
            match jingle.action {
                Action::SessionAccept => {
                    assert!(
                        jingle
                            .contents
                            .iter()
                            .any(|c| c.transport.as_ref().is_some_and(|t| !t.fingerprints.is_empty())),
                        "{what}"
                    );
                    assert!(ssrcs > 0, "{what}: sources");
                }
                Action::TransportInfo => {
                    assert!(
                        jingle.contents.iter().any(|c| c.transport.as_ref().is_some_and(|t| !t.candidates.is_empty())),
                        "{what}"
                    );
                }
                Action::SourceAdd | Action::SourceRemove => assert!(ssrcs > 0, "{what}: sources"),
                other => panic!("{what}: unexpected {other:?}"),
            }
        }
    }
}
