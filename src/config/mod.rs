//! Configuration: built-in defaults, then the TOML file, then `JITSI_FOCUS_<SECTION>__<KEY>`
//! environment variables. Unknown keys and bad values stop start-up with a message that names
//! the key. No message ever quotes a configured value: a secret typed into the wrong place
//! must not end up in a terminal, a journal or a CI log.
//!
//! This module holds [`Config`], its loading (figment: defaults, file, environment) and its
//! validation; each section group lives in a submodule with its defaults and its checks
//! (`xmpp`, `reservation` with `[state]`, `conference` with `[auth]`, `bridges`, `limits`,
//! `codecs`, `logging`). `providers` reads the file and the environment, `messages` turns
//! errors into messages that name keys but never values.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::Serialized;
use figment::{Figment, Provider};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use xmpp_parsers::jid::BareJid;

mod bridges;
mod codecs;
mod conference;
mod http;
mod limits;
mod logging;
mod messages;
#[cfg(test)]
mod migration_tests;
mod providers;
mod reservation;
#[cfg(test)]
mod tests;
mod xmpp;

pub use bridges::{BridgesConfig, SelectionStrategy};
pub use codecs::CodecsConfig;
pub use conference::{AuthConfig, AuthMode, ConferenceConfig};
pub use http::HttpConfig;
pub use limits::LimitsConfig;
pub use logging::{LogConfig, LogFormat};
pub use reservation::{load_ca_certificates, ReservationConfig, StateConfig};
pub use xmpp::XmppConfig;

use messages::{describe, scrub, secrets_in, REDACTED};
use providers::{parse_toml, read_file, EnvProvider, FileProvider};

/// Where the service looks for its configuration unless told otherwise.
pub const DEFAULT_PATH: &str = "/etc/jitsi-focus/jitsi-focus.toml";
/// Environment variables with this prefix override the file; `__` separates section and key.
pub const ENV_PREFIX: &str = "JITSI_FOCUS_";

/// How a binary's configuration is layered: defaults, then its TOML file, then environment
/// variables `<prefix><SECTION>__<KEY>`; values at the secret keys never appear in messages.
/// Shared by `jitsi-focus` and `jitsi-reservations`, so both follow the same rules.
#[derive(Debug, Clone, Copy)]
pub struct Layering {
    pub prefix: &'static str,
    /// `(section, key)` pairs whose values are secrets (any depth below them too).
    pub secret_keys: &'static [(&'static str, &'static str)],
    /// A `SECTION__KEY` for the error message about a malformed variable name.
    pub example: &'static str,
}

/// The focus's layering.
pub const FOCUS_LAYERING: Layering = Layering {
    prefix: ENV_PREFIX,
    secret_keys: &[("xmpp", "secret"), ("reservation", "headers")],
    example: "XMPP__SECRET",
};

/// Loads `T` from its defaults, then `path` (which must exist if `require_file`), then the
/// variables of `vars`; returns it with the secret values seen (for scrubbing later messages).
pub fn load_layered<T: Serialize + serde::de::DeserializeOwned + Default>(
    layering: &Layering,
    path: &Path,
    require_file: bool,
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<(T, Vec<String>), ConfigError> {
    let file = read_file(path, require_file)?;
    let shape = figment::value::Value::serialize(T::default()).expect("defaults serialise");
    let env = EnvProvider::from_vars(layering, &shape, vars)?;
    extract_layered(layering, file, Some(env))
}

/// Parses a TOML document over `T`'s defaults (no environment); for tests and tools.
pub fn toml_layered<T: Serialize + serde::de::DeserializeOwned + Default>(
    layering: &Layering,
    toml: &str,
) -> Result<(T, Vec<String>), ConfigError> {
    let file = parse_toml(toml, "TOML".into()).map_err(ConfigError::Invalid)?;
    extract_layered(layering, Some(file), None)
}

fn extract_layered<T: Serialize + serde::de::DeserializeOwned + Default>(
    layering: &Layering,
    file: Option<FileProvider>,
    env: Option<EnvProvider>,
) -> Result<(T, Vec<String>), ConfigError> {
    let mut secrets = Vec::new();
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(file) = file {
        if let Ok(data) = file.data() {
            data.values().for_each(|d| secrets.extend(secrets_in(d, layering)));
        }
        figment = figment.merge(file);
    }
    if let Some(env) = env {
        secrets.extend(secrets_in(&env.dict, layering));
        figment = figment.merge(env);
    }
    let value: T = figment.extract_lossy().map_err(|e| {
        let messages: Vec<String> = e.into_iter().map(|e| describe(&e, layering)).collect();
        ConfigError::Invalid(scrub(messages.join("; "), &secrets))
    })?;
    Ok((value, secrets))
}

/// Removes secret values from a message (the second line of defence behind messages that
/// never quote values).
pub fn scrub_secrets(message: String, secrets: &[String]) -> String {
    scrub(message, secrets)
}
/// The file in `state.directory` that holds reservation DELETEs not yet confirmed.
pub const OUTBOX_FILE: &str = "reservation-deletes.outbox";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    /// Type errors from deserialising: each names the key and where its value came from, never
    /// the value itself.
    #[error("{0}")]
    Invalid(String),
    #[error("{key}: {message}")]
    Key { key: &'static str, message: String },
}

fn key_error(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Key { key, message: message.into() }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub xmpp: XmppConfig,
    pub reservation: ReservationConfig,
    pub conference: ConferenceConfig,
    pub bridges: BridgesConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub codecs: CodecsConfig,
    pub state: StateConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
}

impl Config {
    /// Loads defaults, then `path` (which must exist unless it is the default path), then the
    /// process environment, and validates the result.
    pub fn load(path: &Path, require_file: bool) -> Result<Config, ConfigError> {
        Self::load_with_env(path, require_file, std::env::vars_os())
    }

    /// [`Config::load`] with the given environment instead of the process's.
    pub fn load_with_env(
        path: &Path,
        require_file: bool,
        vars: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<Config, ConfigError> {
        let (config, secrets) = load_layered::<Config>(&FOCUS_LAYERING, path, require_file, vars)?;
        config.validated(&secrets)
    }

    /// Parses a TOML document over the defaults (no environment); for tests and tools.
    pub fn from_toml(toml: &str) -> Result<Config, ConfigError> {
        let (config, secrets) = toml_layered::<Config>(&FOCUS_LAYERING, toml)?;
        config.validated(&secrets)
    }

    fn validated(self, secrets: &[String]) -> Result<Config, ConfigError> {
        let config = self;
        config.validate().map_err(|e| match e {
            ConfigError::Key { key, message } => ConfigError::Key { key, message: scrub(message, secrets) },
            other => other,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let x = &self.xmpp;
        if x.host.is_empty() {
            return Err(key_error("xmpp.host", "must not be empty"));
        }
        if x.port == 0 {
            return Err(key_error("xmpp.port", "must be between 1 and 65535"));
        }
        domain_jid("xmpp.component", &x.component)?;
        domain_jid("xmpp.muc_domain", &x.muc_domain)?;
        if x.secret.is_empty() {
            return Err(key_error("xmpp.secret", "is required (the component_secret of Prosody's Component block)"));
        }
        let r = &self.reservation;
        if r.enabled {
            let url = reqwest::Url::parse(&r.base_url)
                .map_err(|e| key_error("reservation.base_url", format!("is not a URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(key_error("reservation.base_url", "must start with http:// or https://"));
            }
            for (name, value) in &r.headers {
                reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| key_error("reservation.headers", format!("{name:?} is not a valid header name")))?;
                reqwest::header::HeaderValue::from_str(value)
                    .map_err(|_| key_error("reservation.headers", format!("the value of {name:?} is not valid")))?;
            }
            if let Some(ca) = &r.ca_file {
                load_ca_certificates(ca).map_err(|why| key_error("reservation.ca_file", why))?;
            }
            if !self.state.directory.is_absolute() {
                return Err(key_error("state.directory", "must be an absolute path"));
            }
            if self.state.directory.exists() && !self.state.directory.is_dir() {
                return Err(key_error(
                    "state.directory",
                    format!("{} exists but is not a directory", self.state.directory.display()),
                ));
            }
        }
        if self.auth.mode != AuthMode::None {
            domain_jid("auth.domain", &self.auth.domain)?;
        }
        self.bridges.validate()?;
        self.http.validate(self.conference.request_timeout)?;
        // Bounded so that time arithmetic cannot overflow, so that a typo ("15d" for "15s") is
        // caught where it can still be fixed, and so that nothing can hold unbounded memory.
        // The bounds are documented in README.md, "Configuration".
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        let (min, hour, day) = (s(60), s(3600), s(24 * 3600));
        for (key, value, low, high) in [
            ("xmpp.keepalive", x.keepalive, s(1), 10 * min),
            ("xmpp.reconnect_max_delay", x.reconnect_max_delay, s(1), hour),
            ("xmpp.write_timeout", x.write_timeout, s(1), 5 * min),
            ("reservation.timeout", r.timeout, ms(100), 5 * min),
            ("reservation.retry_delay", r.retry_delay, ms(10), 5 * min),
            ("reservation.refusal_cache", r.refusal_cache, Duration::ZERO, hour),
            ("reservation.delete_give_up", r.delete_give_up, min, 30 * day),
            ("conference.initial_timeout", self.conference.initial_timeout, s(1), day),
            ("conference.request_timeout", self.conference.request_timeout, s(1), 5 * min),
            ("conference.drain_timeout", self.conference.drain_timeout, Duration::ZERO, day),
            ("auth.session_lifetime", self.auth.session_lifetime, min, 365 * day),
            ("bridges.health_interval", self.bridges.health_interval, s(1), 10 * min),
            ("bridges.health_timeout", self.bridges.health_timeout, s(1), 5 * min),
            ("bridges.failure_reset", self.bridges.failure_reset, Duration::ZERO, hour),
            ("bridges.participant_rampup_interval", self.bridges.participant_rampup_interval, Duration::ZERO, 10 * min),
        ] {
            if value < low || value > high {
                return Err(key_error(key, format!("must be between {} and {}", show(low), show(high))));
            }
        }
        let l = &self.limits;
        for (key, value, low, high) in [
            ("reservation.retries", r.retries as usize, 0, 10),
            ("conference.min_participants", self.conference.min_participants, 1, 1000),
            ("reservation.max_concurrent_calls", r.max_concurrent_calls, 1, 1024),
            ("reservation.max_body_size", r.max_body_size, 1024, 16 << 20),
            ("reservation.max_message_length", r.max_message_length, 16, 16 * 1024),
            ("limits.max_stanza_size", l.max_stanza_size, 1024, 16 << 20),
            ("limits.max_depth", l.max_depth, 4, 256),
            ("limits.max_stanza_nodes", l.max_stanza_nodes, 100, 1_000_000),
            ("limits.max_pending_conferences", l.max_pending_conferences, 1, 1_000_000),
            ("limits.max_conferences", l.max_conferences, 1, 1_000_000),
            ("limits.max_waiters_per_conference", l.max_waiters_per_conference, 1, 100_000),
            ("limits.max_participants_per_conference", l.max_participants_per_conference, 1, 100_000),
            ("limits.max_refusals_cached", l.max_refusals_cached, 1, 1_000_000),
            ("limits.max_sessions", l.max_sessions, 1, 10_000_000),
            ("limits.outgoing_queue", l.outgoing_queue, 64, 1 << 20),
            ("bridges.max_participants_per_bridge", self.bridges.max_participants_per_bridge, 1, 100_000),
            ("bridges.max_bridges", self.bridges.max_bridges, 1, 10_000),
            ("limits.max_ssrcs_per_endpoint", l.max_ssrcs_per_endpoint, 1, 256),
            ("limits.max_ssrc_groups_per_endpoint", l.max_ssrc_groups_per_endpoint, 1, 256),
        ] {
            if value < low || value > high {
                return Err(key_error(key, format!("must be between {low} and {high}")));
            }
        }
        // Span and field filters (`[span{field=value}]`) compile to regular expressions whose
        // construction can take exponential time (found by fuzzing: a 40-character value hung
        // start-up), so only targets and levels are accepted.
        let level = &self.log.level;
        if level.len() > 256 || !level.chars().all(|c| c.is_ascii_alphanumeric() || "_:,=- ".contains(c)) {
            return Err(key_error(
                "log.level",
                "only levels and targets are accepted, e.g. \"info\" or \"info,jitsi_focus=debug\" (at most 256 characters)",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| key_error("log.level", format!("{:?}: {e}", self.log.level)))?;
        self.codecs.validate()
    }

    /// The configuration as TOML with secrets replaced, for `check-config`.
    pub fn redacted_toml(&self) -> String {
        let mut shown = self.clone();
        if !shown.xmpp.secret.is_empty() {
            shown.xmpp.secret = REDACTED.into();
        }
        for value in shown.reservation.headers.values_mut() {
            *value = REDACTED.into();
        }
        toml::to_string_pretty(&shown).expect("configuration serialises")
    }
}

/// A bound as it would be written in the file: `10ms`, `5m`, `30d`.
fn show(d: Duration) -> String {
    let secs = d.as_secs();
    match () {
        _ if d.subsec_nanos() != 0 || secs == 0 => format!("{}ms", d.as_millis()),
        _ if secs % 86400 == 0 => format!("{}d", secs / 86400),
        _ if secs % 3600 == 0 => format!("{}h", secs / 3600),
        _ if secs % 60 == 0 => format!("{}m", secs / 60),
        _ => format!("{secs}s"),
    }
}

fn domain_jid(key: &'static str, value: &str) -> Result<BareJid, ConfigError> {
    if value.is_empty() {
        return Err(key_error(key, "is required, e.g. focus.meet.example.com"));
    }
    let jid: BareJid = value.parse().map_err(|e| key_error(key, format!("{value:?} is not a domain: {e}")))?;
    if jid.node().is_some() {
        return Err(key_error(key, format!("{value:?} must be a bare domain without '@'")));
    }
    Ok(jid)
}
