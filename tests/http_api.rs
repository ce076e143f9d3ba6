//! The HTTP API against real Prosody, real test bridges and a real reservation server on
//! loopback: health as Prosody and bridges come and go, version, stats, Prometheus metrics
//! (parsed), debug state, and the HTTP conference request of `conferenceRequestUrl`.

mod harness;
mod support;

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use jitsi_test_bridge::{TestBridge, TestBridgeConfig};
use serde_json::{json, Value};
use support::{
    free_port, Prosody, ProsodyOptions, Reply, ReservationServer, TestClient, DEFAULT_TIMEOUT, DOMAIN,
    INTERNAL_MUC_DOMAIN, MUC_DOMAIN,
};

fn brewery() -> String {
    format!("jvbbrewery@{INTERNAL_MUC_DOMAIN}")
}

/// A focus with its HTTP API on a free port (and `extra` sections); returns it and the API's URL.
fn focus(prosody: &Prosody, http: &str, extra: &str) -> Result<(harness::Focus, String)> {
    let port = free_port()?;
    let toml = format!("{extra}\n[http]\nbind = \"127.0.0.1:{port}\"\n{http}");
    let focus = harness::Focus::start(harness::config(prosody.component_port(), &toml));
    Ok((focus, format!("http://127.0.0.1:{port}")))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(DEFAULT_TIMEOUT).build().unwrap()
}

async fn get(url: &str) -> Result<(u16, Value)> {
    let response = client().get(url).send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    let body = serde_json::from_str(&text).with_context(|| format!("{url}: not JSON: {text:?}"))?;
    Ok((status, body))
}

/// Polls `/about/health` until it answers `status` (health has no push to await); returns
/// its body.
async fn wait_health(base: &str, status: u16, timeout: Duration) -> Result<Value> {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        match get(&format!("{base}/about/health")).await {
            Ok((s, body)) if s == status => return Ok(body),
            other => last = Some(format!("{other:?}")),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("health never answered {status} within {timeout:?}; last: {last:?}")
}

async fn post_request(base: &str, body: &str, token: Option<&str>) -> Result<(u16, Value)> {
    let mut request = client()
        .post(format!("{base}/conference-request/v1"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).with_context(|| format!("not JSON: {text:?}"))?))
}

#[tokio::test]
async fn health_is_503_while_prosody_is_away_and_200_when_it_is_back() -> Result<()> {
    let mut prosody = Prosody::start(ProsodyOptions::default()).await?;
    let (_focus, base) = focus(&prosody, "", "")?;
    let healthy = wait_health(&base, 200, DEFAULT_TIMEOUT).await?;
    assert_eq!(healthy, json!({ "healthy": true }));
    prosody.stop().await?;
    let unhealthy = wait_health(&base, 503, DEFAULT_TIMEOUT).await?;
    assert_eq!(unhealthy, json!({ "healthy": false, "reason": "the component is not connected to Prosody" }));
    prosody.restart().await?;
    wait_health(&base, 200, DEFAULT_TIMEOUT).await?;
    // Debug state is off unless enabled; unknown paths are a JSON 404.
    assert_eq!(get(&format!("{base}/debug")).await?.0, 404);
    let (status, body) = get(&format!("{base}/no/such/thing")).await?;
    assert_eq!((status, body["error"].as_str()), (404, Some("not-found")));
    Ok(())
}

#[tokio::test]
async fn health_needs_an_operational_bridge_when_bridges_are_configured() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let bridges =
        format!("[bridges]\nbrewery = \"{}\"\nhealth_interval = \"1s\"\nhealth_timeout = \"1s\"\n", brewery());
    let (_focus, base) = focus(&prosody, "", &bridges)?;
    let body = wait_health(&base, 503, DEFAULT_TIMEOUT).await?;
    assert_eq!(body["reason"], "no operational video bridge");
    let config = TestBridgeConfig::new(format!("127.0.0.1:{}", prosody.c2s_port()), DOMAIN, brewery(), "jvb-1");
    let bridge = TestBridge::start(config).await?;
    wait_health(&base, 200, DEFAULT_TIMEOUT).await?;
    let (_, stats) = get(&format!("{base}/stats")).await?;
    assert_eq!(stats["operational_bridge_count"], 1, "{stats}");
    // The last bridge leaves: unhealthy again.
    bridge.kill().await;
    let body = wait_health(&base, 503, DEFAULT_TIMEOUT).await?;
    assert_eq!(body["reason"], "no operational video bridge");
    Ok(())
}

#[tokio::test]
async fn version_stats_metrics_and_debug_describe_a_live_conference() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let (_focus, base) = focus(&prosody, "debug = true\n", "")?;
    let client = TestClient::anonymous(prosody.c2s_port()).await?;
    harness::wait_focus_online(&client).await?;
    let room = format!("stats1@{MUC_DOMAIN}");
    let reply = harness::request_conference(&client, "stats1", None).await?;
    harness::ready_conference(&reply)?;
    client.join_muc(&room, "alice").await?;

    let (status, version) = get(&format!("{base}/about/version")).await?;
    assert_eq!(status, 200);
    assert_eq!(version["name"], "jitsi-focus");
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));

    // The participant shows once the focus has seen its presence.
    let deadline = Instant::now() + DEFAULT_TIMEOUT;
    let stats = loop {
        let (status, stats) = get(&format!("{base}/stats")).await?;
        assert_eq!(status, 200);
        if stats["participants"] == 1 {
            break stats;
        }
        ensure!(Instant::now() < deadline, "the participant never showed in /stats: {stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(stats["conferences"], 1, "{stats}");
    assert_eq!(stats["healthy"], true, "{stats}");

    let response = reqwest::get(format!("{base}/metrics")).await?;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str()?.to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = response.text().await?;
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).with_context(|| format!("not Prometheus text: {text}"))?;
    let value = |name: &str| {
        scrape.samples.iter().find(|s| s.metric == name).map(|s| match s.value {
            prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
    };
    assert_eq!(value("jitsi_focus_conferences"), Some(1.0), "{text}");
    assert_eq!(value("jitsi_focus_participants"), Some(1.0), "{text}");
    assert_eq!(value("jitsi_focus_healthy"), Some(1.0), "{text}");

    let (status, overview) = get(&format!("{base}/debug")).await?;
    assert_eq!(status, 200);
    assert!(overview.to_string().contains("stats1@"), "{overview}");
    let (status, conference) = get(&format!("{base}/debug/conference/{room}")).await?;
    assert_eq!(status, 200);
    assert!(conference.to_string().contains("alice"), "{conference}");
    let (status, _) = get(&format!("{base}/debug/conference/nobody@{MUC_DOMAIN}")).await?;
    assert_eq!(status, 404);
    Ok(())
}

#[tokio::test]
async fn the_http_conference_request_is_granted_refused_and_checked_like_the_iq() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions { restrict_room_creation: true, ..Default::default() }).await?;
    let api = ReservationServer::start().await?;
    let (_focus, base) = focus(&prosody, "", &harness::reservation(&api.base_url()))?;
    wait_health(&base, 200, DEFAULT_TIMEOUT).await?;

    // Granted: the room is created and joined by the focus before the answer.
    let body = json!({ "room": format!("open1@{MUC_DOMAIN}"), "machineUid": "m1",
        "properties": { "rtcstatsEnabled": false, "startAudioMuted": 9 } })
    .to_string();
    let (status, answer) = post_request(&base, &body, Some("eyJhbGciOi.token")).await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ready"], true, "{answer}");
    assert_eq!(answer["focusJid"], support::FOCUS_DOMAIN);
    assert_eq!(answer["properties"]["authentication"], "false");
    let post = api.wait_for(|r| r.field("name") == Some("open1"), DEFAULT_TIMEOUT).await?;
    assert_eq!(post.field("mail_owner"), None, "an HTTP request has no JID to name");
    // A client can join the room the focus created (restrict_room_creation is on).
    let client = TestClient::anonymous(prosody.c2s_port()).await?;
    let joined = client.join_muc(&format!("open1@{MUC_DOMAIN}"), "alice").await?;
    assert_ne!(joined.attr("type"), Some("error"), "{}", support::xml(&joined));

    // Refused: the code and message in the body, a status that is not 403.
    api.script_post("closed1", vec![Reply::json(403, json!({ "message": "This room is booked for Friday" }))]);
    let body = json!({ "room": format!("closed1@{MUC_DOMAIN}") }).to_string();
    let (status, answer) = post_request(&base, &body, None).await?;
    assert_eq!(status, 409);
    assert_eq!(
        answer,
        json!({ "error": "reservation-error", "code": 403, "message": "This room is booked for Friday" })
    );

    // Malformed: JSON that is not a request, a property that is an object, a room elsewhere.
    for (body, needle) in [
        ("{not json", "not a JSON conference request"),
        (r#"{"room": 7}"#, "not a JSON conference request"),
        (r#"{"room":"a@conference.meet.test","properties":{"x":{"y":1}}}"#, "property \"x\""),
        (r#"{"room":"a@elsewhere.test"}"#, "must be on conference.meet.test"),
        ("{}", "No 'room' specified."),
    ] {
        let (status, answer) = post_request(&base, body, None).await?;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["message"].as_str().unwrap_or_default().contains(needle), "{body}: {answer}");
    }
    // A body over http.max_body_bytes and a wrong method: JSON errors too.
    let huge = format!("{{\"room\":\"{}\"}}", "x".repeat(20_000));
    let (status, answer) = post_request(&base, &huge, None).await?;
    assert_eq!((status, answer["error"].as_str()), (413, Some("too-large")), "{answer}");
    let (status, answer) = get(&format!("{base}/conference-request/v1")).await?;
    assert_eq!((status, answer["error"].as_str()), (405, Some("method-not-allowed")), "{answer}");
    // Preflight as Jicofo answers it.
    let preflight = client_options(&base).await?;
    assert_eq!(preflight, 200);
    Ok(())
}

async fn client_options(base: &str) -> Result<u16> {
    let response = client().request(reqwest::Method::OPTIONS, format!("{base}/conference-request/v1")).send().await?;
    Ok(response.status().as_u16())
}

#[tokio::test]
async fn with_sign_in_an_unknown_session_is_invalid_session_and_a_guest_is_403() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let auth = format!("[auth]\nmode = \"xmpp\"\ndomain = \"{}\"\n", support::AUTH_DOMAIN);
    let (_focus, base) = focus(&prosody, "", &auth)?;
    wait_health(&base, 200, DEFAULT_TIMEOUT).await?;
    let body =
        json!({ "room": format!("signin1@{MUC_DOMAIN}"), "machineUid": "m1", "sessionId": "forged" }).to_string();
    let (status, answer) = post_request(&base, &body, None).await?;
    assert_eq!(status, 400);
    // lib-jitsi-meet drops its session and asks again when it finds exactly this.
    assert!(answer["message"].as_str().unwrap().contains("400 invalid-session"), "{answer}");
    let body = json!({ "room": format!("signin1@{MUC_DOMAIN}"), "machineUid": "m1" }).to_string();
    let (status, answer) = post_request(&base, &body, None).await?;
    assert_eq!((status, answer["error"].as_str()), (403, Some("not-authorized")), "{answer}");
    Ok(())
}
