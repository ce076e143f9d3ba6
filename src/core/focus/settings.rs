//! The focus's settings: what the core needs from the configuration, taken once from a
//! validated [`Config`] (durations as `chrono`, JIDs parsed) when the focus is built.

use xmpp_parsers::jid::BareJid;

use crate::config::{AuthMode, CodecsConfig, Config, LimitsConfig as Limits};
use crate::core::bridges::BridgeSettings;
use crate::core::sources::SourceLimits;

/// What the core needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub component: BareJid,
    pub muc_domain: BareJid,
    /// `None` when the reservation system is disabled.
    pub reservation: Option<ReservationSettings>,
    pub initial_timeout: chrono::Duration,
    pub request_timeout: chrono::Duration,
    pub auth_mode: AuthMode,
    pub auth_domain: String,
    pub session_lifetime: chrono::Duration,
    /// Lower-cased domains whose occupants may claim recorder/gateway/transcriber features.
    pub trusted_domains: Vec<String>,
    /// A DELETE that keeps failing is given up this long after its conference ended.
    pub delete_give_up: chrono::Duration,
    /// Characters of a refusal text passed to clients.
    pub max_message_length: usize,
    /// Bounds on everything anyone can make the focus keep (README, "Limits and hostile input").
    pub limits: Limits,
    /// The bridges' brewery room; `None`: no bridges, no media.
    pub brewery: Option<BareJid>,
    pub bridges: BridgeSettings,
    pub codecs: CodecsConfig,
    /// Nobody gets a media session before the room has this many participants.
    pub min_participants: usize,
}

#[derive(Debug, Clone)]
pub struct ReservationSettings {
    pub retries: u32,
    pub retry_delay: std::time::Duration,
    pub refusal_cache: chrono::Duration,
}

pub(super) fn chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        let r = &config.reservation;
        Settings {
            component: config.xmpp.component.parse().expect("validated by Config"),
            muc_domain: config.xmpp.muc_domain.parse().expect("validated by Config"),
            reservation: r.enabled.then(|| ReservationSettings {
                retries: r.retries,
                retry_delay: r.retry_delay,
                refusal_cache: chrono(r.refusal_cache),
            }),
            initial_timeout: chrono(config.conference.initial_timeout),
            request_timeout: chrono(config.conference.request_timeout),
            auth_mode: config.auth.mode,
            auth_domain: config.auth.domain.clone(),
            session_lifetime: chrono(config.auth.session_lifetime),
            trusted_domains: config.xmpp.trusted_domains.iter().map(|d| d.to_lowercase()).collect(),
            delete_give_up: chrono(r.delete_give_up),
            max_message_length: r.max_message_length,
            limits: config.limits.clone(),
            brewery: config.bridges.brewery.as_deref().map(|b| b.parse().expect("validated by Config")),
            bridges: BridgeSettings::from_config(config),
            codecs: config.codecs.clone(),
            min_participants: config.conference.min_participants,
        }
    }

    pub fn source_limits(&self) -> SourceLimits {
        SourceLimits::from(&self.limits)
    }
}
