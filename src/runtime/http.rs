//! The reservation API client: performs the core's HTTP calls with reqwest.
//!
//! Bounded in every direction: at most `reservation.max_concurrent_calls` calls in flight, at
//! most `reservation.max_body_size` bytes of an answer read, redirects never followed.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION};
use thiserror::Error;
use tokio::sync::Semaphore;

use crate::config::{load_ca_certificates, ReservationConfig};
use crate::core::reservation::{HttpCall, HttpOutcome, Method};

#[derive(Debug, Error)]
pub enum HttpSetupError {
    #[error("reservation.ca_file {0}")]
    CaFile(String),
    #[error("reservation.headers: {0}")]
    Header(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A `Location` longer than this is not repeated in messages.
const MAX_SHOWN_LOCATION: usize = 200;

#[derive(Debug, Clone)]
pub struct ReservationClient {
    client: reqwest::Client,
    base_url: String,
    max_body_size: usize,
    /// One permit per call in flight.
    calls: Arc<Semaphore>,
    /// The configured header values (sensitive: hidden from Debug), so that a `Location` that
    /// echoes one is never shown.
    sent_values: Arc<Vec<HeaderValue>>,
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
        let sent_values = Arc::new(headers.values().cloned().collect());
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            // Counted from the moment a call is sent (after it got its turn), to the last byte.
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            // A redirect would carry our headers to another origin, and a 302/303 would turn a
            // POST into a GET: the answer is judged as it is.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("jitsi-focus/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            for certificate in load_ca_certificates(path).map_err(HttpSetupError::CaFile)? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        Ok(ReservationClient {
            client: builder.build()?,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            max_body_size: config.max_body_size,
            calls: Arc::new(Semaphore::new(config.max_concurrent_calls.max(1))),
            sent_values,
        })
    }

    pub async fn perform(&self, call: &HttpCall) -> HttpOutcome {
        let url = format!("{}{}", self.base_url, call.path);
        let request = match call.method {
            Method::Post => self.client.post(&url).form(&call.form),
            Method::Get => self.client.get(&url),
            Method::Delete => self.client.delete(&url),
        };
        // Wait for a turn first: the attempt's timeout starts when `send` is called.
        let _permit = self.calls.acquire().await.expect("the semaphore is never closed");
        let result = async {
            let mut response = request.send().await?;
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers().get(LOCATION).and_then(|l| self.showable(l));
                return Ok(HttpOutcome::Redirect { status: status.as_u16(), location });
            }
            let status = status.as_u16();
            let too_large = HttpOutcome::TooLarge { status, limit: self.max_body_size };
            if response.content_length().is_some_and(|n| n > self.max_body_size as u64) {
                return Ok(too_large);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > self.max_body_size {
                    // Dropping the response closes the connection: nothing more is read.
                    return Ok(too_large);
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>(HttpOutcome::Response { status, body: String::from_utf8_lossy(&body).into_owned() })
        }
        .await;
        match result {
            Ok(outcome) => outcome,
            Err(e) if e.is_timeout() => HttpOutcome::Timeout,
            Err(e) => HttpOutcome::Unreachable(describe(&e)),
        }
    }

    /// A `Location` worth repeating to the operator: short, printable, and not echoing any
    /// header value we sent.
    fn showable(&self, location: &HeaderValue) -> Option<String> {
        let text = location.to_str().ok()?;
        let printable = text.bytes().all(|b| b.is_ascii_graphic());
        let echoes = self.sent_values.iter().filter_map(|v| v.to_str().ok()).any(|v| !v.is_empty() && text.contains(v));
        (printable && !echoes && !text.is_empty() && text.len() <= MAX_SHOWN_LOCATION).then(|| text.to_owned())
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
    use crate::core::reservation::{judge_create, judge_delete, DeleteVerdict, Verdict};
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderMap as Headers, Method as HttpMethod, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::any;
    use axum::Router;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Mutex;
    use std::time::Instant;

    /// Serves `router` on a loopback port; returns its base URL.
    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{address}")
    }

    fn client(base_url: &str, tune: impl FnOnce(&mut ReservationConfig)) -> ReservationClient {
        let mut config = ReservationConfig { base_url: base_url.into(), ..Default::default() };
        tune(&mut config);
        ReservationClient::new(&config).unwrap()
    }

    fn call(method: Method, path: &str) -> HttpCall {
        let form = vec![("name".to_owned(), "room1".to_owned())];
        HttpCall { id: 1, method, path: path.into(), form }
    }

    /// An answer whose body never ends; `sent` counts the bytes handed to the connection.
    fn endless(status: StatusCode, sent: Arc<AtomicUsize>) -> Response {
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let stream = futures::stream::repeat_with(move || {
            sent.fetch_add(chunk.len(), SeqCst);
            Ok::<_, std::io::Error>(chunk.clone())
        });
        (status, Body::from_stream(stream)).into_response()
    }

    #[tokio::test]
    async fn an_endless_body_is_cut_at_the_limit_at_once() {
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let router = Router::new()
            .route("/conference", any(move || async move { endless(StatusCode::OK, counter) }))
            .route("/conference/{id}", any(|| async { endless(StatusCode::OK, Arc::default()) }))
            .route(
                "/sized",
                any(|| async {
                    let mut response = endless(StatusCode::OK, Arc::default());
                    response.headers_mut().insert("content-length", HeaderValue::from_static("100000000"));
                    response
                }),
            );
        let base = serve(router).await;
        let client = client(&base, |c| c.timeout = Duration::from_secs(30));
        let started = Instant::now();
        let outcome = client.perform(&call(Method::Post, "/conference")).await;
        assert_eq!(outcome, HttpOutcome::TooLarge { status: 200, limit: 65536 });
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        match judge_create(&outcome, "room1", 1, 3) {
            Verdict::Refused(r) => {
                assert_eq!(r.code, 500);
                assert_eq!(
                    r.message,
                    "Invalid response from reservation server: the answer is larger than 65536 bytes"
                );
            }
            other => panic!("{other:?}"),
        }
        // The server stops producing once the client hangs up; socket buffers aside, nothing
        // near a 100 MB body went over the wire.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(sent.load(SeqCst) < 32 << 20, "{} bytes sent", sent.load(SeqCst));
        // A DELETE's status decides, whatever follows it.
        let deleted = client.perform(&call(Method::Delete, "/conference/7")).await;
        assert_eq!(deleted, HttpOutcome::TooLarge { status: 200, limit: 65536 });
        assert_eq!(judge_delete(&deleted), DeleteVerdict::Done);
        // A declared length over the limit is not even read.
        let sized = client.perform(&call(Method::Get, "/sized")).await;
        assert_eq!(sized, HttpOutcome::TooLarge { status: 200, limit: 65536 });
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_read_whole() {
        let body = "é".repeat(1000);
        let answer = body.clone();
        let base = serve(Router::new().route("/conference", any(move || async move { answer }))).await;
        let outcome = client(&base, |c| c.max_body_size = 2000).perform(&call(Method::Post, "/conference")).await;
        assert_eq!(outcome, HttpOutcome::Response { status: 200, body });
        let outcome = client(&base, |c| c.max_body_size = 1999).perform(&call(Method::Post, "/conference")).await;
        assert_eq!(outcome, HttpOutcome::TooLarge { status: 200, limit: 1999 });
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_our_headers_stay_home() {
        #[derive(Default)]
        struct Seen {
            requests: Mutex<Vec<(HttpMethod, String, Option<String>)>>,
        }
        let other_seen = Arc::new(Seen::default());
        let other = {
            let seen = other_seen.clone();
            serve(Router::new().fallback(move |method: HttpMethod, uri: axum::http::Uri, headers: Headers| {
                let seen = seen.clone();
                async move {
                    let key = headers.get("x-api-key").map(|v| v.to_str().unwrap().to_owned());
                    seen.requests.lock().unwrap().push((method, uri.to_string(), key));
                    "{}"
                }
            }))
            .await
        };
        let api_seen = Arc::new(Seen::default());
        let api = {
            let seen = api_seen.clone();
            let other = other.clone();
            serve(Router::new().fallback(move |method: HttpMethod, uri: axum::http::Uri| {
                let (seen, other) = (seen.clone(), other.clone());
                async move {
                    seen.requests.lock().unwrap().push((method, uri.to_string(), None));
                    let (status, location) = match uri.path() {
                        p if p.starts_with("/moved307") => {
                            (StatusCode::TEMPORARY_REDIRECT, format!("{other}/conference"))
                        }
                        p if p.starts_with("/found302") => (StatusCode::FOUND, format!("{other}/conference")),
                        _ => (StatusCode::PERMANENT_REDIRECT, format!("{other}/echo?key=k3y-Secret-77")),
                    };
                    (status, [("location", location)], "")
                }
            }))
            .await
        };
        let with_key = |c: &mut ReservationConfig| {
            c.headers.insert("X-Api-Key".into(), "k3y-Secret-77".into());
        };
        let outcome = client(&format!("{api}/moved307"), with_key).perform(&call(Method::Post, "/conference")).await;
        let location = format!("{other}/conference");
        assert_eq!(outcome, HttpOutcome::Redirect { status: 307, location: Some(location.clone()) });
        match judge_create(&outcome, "room1", 1, 3) {
            Verdict::Refused(r) => {
                assert_eq!(r.code, 500);
                assert!(
                    r.message.contains("redirected (HTTP 307 to ") && r.message.contains("base_url"),
                    "{}",
                    r.message
                );
            }
            other => panic!("{other:?}"),
        }
        let outcome = client(&format!("{api}/found302"), with_key).perform(&call(Method::Post, "/conference")).await;
        assert_eq!(outcome, HttpOutcome::Redirect { status: 302, location: Some(location) });
        // A Location that repeats a header value of ours is not shown.
        let outcome =
            client(&format!("{api}/elsewhere"), with_key).perform(&call(Method::Delete, "/conference/7")).await;
        assert_eq!(outcome, HttpOutcome::Redirect { status: 308, location: None });
        assert!(matches!(judge_delete(&outcome), DeleteVerdict::GiveUp(why) if why.contains("base_url")));

        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(other_seen.requests.lock().unwrap().is_empty(), "followed: {:?}", other_seen.requests.lock().unwrap());
        let methods: Vec<HttpMethod> = api_seen.requests.lock().unwrap().iter().map(|r| r.0.clone()).collect();
        assert_eq!(
            methods,
            [HttpMethod::POST, HttpMethod::POST, HttpMethod::DELETE],
            "a 302 must not turn a POST into a GET"
        );
    }

    #[tokio::test]
    async fn calls_in_flight_are_bounded_and_the_timeout_counts_from_the_send() {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (now, peak) = (in_flight.clone(), most.clone());
        let router = Router::new().fallback(move || {
            let (now, peak) = (now.clone(), peak.clone());
            async move {
                let current = now.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(current, SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                now.fetch_sub(1, SeqCst);
                StatusCode::NO_CONTENT
            }
        });
        let base = serve(router).await;
        let client = client(&base, |c| {
            c.max_concurrent_calls = 2;
            c.timeout = Duration::from_millis(600);
        });
        let started = Instant::now();
        let calls: Vec<HttpCall> = (0..8).map(|i| call(Method::Delete, &format!("/conference/{i}"))).collect();
        let outcomes = futures::future::join_all(calls.iter().map(|c| client.perform(c))).await;
        // Eight calls two at a time take ~800 ms, longer than the 600 ms timeout: none timed out,
        // because each one's time starts when it is sent.
        for outcome in &outcomes {
            assert_eq!(outcome, &HttpOutcome::Response { status: 204, body: String::new() });
        }
        assert!(started.elapsed() >= Duration::from_millis(750), "{:?}", started.elapsed());
        assert_eq!(most.load(SeqCst), 2);
    }

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
