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
pub const JINGLE: &str = "urn:xmpp:jingle:1";
pub const JINGLE_RTP: &str = "urn:xmpp:jingle:apps:rtp:1";
pub const JINGLE_RTCP_FB: &str = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0";
pub const JINGLE_RTP_HDREXT: &str = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0";
pub const JINGLE_ICE_UDP: &str = "urn:xmpp:jingle:transports:ice-udp:1";
pub const JINGLE_DTLS: &str = "urn:xmpp:jingle:apps:dtls:0";
pub const JINGLE_DTLS_SCTP: &str = "urn:xmpp:jingle:transports:dtls-sctp:1";
pub const JINGLE_GROUPING: &str = "urn:xmpp:jingle:apps:grouping:0";
pub const START_MUTED: &str = "http://jitsi.org/jitmeet/start-muted";
pub const COLIBRI2: &str = "jitsi:colibri2";
pub const AUDIO_MUTE: &str = "http://jitsi.org/jitmeet/audio";
pub const VIDEO_MUTE: &str = "http://jitsi.org/jitmeet/video";
/// Bridge statistics in brewery presence (also colibri1 and web sockets; not colibri2).
pub const COLIBRI: &str = "http://jitsi.org/protocol/colibri";
pub const HEALTHCHECK: &str = "http://jitsi.org/protocol/healthcheck";
pub const SSMA: &str = "urn:xmpp:jingle:apps:rtp:ssma:0";
