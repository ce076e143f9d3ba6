//! Proves the integration-test support library works on its own, before any focus exists.

mod support;

use std::time::Duration;

use anyhow::{ensure, Result};
use serde_json::json;
use support::*;

const T: Duration = DEFAULT_TIMEOUT;

fn is_presence_from(from: &str) -> impl Fn(&minidom::Element) -> bool + '_ {
    move |s| s.name() == "presence" && from_of(s) == from
}

#[tokio::test]
async fn two_clients_meet_in_a_room_and_disco_works() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let alice = TestClient::anonymous(prosody.c2s_port()).await?;
    let bob = TestClient::anonymous(prosody.c2s_port()).await?;
    ensure!(alice.jid().contains(&format!("@{DOMAIN}/")), "{}", alice.jid());
    ensure!(alice.jid() != bob.jid());

    let room = format!("selftest@{MUC_DOMAIN}");
    let own = alice.join_muc(&room, "alice").await?;
    ensure!(has_muc_status(&own, "110"), "self-presence: {}", xml(&own));
    // First occupant creates the room (muc_room_locking = false: no configuration step).
    ensure!(muc_affiliation(&own) == Some("owner"), "{}", xml(&own));
    bob.join_muc(&room, "bob").await?;

    // Each sees the other; Bob got Alice's presence before his own and it stayed buffered.
    let seen = alice.next_matching(is_presence_from(&format!("{room}/bob")), T).await?;
    ensure!(seen.attr("type").is_none(), "{}", xml(&seen));
    bob.next_matching(is_presence_from(&format!("{room}/alice")), T).await?;

    let info = alice
        .iq(parse(&format!(
            "<iq xmlns='jabber:client' type='get' to='{MUC_DOMAIN}'>\
             <query xmlns='{NS_DISCO_INFO}'/></iq>"
        )))
        .await?;
    ensure!(info.attr("type") == Some("result"), "{}", xml(&info));
    ensure!(info.get_child("query", NS_DISCO_INFO).is_some());

    bob.leave_muc(&room, "bob").await?;
    let gone = alice.next_matching(is_presence_from(&format!("{room}/bob")), T).await?;
    ensure!(gone.attr("type") == Some("unavailable"), "{}", xml(&gone));
    alice.disconnect().await?;
    ensure!(!alice.is_connected());

    // BOSH and WebSocket answer on the HTTP port with Host: 127.0.0.1 (http_default_host).
    for url in [prosody.bosh_url(), prosody.websocket_url().replace("ws://", "http://")] {
        let page = reqwest::get(&url).await?;
        ensure!(page.status() == 200, "{url}: {}", page.status());
        ensure!(page.text().await?.contains("It works"), "{url}");
    }
    Ok(())
}

#[tokio::test]
async fn registered_user_logs_in_and_wrong_password_fails() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default().with_user("alice", "s3cret")).await?;
    let alice = TestClient::login(prosody.c2s_port(), "alice", AUTH_DOMAIN, "s3cret").await?;
    ensure!(alice.jid().starts_with(&format!("alice@{AUTH_DOMAIN}/")), "{}", alice.jid());
    let wrong = TestClient::login(prosody.c2s_port(), "alice", AUTH_DOMAIN, "nope").await;
    ensure!(wrong.is_err(), "login with a wrong password succeeded");

    // Registering while running works too.
    prosody.register("carol", "pw").await?;
    TestClient::login(prosody.c2s_port(), "carol", AUTH_DOMAIN, "pw").await?;
    Ok(())
}

#[tokio::test]
async fn restricted_room_creation_refuses_clients() -> Result<()> {
    let options = ProsodyOptions { restrict_room_creation: true, ..Default::default() };
    let prosody = Prosody::start(options).await?;
    let alice = TestClient::anonymous(prosody.c2s_port()).await?;
    let err =
        alice.join_muc(&format!("locked@{MUC_DOMAIN}"), "alice").await.expect_err("a client must not create rooms");
    ensure!(err.to_string().contains("not-allowed"), "{err}");
    Ok(())
}

#[tokio::test]
async fn reservation_server_scripts_records_and_hangs() -> Result<()> {
    let server = ReservationServer::start().await?;
    let http = reqwest::Client::new();
    let url = format!("{}/conference", server.base_url());
    server.script_post("room1", vec![Reply::status(500), Reply::json(200, json!({"id": 42, "name": "room1"}))]);
    let form = [("name", "room1"), ("start_time", "2026-01-01T00:00:00.000Z")];
    let first = http.post(&url).form(&form).send().await?;
    ensure!(first.status() == 500);
    ensure!(first.text().await?.is_empty());
    let second = http.post(&url).form(&form).send().await?;
    ensure!(second.status() == 200);
    ensure!(second.json::<serde_json::Value>().await?["id"] == 42);
    // The last scripted reply repeats.
    ensure!(http.post(&url).form(&form).send().await?.status() == 200);
    ensure!(server.count(|r| r.method == "POST" && r.field("name") == Some("room1")) == 3);
    let recorded = &server.requests()[0];
    ensure!(recorded.path == "/conference");
    ensure!(recorded.field("start_time") == Some("2026-01-01T00:00:00.000Z"));
    ensure!(recorded.header("content-type").is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded")));

    // Defaults: a fresh reservation echoing the owner, GET 404, DELETE 200.
    let created: serde_json::Value =
        http.post(&url).form(&[("name", "other"), ("mail_owner", "a@b")]).send().await?.json().await?;
    ensure!(created["name"] == "other" && created["mail_owner"] == "a@b", "{created}");
    ensure!(created["duration"] == 3600 && created["id"].is_u64(), "{created}");
    let get = http.get(format!("{url}/7")).send().await?;
    ensure!(get.status() == 404);

    // Raw (HTML) bodies keep their content type.
    server.script_delete(7, vec![Reply::html(502, "<html>Bad Gateway</html>")]);
    let deleted = http.delete(format!("{url}/7")).send().await?;
    ensure!(deleted.status() == 502);
    ensure!(deleted.headers()["content-type"].to_str()?.starts_with("text/html"));

    // wait_for sees a request made concurrently, without sleeping.
    let waiter = server.wait_for(|r| r.method == "DELETE" && r.path == "/conference/43", T);
    let (found, sent) = tokio::join!(waiter, http.delete(format!("{url}/43")).send());
    ensure!(sent?.status() == 200);
    ensure!(found?.path == "/conference/43");
    ensure!(server.wait_for(|r| r.path == "/nowhere", Duration::from_millis(100)).await.is_err());

    // Hang never answers.
    server.script_get(9, vec![Reply::hang()]);
    let hung = http.get(format!("{url}/9")).timeout(Duration::from_millis(300)).send().await;
    ensure!(hung.is_err_and(|e| e.is_timeout()), "Hang answered");
    server.wait_for(|r| r.path == "/conference/9", T).await?;
    Ok(())
}

#[tokio::test]
async fn hanging_request_is_closed_when_the_server_is_dropped() -> Result<()> {
    let server = ReservationServer::start().await?;
    server.script_post("slow", vec![Reply::hang()]);
    let url = format!("{}/conference", server.base_url());
    let request = tokio::spawn(async move { reqwest::Client::new().post(url).form(&[("name", "slow")]).send().await });
    server.wait_for(|r| r.field("name") == Some("slow"), T).await?;
    drop(server);
    let outcome = tokio::time::timeout(T, request).await??;
    ensure!(outcome.is_err(), "a hanging request got an answer: {outcome:?}");
    Ok(())
}

#[tokio::test]
async fn proxy_cut_disconnects_and_restore_allows_reconnect() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let proxy = TcpProxy::start(prosody.c2s_port()).await?;
    let client = TestClient::anonymous(proxy.port()).await?;
    ensure!(proxy.accepted() == 1);

    proxy.cut();
    client.wait_disconnected(T).await?;
    ensure!(TestClient::anonymous(proxy.port()).await.is_err(), "connected through a cut proxy");

    proxy.restore();
    let again = TestClient::anonymous(proxy.port()).await?;
    proxy.wait_accepted(2, T).await?;
    let pong = again
        .iq(parse(&format!("<iq xmlns='jabber:client' type='get' to='{DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>")))
        .await?;
    ensure!(pong.attr("type") == Some("result"), "{}", xml(&pong));
    Ok(())
}

#[tokio::test]
async fn prosody_restart_keeps_ports_and_accounts() -> Result<()> {
    let mut prosody = Prosody::start(ProsodyOptions::default().with_user("focus", "pw")).await?;
    let (c2s, component) = (prosody.c2s_port(), prosody.component_port());
    let before = TestClient::anonymous(c2s).await?;

    prosody.restart().await?;
    let reason = before.wait_disconnected(T).await?;
    ensure!(prosody.c2s_port() == c2s && prosody.component_port() == component);
    TestClient::anonymous(c2s).await?;
    TestClient::login(c2s, "focus", AUTH_DOMAIN, "pw").await?;
    ensure!(prosody.log_contents().contains("prosody.log"), "{reason}");

    prosody.stop().await?;
    ensure!(TestClient::anonymous(c2s).await.is_err());
    Ok(())
}

/// The proxy's real job: sit between the focus component and Prosody's component port.
#[tokio::test]
async fn component_logs_in_through_proxy_and_cut_ends_its_stream() -> Result<()> {
    use futures::StreamExt;
    use tokio_xmpp::{connect::DnsConfig, xmlstream::Timeouts, Component};

    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let proxy = TcpProxy::start(prosody.component_port()).await?;
    let addr = format!("127.0.0.1:{}", proxy.port());
    let connect =
        || Component::new_plaintext(FOCUS_DOMAIN, DEFAULT_COMPONENT_SECRET, DnsConfig::addr(&addr), Timeouts::tight());
    let mut component = connect().await?;
    proxy.cut();
    let next = tokio::time::timeout(T, component.next()).await?;
    ensure!(next.is_none(), "stream survived the cut: {next:?}");

    proxy.restore();
    let mut component = connect().await?;
    proxy.wait_accepted(2, T).await?;

    // Prosody routes a client's IQ to the component, so the secret and port are right.
    let client = TestClient::anonymous(prosody.c2s_port()).await?;
    client
        .send(parse(&format!(
            "<iq xmlns='jabber:client' type='get' id='p1' to='{FOCUS_DOMAIN}'>\
             <ping xmlns='urn:xmpp:ping'/></iq>"
        )))
        .await?;
    let got = tokio::time::timeout(T, component.next()).await?;
    ensure!(matches!(got, Some(tokio_xmpp::Stanza::Iq(_))), "{got:?}");
    Ok(())
}
