//! `[xmpp]`: the component connection to Prosody (host, port, component JID and secret), the
//! conference MUC domain, keepalive and reconnection timing, and trusted domains.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct XmppConfig {
    /// Host of Prosody's component port.
    pub host: String,
    pub port: u16,
    /// Our component JID, e.g. `focus.meet.example.com`.
    pub component: String,
    /// The `component_secret` from Prosody's `Component` block.
    pub secret: String,
    /// The conference MUC service, e.g. `conference.meet.example.com`.
    pub muc_domain: String,
    /// Ping the connection when it has been silent this long; a dead link is noticed after
    /// about twice this.
    #[serde(with = "humantime_serde")]
    pub keepalive: Duration,
    /// Longest wait between reconnection attempts (the back-off starts at 250 ms).
    #[serde(with = "humantime_serde")]
    pub reconnect_max_delay: Duration,
    /// A write to Prosody that does not complete in this time drops the link, which is then
    /// reconnected.
    #[serde(with = "humantime_serde")]
    pub write_timeout: Duration,
    /// Domains whose occupants may claim to be recorders, SIP gateways or transcribers
    /// (e.g. `recorder.meet.example.com`); such occupants are never elected moderator.
    pub trusted_domains: Vec<String>,
}

impl Default for XmppConfig {
    fn default() -> Self {
        XmppConfig {
            host: "127.0.0.1".into(),
            port: 5347,
            component: String::new(),
            secret: String::new(),
            muc_domain: String::new(),
            keepalive: Duration::from_secs(15),
            reconnect_max_delay: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            trusted_domains: Vec::new(),
        }
    }
}
