//! Error messages that name the key and where its value came from, never the value itself,
//! and the scrubbing of secret values from any message as a second line of defence.

use figment::error::{Actual, Kind};
use figment::value::{Dict, Value};

use super::providers::ENV_SOURCE;
use super::Layering;

fn is_secret(path: &[String], layering: &Layering) -> bool {
    matches!(path, [a, b, ..] if layering.secret_keys.iter().any(|(section, key)| a == section && b == key))
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
pub(super) fn describe(error: &figment::Error, layering: &Layering) -> String {
    let mut path = error.path.clone();
    let what = match &error.kind {
        Kind::Message(_) if is_secret(&path, layering) => "invalid value".to_owned(),
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
            format!(" (environment variable {}{})", layering.prefix, path.join("__").to_ascii_uppercase())
        }
        Some(md) if md.name != "Serialized" && !md.name.is_empty() => format!(" (in {})", md.name),
        _ => String::new(),
    };
    format!("{key}: {what}{source}")
}

/// Removes secret values from a message, whatever went wrong: defence in depth behind
/// `describe`, which never quotes values. Very short secrets are left alone (they would mangle
/// ordinary words and protect nothing).
pub(super) fn scrub(message: String, secrets: &[String]) -> String {
    secrets.iter().filter(|s| s.chars().count() >= 4).fold(message, |m, s| m.replace(s.as_str(), REDACTED))
}

/// The values at secret keys in a provider's data, as text.
pub(super) fn secrets_in(dict: &Dict, layering: &Layering) -> Vec<String> {
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
    for (name, key) in layering.secret_keys {
        if let Some(value) = section(name).and_then(|s| s.get(*key)) {
            text(value, &mut out);
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

pub(super) const REDACTED: &str = "<redacted>";

#[cfg(test)]
mod tests {
    use crate::config::tests::{load, NO_SECRET};

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
}
