//! Sign-in modes, sessions and moderators against a real Prosody with two VirtualHosts:
//! anonymous guests on meet.test and password users on auth.meet.test.

mod harness;
mod support;

use anyhow::Result;
use harness::{
    conference_iq, config, error_condition, ready_conference, request_conference, reservation, Focus, FOCUS_NS,
};
use minidom::Element;
use serde_json::json;
use support::{
    xml, Prosody, ProsodyOptions, Reply, ReservationServer, TestClient, AUTH_DOMAIN, DEFAULT_TIMEOUT, MUC_DOMAIN,
};

struct Stack {
    prosody: Prosody,
    api: ReservationServer,
    _focus: Focus,
}

async fn stack(mode: &str) -> Result<Stack> {
    let options = ProsodyOptions { restrict_room_creation: true, ..Default::default() }
        .with_user("alice", "alice-pw")
        .with_user("bob", "bob-pw");
    let prosody = Prosody::start(options).await?;
    let api = ReservationServer::start().await?;
    let auth = format!("[auth]\nmode = \"{mode}\"\ndomain = \"{AUTH_DOMAIN}\"\n");
    let focus = Focus::start(config(prosody.component_port(), &format!("{}{auth}", reservation(&api.base_url()))));
    let probe = TestClient::anonymous(prosody.c2s_port()).await?;
    harness::wait_focus_online(&probe).await?;
    Ok(Stack { prosody, api, _focus: focus })
}

impl Stack {
    async fn guest(&self) -> Result<TestClient> {
        TestClient::anonymous(self.prosody.c2s_port()).await
    }
    async fn user(&self, name: &str) -> Result<TestClient> {
        TestClient::login(self.prosody.c2s_port(), name, AUTH_DOMAIN, &format!("{name}-pw")).await
    }
}

fn conference(reply: &Element) -> &Element {
    reply.get_child("conference", FOCUS_NS).unwrap_or_else(|| panic!("no conference in {}", xml(reply)))
}

/// Waits for the presence in which `nick` has `affiliation`.
async fn affiliation_seen(client: &TestClient, room: &str, nick: &str, affiliation: &str) -> Result<Element> {
    let from = format!("{room}@{MUC_DOMAIN}/{nick}");
    client
        .next_matching(
            |p| {
                p.name() == "presence"
                    && p.attr("from") == Some(from.as_str())
                    && harness::muc_item(p).and_then(|i| i.attr("affiliation")) == Some(affiliation)
            },
            DEFAULT_TIMEOUT,
        )
        .await
}

#[tokio::test]
async fn a_guest_cannot_open_a_room_on_a_sign_in_deployment() -> Result<()> {
    let s = stack("xmpp").await?;
    let guest = s.guest().await?;
    let reply = guest.iq(conference_iq("closed", None)).await?;
    assert_eq!(error_condition(&reply)?, ("not-authorized".to_owned(), "not authorized user domain".to_owned()));
    assert_eq!(s.api.count(|_| true), 0);
    Ok(())
}

#[tokio::test]
async fn sign_in_defers_the_reservation_check_to_the_main_connection() -> Result<()> {
    let s = stack("xmpp").await?;
    s.api.script_post("meeting", vec![Reply::json(403, json!({"message": "Nicht gebucht – bitte reservieren"}))]);
    // The sign-in connection (lib-jitsi-meet's authenticate()): a session, not ready, no API call.
    let login = s.user("alice").await?;
    let reply = login.iq(conference_iq("meeting", None)).await?;
    let answer = conference(&reply);
    assert_eq!(answer.attr("ready"), Some("false"));
    assert_eq!(answer.attr("identity"), Some("alice@auth.meet.test"));
    let session = answer.attr("session-id").expect("session-id").to_owned();
    assert_eq!(s.api.count(|_| true), 0);
    // The main (guest) connection with the session: the check runs as alice and its refusal
    // is a reservation error.
    let main = s.guest().await?;
    let reply = main.iq(conference_iq("meeting", Some(&session))).await?;
    assert_eq!(harness::reservation_error(&reply)?, (403, "Nicht gebucht – bitte reservieren".to_owned()));
    let post = s.api.wait_for(|r| r.method == "POST", DEFAULT_TIMEOUT).await?;
    assert_eq!(post.field("mail_owner"), Some("alice@auth.meet.test"));
    Ok(())
}

#[tokio::test]
async fn signed_in_users_become_owners_and_guests_stay_participants() -> Result<()> {
    let s = stack("xmpp").await?;
    let login = s.user("alice").await?;
    let session = conference(&login.iq(conference_iq("team", None)).await?).attr("session-id").unwrap().to_owned();
    let alice = s.guest().await?;
    ready_conference(&request_conference(&alice, "team", Some(&session)).await?)?;
    let room = format!("team@{MUC_DOMAIN}");
    alice.join_muc(&room, "alice").await?;
    affiliation_seen(&alice, "team", "alice", "owner").await?;
    let guest = s.guest().await?;
    ready_conference(&request_conference(&guest, "team", None).await?)?;
    let own = guest.join_muc(&room, "guest").await?;
    assert_eq!(harness::muc_item(&own).and_then(|i| i.attr("affiliation")), Some("none"));
    // Joining does not make the guest an owner later either: alice sees the guest as "none"
    // and no owner presence for it follows (bob, signed in directly, is made owner instead).
    let bob = s.user("bob").await?;
    let first = bob.iq(conference_iq("team", None)).await?;
    let bob_session = conference(&first).attr("session-id").unwrap().to_owned();
    ready_conference(&request_conference(&bob, "team", Some(&bob_session)).await?)?;
    bob.join_muc(&room, "bob").await?;
    affiliation_seen(&alice, "team", "bob", "owner").await?;
    assert!(
        !alice.drain().iter().any(|p| p.attr("from") == Some(&*format!("{room}/guest"))
            && harness::muc_item(p).and_then(|i| i.attr("affiliation")) == Some("owner")),
        "the guest was made owner"
    );
    Ok(())
}

#[tokio::test]
async fn unknown_and_foreign_sessions_are_refused() -> Result<()> {
    let s = stack("xmpp").await?;
    let guest = s.guest().await?;
    let reply = guest.iq(conference_iq("any", Some("stale-session-from-local-storage"))).await?;
    let (condition, _) = error_condition(&reply)?;
    assert_eq!(condition, "not-acceptable");
    assert!(xml(&reply).contains("session-invalid"), "{}", xml(&reply));
    // A real session used with another machine-uid.
    let login = s.user("alice").await?;
    let session = conference(&login.iq(conference_iq("any", None)).await?).attr("session-id").unwrap().to_owned();
    let mut foreign = conference_iq("any", Some(&session));
    support::set_attr(
        foreign.get_child_mut("conference", FOCUS_NS).unwrap(),
        "machine-uid",
        "ffffffffffffffffffffffffffffffff",
    );
    let reply = guest.iq(foreign).await?;
    assert_eq!(error_condition(&reply)?, ("not-acceptable".to_owned(), "machine UID mismatch or empty".to_owned()));
    Ok(())
}

#[tokio::test]
async fn login_url_and_logout() -> Result<()> {
    let s = stack("xmpp").await?;
    let guest = s.guest().await?;
    let reply = guest
        .iq(support::parse(&format!("<iq xmlns='jabber:client' type='get' to='focus.meet.test'><login-url xmlns='{FOCUS_NS}' room='board@{MUC_DOMAIN}' machine-uid='m'/></iq>")))
        .await?;
    assert_eq!(
        reply.get_child("login-url", FOCUS_NS).and_then(|l| l.attr("url")),
        Some(".%2Fboard%3Flogin%3Dtrue"),
        "{}",
        xml(&reply)
    );
    let login = s.user("alice").await?;
    let session = conference(&login.iq(conference_iq("board", None)).await?).attr("session-id").unwrap().to_owned();
    let logout = || {
        support::parse(&format!("<iq xmlns='jabber:client' type='set' to='focus.meet.test'><logout xmlns='{FOCUS_NS}' session-id='{session}'/></iq>"))
    };
    assert_eq!(guest.iq(logout()).await?.attr("type"), Some("result"));
    let again = guest.iq(logout()).await?;
    assert!(xml(&again).contains("session-invalid"), "{}", xml(&again));
    // The session is gone for conference requests too.
    assert!(xml(&guest.iq(conference_iq("board", Some(&session))).await?).contains("session-invalid"));
    Ok(())
}

#[tokio::test]
async fn jwt_mode_checks_the_reservation_on_the_first_request() -> Result<()> {
    // Prosody validated the user at sign-in (here with a password; in production with a token):
    // no deferral, because lib-jitsi-meet keeps no session when externalAuth is true.
    let s = stack("jwt").await?;
    let user = s.user("alice").await?;
    let reply = user.iq(conference_iq("tokenroom", None)).await?;
    let answer = ready_conference(&reply)?;
    assert_eq!(answer.attr("ready"), Some("true"));
    assert!(xml(&reply).contains("name='externalAuth' value='true'"), "{}", xml(&reply));
    let post = s.api.wait_for(|r| r.method == "POST", DEFAULT_TIMEOUT).await?;
    assert_eq!(post.field("mail_owner"), Some("alice@auth.meet.test"));
    let reply = user.iq(support::parse(&format!("<iq xmlns='jabber:client' type='get' to='focus.meet.test'><login-url xmlns='{FOCUS_NS}' room='tokenroom@{MUC_DOMAIN}' machine-uid='m'/></iq>"))).await?;
    assert_eq!(error_condition(&reply)?.0, "service-unavailable");
    Ok(())
}

#[tokio::test]
async fn without_sign_in_one_owner_is_kept_as_participants_leave_in_turn() -> Result<()> {
    let s = stack("none").await?;
    let room = format!("trio@{MUC_DOMAIN}");
    let mut clients = Vec::new();
    for nick in ["ann", "bea", "cyd"] {
        let client = s.guest().await?;
        ready_conference(&request_conference(&client, "trio", None).await?)?;
        client.join_muc(&room, nick).await?;
        clients.push((nick, client));
    }
    let (_, watcher) = &clients[2];
    affiliation_seen(watcher, "trio", "ann", "owner").await?;
    clients[0].1.leave_muc(&room, "ann").await?;
    affiliation_seen(watcher, "trio", "bea", "owner").await?;
    clients[1].1.leave_muc(&room, "bea").await?;
    affiliation_seen(watcher, "trio", "cyd", "owner").await?;
    Ok(())
}
