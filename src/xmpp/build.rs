//! Small helpers to build and inspect `minidom` elements without ceremony.

use minidom::rxml::{Namespace, NcName};
use minidom::Element;

/// `text` with every character XML 1.0 forbids (most C0 controls, U+FFFE, U+FFFF, lone
/// surrogates cannot occur in a `str`) replaced by U+FFFD. Text from outside XML — a
/// reservation API's message, an error's description — must pass through this before it goes
/// into a stanza: the serialiser refuses such characters by panicking.
pub fn xml_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let allowed =
        |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
    if text.chars().all(allowed) {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(text.chars().map(|c| if allowed(c) { c } else { '\u{FFFD}' }).collect())
    }
}

/// An element with a name and namespace and nothing else.
pub fn elem(name: &str, ns: &str) -> Element {
    Element::bare(name, ns)
}

/// Builder-style additions to [`Element`].
pub trait ElementExt: Sized {
    fn with_attr(self, name: &str, value: impl Into<String>) -> Self;
    fn with_child(self, child: Element) -> Self;
    fn with_text(self, text: impl Into<String>) -> Self;
    /// The attribute's value when present and non-empty: the Jitsi protocols treat empty
    /// attributes as absent.
    fn attr_nonempty<'a>(&'a self, name: &'a str) -> Option<&'a str>;
}

impl ElementExt for Element {
    fn with_attr(mut self, name: &str, value: impl Into<String>) -> Self {
        set_attr(&mut self, name, value);
        self
    }

    fn with_child(mut self, child: Element) -> Self {
        self.append_child(child);
        self
    }

    fn with_text(mut self, text: impl Into<String>) -> Self {
        let text = text.into();
        self.append_text_node(xml_safe(&text).into_owned());
        self
    }

    fn attr_nonempty<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.attr(name).filter(|v| !v.is_empty())
    }
}

/// Sets (or replaces) a plain attribute.
pub fn set_attr(element: &mut Element, name: &str, value: impl Into<String>) {
    let name = NcName::try_from(name).expect("attribute names in this crate are valid NCNames");
    let value = value.into();
    element.set_attr(Namespace::NONE, name, xml_safe(&value).into_owned());
}

/// Removes a plain attribute if present.
pub fn remove_attr(element: &mut Element, name: &str) {
    if let Ok(name) = NcName::try_from(name) {
        element.attrs_mut().remove(&Namespace::NONE, &name);
    }
}

/// Serialises an element for logs and tests.
pub fn to_xml(element: &Element) -> String {
    String::from(element)
}

/// Test helper: `actual` is the element `expected` spells (minidom orders attributes itself, so
/// strings are compared after parsing).
#[cfg(test)]
#[track_caller]
pub fn assert_same_xml(actual: &Element, expected: &str) {
    let expected: Element = expected.parse().expect("expected XML parses");
    assert_eq!(*actual, expected, "\n actual: {}\n expected: {}", to_xml(actual), to_xml(&expected));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_outside_xml_is_made_serialisable() {
        assert!(matches!(xml_safe("plain ä\ttext\n"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(xml_safe("a\u{0}b\u{1b}[31mc\u{FFFE}"), "a\u{FFFD}b\u{FFFD}[31mc\u{FFFD}");
        let element = elem("a", "x").with_attr("v", "q\u{1}z").with_text("bad\u{8}text");
        assert_eq!(to_xml(&element), "<a xmlns='x' v='q\u{FFFD}z'>bad\u{FFFD}text</a>");
    }
}
