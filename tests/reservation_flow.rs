//! Conference requests against a real Prosody and a real reservation HTTP server on loopback.

mod harness;
mod support;

use std::time::Duration;

use anyhow::Result;
use harness::{
    config, join_and_find_focus, ready_conference, request_conference, reservation, reservation_error, Focus,
};
use serde_json::json;
use support::{xml, Prosody, ProsodyOptions, Reply, ReservationServer, TestClient, DEFAULT_TIMEOUT, MUC_DOMAIN};

/// Prosody (Jitsi's room policy), a reservation server and a focus, ready for requests.
struct Stack {
    prosody: Prosody,
    api: ReservationServer,
    focus: Focus,
    client: TestClient,
}

async fn stack(extra: &str) -> Result<Stack> {
    let prosody = Prosody::start(ProsodyOptions { restrict_room_creation: true, ..Default::default() }).await?;
    let api = ReservationServer::start().await?;
    let focus = Focus::start(config(prosody.component_port(), &format!("{}{extra}", reservation(&api.base_url()))));
    let client = TestClient::anonymous(prosody.c2s_port()).await?;
    harness::wait_focus_online(&client).await?;
    Ok(Stack { prosody, api, focus, client })
}

fn granted(id: u64, name: &str, duration: u64) -> Reply {
    let start = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    Reply::json(201, json!({"id": id, "name": name, "start_time": start, "duration": duration}))
}

fn is_delete(id: u64) -> impl Fn(&support::Recorded) -> bool {
    move |r| r.method == "DELETE" && r.path == format!("/conference/{id}")
}

#[tokio::test]
async fn a_granted_room_is_joined_by_the_focus_as_owner_before_ready() -> Result<()> {
    let s = stack("").await?;
    let reply = request_conference(&s.client, "granted", None).await?;
    let conference = ready_conference(&reply)?;
    assert_eq!(conference.attr("ready"), Some("true"));
    assert_eq!(conference.attr("focusjid"), Some("focus.meet.test"));
    assert_eq!(conference.attr("room"), Some(format!("granted@{MUC_DOMAIN}").as_str()));
    let post = s.api.wait_for(|r| r.method == "POST", DEFAULT_TIMEOUT).await?;
    assert_eq!(post.field("name"), Some("granted"));
    let start = post.field("start_time").unwrap();
    assert!(start.ends_with('Z') && start.len() == 24, "UTC with milliseconds: {start}");
    // Like Prosody's mod_reservations: the requester's bare JID, also for anonymous users.
    let bare = s.client.jid().split('/').next().unwrap().to_owned();
    assert_eq!(post.field("mail_owner"), Some(bare.as_str()));
    // Clients can join (the room exists although only admins may create rooms) and see the
    // focus as owner with the real JID they recognise it by.
    let focus = join_and_find_focus(&s.client, "granted", "alice").await?;
    let item = harness::muc_item(&focus).expect("muc#user item");
    assert_eq!(item.attr("affiliation"), Some("owner"), "{}", xml(&focus));
    assert_eq!(item.attr("jid"), Some("focus.meet.test/focus"));
    assert!(xml(&focus).contains("support-terminate-restart"), "focus presence extensions: {}", xml(&focus));
    Ok(())
}

#[tokio::test]
async fn string_ids_and_offset_times_from_real_servers_are_accepted() -> Result<()> {
    let s = stack("").await?;
    let start = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S+0000").to_string();
    s.api.script_post(
        "odd",
        vec![Reply::json(
            200,
            json!({"id": "r-77", "name": "ODD", "start_time": start, "duration": 600, "extra": [1]}),
        )],
    );
    ready_conference(&request_conference(&s.client, "odd", None).await?)?;
    Ok(())
}

#[tokio::test]
async fn a_refusal_reaches_the_client_with_the_status_and_the_exact_message() -> Result<()> {
    let s = stack("").await?;
    let message = "Raum „Ünïcødé“ ist nicht gebucht <b>&amp;</b> bitte reservieren";
    s.api.script_post("refused", vec![Reply::json(403, json!({ "message": message }))]);
    let reply = request_conference(&s.client, "refused", None).await?;
    assert_eq!(reservation_error(&reply)?, (403, message.to_owned()));
    // The room was not created: a client cannot enter it.
    assert!(s.client.join_muc(&format!("refused@{MUC_DOMAIN}"), "bob").await.is_err());
    Ok(())
}

#[tokio::test]
async fn a_refusal_without_a_body_gets_a_clear_fallback_text() -> Result<()> {
    let s = stack("").await?;
    s.api.script_post("nobody", vec![Reply::status(403)]);
    let reply = request_conference(&s.client, "nobody", None).await?;
    assert_eq!(reservation_error(&reply)?, (403, "Rejected by reservation server (HTTP 403)".to_owned()));
    Ok(())
}

#[tokio::test]
async fn a_conflict_adopts_the_existing_reservation_which_is_deleted_at_the_end() -> Result<()> {
    let s = stack("").await?;
    s.api.script_post("conflict", vec![Reply::json(409, json!({ "conflict_id": 4711 }))]);
    s.api.script_get(4711, vec![granted(4711, "conflict", 3600)]);
    ready_conference(&request_conference(&s.client, "conflict", None).await?)?;
    s.api.wait_for(|r| r.method == "GET" && r.path == "/conference/4711", DEFAULT_TIMEOUT).await?;
    s.client.join_muc(&format!("conflict@{MUC_DOMAIN}"), "alice").await?;
    s.client.leave_muc(&format!("conflict@{MUC_DOMAIN}"), "alice").await?;
    s.api.wait_for(is_delete(4711), DEFAULT_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn a_conflict_without_an_id_is_refused() -> Result<()> {
    let s = stack("").await?;
    s.api.script_post("noid", vec![Reply::json(409, json!({}))]);
    let (code, text) = reservation_error(&request_conference(&s.client, "noid", None).await?)?;
    assert_eq!(code, 409);
    assert!(text.contains("conflict_id"), "{text}");
    Ok(())
}

#[tokio::test]
async fn a_server_error_is_retried_and_the_second_answer_counts() -> Result<()> {
    let s = stack("").await?;
    s.api.script_post("flaky", vec![Reply::json(500, json!({"message": "db down"})), granted(9, "flaky", 3600)]);
    ready_conference(&request_conference(&s.client, "flaky", None).await?)?;
    assert_eq!(s.api.count(|r| r.method == "POST"), 2);
    Ok(())
}

#[tokio::test]
async fn a_hanging_api_times_out_with_its_own_code() -> Result<()> {
    let s = stack("").await?;
    s.api.script_post("slow", vec![Reply::hang()]);
    let (code, text) = reservation_error(&request_conference(&s.client, "slow", None).await?)?;
    assert_eq!((code, text.as_str()), (504, "Reservation lookup timed out"));
    assert_eq!(s.api.count(|r| r.method == "POST"), 1, "timeouts are not retried");
    Ok(())
}

#[tokio::test]
async fn html_instead_of_json_is_an_invalid_answer_not_a_crash() -> Result<()> {
    let s = stack("").await?;
    s.api.script_post("html", vec![Reply::html(200, "<html><body>It works!</body></html>")]);
    let (code, text) = reservation_error(&request_conference(&s.client, "html", None).await?)?;
    assert_eq!(code, 500);
    assert!(text.starts_with("Invalid response from reservation server"), "{text}");
    // The focus is still fine.
    ready_conference(&request_conference(&s.client, "after-html", None).await?)?;
    Ok(())
}

#[tokio::test]
async fn concurrent_requests_for_one_new_room_make_exactly_one_post() -> Result<()> {
    let s = stack("").await?;
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(TestClient::anonymous(s.prosody.c2s_port()).await?);
    }
    let replies = futures::future::join_all(clients.iter().map(|c| request_conference(c, "busy", None))).await;
    for reply in replies {
        ready_conference(&reply?)?;
    }
    assert_eq!(s.api.count(|r| r.method == "POST"), 1);
    Ok(())
}

#[tokio::test]
async fn the_reservation_is_deleted_when_the_room_empties_even_if_delete_fails_twice() -> Result<()> {
    let s = stack("").await?;
    s.api.script_post("empty", vec![granted(31, "empty", 3600)]);
    s.api.script_delete(31, vec![Reply::status(503), Reply::status(502), Reply::status(204)]);
    // Before each retry the focus checks that 31 is still this room's reservation.
    s.api.script_get(31, vec![granted(31, "empty", 3600), granted(31, "empty", 3600)]);
    ready_conference(&request_conference(&s.client, "empty", None).await?)?;
    let room = format!("empty@{MUC_DOMAIN}");
    s.client.join_muc(&room, "alice").await?;
    assert_eq!(s.api.count(is_delete(31)), 0);
    s.client.leave_muc(&room, "alice").await?;
    let deletes = s.api.wait_for_count(is_delete(31), 3, DEFAULT_TIMEOUT).await?;
    assert_eq!(deletes.len(), 3);
    assert_eq!(s.api.count(|r| r.method == "GET" && r.path == "/conference/31"), 2);
    Ok(())
}

#[tokio::test]
async fn when_the_reserved_time_is_over_the_room_is_destroyed_with_a_reason_and_deleted() -> Result<()> {
    let s = stack("").await?;
    s.api.script_post("short", vec![granted(55, "short", 2)]);
    ready_conference(&request_conference(&s.client, "short", None).await?)?;
    let room = format!("short@{MUC_DOMAIN}");
    s.client.join_muc(&room, "alice").await?;
    let gone = s
        .client
        .next_matching(
            |p| {
                p.name() == "presence"
                    && p.attr("from") == Some(&*format!("{room}/alice"))
                    && p.attr("type") == Some("unavailable")
            },
            DEFAULT_TIMEOUT,
        )
        .await?;
    let text = xml(&gone);
    assert!(text.contains("<destroy") && text.contains("reserved time"), "{text}");
    s.api.wait_for(is_delete(55), DEFAULT_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn a_room_nobody_enters_ends_after_the_initial_timeout() -> Result<()> {
    let s = stack("[conference]\ninitial_timeout = \"1s\"\n").await?;
    s.api.script_post("lonely", vec![granted(61, "lonely", 3600)]);
    ready_conference(&request_conference(&s.client, "lonely", None).await?)?;
    s.api.wait_for(is_delete(61), DEFAULT_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_precise_errors_through_prosody() -> Result<()> {
    let s = stack("").await?;
    let mut iq = harness::conference_iq("x", None);
    let conference = iq.get_child_mut("conference", harness::FOCUS_NS).unwrap();
    support::set_attr(conference, "room", "x@elsewhere.test");
    let (condition, text) = harness::error_condition(&s.client.iq(iq).await?)?;
    assert_eq!(condition, "bad-request");
    assert!(text.contains("must be on conference.meet.test"), "{text}");
    let iq = support::parse(
        "<iq xmlns='jabber:client' type='get' to='focus.meet.test'><unknown xmlns='urn:example:nope'/></iq>",
    );
    let (condition, _) = harness::error_condition(&s.client.iq(iq).await?)?;
    assert_eq!(condition, "service-unavailable");
    // An IQ get without payload (which tokio-xmpp's typed stanzas cannot represent) is still
    // answered, and the connection survives it.
    let iq = support::parse("<iq xmlns='jabber:client' type='get' to='focus.meet.test'/>");
    let (condition, _) = harness::error_condition(&s.client.iq(iq).await?)?;
    assert_eq!(condition, "bad-request");
    ready_conference(&request_conference(&s.client, "still-works", None).await?)?;
    Ok(())
}

#[tokio::test]
async fn a_cut_component_link_is_restored_and_the_conference_lives_on() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions { restrict_room_creation: true, ..Default::default() }).await?;
    let api = ReservationServer::start().await?;
    let proxy = support::TcpProxy::start(prosody.component_port()).await?;
    let _focus = Focus::start(config(proxy.port(), &reservation(&api.base_url())));
    let alice = TestClient::anonymous(prosody.c2s_port()).await?;
    harness::wait_focus_online(&alice).await?;
    api.script_post("durable", vec![granted(77, "durable", 3600)]);
    ready_conference(&request_conference(&alice, "durable", None).await?)?;
    let room = format!("durable@{MUC_DOMAIN}");
    alice.join_muc(&room, "alice").await?;

    proxy.cut();
    // Prosody now answers for the vanished component itself; reconnection attempts are refused.
    harness::wait_focus_offline(&alice).await?;
    proxy.restore();
    proxy.wait_accepted(2, Duration::from_secs(30)).await?;
    harness::wait_focus_online(&alice).await?;
    // A newcomer sees the focus in the room as owner; the live room is answered without a new
    // reservation call and nothing was deleted.
    let bob = TestClient::anonymous(prosody.c2s_port()).await?;
    let reply = request_conference(&bob, "durable", None).await?;
    ready_conference(&reply)?;
    let focus = join_and_find_focus(&bob, "durable", "bob").await?;
    assert_eq!(harness::muc_item(&focus).and_then(|i| i.attr("affiliation")), Some("owner"), "{}", xml(&focus));
    assert_eq!(api.count(|r| r.method == "POST"), 1);
    assert_eq!(api.count(is_delete(77)), 0);
    // And the conference still ends normally.
    alice.leave_muc(&room, "alice").await?;
    bob.leave_muc(&room, "bob").await?;
    api.wait_for(is_delete(77), DEFAULT_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn after_a_prosody_restart_the_focus_reconnects_by_itself() -> Result<()> {
    let mut s = stack("").await?;
    ready_conference(&request_conference(&s.client, "before", None).await?)?;
    s.prosody.restart().await?;
    let client = TestClient::anonymous(s.prosody.c2s_port()).await?;
    harness::wait_focus_online(&client).await?;
    ready_conference(&request_conference(&client, "after", None).await?)?;
    drop(s.focus);
    Ok(())
}
