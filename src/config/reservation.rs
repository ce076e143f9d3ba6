//! `[reservation]`: the reservation API (URL, timeouts, retries, headers, an extra CA, the
//! refusal cache and bounds on its answers), and `[state]`, where the DELETEs of ended
//! reservations are kept across restarts. Also the CA loading shared by `check-config` and
//! the HTTP client.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::load_ca_certificates;
    use crate::config::tests::MINIMAL;
    use crate::config::Config;

    #[test]
    fn reservation_needs_a_url() {
        let err = Config::from_toml(&format!("{MINIMAL}\n[reservation]\nenabled = true\nbase_url = \"ftp://x\""))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("reservation.base_url"), "{err}");
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
}
