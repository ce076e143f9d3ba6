//! Configuration: built-in defaults, then the TOML file, then `JITSI_FOCUS_<SECTION>__<KEY>`
//! environment variables. Unknown keys and bad values stop start-up with a message that names
//! the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use xmpp_parsers::jid::BareJid;

/// Where the service looks for its configuration unless told otherwise.
pub const DEFAULT_PATH: &str = "/etc/jitsi-focus/jitsi-focus.toml";
/// Environment variables with this prefix override the file; `__` separates section and key.
pub const ENV_PREFIX: &str = "JITSI_FOCUS_";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {message}")]
    File { path: PathBuf, message: String },
    /// figment's message names the key and the source (file or environment variable).
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
    pub auth: AuthConfig,
    pub log: LogConfig,
    pub limits: LimitsConfig,
    pub state: StateConfig,
}

// TEMPORARY (merged from the config branch): limits and state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_stanza_size: usize,
    pub max_depth: usize,
    pub max_pending_conferences: usize,
    pub max_conferences: usize,
    pub max_waiters_per_conference: usize,
    pub max_participants_per_conference: usize,
    pub max_refusals_cached: usize,
    pub max_sessions: usize,
    pub outgoing_queue: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_stanza_size: 262144,
            max_depth: 32,
            max_pending_conferences: 1000,
            max_conferences: 10000,
            max_waiters_per_conference: 100,
            max_participants_per_conference: 1000,
            max_refusals_cached: 10000,
            max_sessions: 100000,
            outgoing_queue: 4096,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    pub directory: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig { directory: "/var/lib/jitsi-focus".into() }
    }
}

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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReservationConfig {
    pub enabled: bool,
    /// The API's base URL; we call `{base_url}/conference` and `{base_url}/conference/{id}`.
    pub base_url: String,
    /// Time limit of one HTTP attempt.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Extra attempts after a 5xx answer or a connection failure (never after a 4xx).
    pub retries: u32,
    #[serde(with = "humantime_serde")]
    pub retry_delay: Duration,
    /// Extra HTTP headers sent with every call, e.g. `Authorization = "Bearer …"`.
    pub headers: BTreeMap<String, String>,
    /// An extra trusted CA certificate (PEM) for an API behind a private CA.
    pub ca_file: Option<PathBuf>,
    /// How long a refusal is remembered, so that retrying clients get the same answer
    /// without another API call.
    #[serde(with = "humantime_serde")]
    pub refusal_cache: Duration,
    pub max_concurrent_calls: usize,
    pub max_body_size: usize,
    pub max_message_length: usize,
    #[serde(with = "humantime_serde")]
    pub delete_give_up: Duration,
}

impl Default for ReservationConfig {
    fn default() -> Self {
        ReservationConfig {
            enabled: false,
            base_url: String::new(),
            timeout: Duration::from_secs(10),
            retries: 3,
            retry_delay: Duration::from_secs(3),
            headers: BTreeMap::new(),
            ca_file: None,
            refusal_cache: Duration::from_secs(10),
            max_concurrent_calls: 32,
            max_body_size: 65536,
            max_message_length: 1024,
            delete_give_up: Duration::from_secs(24 * 3600),
        }
    }
}

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
}

impl Default for ConferenceConfig {
    fn default() -> Self {
        ConferenceConfig { initial_timeout: Duration::from_secs(15), request_timeout: Duration::from_secs(20) }
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

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, or per module like `info,jitsi_focus=debug`.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), format: LogFormat::Text }
    }
}

impl Config {
    /// Loads defaults, then `path` (which must exist unless it is the default path), then the
    /// environment, and validates the result.
    pub fn load(path: &Path, require_file: bool) -> Result<Config, ConfigError> {
        if require_file && !path.exists() {
            return Err(ConfigError::File { path: path.into(), message: "no such file".into() });
        }
        Self::from_figment(
            Figment::from(Serialized::defaults(Config::default()))
                .merge(Toml::file(path))
                .merge(Env::prefixed(ENV_PREFIX).split("__")),
        )
    }

    /// Parses a TOML document over the defaults (no environment); for tests and tools.
    pub fn from_toml(toml: &str) -> Result<Config, ConfigError> {
        Self::from_figment(Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(toml)))
    }

    fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let x = &self.xmpp;
        if x.host.is_empty() {
            return Err(key_error("xmpp.host", "must not be empty"));
        }
        domain_jid("xmpp.component", &x.component)?;
        domain_jid("xmpp.muc_domain", &x.muc_domain)?;
        if x.secret.is_empty() {
            return Err(key_error("xmpp.secret", "is required (the component_secret of Prosody's Component block)"));
        }
        if x.keepalive < Duration::from_secs(1) {
            return Err(key_error("xmpp.keepalive", "must be at least 1s"));
        }
        let r = &self.reservation;
        if r.enabled {
            let url = reqwest::Url::parse(&r.base_url)
                .map_err(|e| key_error("reservation.base_url", format!("{:?} is not a URL: {e}", r.base_url)))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(key_error("reservation.base_url", "must start with http:// or https://"));
            }
            if r.timeout.is_zero() {
                return Err(key_error("reservation.timeout", "must be more than 0"));
            }
            for (name, value) in &r.headers {
                reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| key_error("reservation.headers", format!("{name:?} is not a valid header name")))?;
                reqwest::header::HeaderValue::from_str(value)
                    .map_err(|_| key_error("reservation.headers", format!("the value of {name:?} is not valid")))?;
            }
            if let Some(ca) = &r.ca_file {
                if !ca.is_file() {
                    return Err(key_error("reservation.ca_file", format!("{} is not a readable file", ca.display())));
                }
            }
        }
        if self.auth.mode != AuthMode::None {
            domain_jid("auth.domain", &self.auth.domain)?;
        }
        // Bounded so that time arithmetic cannot overflow, and so that a typo ("15d" for "15s")
        // is caught where it can still be fixed.
        let year = Duration::from_secs(365 * 24 * 3600);
        for (key, value) in [
            ("xmpp.keepalive", x.keepalive),
            ("xmpp.reconnect_max_delay", x.reconnect_max_delay),
            ("reservation.timeout", r.timeout),
            ("reservation.retry_delay", r.retry_delay),
            ("reservation.refusal_cache", r.refusal_cache),
            ("conference.initial_timeout", self.conference.initial_timeout),
            ("conference.request_timeout", self.conference.request_timeout),
            ("auth.session_lifetime", self.auth.session_lifetime),
        ] {
            if value > year {
                return Err(key_error(key, "must be at most 365 days"));
            }
        }
        if self.conference.request_timeout < Duration::from_secs(1) {
            return Err(key_error("conference.request_timeout", "must be at least 1s"));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| key_error("log.level", format!("{:?}: {e}", self.log.level)))?;
        Ok(())
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

const REDACTED: &str = "<redacted>";

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

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [xmpp]
        component = "focus.meet.test"
        secret = "s3cret"
        muc_domain = "conference.meet.test"
    "#;

    #[test]
    fn minimal_file_gets_defaults() {
        let config = Config::from_toml(MINIMAL).unwrap();
        assert_eq!(config.xmpp.port, 5347);
        assert_eq!(config.conference.initial_timeout, Duration::from_secs(15));
        assert!(!config.reservation.enabled);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml(&format!("{MINIMAL}\nsecrett = 1")).unwrap_err().to_string();
        assert!(err.contains("secrett"), "{err}");
    }

    #[test]
    fn bad_value_is_named() {
        let err = Config::from_toml(&MINIMAL.replace("[xmpp]", "[xmpp]\nport = 99999")).unwrap_err().to_string();
        assert!(err.contains("port"), "{err}");
        let err = Config::from_toml(&format!("{MINIMAL}\n[reservation]\ntimeout = \"ten\"")).unwrap_err().to_string();
        assert!(err.contains("timeout"), "{err}");
    }

    #[test]
    fn absurd_durations_are_named() {
        let err = Config::from_toml(&format!("{MINIMAL}\n[auth]\nsession_lifetime = \"500years\"")).unwrap_err();
        assert!(err.to_string().starts_with("auth.session_lifetime"), "{err}");
    }

    #[test]
    fn missing_secret_is_named() {
        let err = Config::from_toml(&MINIMAL.replace("secret = \"s3cret\"", "")).unwrap_err().to_string();
        assert!(err.starts_with("xmpp.secret"), "{err}");
    }

    #[test]
    fn reservation_needs_a_url() {
        let err = Config::from_toml(&format!("{MINIMAL}\n[reservation]\nenabled = true\nbase_url = \"ftp://x\""))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("reservation.base_url"), "{err}");
    }

    #[test]
    fn the_shipped_example_is_valid_once_the_secret_is_given() {
        let example = include_str!("../config/jitsi-focus.toml");
        let err = Config::from_toml(example).unwrap_err().to_string();
        assert!(err.starts_with("xmpp.secret"), "{err}");
        let with_secret = example.replace("# secret = \"change-me\"", "secret = \"s\"");
        let config = Config::from_toml(&with_secret).unwrap();
        assert_eq!(config.xmpp.component, "focus.meet.example.com");
        let enabled = with_secret.replace("enabled = false", "enabled = true");
        assert!(Config::from_toml(&enabled).unwrap().reservation.enabled);
    }

    #[test]
    fn redaction_hides_secret_and_headers() {
        let toml = format!("{MINIMAL}\n[reservation]\nheaders = {{ Authorization = \"Bearer tok\" }}");
        let shown = Config::from_toml(&toml).unwrap().redacted_toml();
        assert!(!shown.contains("s3cret") && !shown.contains("Bearer tok"), "{shown}");
        assert!(shown.contains("initial_timeout = \"15s\""), "{shown}");
    }
}
