//! `jitsi-reservations`'s configuration: a TOML file (`--config PATH`), then environment
//! variables `JITSI_RESERVATIONS_<SECTION>__<KEY>` — the same layering rules as the focus
//! ([`crate::config::Layering`]). Management tokens are secrets: never in messages or logs.

use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::policy::AdHocPolicy;
use crate::config::{load_layered, scrub_secrets, toml_layered, ConfigError, Layering};
use crate::http_serve::Limits;

pub const DEFAULT_PATH: &str = "/etc/jitsi-reservations/jitsi-reservations.toml";

pub const LAYERING: Layering = Layering {
    prefix: "JITSI_RESERVATIONS_",
    secret_keys: &[("api", "tokens"), ("database", "url")],
    example: "API__TOKENS",
};

/// Shortest management token accepted: a guessable token would open the management API.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ReservationsConfig {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub api: ApiConfig,
    pub policy: PolicyConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Where the reservation API, the management API and the booking page listen.
    pub bind: String,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (or leave a keep-alive
    /// connection idle) before it is disconnected.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: std::time::Duration,
    /// How long one request may take, reading its body included; then 408.
    #[serde(with = "humantime_serde")]
    pub request_timeout: std::time::Duration,
    /// Largest request body in bytes; larger ones get 413.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let limits = Limits::default();
        ServerConfig {
            bind: "127.0.0.1:8099".into(),
            max_connections: limits.max_connections,
            header_read_timeout: limits.header_read_timeout,
            request_timeout: limits.request_timeout,
            max_body_bytes: limits.max_body_bytes,
        }
    }
}

impl ServerConfig {
    /// The connection and request limits of the server.
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections,
            header_read_timeout: self.header_read_timeout,
            request_timeout: self.request_timeout,
            max_body_bytes: self.max_body_bytes,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (created if missing) or `postgres://user:password@host/db`.
    pub url: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: "sqlite:///var/lib/jitsi-reservations/reservations.db".into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Bearer tokens of the management API (`Authorization: Bearer …`); none: the management
    /// API and the booking page refuse every request.
    pub tokens: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Rooms with no meeting: refused (false, the default) or opened ad hoc.
    pub ad_hoc: bool,
    /// Rooms with no meeting that open anyway: glob patterns (`*`, `?`) on the whole name.
    pub ad_hoc_rooms: Vec<String>,
    /// How long an ad-hoc conference may last: the `duration` sent to the focus, which ends
    /// the conference then (a Jicofo given no duration would end it at once).
    #[serde(with = "humantime_serde")]
    pub ad_hoc_duration: std::time::Duration,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            ad_hoc: false,
            ad_hoc_rooms: Vec::new(),
            ad_hoc_duration: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

impl PolicyConfig {
    pub fn ad_hoc_policy(&self) -> AdHocPolicy {
        AdHocPolicy { allow: self.ad_hoc, patterns: self.ad_hoc_rooms.clone() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), format: "text".into() }
    }
}

impl ReservationsConfig {
    /// Loads defaults, then `path` (which must exist unless `require_file` is false and it is
    /// missing), then the process environment, and validates the result.
    pub fn load(path: &Path, require_file: bool) -> Result<ReservationsConfig, ConfigError> {
        Self::load_with_env(path, require_file, std::env::vars_os())
    }

    pub fn load_with_env(
        path: &Path,
        require_file: bool,
        vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Result<ReservationsConfig, ConfigError> {
        let (config, secrets) = load_layered::<ReservationsConfig>(&LAYERING, path, require_file, vars)?;
        config.validated(&secrets)
    }

    pub fn from_toml(toml: &str) -> Result<ReservationsConfig, ConfigError> {
        let (config, secrets) = toml_layered::<ReservationsConfig>(&LAYERING, toml)?;
        config.validated(&secrets)
    }

    /// The listening address.
    pub fn bind(&self) -> SocketAddr {
        self.server.bind.parse().expect("validated")
    }

    fn validated(self, secrets: &[String]) -> Result<ReservationsConfig, ConfigError> {
        self.validate().map_err(|e| match e {
            ConfigError::Key { key, message } => ConfigError::Key { key, message: scrub_secrets(message, secrets) },
            other => other,
        })?;
        Ok(self)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let key = |key: &'static str, message: String| ConfigError::Key { key, message };
        self.server
            .bind
            .parse::<SocketAddr>()
            .map_err(|_| key("server.bind", "must be an address and port, e.g. 127.0.0.1:8099".into()))?;
        if !(1..=65_536).contains(&self.server.max_connections) {
            return Err(key("server.max_connections", "must be between 1 and 65536".into()));
        }
        for (name, value) in [
            ("server.header_read_timeout", self.server.header_read_timeout),
            ("server.request_timeout", self.server.request_timeout),
        ] {
            if !(std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(3600)).contains(&value) {
                return Err(key(name, "must be between 1 second and 1 hour".into()));
            }
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.server.max_body_bytes) {
            return Err(key("server.max_body_bytes", "must be between 1024 and 67108864 (64 MiB)".into()));
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite://") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(key("database.url", "must start with sqlite:// (a file path) or postgres://".into()));
        }
        if url.starts_with("sqlite://") && url.len() == "sqlite://".len() {
            return Err(key("database.url", "names no file: write sqlite:///var/lib/…/reservations.db".into()));
        }
        for (i, token) in self.api.tokens.iter().enumerate() {
            if token.chars().count() < MIN_TOKEN_LEN {
                return Err(key("api.tokens", format!("token {} is shorter than {MIN_TOKEN_LEN} characters", i + 1)));
            }
            if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(key("api.tokens", format!("token {} contains spaces or control characters", i + 1)));
            }
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(key("log.format", "must be text or json".into()));
        }
        if self.log.level.trim().is_empty() {
            return Err(key("log.level", "must not be empty".into()));
        }
        let ad_hoc = self.policy.ad_hoc_duration.as_secs();
        if !(60..=30 * 24 * 3600).contains(&ad_hoc) {
            return Err(key("policy.ad_hoc_duration", "must be between 1 minute and 30 days".into()));
        }
        for pattern in &self.policy.ad_hoc_rooms {
            if pattern.is_empty() || pattern.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@') {
                return Err(key("policy.ad_hoc_rooms", format!("{pattern:?} is not a room pattern")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
        vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn the_shipped_example_is_valid_and_the_defaults() {
        let shipped = ReservationsConfig::from_toml(include_str!("../../config/jitsi-reservations.toml")).unwrap();
        let defaults = ReservationsConfig::from_toml("").unwrap();
        assert_eq!(format!("{shipped:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn defaults_are_usable_without_a_file() {
        let config = ReservationsConfig::load_with_env(Path::new("/nonexistent/x.toml"), false, env(&[])).unwrap();
        assert_eq!(config.bind().to_string(), "127.0.0.1:8099");
        assert!(config.database.url.starts_with("sqlite:///var/lib/jitsi-reservations/"));
        assert!(config.api.tokens.is_empty());
        assert!(!config.policy.ad_hoc);
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        std::fs::write(&path, "[server]\nbind = \"127.0.0.1:9000\"\n[policy]\nad_hoc = false\n").unwrap();
        let vars = env(&[
            ("JITSI_RESERVATIONS_POLICY__AD_HOC", "true"),
            ("JITSI_RESERVATIONS_API__TOKENS", "[0123456789abcdef0123]"),
            ("JITSI_RESERVATIONS_DATABASE__URL", "postgres://r:pw@127.0.0.1/r"),
        ]);
        let config = ReservationsConfig::load_with_env(&path, true, vars).unwrap();
        assert_eq!(config.bind().port(), 9000);
        assert!(config.policy.ad_hoc);
        assert_eq!(config.api.tokens, vec!["0123456789abcdef0123".to_string()]);
        assert_eq!(config.database.url, "postgres://r:pw@127.0.0.1/r");
    }

    #[test]
    fn bad_values_name_the_key_never_the_secret() {
        const TOKEN: &str = "short-tok";
        for (toml, key) in [
            ("[server]\nbind = \"nowhere\"\n", "server.bind"),
            ("[server]\nmax_connections = 0\n", "server.max_connections"),
            ("[server]\nheader_read_timeout = \"0s\"\n", "server.header_read_timeout"),
            ("[server]\nrequest_timeout = \"2h\"\n", "server.request_timeout"),
            ("[server]\nmax_body_bytes = 10\n", "server.max_body_bytes"),
            ("[database]\nurl = \"mysql://x\"\n", "database.url"),
            ("[database]\nurl = \"sqlite://\"\n", "database.url"),
            (&*format!("[api]\ntokens = [\"{TOKEN}\"]\n"), "api.tokens"),
            ("[api]\ntokens = [\"0123456789abcdef with space\"]\n", "api.tokens"),
            ("[log]\nformat = \"xml\"\n", "log.format"),
            ("[policy]\nad_hoc_rooms = [\"a b\"]\n", "policy.ad_hoc_rooms"),
            ("[policy]\nad_hoc_duration = \"1s\"\n", "policy.ad_hoc_duration"),
        ] {
            let err = ReservationsConfig::from_toml(toml).expect_err(toml).to_string();
            assert!(err.starts_with(key), "{toml} => {err}");
            assert!(!err.contains(TOKEN), "{toml} => {err}");
        }
        let err = ReservationsConfig::from_toml("[api]\nnope = 1\n").unwrap_err().to_string();
        assert!(err.contains("api.nope") && err.contains("unknown key"), "{err}");
        let err = ReservationsConfig::from_toml("[api]\ntokens = { a = 1 }\n").unwrap_err().to_string();
        assert!(err.contains("api.tokens"), "{err}");
        let err = ReservationsConfig::from_toml(&format!("[api]\ntokens = \"{TOKEN}\"\n")).unwrap_err().to_string();
        assert!(!err.contains(TOKEN), "{err}");
    }
}
