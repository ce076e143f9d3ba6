//! Media signalling through real Prosody with real test bridges (tests/test-bridge): bridge
//! discovery in the brewery, Colibri2 allocation, session-initiate / session-accept, source
//! propagation, and moves when a bridge dies, fails its health check, drains or shuts down.

mod harness;
mod support;

use std::time::Duration;

use anyhow::Result;
use harness::error_condition as error_condition_of;
use harness::participant::{self, Participant, FEATURES_2020, FEATURES_CURRENT};
use jitsi_test_bridge::{ColibriFailure, ColibriMode, HealthMode, TestBridge, TestBridgeConfig};
use support::{Prosody, ProsodyOptions, DEFAULT_TIMEOUT, DOMAIN, INTERNAL_MUC_DOMAIN};

const BREWERY: &str = "jvbbrewery";

fn brewery() -> String {
    format!("{BREWERY}@{INTERNAL_MUC_DOMAIN}")
}

async fn bridge(prosody: &Prosody, nick: &str) -> Result<TestBridge> {
    let config = TestBridgeConfig::new(format!("127.0.0.1:{}", prosody.c2s_port()), DOMAIN, brewery(), nick);
    Ok(TestBridge::start(config).await?)
}

fn focus(prosody: &Prosody, extra: &str) -> harness::Focus {
    let bridges = format!("[bridges]\nbrewery = \"{}\"\nhealth_interval = \"1s\"\nhealth_timeout = \"1s\"\nfailure_reset = \"1s\"\n{extra}", brewery());
    harness::Focus::start(harness::config(prosody.component_port(), &bridges))
}

/// Two participants in `room`, each having answered disco with `features`.
async fn two_participants(prosody: &Prosody, room: &str, features: &[&str]) -> Result<(Participant, Participant)> {
    let alice = Participant::join(prosody.c2s_port(), room, "alice").await?;
    alice.answer_disco(features).await?;
    let bob = Participant::join(prosody.c2s_port(), room, "bob").await?;
    bob.answer_disco(features).await?;
    Ok((alice, bob))
}

#[tokio::test]
async fn participants_are_allocated_on_the_bridge_and_see_each_others_sources() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let jvb = bridge(&prosody, "jvb-1").await?;
    let _focus = focus(&prosody, "");
    let (alice, bob) = two_participants(&prosody, "media1", FEATURES_2020).await?;

    let alice_init = alice.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
    let bob_init = bob.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
    for init in [&alice_init, &bob_init] {
        assert_eq!(participant::candidate_port(init), Some(jvb.udp_addr().port()), "the bridge's transport");
        assert!(participant::bridge_session(init).is_some());
        // The 2020 client never gets the bridge's feedback sources (media-facts §1).
        assert!(participant::ssrcs(init).is_empty(), "no sources yet: {}", support::xml(init));
    }

    // Sources reach a participant once its own session is accepted (queued until then, as
    // Jicofo does): Alice's go to Bob right after his accept, Bob's to Alice at once.
    alice.accept(&alice_init, 1111, (2221, 2222)).await?;
    bob.accept(&bob_init, 3331, (4441, 4442)).await?;
    let add = bob.expect_jingle("source-add", DEFAULT_TIMEOUT).await?;
    let mut got = participant::ssrcs(&add);
    got.sort();
    assert_eq!(got, [1111, 2221, 2222]);
    let xml = support::xml(&add);
    // Owner as the full occupant JID for old clients, and an msid the client did not send.
    assert!(xml.contains("media1@conference.meet.test/alice"), "{xml}");
    assert!(xml.contains("msid"), "{xml}");
    let add = alice.expect_jingle("source-add", DEFAULT_TIMEOUT).await?;
    let mut got = participant::ssrcs(&add);
    got.sort();
    assert_eq!(got, [3331, 4441, 4442]);

    // The bridge has both endpoints with their transports and sources.
    let view = jvb
        .wait_for(DEFAULT_TIMEOUT, "both endpoints with sources", |v| {
            v.conferences
                .values()
                .any(|c| c.endpoints.len() == 2 && c.endpoints.values().all(|e| !e.sources.is_empty()))
        })
        .await?;
    assert_eq!(view.conferences.len(), 1);

    // Bob leaves: his endpoint is expired on the bridge.
    bob.client.leave_muc(&bob.room, "bob").await?;
    jvb.wait_for(DEFAULT_TIMEOUT, "bob expired", |v| v.conferences.values().all(|c| c.endpoints.len() <= 1)).await?;
    Ok(())
}

#[tokio::test]
async fn a_killed_bridge_moves_everyone_to_the_other_within_five_seconds() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let first = bridge(&prosody, "jvb-1").await?;
    let _focus = focus(&prosody, "");
    let (alice, bob) = two_participants(&prosody, "move1", FEATURES_CURRENT).await?;
    let alice_init = alice.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
    let bob_init = bob.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
    alice.accept(&alice_init, 1111, (2221, 2222)).await?;
    bob.accept(&bob_init, 3331, (4441, 4442)).await?;
    let second = bridge(&prosody, "jvb-2").await?;

    first.kill().await;
    // The bound: everyone is on the other bridge within 5 s of the kill.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
    for (p, old) in [(&alice, &alice_init), (&bob, &bob_init)] {
        let terminate = p.expect_jingle("session-terminate", left()).await?;
        assert_eq!(terminate.attr("sid"), old.attr("sid"));
        let init = p.expect_jingle("session-initiate", left()).await?;
        assert_eq!(participant::candidate_port(&init), Some(second.udp_addr().port()));
        assert_ne!(participant::bridge_session(&init), participant::bridge_session(old));
    }
    println!("both participants re-invited on the other bridge {:?} after the kill", Duration::from_secs(5) - left());
    Ok(())
}

#[tokio::test]
async fn a_failed_health_check_moves_everyone_and_the_bridge_comes_back() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let first = bridge(&prosody, "jvb-1").await?;
    let _focus = focus(&prosody, "");
    let (alice, bob) = two_participants(&prosody, "health1", FEATURES_CURRENT).await?;
    let alice_init = alice.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
    bob.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
    let second = bridge(&prosody, "jvb-2").await?;

    first.set_health(HealthMode::Fail);
    alice.expect_jingle("session-terminate", DEFAULT_TIMEOUT).await?;
    let init = alice.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
    assert_eq!(participant::candidate_port(&init), Some(second.udp_addr().port()));
    assert_ne!(participant::bridge_session(&init), participant::bridge_session(&alice_init));

    // The first bridge recovers; the second one goes away: new conferences use the first again.
    first.set_health(HealthMode::Healthy);
    // Two checks answered healthy: the focus has read at least the first, and the failure is
    // older than failure_reset (1 s).
    let checks = first.counters().health_checks;
    first.wait_for(DEFAULT_TIMEOUT, "two passed health checks", |v| v.counters.health_checks >= checks + 2).await?;
    second.stop().await;
    let (carol, dave) = two_participants(&prosody, "health2", FEATURES_CURRENT).await?;
    let init = carol.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
    assert_eq!(participant::candidate_port(&init), Some(first.udp_addr().port()));
    dave.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn without_a_bridge_the_focus_says_so_and_invites_when_one_joins() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let _focus = focus(&prosody, "");
    let (alice, bob) = two_participants(&prosody, "nobridge", FEATURES_CURRENT).await?;
    let focus_occupant = alice.focus_occupant();
    alice
        .client
        .next_matching(
            |s| {
                s.name() == "presence"
                    && s.attr("from") == Some(focus_occupant.as_str())
                    && s.get_child("bridgeNotAvailable", participant::NS_FOCUS).is_some()
            },
            DEFAULT_TIMEOUT,
        )
        .await?;
    let jvb = bridge(&prosody, "jvb-late").await?;
    let init = alice.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
    assert_eq!(participant::candidate_port(&init), Some(jvb.udp_addr().port()));
    bob.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn draining_and_graceful_shutdown_bridges_get_no_new_conferences() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let draining = bridge(&prosody, "jvb-drain").await?;
    draining.set_drain(true);
    let graceful = bridge(&prosody, "jvb-graceful").await?;
    graceful.set_graceful_shutdown(true);
    let normal = bridge(&prosody, "jvb-normal").await?;
    // Stress makes the normal bridge the least attractive by load alone.
    normal.set_stress_level(0.5);
    let _focus = focus(&prosody, "");
    let (alice, _bob) = two_participants(&prosody, "drain1", FEATURES_CURRENT).await?;
    let init = alice.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
    assert_eq!(participant::candidate_port(&init), Some(normal.udp_addr().port()));
    Ok(())
}

#[tokio::test]
async fn a_colibri_graceful_shutdown_refusal_moves_the_allocation_elsewhere() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let refusing = bridge(&prosody, "jvb-1").await?;
    refusing.set_colibri(ColibriMode::Error(ColibriFailure::new("service-unavailable", Some("graceful_shutdown"))));
    refusing.set_stress_level(0.0);
    let other = bridge(&prosody, "jvb-2").await?;
    other.set_stress_level(0.3);
    let _focus = focus(&prosody, "");
    let (alice, bob) = two_participants(&prosody, "refuse1", FEATURES_CURRENT).await?;
    for p in [&alice, &bob] {
        let init = p.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
        assert_eq!(participant::candidate_port(&init), Some(other.udp_addr().port()));
    }
    Ok(())
}

#[tokio::test]
async fn every_jingle_request_is_answered_and_bad_ones_precisely() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let _jvb = bridge(&prosody, "jvb-1").await?;
    let _focus = focus(&prosody, "");
    let (alice, bob) = two_participants(&prosody, "hostile1", FEATURES_CURRENT).await?;
    let alice_init = alice.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
    let bob_init = bob.expect_jingle("session-initiate", DEFAULT_TIMEOUT).await?;
    let sid = alice_init.attr("sid").unwrap().to_owned();

    let wrong_sid = participant::session_accept("nope", 1, (2, 3));
    let (condition, text) = error_condition_of(&alice.send_jingle(wrong_sid).await?)?;
    assert_eq!((condition.as_str(), text.as_str()), ("bad-request", "unknown session 'nope'"));

    let odd: minidom::Element =
        format!("<jingle xmlns='urn:xmpp:jingle:1' action='content-modify' sid='{sid}'/>").parse()?;
    let (condition, _) = error_condition_of(&alice.send_jingle(odd).await?)?;
    assert_eq!(condition, "feature-not-implemented");

    alice.accept(&alice_init, 1111, (2221, 2222)).await?;
    // Bob claims Alice's SSRC: refused, and his session ends.
    let stolen = participant::session_accept(bob_init.attr("sid").unwrap(), 1111, (5551, 5552));
    let (condition, _) = error_condition_of(&bob.send_jingle(stolen).await?)?;
    assert_eq!(condition, "bad-request");

    // Mute: a participant that is not a moderator may not mute others.
    let (moderator, other) = (&alice, &bob); // alice joined first: she is the moderator
    let mute = |target: &str| -> minidom::Element {
        format!("<mute xmlns='http://jitsi.org/jitmeet/audio' jid='{target}'>true</mute>").parse().unwrap()
    };
    let mut iq =
        minidom::Element::builder("iq", support::NS_CLIENT).append(mute(&format!("{}/alice", other.room))).build();
    support::set_attr(&mut iq, "type", "set");
    support::set_attr(&mut iq, "to", &other.focus_occupant());
    let (condition, _) = error_condition_of(&other.client.iq(iq).await?)?;
    assert_eq!(condition, "not-allowed");
    let mut iq =
        minidom::Element::builder("iq", support::NS_CLIENT).append(mute(&format!("{}/bob", moderator.room))).build();
    support::set_attr(&mut iq, "type", "set");
    support::set_attr(&mut iq, "to", &moderator.focus_occupant());
    let reply = moderator.client.iq(iq).await?;
    assert_eq!(reply.attr("type"), Some("result"), "{}", support::xml(&reply));
    Ok(())
}
