//! The reservation API client: performs the core's HTTP calls with reqwest.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use thiserror::Error;

use crate::config::ReservationConfig;
use crate::core::reservation::{HttpCall, HttpOutcome, Method};

#[derive(Debug, Error)]
pub enum HttpSetupError {
    #[error("reservation.ca_file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("reservation.headers: {0}")]
    Header(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

#[derive(Debug, Clone)]
pub struct ReservationClient {
    client: reqwest::Client,
    base_url: String,
}

impl ReservationClient {
    pub fn new(config: &ReservationConfig) -> Result<Self, HttpSetupError> {
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| HttpSetupError::Header(e.to_string()))?;
            let mut value = HeaderValue::from_str(value).map_err(|e| HttpSetupError::Header(e.to_string()))?;
            value.set_sensitive(true); // keeps tokens out of Debug output
            headers.insert(name, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("jitsi-focus/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let ca_error = |message: String| HttpSetupError::CaFile { path: path.display().to_string(), message };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_error(e.to_string()))?;
            if certificates.is_empty() {
                return Err(ca_error("no PEM certificate in the file".into()));
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        Ok(ReservationClient { client: builder.build()?, base_url: config.base_url.trim_end_matches('/').to_owned() })
    }

    pub async fn perform(&self, call: &HttpCall) -> HttpOutcome {
        let url = format!("{}{}", self.base_url, call.path);
        let request = match call.method {
            Method::Post => self.client.post(&url).form(&call.form),
            Method::Get => self.client.get(&url),
            Method::Delete => self.client.delete(&url),
        };
        let result = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let body = response.text().await?;
            Ok::<_, reqwest::Error>(HttpOutcome::Response { status, body })
        }
        .await;
        match result {
            Ok(outcome) => outcome,
            Err(e) if e.is_timeout() => HttpOutcome::Timeout,
            Err(e) => HttpOutcome::Unreachable(describe(&e)),
        }
    }
}

/// reqwest's top-level message is generic; the innermost cause says what really happened.
fn describe(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_stay_out_of_debug_output() {
        let mut config = ReservationConfig { base_url: "http://127.0.0.1:1".into(), ..Default::default() };
        config.headers.insert("Authorization".into(), "Bearer very-secret-token".into());
        let client = ReservationClient::new(&config).unwrap();
        assert!(!format!("{client:?}").contains("very-secret-token"));
    }

    #[test]
    fn a_bad_ca_file_is_named() {
        let config = ReservationConfig { ca_file: Some("/dev/null".into()), ..Default::default() };
        let error = ReservationClient::new(&config).unwrap_err().to_string();
        assert!(error.starts_with("reservation.ca_file /dev/null"), "{error}");
    }
}
