//! Runs jitsi-focus in-process against a test Prosody, and the conference-request helpers the
//! integration and browser tests share. Use with `mod support; mod harness;`.
#![allow(dead_code)]

use std::time::Duration;

use anyhow::{bail, Context, Result};
use jitsi_focus::config::Config;
use minidom::Element;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::{xml, TestClient, DEFAULT_TIMEOUT, FOCUS_DOMAIN, MUC_DOMAIN};

pub mod participant;

pub const FOCUS_NS: &str = "http://jitsi.org/protocol/focus";

/// A running focus; dropping it aborts it, `stop()` shuts it down gracefully.
pub struct Focus {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Focus {
    pub fn start(config: Config) -> Focus {
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            jitsi_focus::runtime::run(config, async {
                let _ = stopped.await;
            })
            .await
            .expect("the focus runtime failed");
        });
        Focus { shutdown: Some(shutdown), task: Some(task) }
    }

    /// Graceful stop: leaves rooms, sends pending DELETEs, closes the stream.
    pub async fn stop(mut self) {
        let _ = self.shutdown.take().map(|s| s.send(()));
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
    }
}

impl Drop for Focus {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The TOML of a focus configuration for a test Prosody's component port and secret; `extra`
/// is appended (sections such as `[reservation]`). The HTTP API listens on a port of the
/// system's choosing unless `extra` has its own `[http]`, so that tests run side by side.
pub fn config_toml(component_port: u16, secret: &str, extra: &str) -> String {
    let http = if extra.contains("[http]") { "" } else { "[http]\nbind = \"127.0.0.1:0\"\n" };
    format!(
        "[xmpp]\nport = {component_port}\ncomponent = \"{FOCUS_DOMAIN}\"\nsecret = \"{secret}\"\nmuc_domain = \"{MUC_DOMAIN}\"\nkeepalive = \"2s\"\nreconnect_max_delay = \"1s\"\n{extra}\n{http}"
    )
}

/// A focus configuration with the test Prosody's default secret.
pub fn config(component_port: u16, extra: &str) -> Config {
    Config::from_toml(&config_toml(component_port, crate::support::DEFAULT_COMPONENT_SECRET, extra))
        .expect("test configuration is valid")
}

/// `[reservation]` pointing at a test server, with quick retries, and a fresh state directory
/// for the outbox of DELETEs.
pub fn reservation(base_url: &str) -> String {
    reservation_in(base_url, &state_directory())
}

/// `[reservation]` as [`reservation`], keeping the outbox in `state`.
pub fn reservation_in(base_url: &str, state: &std::path::Path) -> String {
    format!("[reservation]\nenabled = true\nbase_url = \"{base_url}\"\ntimeout = \"1s\"\nretries = 2\nretry_delay = \"200ms\"\nrefusal_cache = \"0s\"\n[state]\ndirectory = \"{}\"\n", state.display())
}

/// A new directory that outlives the test's handles, so that a focus restarted on it finds its
/// outbox; it lives under cargo's target directory (`CARGO_TARGET_TMPDIR`), not in /tmp.
pub fn state_directory() -> std::path::PathBuf {
    tempfile::Builder::new()
        .prefix("focus-state-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory")
        .keep()
}

/// Waits until the focus component answers disco#info through Prosody (Prosody answers
/// `service-unavailable` itself while the component is not connected).
pub async fn wait_focus_online(client: &TestClient) -> Result<()> {
    wait_focus(client, true).await
}

/// Waits until Prosody reports the focus component gone (its disco#info fails).
pub async fn wait_focus_offline(client: &TestClient) -> Result<()> {
    wait_focus(client, false).await
}

async fn wait_focus(client: &TestClient, online: bool) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    loop {
        // Our own id and a short wait: an IQ that reached the component just as its link was
        // cut is lost, and that must not end the wait.
        n += 1;
        let id = format!("wait-focus-{n}");
        let mut iq = disco_info(FOCUS_DOMAIN);
        crate::support::set_attr(&mut iq, "id", &id);
        client.send(iq).await?;
        let reply = client
            .next_matching(|s| s.name() == "iq" && s.attr("id") == Some(id.as_str()), Duration::from_secs(2))
            .await;
        let state = match &reply {
            Ok(reply) if (reply.attr("type") == Some("result")) == online => return Ok(()),
            Ok(reply) => xml(reply),
            Err(_) => "no answer".to_owned(),
        };
        if tokio::time::Instant::now() > deadline {
            bail!("the focus did not become {}: {state}", if online { "reachable" } else { "unreachable" });
        }
        // Nothing to await: a component's login is invisible to clients. Poll gently.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn disco_info(to: &str) -> Element {
    let mut iq = Element::builder("iq", "jabber:client")
        .append(Element::bare("query", "http://jabber.org/protocol/disco#info"))
        .build();
    crate::support::set_attr(&mut iq, "type", "get");
    crate::support::set_attr(&mut iq, "to", to);
    iq
}

/// A conference request like lib-jitsi-meet's, with optional `session-id`.
pub fn conference_iq(room: &str, session_id: Option<&str>) -> Element {
    let mut conference = Element::bare("conference", FOCUS_NS);
    crate::support::set_attr(&mut conference, "room", &format!("{room}@{MUC_DOMAIN}"));
    crate::support::set_attr(&mut conference, "machine-uid", "0123456789abcdef0123456789abcdef");
    if let Some(session) = session_id {
        crate::support::set_attr(&mut conference, "session-id", session);
    }
    let mut iq = Element::builder("iq", "jabber:client").append(conference).build();
    crate::support::set_attr(&mut iq, "type", "set");
    crate::support::set_attr(&mut iq, "to", FOCUS_DOMAIN);
    iq
}

/// The `<conference/>` of a result, or an error describing what came instead.
pub fn ready_conference(reply: &Element) -> Result<&Element> {
    if reply.attr("type") != Some("result") {
        bail!("expected a result, got {}", xml(reply));
    }
    reply.get_child("conference", FOCUS_NS).with_context(|| format!("no <conference/> in {}", xml(reply)))
}

/// Sends conference requests the way the client does, repeating after `ready='false'`, until
/// ready or an error; returns the final reply.
pub async fn request_conference(client: &TestClient, room: &str, session_id: Option<&str>) -> Result<Element> {
    for _ in 0..20 {
        let reply = client.iq(conference_iq(room, session_id)).await?;
        let ready = reply.get_child("conference", FOCUS_NS).is_some_and(|c| c.attr("ready") == Some("true"));
        if reply.attr("type") != Some("result") || ready {
            return Ok(reply);
        }
    }
    bail!("the focus kept answering ready='false' for {room}")
}

/// `(code, text)` of a reservation error reply.
pub fn reservation_error(reply: &Element) -> Result<(u16, String)> {
    let error = reply.get_child("error", "jabber:client").with_context(|| format!("not an error: {}", xml(reply)))?;
    let code = error
        .get_child("reservation-error", FOCUS_NS)
        .and_then(|r| r.attr("error-code"))
        .with_context(|| format!("no <reservation-error/>: {}", xml(reply)))?;
    let text = error.get_child("text", "urn:ietf:params:xml:ns:xmpp-stanzas").map(Element::text).unwrap_or_default();
    Ok((code.parse()?, text))
}

/// The defined condition and text of an error reply.
pub fn error_condition(reply: &Element) -> Result<(String, String)> {
    let error = reply.get_child("error", "jabber:client").with_context(|| format!("not an error: {}", xml(reply)))?;
    let condition = error
        .children()
        .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name() != "text")
        .map(|c| c.name().to_owned())
        .unwrap_or_default();
    let text = error.get_child("text", "urn:ietf:params:xml:ns:xmpp-stanzas").map(Element::text).unwrap_or_default();
    Ok((condition, text))
}

/// Joins the room and returns the focus occupant's presence as this client sees it.
pub async fn join_and_find_focus(client: &TestClient, room: &str, nick: &str) -> Result<Element> {
    let occupant = format!("{room}@{MUC_DOMAIN}/focus");
    client.join_muc(&format!("{room}@{MUC_DOMAIN}"), nick).await?;
    client.next_matching(|s| s.name() == "presence" && s.attr("from") == Some(occupant.as_str()), DEFAULT_TIMEOUT).await
}

/// The `<item/>` of a MUC presence.
pub fn muc_item(presence: &Element) -> Option<&Element> {
    presence
        .get_child("x", "http://jabber.org/protocol/muc#user")
        .and_then(|x| x.get_child("item", "http://jabber.org/protocol/muc#user"))
}
