//! `[conference]`: a conference's timing (initial and request timeouts), its minimum of
//! participants for media and how long a stopping focus lets running conferences go on, and `[auth]`: who may create conferences (no authentication, XMPP
//! sign-in or JWT) and how long their sessions last.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConferenceConfig {
    /// A conference nobody joins within this time after it was created ends.
    #[serde(with = "humantime_serde")]
    pub initial_timeout: Duration,
    /// Longest time a conference request waits for its answer; past it the client is told
    /// `ready='false'` and asks again.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Nobody is invited to a media session until this many participants are in the room
    /// (Jicofo's `min-participants`): a lone participant needs no bridge.
    pub min_participants: usize,
    /// On SIGTERM/SIGINT the focus refuses new conferences and lets running ones go on for up
    /// to this long before it leaves them (a second signal cuts it short); `0s` stops at once.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for ConferenceConfig {
    fn default() -> Self {
        ConferenceConfig {
            initial_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(20),
            min_participants: 2,
            // Long enough for meetings that are winding down to end by themselves, short
            // enough that a `systemctl restart` or an upgrade still completes in minutes.
            drain_timeout: Duration::from_secs(5 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    #[default]
    None,
    Xmpp,
    Jwt,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// The XMPP domain where users sign in (guests come from another one).
    pub domain: String,
    /// Sessions unused for this long expire.
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { mode: AuthMode::None, domain: String::new(), session_lifetime: Duration::from_secs(24 * 3600) }
    }
}
