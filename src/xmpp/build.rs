//! Small helpers to build and inspect `minidom` elements without ceremony.

use minidom::rxml::{Namespace, NcName};
use minidom::Element;

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
        self.append_text_node(text.into());
        self
    }

    fn attr_nonempty<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.attr(name).filter(|v| !v.is_empty())
    }
}

/// Sets (or replaces) a plain attribute.
pub fn set_attr(element: &mut Element, name: &str, value: impl Into<String>) {
    let name = NcName::try_from(name).expect("attribute names in this crate are valid NCNames");
    element.set_attr(Namespace::NONE, name, value.into());
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
