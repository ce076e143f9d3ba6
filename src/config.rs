//! Configuration: built-in defaults, then the TOML file, then `JITSI_FOCUS_<SECTION>__<KEY>`
//! environment variables. Unknown keys and bad values stop start-up with a message that names
//! the key. No message ever quotes a configured value: a secret typed into the wrong place
//! must not end up in a terminal, a journal or a CI log.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::error::{Actual, Kind};
use figment::providers::Serialized;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use xmpp_parsers::jid::BareJid;

mod codecs;
pub use codecs::CodecsConfig;

/// Where the service looks for its configuration unless told otherwise.
pub const DEFAULT_PATH: &str = "/etc/jitsi-focus/jitsi-focus.toml";
/// Environment variables with this prefix override the file; `__` separates section and key.
pub const ENV_PREFIX: &str = "JITSI_FOCUS_";
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
    pub log: LogConfig,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReservationConfig {
    pub enabled: bool,
    /// The API's base URL; we call `{base_url}/conference` and `{base_url}/conference/{id}`.
    pub base_url: String,
    /// Time limit of one HTTP attempt, counted from the moment it is sent.
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
    /// HTTP calls in flight to the API at once; further calls wait for their turn.
    pub max_concurrent_calls: usize,
    /// Bytes of an answer's body that are read; a longer answer is an invalid response.
    pub max_body_size: usize,
    /// Characters of a refusal text passed on to the client (longer ones are cut, with "…").
    pub max_message_length: usize,
    /// A DELETE that keeps failing is given up this long after its conference ended.
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
            max_body_size: 64 * 1024,
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
    /// Nobody is invited to a media session until this many participants are in the room
    /// (Jicofo's `min-participants`): a lone participant needs no bridge.
    pub min_participants: usize,
}

impl Default for ConferenceConfig {
    fn default() -> Self {
        ConferenceConfig {
            initial_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(20),
            min_participants: 2,
        }
    }
}

/// How a bridge is chosen for a participant (protocol.md §8.3).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SelectionStrategy {
    /// One bridge per conference: the least loaded, in the first participant's region if any.
    #[default]
    Single,
    /// Bridges in each participant's region (or region group), more bridges under load.
    Region,
    /// Every participant on another bridge, for testing multi-bridge conferences.
    Split,
}

/// The video bridges (jitsi-videobridge): where they gather, how they are checked and chosen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BridgesConfig {
    /// The MUC the bridges join, e.g. `jvbbrewery@internal.auth.meet.example.com`. Without
    /// it (or empty) the focus knows no bridge, and conferences get no media.
    pub brewery: Option<String>,
    /// How often each bridge is sent a health check.
    #[serde(with = "humantime_serde")]
    pub health_interval: Duration,
    /// A health check not answered within this time is retried once, after half
    /// `health_interval`; a second silence makes the bridge non-operational.
    #[serde(with = "humantime_serde")]
    pub health_timeout: Duration,
    /// A bridge that failed is not chosen again for this long, and not before it passed a
    /// health check.
    #[serde(with = "humantime_serde")]
    pub failure_reset: Duration,
    /// A bridge whose stress (corrected for recent participants) reaches this is overloaded.
    pub stress_threshold: f64,
    /// Participants of one conference on one bridge before region-based selection looks for
    /// another bridge.
    pub max_participants_per_bridge: usize,
    pub strategy: SelectionStrategy,
    /// The region the focus runs in (region-based selection).
    pub local_region: Option<String>,
    /// Regions close to each other, e.g. `[["us-east", "us-west"], ["eu-central", "eu-west"]]`.
    pub region_groups: Vec<Vec<String>>,
    /// Bridges known at once: anyone who can join the brewery can add one.
    pub max_bridges: usize,
    /// Participants added to a bridge within this time count towards its stress before its
    /// reports show them.
    #[serde(with = "humantime_serde")]
    pub participant_rampup_interval: Duration,
    /// The stress one participant adds, for bridges that do not report their own.
    pub average_participant_stress: f64,
}

impl Default for BridgesConfig {
    fn default() -> Self {
        BridgesConfig {
            brewery: None,
            health_interval: Duration::from_secs(10),
            health_timeout: Duration::from_secs(15),
            failure_reset: Duration::from_secs(60),
            stress_threshold: 0.8,
            max_participants_per_bridge: 80,
            strategy: SelectionStrategy::Single,
            local_region: None,
            region_groups: Vec::new(),
            max_bridges: 256,
            participant_rampup_interval: Duration::from_secs(20),
            average_participant_stress: 0.01,
        }
    }
}

/// Regions named in `bridges.region_groups`, all groups together.
const MAX_REGIONS: usize = 1000;
/// Characters of a region name (as in bridge stats).
const MAX_REGION_NAME: usize = 256;

impl BridgesConfig {
    /// The brewery's JID; `None` when no brewery is configured. Valid once the configuration
    /// is loaded.
    pub fn brewery_jid(&self) -> Option<BareJid> {
        self.brewery.as_deref().filter(|b| !b.is_empty()).and_then(|b| b.parse().ok())
    }

    /// Checks what the number and duration bounds in `Config::validate` do not.
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(brewery) = self.brewery.as_deref().filter(|b| !b.is_empty()) {
            let example = "must be the bridges' MUC as a bare JID, e.g. jvbbrewery@internal.auth.meet.example.com";
            match brewery.parse::<BareJid>() {
                Ok(jid) if jid.node().is_some() => {}
                _ => return Err(key_error("bridges.brewery", example)),
            }
        }
        let region_ok = |r: &String| !r.is_empty() && r.chars().count() <= MAX_REGION_NAME;
        if self.local_region.as_ref().is_some_and(|r| !region_ok(r)) {
            return Err(key_error("bridges.local_region", format!("must be 1 to {MAX_REGION_NAME} characters")));
        }
        let mut seen = std::collections::HashSet::new();
        for region in self.region_groups.iter().flatten() {
            if !region_ok(region) {
                return Err(key_error(
                    "bridges.region_groups",
                    format!("every region must be 1 to {MAX_REGION_NAME} characters"),
                ));
            }
            if !seen.insert(region) {
                return Err(key_error("bridges.region_groups", "a region is listed twice (in one group or in two)"));
            }
            if seen.len() > MAX_REGIONS {
                return Err(key_error("bridges.region_groups", format!("at most {MAX_REGIONS} regions in all")));
            }
        }
        // `contains` is false for NaN, which TOML can write (`nan`).
        for (key, value, low, high) in [
            ("bridges.stress_threshold", self.stress_threshold, 0.01, 1.0),
            ("bridges.average_participant_stress", self.average_participant_stress, 0.0, 1.0),
        ] {
            if !(low..=high).contains(&value) {
                return Err(key_error(key, format!("must be between {low} and {high}")));
            }
        }
        Ok(())
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

/// Upper bounds on what outsiders can make the focus hold in memory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Bytes of one incoming stanza; bigger ones are skipped (IQ requests answered
    /// `policy-violation`).
    pub max_stanza_size: usize,
    /// Element nesting depth of one incoming stanza.
    pub max_depth: usize,
    /// Elements, attributes and text nodes of one incoming stanza (memory per stanza).
    pub max_stanza_nodes: usize,
    /// Conferences not yet running (reservation or room join in progress); beyond it new
    /// rooms are answered `ready='false'` at once.
    pub max_pending_conferences: usize,
    /// All conferences; beyond it new rooms are answered `ready='false'`.
    pub max_conferences: usize,
    /// Requests waiting on one starting conference; beyond it `ready='false'` at once.
    pub max_waiters_per_conference: usize,
    pub max_participants_per_conference: usize,
    /// Remembered refusals (see `reservation.refusal_cache`).
    pub max_refusals_cached: usize,
    /// Sign-in sessions.
    pub max_sessions: usize,
    /// Stanzas queued for Prosody before the focus stops reading (back-pressure).
    pub outgoing_queue: usize,
    /// SSRCs one participant may signal (Jicofo's `max-ssrcs-per-user`); beyond it a
    /// source-add or session-accept is refused `bad-request`.
    pub max_ssrcs_per_endpoint: usize,
    /// SSRC groups (simulcast, RTX) one participant may signal (Jicofo's
    /// `max-ssrc-groups-per-user`).
    pub max_ssrc_groups_per_endpoint: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_stanza_size: 256 * 1024,
            max_depth: 32,
            max_stanza_nodes: 5000,
            max_pending_conferences: 1000,
            max_conferences: 10_000,
            max_waiters_per_conference: 100,
            max_participants_per_conference: 1000,
            max_refusals_cached: 10_000,
            max_sessions: 100_000,
            outgoing_queue: 4096,
            max_ssrcs_per_endpoint: 20,
            max_ssrc_groups_per_endpoint: 20,
        }
    }
}

/// Durable state: the outbox of reservation DELETEs, so that a restart does not forget them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Created if missing; only used when `reservation.enabled`. systemd's
    /// `StateDirectory=jitsi-focus` provides `/var/lib/jitsi-focus`.
    pub directory: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig { directory: PathBuf::from("/var/lib/jitsi-focus") }
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

/// The metadata name of values from the environment.
const ENV_SOURCE: &str = "environment";

/// A parsed TOML document, named by its path in error messages.
struct FileProvider {
    name: String,
    table: toml::Table,
}

impl Provider for FileProvider {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(&self.table).data()
    }
}

/// `JITSI_FOCUS_*` variables. Every value is kept as the exact string the environment holds
/// (no type guessing: `123456` stays a string for `xmpp.secret`, `0123` keeps its zero); the
/// lossy extraction turns it into a number, a boolean or a duration where the key is one.
/// Only keys whose default is a list are parsed, in figment's syntax (`[a, b]`).
struct EnvProvider {
    dict: Dict,
}

impl Provider for EnvProvider {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_SOURCE)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

impl EnvProvider {
    fn from_vars(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Result<Self, ConfigError> {
        let shape = Value::serialize(Config::default()).expect("defaults serialise");
        let mut dict = Dict::new();
        for (name, value) in vars {
            let lossy = name.to_string_lossy();
            let Some(rest) = lossy
                .get(..ENV_PREFIX.len())
                .filter(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
                .map(|_| &lossy[ENV_PREFIX.len()..])
            else {
                continue;
            };
            let var = lossy.to_string();
            if name.to_str().is_none() {
                return Err(ConfigError::Env { var, message: "the name is not valid UTF-8".into() });
            }
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            if path.iter().any(String::is_empty) {
                return Err(ConfigError::Env {
                    var,
                    message: format!("is not a key: write {ENV_PREFIX}<SECTION>__<KEY>, e.g. {ENV_PREFIX}XMPP__SECRET"),
                });
            }
            let Some(text) = value.to_str() else {
                return Err(ConfigError::Env { var, message: "the value is not valid UTF-8".into() });
            };
            let is_list = path
                .iter()
                .try_fold(&shape, |node, key| node.as_dict().and_then(|d| d.get(key)))
                .is_some_and(|node| matches!(node, Value::Array(..)));
            let parsed = match is_list {
                true => text.parse::<Value>().expect("infallible"),
                false => Value::from(text.to_owned()),
            };
            insert(&mut dict, &path, parsed);
        }
        Ok(EnvProvider { dict })
    }
}

fn insert(dict: &mut Dict, path: &[String], value: Value) {
    match path {
        [] => {}
        [key] => {
            dict.insert(key.clone(), value);
        }
        [key, rest @ ..] => {
            let entry = dict.entry(key.clone()).or_insert_with(|| Dict::new().into());
            if entry.as_dict().is_none() {
                *entry = Dict::new().into();
            }
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

/// Reads and parses a TOML file; every failure names the file. `Ok(None)`: an optional file
/// that does not exist.
fn read_file(path: &Path, require_file: bool) -> Result<Option<FileProvider>, ConfigError> {
    let error = |message: String| ConfigError::File { path: path.into(), message };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !require_file => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(error("no such file".into())),
        Err(_) if path.is_dir() => return Err(error("is a directory, not a file".into())),
        Err(e) => return Err(error(format!("cannot be read: {e}"))),
    };
    let text = String::from_utf8(bytes)
        .map_err(|e| error(format!("is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to())))?;
    parse_toml(&text, path.display().to_string()).map(Some).map_err(error)
}

/// Parses a TOML document. The error gives the line, column and what is wrong, but never the
/// offending text: it may be a secret.
fn parse_toml(text: &str, name: String) -> Result<FileProvider, String> {
    match text.parse::<toml::Table>() {
        Ok(table) => Ok(FileProvider { name, table }),
        Err(e) => {
            let at = e.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!(" at line {line}, column {column}")
            });
            let message = e.message().trim().replace('\n', "; ");
            Err(format!("invalid TOML{}: {message}", at.unwrap_or_default()))
        }
    }
}

fn is_secret(path: &[String]) -> bool {
    matches!(path, [a, b, ..] if (a == "xmpp" && b == "secret") || (a == "reservation" && b == "headers"))
}

/// What kind of value was found, without the value.
fn kind_of(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit | Actual::Option => "nothing",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "a value of another type",
    }
}

fn one_of(names: &[&str]) -> String {
    match names {
        [] => "none".into(),
        _ => names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
    }
}

/// One figment error as `key: what is wrong (where the value came from)`.
fn describe(error: &figment::Error) -> String {
    let mut path = error.path.clone();
    let what = match &error.kind {
        Kind::Message(_) if is_secret(&path) => "invalid value".to_owned(),
        Kind::Message(message) => message.clone(),
        Kind::InvalidType(actual, expected) => format!("invalid type: found {}, expected {expected}", kind_of(actual)),
        Kind::InvalidValue(actual, expected) => format!("invalid value ({}), expected {expected}", kind_of(actual)),
        Kind::InvalidLength(n, expected) => format!("invalid length {n}, expected {expected}"),
        Kind::UnknownVariant(_, expected) => format!("unknown value, expected one of {}", one_of(expected)),
        Kind::UnknownField(field, expected) => {
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            format!("unknown key (known keys here: {})", one_of(expected))
        }
        Kind::MissingField(field) => format!("missing key `{field}`"),
        Kind::DuplicateField(field) => format!("duplicate key `{field}`"),
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "number out of range".to_owned(),
        Kind::Unsupported(actual) => format!("unsupported type: {}", kind_of(actual)),
        Kind::UnsupportedKey(actual, expected) => {
            format!("unsupported key type: {}, expected {expected}", kind_of(actual))
        }
    };
    let key = if path.is_empty() { "configuration".to_owned() } else { path.join(".") };
    let source = match &error.metadata {
        Some(md) if md.name == ENV_SOURCE => {
            format!(" (environment variable {ENV_PREFIX}{})", path.join("__").to_ascii_uppercase())
        }
        Some(md) if md.name != "Serialized" && !md.name.is_empty() => format!(" (in {})", md.name),
        _ => String::new(),
    };
    format!("{key}: {what}{source}")
}

/// Removes secret values from a message, whatever went wrong: defence in depth behind
/// `describe`, which never quotes values. Very short secrets are left alone (they would mangle
/// ordinary words and protect nothing).
fn scrub(message: String, secrets: &[String]) -> String {
    secrets.iter().filter(|s| s.chars().count() >= 4).fold(message, |m, s| m.replace(s.as_str(), REDACTED))
}

/// The values at secret keys in a provider's data, as text.
fn secrets_in(dict: &Dict) -> Vec<String> {
    fn text(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(_, s) => out.push(s.clone()),
            Value::Num(_, n) => out.push(n.to_u128_lossy().map(|n| n.to_string()).unwrap_or_default()),
            Value::Dict(_, d) => d.values().for_each(|v| text(v, out)),
            Value::Array(_, a) => a.iter().for_each(|v| text(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    let section = |name: &str| dict.get(name).and_then(Value::as_dict);
    if let Some(secret) = section("xmpp").and_then(|x| x.get("secret")) {
        text(secret, &mut out);
    }
    if let Some(headers) = section("reservation").and_then(|r| r.get("headers")) {
        text(headers, &mut out);
    }
    out.retain(|s| !s.is_empty());
    out
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
        let file = read_file(path, require_file)?;
        let env = EnvProvider::from_vars(vars)?;
        Self::from_providers(file, Some(env))
    }

    /// Parses a TOML document over the defaults (no environment); for tests and tools.
    pub fn from_toml(toml: &str) -> Result<Config, ConfigError> {
        let file = parse_toml(toml, "TOML".into()).map_err(ConfigError::Invalid)?;
        Self::from_providers(Some(file), None)
    }

    fn from_providers(file: Option<FileProvider>, env: Option<EnvProvider>) -> Result<Config, ConfigError> {
        let mut secrets = Vec::new();
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if let Ok(data) = file.data() {
                data.values().for_each(|d| secrets.extend(secrets_in(d)));
            }
            figment = figment.merge(file);
        }
        if let Some(env) = env {
            secrets.extend(secrets_in(&env.dict));
            figment = figment.merge(env);
        }
        let config: Config = figment.extract_lossy().map_err(|e| {
            let messages: Vec<String> = e.into_iter().map(|e| describe(&e)).collect();
            ConfigError::Invalid(scrub(messages.join("; "), &secrets))
        })?;
        config.validate().map_err(|e| match e {
            ConfigError::Key { key, message } => ConfigError::Key { key, message: scrub(message, &secrets) },
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

const REDACTED: &str = "<redacted>";

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

/// The certificates of a PEM file (`reservation.ca_file`): at least one, each one usable as a
/// trust anchor. Shared by `check-config` and the HTTP client so that both judge alike.
pub fn load_ca_certificates(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let name = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("{name}: cannot be read: {e}"))?;
    let certificates =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("{name}: not a PEM certificate file: {e}"))?;
    if certificates.is_empty() {
        return Err(format!("{name}: no PEM certificate in the file"));
    }
    // The PEM framing can be right around bytes that are no certificate: let rustls judge.
    let mut builder = reqwest::Client::builder();
    for certificate in &certificates {
        builder = builder.add_root_certificate(certificate.clone());
    }
    builder.build().map_err(|e| format!("{name}: not a usable CA certificate: {}", innermost(&e)))?;
    Ok(certificates)
}

fn innermost(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
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

    const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBkzCCATmgAwIBAgIUaKReKx+wO4CJcClN2Qy7Kcu9XqowCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTaml0c2ktZm9jdXMgdGVzdCBDQTAgFw0yNjExMzAwNTU4MDFa
GA8yMTI2MTEwNjA1NTgwMVowHjEcMBoGA1UEAwwTaml0c2ktZm9jdXMgdGVzdCBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFGVx2ftUPC6951L/0+kcqlPGWmv
3Rk6++WVlaamcSpkvpRbnSHQzK8yb6TwJ5Js6uaYuQ+fdqwjbH3R6Q1PyN6jUzBR
MB0GA1UdDgQWBBQYkocfhXITup2C9t2LhCFPhPd2DzAfBgNVHSMEGDAWgBQYkocf
hXITup2C9t2LhCFPhPd2DzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gA
MEUCIQCpYTOM6J1U9ct9PXwj9KuVX2sUIeGa5m3RMhYa2m2HVwIgTsfbcRHLrsOl
61oJhGHehFnWWFeoQHzMR7NJUwVjdi8=
-----END CERTIFICATE-----
";

    const NO_SECRET: &str = r#"
        [xmpp]
        component = "focus.meet.test"
        muc_domain = "conference.meet.test"
    "#;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect()
    }

    /// Loads `toml` from a temporary file with the given environment.
    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("focus.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load_with_env(&path, true, vars(env))
    }

    #[test]
    fn environment_strings_are_kept_exactly_and_typed_keys_still_parse() {
        for secret in ["123456", "0123", "1.50", "true", "[x]", " spaced "] {
            let config = load(NO_SECRET, &[("JITSI_FOCUS_XMPP__SECRET", secret)]).unwrap();
            assert_eq!(config.xmpp.secret, secret);
        }
        let config = load(
            NO_SECRET,
            &[
                ("JITSI_FOCUS_XMPP__SECRET", "s"),
                ("JITSI_FOCUS_XMPP__PORT", "5348"),
                ("JITSI_FOCUS_XMPP__WRITE_TIMEOUT", "3s"),
                ("JITSI_FOCUS_XMPP__TRUSTED_DOMAINS", "[recorder.meet.test, sip.meet.test]"),
                ("JITSI_FOCUS_RESERVATION__ENABLED", "true"),
                ("JITSI_FOCUS_RESERVATION__BASE_URL", "http://127.0.0.1:1/api"),
                ("JITSI_FOCUS_RESERVATION__RETRIES", "0"),
                ("JITSI_FOCUS_RESERVATION__HEADERS__X-API-KEY", "000123"),
                ("JITSI_FOCUS_RESERVATION__HEADERS__AUTHORIZATION", "Bearer 1.50"),
                ("JITSI_FOCUS_LIMITS__MAX_DEPTH", "16"),
                ("JITSI_FOCUS_STATE__DIRECTORY", "/tmp/focus-state"),
                ("OTHER_VARIABLE", "ignored"),
            ],
        )
        .unwrap();
        assert_eq!(config.xmpp.port, 5348);
        assert_eq!(config.xmpp.write_timeout, Duration::from_secs(3));
        assert_eq!(config.xmpp.trusted_domains, ["recorder.meet.test", "sip.meet.test"]);
        assert!(config.reservation.enabled);
        assert_eq!(config.reservation.retries, 0);
        // Header names from the environment are lower case (HTTP names are case-insensitive).
        assert_eq!(config.reservation.headers.get("x-api-key").map(String::as_str), Some("000123"));
        assert_eq!(config.reservation.headers.get("authorization").map(String::as_str), Some("Bearer 1.50"));
        assert_eq!(config.limits.max_depth, 16);
        assert_eq!(config.state.directory, Path::new("/tmp/focus-state"));
    }

    #[test]
    fn environment_type_errors_name_the_variable() {
        let err = load(MINIMAL, &[("JITSI_FOCUS_XMPP__PORT", "high")]).unwrap_err().to_string();
        assert!(err.starts_with("xmpp.port:") && err.contains("JITSI_FOCUS_XMPP__PORT"), "{err}");
        let err = load(MINIMAL, &[("JITSI_FOCUS_RESERVATION__ENABLED", "maybe")]).unwrap_err().to_string();
        assert!(err.starts_with("reservation.enabled:"), "{err}");
        let err = load(MINIMAL, &[("JITSI_FOCUS_XMPP____PORT", "1")]).unwrap_err().to_string();
        assert!(err.contains("JITSI_FOCUS_XMPP____PORT") && err.contains("not a key"), "{err}");
        let err = load(MINIMAL, &[("JITSI_FOCUS_XMPP__PROT", "1")]).unwrap_err().to_string();
        assert!(err.starts_with("xmpp.prot:") && err.contains("unknown key"), "{err}");
    }

    #[test]
    fn environment_values_that_are_not_utf8_are_refused_by_name() {
        use std::os::unix::ffi::OsStringExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("focus.toml");
        std::fs::write(&path, NO_SECRET).unwrap();
        let env = vec![(OsString::from("JITSI_FOCUS_XMPP__SECRET"), OsString::from_vec(b"s3cret\xff".to_vec()))];
        let err = Config::load_with_env(&path, true, env).unwrap_err().to_string();
        assert!(err.contains("JITSI_FOCUS_XMPP__SECRET") && err.contains("UTF-8") && !err.contains("s3cret"), "{err}");
    }

    #[test]
    fn secrets_never_appear_in_error_messages() {
        const SECRET: &str = "987654321";
        const TOKEN: &str = "tok-4b1d-secret";
        let base = NO_SECRET;
        let files = [
            format!("{base}secret = {SECRET}\n"),
            format!("{base}secret = [\"{SECRET}\"]\n"),
            format!("{base}secret = \"{SECRET}\"\n[reservation]\nheaders = \"Bearer {TOKEN}\"\n"),
            format!("{base}secret = \"s\"\n[reservation.headers]\nX-Api-Key = {SECRET}\n"),
            format!("{base}secret = \"s\"\n[reservation.headers]\nX-Api-Key = {{ value = \"{TOKEN}\" }}\n"),
            format!("{base}secret = \"{TOKEN}\n"),
            format!("{base}secret = '{TOKEN}' junk\n"),
            format!("{base}secret = \"{TOKEN}\"\nsecret = \"{TOKEN}\"\n"),
            format!("{base}secret = \"s\"\n[reservation]\nenabled = true\nbase_url = \"http://x\"\nheaders = {{ \"bad name\" = \"{TOKEN}\" }}\n"),
            format!("{base}secret = \"s\"\n[reservation]\nenabled = true\nbase_url = \"http://x\"\nheaders = {{ Auth = \"{TOKEN}\\n\" }}\n"),
            format!("[xmpp]\ncomponent = \"{TOKEN}@x\"\nsecret = \"{TOKEN}\"\nmuc_domain = \"c.x\"\n"),
        ];
        for toml in &files {
            let err = load(toml, &[]).expect_err(toml).to_string();
            assert!(!err.contains(SECRET) && !err.contains(TOKEN), "{toml}\n=> {err}");
        }
        for (var, value) in [
            ("JITSI_FOCUS_XMPP__SECRET__INNER", TOKEN),
            ("JITSI_FOCUS_XMPP", TOKEN),
            ("JITSI_FOCUS_RESERVATION__HEADERS", TOKEN),
            ("JITSI_FOCUS_RESERVATION__HEADERS__X__Y", TOKEN),
            ("JITSI_FOCUS_XMPP__PORT", SECRET),
        ] {
            let err =
                load(NO_SECRET, &[("JITSI_FOCUS_XMPP__SECRET", SECRET), (var, value)]).expect_err(var).to_string();
            assert!(!err.contains(SECRET) && !err.contains(TOKEN), "{var}\n=> {err}");
        }
    }

    #[test]
    fn file_problems_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let name = |p: &Path| p.display().to_string();
        let missing = dir.path().join("missing.toml");
        let err = Config::load_with_env(&missing, true, vec![]).unwrap_err().to_string();
        assert!(err.contains(&name(&missing)) && err.contains("no such file"), "{err}");
        assert!(Config::load_with_env(&missing, false, vars(&[("JITSI_FOCUS_XMPP__SECRET", "s")])).is_err());
        let err = Config::load_with_env(dir.path(), true, vec![]).unwrap_err().to_string();
        assert!(err.contains(&name(dir.path())) && err.contains("directory"), "{err}");
        let not_utf8 = dir.path().join("latin1.toml");
        std::fs::write(&not_utf8, b"[xmpp]\nsecret = \"caf\xe9\"\n").unwrap();
        let err = Config::load_with_env(&not_utf8, true, vec![]).unwrap_err().to_string();
        assert!(err.contains(&name(&not_utf8)) && err.contains("UTF-8"), "{err}");
        let unreadable = not_utf8.join("below-a-file.toml");
        let err = Config::load_with_env(&unreadable, true, vec![]).unwrap_err().to_string();
        assert!(err.contains(&name(&unreadable)) && err.contains("cannot be read"), "{err}");
        let invalid = dir.path().join("invalid.toml");
        std::fs::write(&invalid, "[xmpp]\nport = = 1\n").unwrap();
        let err = Config::load_with_env(&invalid, true, vec![]).unwrap_err().to_string();
        assert!(err.contains(&name(&invalid)) && err.contains("invalid TOML at line 2"), "{err}");
        let typed = dir.path().join("typed.toml");
        std::fs::write(&typed, format!("{MINIMAL}port = \"high\"\n")).unwrap();
        let err = Config::load_with_env(&typed, true, vec![]).unwrap_err().to_string();
        assert!(err.starts_with("xmpp.port:") && err.contains(&name(&typed)), "{err}");
    }

    #[test]
    fn the_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let with_ca = |path: &Path| {
            Config::from_toml(&format!(
                "{MINIMAL}\n[reservation]\nenabled = true\nbase_url = \"https://x\"\nca_file = \"{}\"\n",
                path.display()
            ))
        };
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, CA_PEM).unwrap();
        assert!(with_ca(&good).is_ok());
        assert_eq!(load_ca_certificates(&good).unwrap().len(), 1);
        for (file, content) in [
            ("empty.pem", ""),
            ("text.pem", "not a certificate\n"),
            ("key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            ("garbage.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        ] {
            let path = dir.path().join(file);
            std::fs::write(&path, content).unwrap();
            let err = with_ca(&path).unwrap_err().to_string();
            assert!(err.starts_with("reservation.ca_file") && err.contains(file), "{file}: {err}");
        }
        let err = with_ca(&dir.path().join("absent.pem")).unwrap_err().to_string();
        assert!(err.starts_with("reservation.ca_file") && err.contains("absent.pem"), "{err}");
    }

    #[test]
    fn absurd_values_are_refused_by_key() {
        for (section, line, key) in [
            ("xmpp", "port = 0", "xmpp.port"),
            ("xmpp", "keepalive = \"0s\"", "xmpp.keepalive"),
            ("xmpp", "write_timeout = \"500ms\"", "xmpp.write_timeout"),
            ("xmpp", "write_timeout = \"6m\"", "xmpp.write_timeout"),
            ("reservation", "retries = 11", "reservation.retries"),
            ("reservation", "retry_delay = \"5ms\"", "reservation.retry_delay"),
            ("reservation", "retry_delay = \"301s\"", "reservation.retry_delay"),
            ("reservation", "timeout = \"0s\"", "reservation.timeout"),
            ("reservation", "max_concurrent_calls = 0", "reservation.max_concurrent_calls"),
            ("reservation", "max_body_size = 100", "reservation.max_body_size"),
            ("reservation", "max_body_size = 1000000000", "reservation.max_body_size"),
            ("reservation", "max_message_length = 1", "reservation.max_message_length"),
            ("reservation", "delete_give_up = \"10s\"", "reservation.delete_give_up"),
            ("reservation", "delete_give_up = \"31d\"", "reservation.delete_give_up"),
            ("conference", "request_timeout = \"0s\"", "conference.request_timeout"),
            ("limits", "max_stanza_size = 100", "limits.max_stanza_size"),
            ("limits", "max_depth = 1000", "limits.max_depth"),
            ("limits", "max_conferences = 0", "limits.max_conferences"),
            ("limits", "outgoing_queue = 1", "limits.outgoing_queue"),
            ("limits", "max_sessions = 0", "limits.max_sessions"),
            ("limits", "max_ssrcs_per_endpoint = 0", "limits.max_ssrcs_per_endpoint"),
            ("limits", "max_ssrcs_per_endpoint = 257", "limits.max_ssrcs_per_endpoint"),
            ("limits", "max_ssrc_groups_per_endpoint = 0", "limits.max_ssrc_groups_per_endpoint"),
            ("limits", "max_ssrc_groups_per_endpoint = 257", "limits.max_ssrc_groups_per_endpoint"),
        ] {
            let toml = match section {
                "xmpp" => format!("{MINIMAL}{line}\n"),
                _ => format!("{MINIMAL}\n[{section}]\n{line}\n"),
            };
            let err = Config::from_toml(&toml).unwrap_err().to_string();
            assert!(err.starts_with(key) && err.contains("between"), "{line}: {err}");
        }
        let err = Config::from_toml(&format!("{MINIMAL}\n[reservation]\nretry_delay = \"1s\"\nretries = 11\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "reservation.retries: must be between 0 and 10");
        let err = Config::from_toml(&format!("{MINIMAL}\n[reservation]\nretry_delay = \"1ms\"\n")).unwrap_err();
        assert_eq!(err.to_string(), "reservation.retry_delay: must be between 10ms and 5m");
    }

    #[test]
    fn new_keys_have_their_documented_defaults() {
        let config = Config::from_toml(MINIMAL).unwrap();
        assert_eq!(config.xmpp.write_timeout, Duration::from_secs(10));
        assert_eq!(config.limits, LimitsConfig::default());
        assert_eq!(config.limits.max_stanza_size, 262_144);
        assert_eq!(config.limits.max_depth, 32);
        assert_eq!(config.limits.max_pending_conferences, 1000);
        assert_eq!(config.limits.max_conferences, 10_000);
        assert_eq!(config.limits.max_waiters_per_conference, 100);
        assert_eq!(config.limits.max_participants_per_conference, 1000);
        assert_eq!(config.limits.max_refusals_cached, 10_000);
        assert_eq!(config.limits.max_sessions, 100_000);
        assert_eq!(config.limits.outgoing_queue, 4096);
        assert_eq!(config.limits.max_ssrcs_per_endpoint, 20);
        assert_eq!(config.limits.max_ssrc_groups_per_endpoint, 20);
        assert_eq!(config.reservation.max_concurrent_calls, 32);
        assert_eq!(config.reservation.max_body_size, 65_536);
        assert_eq!(config.reservation.max_message_length, 1024);
        assert_eq!(config.reservation.delete_give_up, Duration::from_secs(24 * 3600));
        assert_eq!(config.state.directory, Path::new("/var/lib/jitsi-focus"));
        let shown = config.redacted_toml();
        assert!(shown.contains("[limits]") && shown.contains("[state]"), "{shown}");
    }

    #[test]
    fn bridges_have_their_documented_defaults_and_take_values() {
        let config = Config::from_toml(MINIMAL).unwrap();
        let b = &config.bridges;
        assert_eq!(b, &BridgesConfig::default());
        assert_eq!((b.brewery.as_deref(), b.brewery_jid()), (None, None));
        assert_eq!((b.health_interval, b.health_timeout), (Duration::from_secs(10), Duration::from_secs(15)));
        assert_eq!(
            (b.failure_reset, b.participant_rampup_interval),
            (Duration::from_secs(60), Duration::from_secs(20))
        );
        assert_eq!((b.stress_threshold, b.average_participant_stress), (0.8, 0.01));
        assert_eq!((b.max_participants_per_bridge, b.max_bridges), (80, 256));
        assert_eq!((b.strategy, b.local_region.as_deref()), (SelectionStrategy::Single, None));
        assert!(b.region_groups.is_empty());
        let toml = format!(
            "{MINIMAL}\n[bridges]\nbrewery = \"jvbbrewery@internal.auth.meet.test\"\nstrategy = \"region\"\nlocal_region = \"eu-west\"\nregion_groups = [[\"eu-west\", \"eu-central\"], [\"us-east\"]]\nstress_threshold = 0.9\nfailure_reset = \"0s\"\nmax_bridges = 16\n"
        );
        let b = Config::from_toml(&toml).unwrap().bridges;
        assert_eq!(b.brewery_jid().unwrap().to_string(), "jvbbrewery@internal.auth.meet.test");
        assert_eq!((b.strategy, b.local_region.as_deref()), (SelectionStrategy::Region, Some("eu-west")));
        assert_eq!(b.region_groups, [vec!["eu-west", "eu-central"], vec!["us-east"]]);
        assert_eq!((b.stress_threshold, b.failure_reset, b.max_bridges), (0.9, Duration::ZERO, 16));
        // An empty brewery (e.g. to switch it off from the environment) is no brewery.
        let empty = Config::from_toml(&format!("{MINIMAL}\n[bridges]\nbrewery = \"\"\n")).unwrap();
        assert_eq!(empty.bridges.brewery_jid(), None);
        assert!(Config::from_toml(&toml).unwrap().redacted_toml().contains("[bridges]"));
    }

    #[test]
    fn bridges_can_be_set_from_the_environment() {
        let config = load(
            MINIMAL,
            &[
                ("JITSI_FOCUS_BRIDGES__BREWERY", "jvbbrewery@internal.auth.meet.test"),
                ("JITSI_FOCUS_BRIDGES__REGION_GROUPS", "[[us-east, us-west], [eu]]"),
                ("JITSI_FOCUS_BRIDGES__STRATEGY", "split"),
                ("JITSI_FOCUS_BRIDGES__STRESS_THRESHOLD", "0.5"),
                ("JITSI_FOCUS_BRIDGES__HEALTH_INTERVAL", "5s"),
                ("JITSI_FOCUS_BRIDGES__MAX_BRIDGES", "3"),
            ],
        )
        .unwrap();
        let b = config.bridges;
        assert!(b.brewery_jid().is_some());
        assert_eq!(b.region_groups, [vec!["us-east", "us-west"], vec!["eu"]]);
        assert_eq!((b.strategy, b.stress_threshold), (SelectionStrategy::Split, 0.5));
        assert_eq!((b.health_interval, b.max_bridges), (Duration::from_secs(5), 3));
        let err = load(MINIMAL, &[("JITSI_FOCUS_BRIDGES__STRESS_THRESHOLD", "high")]).unwrap_err().to_string();
        assert!(err.starts_with("bridges.stress_threshold") && err.contains("JITSI_FOCUS_BRIDGES__STRESS_THRESHOLD"));
    }

    #[test]
    fn bad_bridge_settings_are_refused_by_key_without_their_value() {
        const MARK: &str = "zq7marker";
        for (line, key) in [
            ("brewery = \"zq7marker.meet.test\"", "bridges.brewery"),
            ("brewery = \"zq7marker@internal.meet.test/jvb\"", "bridges.brewery"),
            ("brewery = \"zq7marker@@x\"", "bridges.brewery"),
            ("stress_threshold = nan", "bridges.stress_threshold"),
            ("stress_threshold = inf", "bridges.stress_threshold"),
            ("stress_threshold = 0.0", "bridges.stress_threshold"),
            ("stress_threshold = 1.5", "bridges.stress_threshold"),
            ("average_participant_stress = -0.1", "bridges.average_participant_stress"),
            ("max_participants_per_bridge = 0", "bridges.max_participants_per_bridge"),
            ("max_bridges = 0", "bridges.max_bridges"),
            ("max_bridges = 10001", "bridges.max_bridges"),
            ("health_interval = \"0s\"", "bridges.health_interval"),
            ("health_interval = \"11m\"", "bridges.health_interval"),
            ("health_timeout = \"6m\"", "bridges.health_timeout"),
            ("failure_reset = \"2h\"", "bridges.failure_reset"),
            ("participant_rampup_interval = \"11m\"", "bridges.participant_rampup_interval"),
            ("local_region = \"\"", "bridges.local_region"),
            ("region_groups = [[\"zq7marker\", \"b\"], [\"zq7marker\"]]", "bridges.region_groups"),
            ("region_groups = [[\"\"]]", "bridges.region_groups"),
            ("strategy = \"zq7marker\"", "bridges.strategy"),
            ("strategy = \"Single\"", "bridges.strategy"),
            ("relays = true", "bridges.relays"),
        ] {
            let err = Config::from_toml(&format!("{MINIMAL}\n[bridges]\n{line}\n")).expect_err(line).to_string();
            assert!(err.starts_with(key) && !err.contains(MARK), "{line}: {err}");
        }
        let many: Vec<String> = (0..1001).map(|n| format!("\"r{n}\"")).collect();
        let toml = format!("{MINIMAL}\n[bridges]\nregion_groups = [[{}]]\n", many.join(", "));
        assert!(Config::from_toml(&toml).unwrap_err().to_string().starts_with("bridges.region_groups"));
        let err = Config::from_toml(&format!("{MINIMAL}\n[bridges]\nstress_threshold = 2.0\n")).unwrap_err();
        assert_eq!(err.to_string(), "bridges.stress_threshold: must be between 0.01 and 1");
    }

    #[test]
    fn the_state_directory_must_be_absolute_and_a_directory_when_reservations_are_on() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let enabled = format!("{MINIMAL}\n[reservation]\nenabled = true\nbase_url = \"http://x\"\n");
        let err = Config::from_toml(&format!("{enabled}[state]\ndirectory = \"relative\"\n")).unwrap_err();
        assert!(err.to_string().starts_with("state.directory"), "{err}");
        let err = Config::from_toml(&format!("{enabled}[state]\ndirectory = \"{}\"\n", file.display())).unwrap_err();
        assert!(err.to_string().starts_with("state.directory"), "{err}");
    }

    #[test]
    fn every_key_is_documented_in_the_shipped_example_with_its_default() {
        let example = include_str!("../config/jitsi-focus.toml");
        let readme = include_str!("../README.md");
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        for (section, keys) in &defaults {
            assert!(example.contains(&format!("[{section}]")), "[{section}] missing from the example");
            for key in keys.as_table().unwrap().keys() {
                let table = format!("[{section}.{key}]");
                assert!(
                    example.contains(&format!("{key} =")) || example.contains(&table),
                    "{section}.{key} missing from the example"
                );
                assert!(readme.contains(&format!("`{section}.{key}`")), "{section}.{key} missing from README.md");
            }
        }
        let with_secret = example.replace("# secret = \"change-me\"", "secret = \"s\"");
        let config = Config::from_toml(&with_secret).unwrap();
        assert_eq!(config.limits, LimitsConfig::default());
        assert_eq!(config.state, StateConfig::default());
        assert_eq!(config.xmpp.write_timeout, XmppConfig::default().write_timeout);
        assert_eq!(config.reservation.delete_give_up, ReservationConfig::default().delete_give_up);
        assert_eq!(config.reservation.max_body_size, ReservationConfig::default().max_body_size);
    }

    #[test]
    fn redaction_hides_secret_and_headers() {
        let toml = format!("{MINIMAL}\n[reservation]\nheaders = {{ Authorization = \"Bearer tok\" }}");
        let shown = Config::from_toml(&toml).unwrap().redacted_toml();
        assert!(!shown.contains("s3cret") && !shown.contains("Bearer tok"), "{shown}");
        assert!(shown.contains("initial_timeout = \"15s\""), "{shown}");
    }

    #[test]
    fn log_filters_that_would_take_exponential_time_are_refused_at_once() {
        let slow = include_str!("../fuzz/seeds/config/log-level-slow-dfa.toml");
        let started = std::time::Instant::now();
        let err = Config::from_toml(slow).unwrap_err().to_string();
        assert!(err.starts_with("log.level"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "validation took {:?}", started.elapsed());
        let ok = format!("{MINIMAL}\n[log]\nlevel = \"info,jitsi_focus::core=debug\"");
        assert!(Config::from_toml(&ok).is_ok());
    }
}
