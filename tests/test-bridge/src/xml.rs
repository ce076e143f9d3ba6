//! Small helpers around `minidom`: namespaces, building elements, reading attributes, and the
//! IQ answers (result and stanza errors) every other module sends.

use std::borrow::Cow;

use minidom::rxml::{Namespace, NcName};
use minidom::Element;

pub const NS_CLIENT: &str = "jabber:client";
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";
pub const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const NS_COLIBRI: &str = "http://jitsi.org/protocol/colibri";
pub const NS_COLIBRI2: &str = "jitsi:colibri2";
pub const NS_HEALTH: &str = "http://jitsi.org/protocol/healthcheck";
pub const NS_ICE_UDP: &str = "urn:xmpp:jingle:transports:ice-udp:1";
pub const NS_DTLS: &str = "urn:xmpp:jingle:apps:dtls:0";
pub const NS_SSMA: &str = "urn:xmpp:jingle:apps:rtp:ssma:0";
pub const NS_RTP: &str = "urn:xmpp:jingle:apps:rtp:1";
pub const NS_RTP_HDREXT: &str = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0";
pub const NS_PING: &str = "urn:xmpp:ping";
pub const NS_VERSION: &str = "jabber:iq:version";
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// `text` with every character XML 1.0 forbids replaced by U+FFFD: minidom's serialiser refuses
/// them, and configured strings (region, version, error texts) come from outside XML.
pub fn xml_safe(text: &str) -> Cow<'_, str> {
    fn allowed(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    }
    if text.chars().all(allowed) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.chars().map(|c| if allowed(c) { c } else { '\u{FFFD}' }).collect())
    }
}

/// Builder-style additions to [`Element`].
pub trait ElementExt: Sized {
    fn with_attr(self, name: &str, value: impl AsRef<str>) -> Self;
    fn with_child(self, child: Element) -> Self;
    fn with_text(self, text: impl AsRef<str>) -> Self;
}

impl ElementExt for Element {
    fn with_attr(mut self, name: &str, value: impl AsRef<str>) -> Self {
        set_attr(&mut self, name, value.as_ref());
        self
    }

    fn with_child(mut self, child: Element) -> Self {
        self.append_child(child);
        self
    }

    fn with_text(mut self, text: impl AsRef<str>) -> Self {
        self.append_text_node(xml_safe(text.as_ref()).into_owned());
        self
    }
}

/// Sets (or replaces) a plain attribute. Names are literals of this crate; an invalid one is
/// skipped rather than panicking.
pub fn set_attr(element: &mut Element, name: &str, value: &str) {
    if let Ok(name) = NcName::try_from(name) {
        element.set_attr(Namespace::NONE, name, xml_safe(value).into_owned());
    }
}

/// An empty element.
pub fn elem(name: &str, ns: &str) -> Element {
    Element::bare(name, ns)
}

/// Serialises an element for logs and tests.
pub fn to_xml(element: &Element) -> String {
    String::from(element)
}

/// Java's `Boolean.parseBoolean`: "true" in any case is true, anything else (or absence) false.
pub fn java_bool(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The error `type` Smack derives from a condition (its `StanzaError` table).
pub fn default_error_type(condition: &str) -> &'static str {
    match condition {
        "bad-request"
        | "jid-malformed"
        | "not-acceptable"
        | "policy-violation"
        | "redirect"
        | "undefined-condition" => "modify",
        "forbidden" | "not-authorized" | "registration-required" | "subscription-required" => "auth",
        "recipient-unavailable" | "remote-server-timeout" | "resource-constraint" | "unexpected-request" => "wait",
        _ => "cancel",
    }
}

/// A stanza error as JVB (Smack) writes it: `<error type><condition/><text/>…extensions</error>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    /// RFC 6120 defined condition, e.g. `item-not-found`.
    pub condition: String,
    /// Descriptive text (`<text xml:lang='en'>`), if any.
    pub text: Option<String>,
    /// Application-specific children of `<error>`, e.g. `<error xmlns='jitsi:colibri2' reason=…/>`.
    pub extensions: Vec<Element>,
}

impl StanzaError {
    pub fn new(condition: &str, text: impl Into<String>) -> Self {
        StanzaError { condition: condition.to_string(), text: Some(text.into()), extensions: Vec::new() }
    }

    pub fn with_extension(mut self, extension: Element) -> Self {
        self.extensions.push(extension);
        self
    }

    pub fn to_element(&self) -> Element {
        let condition =
            NcName::try_from(self.condition.as_str()).map(|_| self.condition.as_str()).unwrap_or("undefined-condition");
        let mut error = elem("error", NS_CLIENT)
            .with_attr("type", default_error_type(condition))
            .with_child(elem(condition, NS_STANZAS));
        if let Some(text) = &self.text {
            let mut text_el = elem("text", NS_STANZAS).with_text(text);
            if let Ok(lang) = NcName::try_from("lang") {
                text_el.set_attr(Namespace::XML, lang, "en".to_string());
            }
            error.append_child(text_el);
        }
        for extension in &self.extensions {
            error.append_child(extension.clone());
        }
        error
    }
}

/// The skeleton of an answer to `request`: `id` copied, `to`/`from` swapped.
fn answer(request: &Element, kind: &str) -> Element {
    let mut iq = elem("iq", NS_CLIENT).with_attr("type", kind);
    if let Some(id) = request.attr("id") {
        set_attr(&mut iq, "id", id);
    }
    if let Some(from) = request.attr("from") {
        set_attr(&mut iq, "to", from);
    }
    if let Some(to) = request.attr("to") {
        set_attr(&mut iq, "from", to);
    }
    iq
}

/// `<iq type='result'>` answering `request`, with an optional payload.
pub fn iq_result(request: &Element, payload: Option<Element>) -> Element {
    let mut iq = answer(request, "result");
    if let Some(payload) = payload {
        iq.append_child(payload);
    }
    iq
}

/// `<iq type='error'>` answering `request`.
pub fn iq_error(request: &Element, error: &StanzaError) -> Element {
    answer(request, "error").with_child(error.to_element())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_written_as_smack_writes_them() {
        let request: Element =
            "<iq xmlns='jabber:client' type='get' id='a1' from='room@muc/focus' to='jvb@d/r'/>".parse().unwrap();
        let error = StanzaError::new("conflict", "Conference already exists for ID: m1")
            .with_extension(elem("error", NS_COLIBRI2).with_attr("reason", "conference_already_exists"));
        let iq = iq_error(&request, &error);
        let reparsed: Element = to_xml(&iq).parse().unwrap();
        assert_eq!(reparsed.attr("type"), Some("error"));
        assert_eq!(reparsed.attr("id"), Some("a1"));
        assert_eq!(reparsed.attr("to"), Some("room@muc/focus"));
        assert_eq!(reparsed.attr("from"), Some("jvb@d/r"));
        let error = reparsed.get_child("error", NS_CLIENT).unwrap();
        assert_eq!(error.attr("type"), Some("cancel"));
        assert!(error.has_child("conflict", NS_STANZAS));
        assert_eq!(error.get_child("text", NS_STANZAS).unwrap().text(), "Conference already exists for ID: m1");
        assert_eq!(error.get_child("error", NS_COLIBRI2).unwrap().attr("reason"), Some("conference_already_exists"));
    }

    #[test]
    fn outside_text_is_made_serialisable() {
        let element = elem("a", "x").with_attr("v", "q\u{1}z").with_text("bad\u{8}text");
        assert_eq!(to_xml(&element), "<a xmlns='x' v='q\u{FFFD}z'>bad\u{FFFD}text</a>");
        assert_eq!(default_error_type("bad-request"), "modify");
        assert_eq!(default_error_type("service-unavailable"), "cancel");
        assert!(java_bool(Some("TRUE")) && !java_bool(Some("1")) && !java_bool(None));
    }
}
