//! Where values come from: the TOML file (every failure names the file, a parse error gives
//! line and column but never the text) and `JITSI_FOCUS_*` environment variables (kept as
//! the exact strings the environment holds), as figment providers.

use std::ffi::OsString;
use std::path::Path;

use figment::providers::Serialized;
use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

use super::{ConfigError, Layering};

/// The metadata name of values from the environment.
pub(super) const ENV_SOURCE: &str = "environment";

/// A parsed TOML document, named by its path in error messages.
pub(super) struct FileProvider {
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
pub(super) struct EnvProvider {
    pub(super) dict: Dict,
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
    /// `shape`: the defaults, serialised (which keys hold lists).
    pub(super) fn from_vars(
        layering: &Layering,
        shape: &Value,
        vars: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<Self, ConfigError> {
        let prefix = layering.prefix;
        let mut dict = Dict::new();
        for (name, value) in vars {
            let lossy = name.to_string_lossy();
            let Some(rest) =
                lossy.get(..prefix.len()).filter(|p| p.eq_ignore_ascii_case(prefix)).map(|_| &lossy[prefix.len()..])
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
                    message: format!("is not a key: write {prefix}<SECTION>__<KEY>, e.g. {prefix}{}", layering.example),
                });
            }
            let Some(text) = value.to_str() else {
                return Err(ConfigError::Env { var, message: "the value is not valid UTF-8".into() });
            };
            let is_list = path
                .iter()
                .try_fold(shape, |node, key| node.as_dict().and_then(|d| d.get(key)))
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
pub(super) fn read_file(path: &Path, require_file: bool) -> Result<Option<FileProvider>, ConfigError> {
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
pub(super) fn parse_toml(text: &str, name: String) -> Result<FileProvider, String> {
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

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::path::Path;
    use std::time::Duration;

    use crate::config::tests::{load, vars, MINIMAL, NO_SECRET};
    use crate::config::Config;

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
}
