//! Namespace constants for every wire namespace we speak.

/// The stream's default namespace (`jabber:component:accept` for our XEP-0114 stream).
pub use xmpp_parsers::ns::DEFAULT_NS as STREAM;
pub const FOCUS: &str = "http://jitsi.org/protocol/focus";
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const MUC: &str = "http://jabber.org/protocol/muc";
pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
pub const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
pub const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
pub const DATA_FORMS: &str = "jabber:x:data";
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const PING: &str = "urn:xmpp:ping";
pub const JITMEET: &str = "http://jitsi.org/jitmeet";
pub const CAPS: &str = "http://jabber.org/protocol/caps";
pub const SSMA: &str = "urn:xmpp:jingle:apps:rtp:ssma:0";
