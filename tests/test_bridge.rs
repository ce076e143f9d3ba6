//! The test bridge (`tests/test-bridge`, crate `jitsi-test-bridge`) against a real Prosody, seen
//! the way the focus sees a JVB: as an occupant of the brewery room that sends it health
//! checks and Colibri2, and with a real ICE/DTLS peer (str0m, as a browser would be) connecting
//! to the transport the bridge answered.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use jitsi_test_bridge::str0m::channel::ChannelConfig;
use jitsi_test_bridge::str0m::config::Fingerprint;
use jitsi_test_bridge::str0m::net::{DatagramRecv, Protocol, Receive};
use jitsi_test_bridge::str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};
use jitsi_test_bridge::{ColibriFailure, ColibriMode, HealthMode, TestBridge, TestBridgeConfig};
use minidom::Element;
use support::{
    from_of, parse, xml, Prosody, ProsodyOptions, TestClient, AUTH_DOMAIN, DEFAULT_TIMEOUT, DOMAIN, INTERNAL_MUC_DOMAIN,
};
use tokio::net::UdpSocket;
use tokio::sync::watch;

const NS_COLIBRI: &str = "http://jitsi.org/protocol/colibri";
const NS_COLIBRI2: &str = "jitsi:colibri2";
const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
const NS_ICE_UDP: &str = "urn:xmpp:jingle:transports:ice-udp:1";
const NS_DTLS: &str = "urn:xmpp:jingle:apps:dtls:0";
const NS_SSMA: &str = "urn:xmpp:jingle:apps:rtp:ssma:0";

fn brewery() -> String {
    format!("jvbbrewery@{INTERNAL_MUC_DOMAIN}")
}

/// `name -> value` of a presence's `<stats xmlns='http://jitsi.org/protocol/colibri'>`.
fn stats_of(presence: &Element) -> Option<HashMap<String, String>> {
    let stats = presence.get_child("stats", NS_COLIBRI)?;
    Some(
        stats
            .children()
            .filter(|s| s.name() == "stat")
            .filter_map(|s| Some((s.attr("name")?.to_string(), s.attr("value")?.to_string())))
            .collect(),
    )
}

/// Waits for the next presence of `occupant` matching `pred` on its stats.
async fn next_stats(
    client: &TestClient,
    occupant: &str,
    pred: impl Fn(&HashMap<String, String>) -> bool,
) -> Result<HashMap<String, String>> {
    let presence = client
        .next_matching(
            |s| {
                s.name() == "presence"
                    && from_of(s) == occupant
                    && s.attr("type").is_none()
                    && stats_of(s).is_some_and(|stats| pred(&stats))
            },
            DEFAULT_TIMEOUT,
        )
        .await?;
    Ok(stats_of(&presence).expect("matched on stats"))
}

async fn next_unavailable(client: &TestClient, occupant: &str) -> Result<Element> {
    client
        .next_matching(
            |s| s.name() == "presence" && from_of(s) == occupant && s.attr("type") == Some("unavailable"),
            DEFAULT_TIMEOUT,
        )
        .await
}

fn healthcheck(to: &str) -> Element {
    parse(&format!(
        "<iq xmlns='jabber:client' type='get' to='{to}'><healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/></iq>"
    ))
}

fn colibri2(to: &str, payload: &str) -> Element {
    parse(&format!("<iq xmlns='jabber:client' type='get' to='{to}'>{payload}</iq>"))
}

/// The first endpoint create as Jicofo sends it (media, transport asking for SCTP, sources).
fn create_request(meeting: &str, endpoint: &str) -> String {
    format!(
        "<conference-modify xmlns='jitsi:colibri2' meeting-id='{meeting}' name='room1@conference.meet.test' create='true'>\
           <endpoint id='{endpoint}' create='true' stats-id='Jane-Xyz'>\
             <capability name='source-names'/>\
             <media type='audio'>\
               <payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='111' name='opus' clockrate='48000' channels='2'/>\
               <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/>\
             </media>\
             <media type='video'>\
               <payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='100' name='VP8' clockrate='90000'/>\
             </media>\
             <transport ice-controlling='true'><sctp/></transport>\
             <sources/>\
           </endpoint>\
         </conference-modify>"
    )
}

/// `(condition, text, colibri2 reason)` of an error reply.
fn error_of(reply: &Element) -> Result<(String, String, Option<String>)> {
    if reply.attr("type") != Some("error") {
        bail!("expected an error, got {}", xml(reply));
    }
    let error = reply.get_child("error", "jabber:client").ok_or_else(|| anyhow!("no <error>: {}", xml(reply)))?;
    let condition = error
        .children()
        .find(|c| c.ns() == NS_STANZAS && c.name() != "text")
        .map(|c| c.name().to_string())
        .unwrap_or_default();
    let text = error.get_child("text", NS_STANZAS).map(|t| t.text()).unwrap_or_default();
    let reason = error.get_child("error", NS_COLIBRI2).and_then(|r| r.attr("reason")).map(str::to_string);
    Ok((condition, text, reason))
}

/// What the bridge answered for an endpoint's transport.
struct BridgeTransport {
    ufrag: String,
    pwd: String,
    fingerprint: String,
    candidate: SocketAddr,
}

fn bridge_transport(reply: &Element) -> Result<BridgeTransport> {
    let modified = reply
        .get_child("conference-modified", NS_COLIBRI2)
        .ok_or_else(|| anyhow!("no conference-modified: {}", xml(reply)))?;
    let ice = modified
        .get_child("endpoint", NS_COLIBRI2)
        .and_then(|e| e.get_child("transport", NS_COLIBRI2))
        .and_then(|t| t.get_child("transport", NS_ICE_UDP))
        .ok_or_else(|| anyhow!("no ICE transport: {}", xml(reply)))?;
    let fingerprint = ice.get_child("fingerprint", NS_DTLS).ok_or_else(|| anyhow!("no fingerprint"))?;
    let candidate = ice.get_child("candidate", NS_ICE_UDP).ok_or_else(|| anyhow!("no candidate"))?;
    Ok(BridgeTransport {
        ufrag: ice.attr("ufrag").unwrap_or_default().to_string(),
        pwd: ice.attr("pwd").unwrap_or_default().to_string(),
        fingerprint: format!("{} {}", fingerprint.attr("hash").unwrap_or_default(), fingerprint.text()),
        candidate: format!(
            "{}:{}",
            candidate.attr("ip").unwrap_or_default(),
            candidate.attr("port").unwrap_or_default()
        )
        .parse()?,
    })
}

#[derive(Debug, Clone, Default)]
struct PeerState {
    ice_connected: bool,
    dtls_connected: bool,
    channel_open: bool,
    failure: Option<String>,
}

/// A client peer as a browser is one towards JVB: ICE controlled, DTLS active (it answers the
/// bridge's actpass), SCTP client opening the bridge channel. str0m, direct API, own socket.
struct ClientPeer {
    ufrag: String,
    pwd: String,
    fingerprint: Fingerprint,
    addr: SocketAddr,
    state: watch::Receiver<PeerState>,
    task: tokio::task::JoinHandle<()>,
}

impl ClientPeer {
    async fn start(bridge: &BridgeTransport) -> Result<ClientPeer> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = socket.local_addr()?;
        let mut rtc = RtcConfig::new().set_rtp_mode(true).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(addr, "udp")?).ok_or_else(|| anyhow!("local candidate refused"))?;
        rtc.add_remote_candidate(Candidate::host(bridge.candidate, "udp")?);
        let fingerprint: Fingerprint = bridge.fingerprint.parse().map_err(|e: String| anyhow!(e))?;
        let mut api = rtc.direct_api();
        api.set_ice_controlling(false);
        api.set_remote_ice_credentials(IceCreds { ufrag: bridge.ufrag.clone(), pass: bridge.pwd.clone() });
        api.set_remote_fingerprint(fingerprint);
        api.start_dtls(true)?;
        api.start_sctp(true);
        api.create_data_channel(ChannelConfig { label: "JVB data channel".into(), ..Default::default() });
        let creds = api.local_ice_credentials();
        let fingerprint = api.local_dtls_fingerprint().clone();
        let (tx, state) = watch::channel(PeerState::default());
        let task = tokio::spawn(run_peer(rtc, socket, tx));
        Ok(ClientPeer { ufrag: creds.ufrag, pwd: creds.pass, fingerprint, addr, state, task })
    }

    /// The Colibri2 transport update carrying this peer's side (as Jicofo forwards a
    /// session-accept).
    fn transport_update(&self, meeting: &str, endpoint: &str) -> String {
        let hex: Vec<String> = self.fingerprint.bytes.iter().map(|b| format!("{b:02X}")).collect();
        format!(
            "<conference-modify xmlns='jitsi:colibri2' meeting-id='{meeting}'>\
               <endpoint id='{endpoint}'>\
                 <transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='{ufrag}' pwd='{pwd}'>\
                   <rtcp-mux/>\
                   <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>{fp}</fingerprint>\
                   <candidate component='1' foundation='1' generation='0' id='peer1' network='0' priority='2130706431' \
                      protocol='udp' type='host' ip='{ip}' port='{port}'/>\
                 </transport></transport>\
                 <sources><media-source type='audio' id='{endpoint}-a0'>\
                   <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1234' name='{endpoint}-a0'/>\
                 </media-source></sources>\
               </endpoint>\
             </conference-modify>",
            ufrag = self.ufrag,
            pwd = self.pwd,
            fp = hex.join(":"),
            ip = self.addr.ip(),
            port = self.addr.port(),
        )
    }

    async fn wait_connected(&mut self) -> Result<PeerState> {
        let waited = tokio::time::timeout(
            DEFAULT_TIMEOUT,
            self.state.wait_for(|s| (s.ice_connected && s.dtls_connected && s.channel_open) || s.failure.is_some()),
        )
        .await
        .map(|r| r.map(|s| s.clone()));
        let state = match waited {
            Ok(state) => state?,
            Err(_) => bail!("client peer not connected in time: {:?}", *self.state.borrow()),
        };
        match state.failure {
            Some(f) => bail!("client peer failed: {f}"),
            None => Ok(state),
        }
    }
}

impl Drop for ClientPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run_peer(mut rtc: Rtc, socket: UdpSocket, state: watch::Sender<PeerState>) {
    let local = socket.local_addr().expect("bound");
    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(at)) => break at,
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Event(event)) => state.send_modify(|s| match event {
                    Event::IceConnectionStateChange(IceConnectionState::Connected | IceConnectionState::Completed) => {
                        s.ice_connected = true
                    }
                    Event::Connected => s.dtls_connected = true,
                    Event::ChannelOpen(..) => s.channel_open = true,
                    _ => {}
                }),
                Err(e) => {
                    state.send_modify(|s| s.failure = Some(e.to_string()));
                    return;
                }
            }
        };
        let input = tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, source)) => match DatagramRecv::try_from(&buf[..n]) {
                    Ok(contents) => Input::Receive(
                        Instant::now(),
                        Receive { proto: Protocol::Udp, source, destination: local, contents },
                    ),
                    Err(_) => continue,
                },
                Err(_) => continue,
            },
            _ = tokio::time::sleep_until(deadline.into()) => Input::Timeout(Instant::now()),
        };
        if let Err(e) = rtc.handle_input(input) {
            state.send_modify(|s| s.failure = Some(e.to_string()));
            return;
        }
    }
}

/// Brewery presence with stats, health checks and their failure switch, Colibri2 answers and
/// errors, a real ICE+DTLS(+SCTP) connection to a client peer, the Colibri2 failure switches,
/// leaving and re-joining the brewery, and a kill — all seen from an occupant of the brewery,
/// as the focus sees a bridge.
#[tokio::test]
async fn test_bridge_speaks_what_jvb_speaks() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default().with_user("jvb", "jvb-secret")).await?;
    let brewery = brewery();
    // The focus must be an occupant of the brewery to send IQs to bridges.
    let focus = TestClient::anonymous(prosody.c2s_port()).await?;
    focus.join_muc(&brewery, "focus").await?;

    let mut config = TestBridgeConfig::new(format!("127.0.0.1:{}", prosody.c2s_port()), AUTH_DOMAIN, &brewery, "jvb-1")
        .with_password("jvb", "jvb-secret");
    config.switches.region = Some("eu-west".into());
    config.switches.relay_id = Some("relay-jvb-1".into());
    let bridge = TestBridge::start(config).await.context("starting the test bridge")?;
    let jvb = bridge.occupant_jid().to_string();
    assert_eq!(jvb, format!("{brewery}/jvb-1"));
    assert!(bridge.jid().starts_with("jvb@auth.meet.test/"), "{}", bridge.jid());

    // 1. The bridge's presence in the brewery carries JVB's stats.
    let stats = next_stats(&focus, &jvb, |_| true).await?;
    for name in [
        "stress_level",
        "conferences",
        "participants",
        "region",
        "version",
        "relay_id",
        "drain",
        "graceful_shutdown",
        "shutting_down",
        "healthy",
    ] {
        assert!(stats.contains_key(name), "stat {name} missing: {stats:?}");
    }
    assert_eq!(stats["stress_level"], "0.0");
    assert_eq!(stats["region"], "eu-west");
    assert_eq!(stats["relay_id"], "relay-jvb-1");
    assert_eq!(stats["drain"], "false");
    assert_eq!(stats["healthy"], "true");
    assert_eq!(stats["conferences"], "0");

    // A switch change is advertised at once (not at the next periodic presence, 5 s away).
    bridge.set_drain(true);
    bridge.set_stress_level(0.9);
    let stats = next_stats(&focus, &jvb, |s| s.get("stress_level").map(String::as_str) == Some("0.9")).await?;
    assert_eq!(stats["drain"], "true");
    bridge.update_switches(|s| {
        s.drain = false;
        s.graceful_shutdown = true;
        s.shutting_down = true;
    });
    let stats = next_stats(&focus, &jvb, |s| s.get("shutting_down").map(String::as_str) == Some("true")).await?;
    assert_eq!((stats["graceful_shutdown"].as_str(), stats["drain"].as_str()), ("true", "false"));
    bridge.update_switches(|s| {
        s.graceful_shutdown = false;
        s.shutting_down = false;
    });
    next_stats(&focus, &jvb, |s| s.get("graceful_shutdown").map(String::as_str) == Some("false")).await?;

    // 2. Health checks: an empty result, then the failure switch, then silence.
    let reply = focus.iq(healthcheck(&jvb)).await?;
    assert_eq!(reply.attr("type"), Some("result"), "{}", xml(&reply));
    assert_eq!(from_of(&reply), jvb);
    bridge.set_health(HealthMode::Fail);
    let reply = focus.iq(healthcheck(&jvb)).await?;
    assert_eq!(error_of(&reply)?.0, "internal-server-error");
    let stats = next_stats(&focus, &jvb, |s| s.get("healthy").map(String::as_str) == Some("false")).await?;
    assert_eq!(stats["healthy"], "false");
    bridge.set_health(HealthMode::Timeout);
    let checks = bridge.counters().health_checks;
    let mut silent = healthcheck(&jvb);
    support::set_attr(&mut silent, "id", "silent-health");
    focus.send(silent).await?;
    bridge.wait_for(DEFAULT_TIMEOUT, "the unanswered health check", |v| v.counters.health_checks > checks).await?;
    bridge.set_health(HealthMode::Healthy);
    // IQs are answered in order: once a later one is answered, the silent one never will be.
    let reply = focus.iq(healthcheck(&jvb)).await?;
    assert_eq!(reply.attr("type"), Some("result"));
    assert!(
        !focus.drain().iter().any(|s| s.attr("id") == Some("silent-health")),
        "the health check in timeout mode was answered"
    );

    // 3. Colibri2: conference and endpoint create.
    let reply = focus.iq(colibri2(&jvb, &create_request("meeting-1", "ep1"))).await?;
    assert_eq!(reply.attr("type"), Some("result"), "{}", xml(&reply));
    let modified = reply.get_child("conference-modified", NS_COLIBRI2).expect("conference-modified");
    let endpoint = modified.get_child("endpoint", NS_COLIBRI2).expect("endpoint");
    assert_eq!(endpoint.attr("id"), Some("ep1"));
    let colibri_transport = endpoint.get_child("transport", NS_COLIBRI2).expect("transport");
    let ice = colibri_transport.get_child("transport", NS_ICE_UDP).expect("ice-udp transport");
    assert!(ice.attr("ufrag").is_some_and(|u| !u.is_empty()) && ice.attr("pwd").is_some_and(|p| p.len() >= 22));
    assert!(ice.has_child("rtcp-mux", NS_ICE_UDP));
    let fingerprint = ice.get_child("fingerprint", NS_DTLS).expect("fingerprint");
    assert_eq!((fingerprint.attr("hash"), fingerprint.attr("setup")), (Some("sha-256"), Some("actpass")));
    assert_eq!(fingerprint.text().split(':').count(), 32, "a sha-256 fingerprint: {}", fingerprint.text());
    let candidate = ice.get_child("candidate", NS_ICE_UDP).expect("candidate");
    assert_eq!(
        (candidate.attr("type"), candidate.attr("protocol"), candidate.attr("ip")),
        (Some("host"), Some("udp"), Some("127.0.0.1"))
    );
    assert_eq!(candidate.attr("port"), Some(bridge.udp_addr().port().to_string().as_str()));
    let sctp = colibri_transport.get_child("sctp", NS_COLIBRI2).expect("sctp asked for, sctp answered");
    assert_eq!(sctp.attr("port"), Some("5000"));
    let sources = modified.get_child("sources", NS_COLIBRI2).expect("feedback sources");
    let feedback: Vec<(String, String, u32)> = sources
        .children()
        .map(|ms| {
            let source = ms.get_child("source", NS_SSMA).expect("source");
            (
                ms.attr("type").unwrap_or_default().to_string(),
                ms.attr("id").unwrap_or_default().to_string(),
                source.attr("ssrc").and_then(|s| s.parse().ok()).expect("numeric ssrc"),
            )
        })
        .collect();
    let conference = bridge.conference("meeting-1").expect("conference kept");
    assert_eq!(
        feedback,
        vec![
            ("audio".into(), "jvb-a0".into(), conference.feedback_audio_ssrc),
            ("video".into(), "jvb-v0".into(), conference.feedback_video_ssrc),
        ]
    );
    let ep1 = bridge.endpoint("meeting-1", "ep1").expect("endpoint kept");
    assert_eq!(ep1.media.len(), 2);
    assert!(ep1.sctp && ep1.ice_controlling);

    // Errors, as JVB shapes them.
    let reply = focus.iq(colibri2(&jvb, &create_request("meeting-1", "ep2"))).await?;
    let (condition, text, reason) = error_of(&reply)?;
    assert_eq!(condition, "conflict");
    assert_eq!(text, "Conference already exists for ID: meeting-1");
    assert_eq!(reason.as_deref(), Some("conference_already_exists"));
    let no_capability = "<conference-modify xmlns='jitsi:colibri2' meeting-id='meeting-1'>\
           <endpoint id='ep3' create='true'><transport ice-controlling='true'/></endpoint></conference-modify>";
    let (condition, text, reason) = error_of(&focus.iq(colibri2(&jvb, no_capability)).await?)?;
    assert_eq!((condition.as_str(), text.as_str(), reason), ("bad-request", "Source name support is mandatory.", None));
    let unknown = "<conference-modify xmlns='jitsi:colibri2' meeting-id='nope'><endpoint id='x' expire='true'/></conference-modify>";
    let (condition, _, reason) = error_of(&focus.iq(colibri2(&jvb, unknown)).await?)?;
    assert_eq!((condition.as_str(), reason.as_deref()), ("item-not-found", Some("conference_not_found")));

    // 4. A client peer connects to the answered transport after the transport update.
    let answered = bridge_transport(&reply_for_create(&focus, &jvb, "meeting-2", "ep1").await?)?;
    let mut peer = ClientPeer::start(&answered).await?;
    let reply = focus.iq(colibri2(&jvb, &peer.transport_update("meeting-2", "ep1"))).await?;
    assert_eq!(reply.attr("type"), Some("result"), "{}", xml(&reply));
    let peer_state = peer.wait_connected().await?;
    assert!(peer_state.ice_connected && peer_state.dtls_connected && peer_state.channel_open);
    let ep = bridge.wait_endpoint_connected("meeting-2", "ep1", DEFAULT_TIMEOUT).await?;
    assert!(ep.transport.ice_connected && ep.transport.dtls_connected, "{:?}", ep.transport);
    let ep = bridge
        .wait_for(DEFAULT_TIMEOUT, "the bridge channel", |v| {
            v.endpoint("meeting-2", "ep1").is_some_and(|e| e.transport.data_channel.is_some())
        })
        .await?
        .endpoint("meeting-2", "ep1")
        .expect("endpoint");
    assert_eq!(ep.transport.data_channel.as_deref(), Some("JVB data channel"));
    assert_eq!(ep.sources.len(), 1);
    assert_eq!(ep.remote.as_ref().and_then(|r| r.ufrag.as_deref()), Some(peer.ufrag.as_str()));
    let counters = bridge.counters();
    assert!(counters.ice_connected >= 1 && counters.dtls_connected >= 1, "{counters:?}");

    // Presence reports the load (two conferences, two endpoints); a switch change sends one now.
    bridge.set_version("2.3.1-test");
    let stats = next_stats(&focus, &jvb, |s| s.get("version").map(String::as_str) == Some("2.3.1-test")).await?;
    assert_eq!(stats["conferences"], "2");
    assert_eq!(stats["participants"], "2");

    // Expiring the last endpoint expires the conference.
    let expire = "<conference-modify xmlns='jitsi:colibri2' meeting-id='meeting-2'><endpoint id='ep1' expire='true'/></conference-modify>";
    assert_eq!(focus.iq(colibri2(&jvb, expire)).await?.attr("type"), Some("result"));
    assert!(bridge.conference("meeting-2").is_none());

    // 5. Colibri2 failure switches: a configured error, then silence.
    bridge.set_colibri(ColibriMode::Error(ColibriFailure::new("service-unavailable", Some("graceful_shutdown"))));
    let (condition, text, reason) = error_of(&focus.iq(colibri2(&jvb, &create_request("meeting-3", "ep1"))).await?)?;
    assert_eq!((condition.as_str(), reason.as_deref()), ("service-unavailable", Some("graceful_shutdown")));
    assert_eq!(text, "In graceful shutdown");
    bridge.set_colibri(ColibriMode::NoAnswer);
    let unanswered = bridge.counters().colibri_unanswered;
    let mut silent = colibri2(&jvb, &create_request("meeting-3", "ep1"));
    support::set_attr(&mut silent, "id", "silent-colibri");
    focus.send(silent).await?;
    bridge
        .wait_for(DEFAULT_TIMEOUT, "the unanswered Colibri2 request", |v| v.counters.colibri_unanswered > unanswered)
        .await?;
    bridge.set_colibri(ColibriMode::Normal);
    assert_eq!(focus.iq(healthcheck(&jvb)).await?.attr("type"), Some("result"));
    assert!(!focus.drain().iter().any(|s| s.attr("id") == Some("silent-colibri")), "silent mode answered");
    assert!(bridge.conference("meeting-3").is_none());

    // 6. Leaving the brewery politely, and coming back.
    bridge.leave_brewery(DEFAULT_TIMEOUT).await?;
    next_unavailable(&focus, &jvb).await?;
    bridge.join_brewery(DEFAULT_TIMEOUT).await?;
    next_stats(&focus, &jvb, |_| true).await?;

    // 7. Kill: the MUC reports the bridge gone (its connection dropped), its UDP port is free.
    let udp = bridge.udp_addr();
    bridge.kill().await;
    next_unavailable(&focus, &jvb).await?;
    UdpSocket::bind(udp).await.context("the killed bridge's UDP port is closed")?;
    drop(peer);
    Ok(())
}

/// Creates a conference with one endpoint and returns the answer.
async fn reply_for_create(focus: &TestClient, jvb: &str, meeting: &str, endpoint: &str) -> Result<Element> {
    let reply = focus.iq(colibri2(jvb, &create_request(meeting, endpoint))).await?;
    if reply.attr("type") != Some("result") {
        bail!("create refused: {}", xml(&reply));
    }
    Ok(reply)
}

/// Anonymous login, a nickname already taken (the start fails and says why), graceful shutdown
/// refusing conference creation as JVB does, and a polite stop.
#[tokio::test]
async fn anonymous_bridge_graceful_shutdown_and_stop() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let brewery = brewery();
    let focus = TestClient::anonymous(prosody.c2s_port()).await?;
    focus.join_muc(&brewery, "focus").await?;

    let server = format!("127.0.0.1:{}", prosody.c2s_port());
    let mut config = TestBridgeConfig::new(&server, DOMAIN, &brewery, "jvb-anon");
    config.switches.graceful_shutdown = true;
    let bridge = TestBridge::start(config).await?;
    let jvb = bridge.occupant_jid().to_string();
    let stats = next_stats(&focus, &jvb, |_| true).await?;
    assert_eq!(stats["graceful_shutdown"], "true");

    let (condition, text, reason) = error_of(&focus.iq(colibri2(&jvb, &create_request("m1", "ep1"))).await?)?;
    assert_eq!(
        (condition.as_str(), text.as_str(), reason.as_deref()),
        ("service-unavailable", "In graceful shutdown", Some("graceful_shutdown"))
    );

    // A second bridge with the same nickname is refused by the MUC; start reports it.
    let taken = TestBridge::start(TestBridgeConfig::new(&server, DOMAIN, &brewery, "jvb-anon")).await;
    let error = taken.err().expect("a taken nickname fails the start").to_string();
    assert!(error.contains("conflict"), "{error}");

    bridge.stop().await;
    next_unavailable(&focus, &jvb).await?;
    Ok(())
}
