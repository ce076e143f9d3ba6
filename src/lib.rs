//! jitsi-focus: a conference focus for Jitsi Meet, run as an XMPP component beside Prosody.

pub mod config;
pub mod core;
pub mod errors;
pub mod http_serve;
pub mod reservations;
pub mod runtime;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod xmpp {
    pub mod brewery;
    pub mod build;
    pub mod colibri2;
    pub mod focus;
    pub mod jingle;
    pub mod jingle_ice;
    pub mod jingle_rtp;
    pub mod jingle_sources;
    pub mod jitsi_presence;
    pub mod json_sources;
    pub mod muc;
    pub mod ns;
    pub mod stream;
}
