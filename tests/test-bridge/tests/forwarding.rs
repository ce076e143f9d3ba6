//! Forwarding through the test bridge, in process and CPU only: three str0m peers (each as a
//! browser is towards JVB: ICE controlled, DTLS client, SCTP client) are allocated with
//! Colibri2 as the focus allocates participants, connect to the bridge over loopback UDP and
//! send audio and video RTP (with RTX pairs). Each must receive the others' packets with the
//! original SSRC, payload type, sequence number and timestamp; a keyframe request of one must
//! reach the video senders it receives; force-mute must stop the muted audio; an expired endpoint's
//! transport must be freed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use jitsi_test_bridge::str0m::channel::ChannelConfig;
use jitsi_test_bridge::str0m::config::Fingerprint;
use jitsi_test_bridge::str0m::format::{Codec, FormatParams};
use jitsi_test_bridge::str0m::media::{Frequency, KeyframeRequestKind, MediaKind, Mid, Pt};
use jitsi_test_bridge::str0m::net::{DatagramRecv, Protocol, Receive};
use jitsi_test_bridge::str0m::rtp::{Extension, ExtensionMap, ExtensionValues, RtpWrite, Ssrc};
use jitsi_test_bridge::str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};
use jitsi_test_bridge::LocalBridge;
use minidom::Element;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

const TIMEOUT: Duration = Duration::from_secs(20);
const OPUS: u8 = 111;
const VP8: u8 = 100;
const VP8_RTX: u8 = 96;
const NS_ICE_UDP: &str = "urn:xmpp:jingle:transports:ice-udp:1";
const NS_DTLS: &str = "urn:xmpp:jingle:apps:dtls:0";
const NS_COLIBRI2: &str = "jitsi:colibri2";

fn parse(xml: &str) -> Element {
    xml.parse().unwrap_or_else(|e| panic!("bad test XML {xml}: {e}"))
}

/// What one peer sends: SSRCs and the first sequence number and timestamp of each stream.
#[derive(Debug, Clone, Copy)]
struct Sending {
    audio: u32,
    video: u32,
    video_rtx: u32,
    first_seq: u64,
    first_audio_time: u32,
    first_video_time: u32,
}

impl Sending {
    fn of(n: u32) -> Sending {
        Sending {
            audio: 1000 + n,
            video: 2000 + n,
            video_rtx: 3000 + n,
            first_seq: 40_000 + u64::from(n) * 7,
            first_audio_time: 1_000_000 * n,
            first_video_time: 5_000_000 * n,
        }
    }

    /// The Colibri2 `<sources>` of these streams, as the focus forwards a session-accept.
    fn sources(&self, endpoint: &str) -> String {
        format!(
            "<sources>\
               <media-source type='audio' id='{endpoint}-a0'>\
                 <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{a}' name='{endpoint}-a0'/>\
               </media-source>\
               <media-source type='video' id='{endpoint}-v0'>\
                 <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{v}' name='{endpoint}-v0'/>\
                 <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{r}' name='{endpoint}-v0'/>\
                 <ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'>\
                   <source ssrc='{v}'/><source ssrc='{r}'/>\
                 </ssrc-group>\
               </media-source>\
             </sources>",
            a = self.audio,
            v = self.video,
            r = self.video_rtx,
        )
    }
}

/// The endpoint create as the focus sends it: Jitsi's numbering (not str0m's defaults).
fn create(meeting: &str, endpoint: &str, first: bool) -> Element {
    parse(&format!(
        "<conference-modify xmlns='jitsi:colibri2' meeting-id='{meeting}' name='room@conference.meet.test' create='{first}'>\
           <endpoint id='{endpoint}' create='true'>\
             <capability name='source-names'/>\
             <media type='audio'>\
               <payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='{OPUS}' name='opus' clockrate='48000' channels='2'/>\
               <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/>\
               <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='5' uri='http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01'/>\
             </media>\
             <media type='video'>\
               <payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='{VP8}' name='VP8' clockrate='90000'/>\
               <payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='{VP8_RTX}' name='rtx' clockrate='90000'>\
                 <parameter name='apt' value='{VP8}'/>\
               </payload-type>\
               <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='3' uri='http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time'/>\
               <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='5' uri='http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01'/>\
             </media>\
             <transport ice-controlling='true'><sctp/></transport>\
           </endpoint>\
         </conference-modify>"
    ))
}

/// The bridge's side of an endpoint's transport, from the create answer.
struct BridgeTransport {
    ufrag: String,
    pwd: String,
    fingerprint: Fingerprint,
    candidate: SocketAddr,
}

fn bridge_transport(answer: &Element) -> Result<BridgeTransport> {
    let ice = answer
        .get_child("endpoint", NS_COLIBRI2)
        .and_then(|e| e.get_child("transport", NS_COLIBRI2))
        .and_then(|t| t.get_child("transport", NS_ICE_UDP))
        .ok_or_else(|| anyhow!("no ICE transport in {answer:?}"))?;
    let fingerprint = ice.get_child("fingerprint", NS_DTLS).context("no fingerprint")?;
    let candidate = ice.get_child("candidate", NS_ICE_UDP).context("no candidate")?;
    Ok(BridgeTransport {
        ufrag: ice.attr("ufrag").unwrap_or_default().to_string(),
        pwd: ice.attr("pwd").unwrap_or_default().to_string(),
        fingerprint: format!("{} {}", fingerprint.attr("hash").unwrap_or_default(), fingerprint.text())
            .parse()
            .map_err(|e: String| anyhow!(e))?,
        candidate: format!(
            "{}:{}",
            candidate.attr("ip").unwrap_or_default(),
            candidate.attr("port").unwrap_or_default()
        )
        .parse()?,
    })
}

/// Packets one peer received on one SSRC.
#[derive(Debug, Clone, Default)]
struct Received {
    count: u64,
    /// `(pt, sequence number, timestamp)` of every packet, in arrival order (first 500).
    packets: Vec<(u8, u16, u32)>,
}

#[derive(Debug, Clone, Default)]
struct PeerState {
    connected: bool,
    channel_open: bool,
    sent_audio: u64,
    sent_video: u64,
    received: BTreeMap<u32, Received>,
    keyframe_requests: u64,
    failure: Option<String>,
}

enum PeerCommand {
    RequestKeyframe(u32),
}

/// A str0m peer that sends 50 audio and 30 video packets a second once connected.
struct Peer {
    ufrag: String,
    pwd: String,
    fingerprint: Fingerprint,
    addr: SocketAddr,
    state: watch::Receiver<PeerState>,
    commands: mpsc::UnboundedSender<PeerCommand>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn peer_config() -> RtcConfig {
    let mut config = RtcConfig::new().set_rtp_mode(true).clear_codecs();
    let codecs = config.codec_config();
    codecs.add_config(Pt::from(OPUS), None, Codec::Opus, Frequency::FORTY_EIGHT_KHZ, Some(2), FormatParams::default());
    codecs.add_config(
        Pt::from(VP8),
        Some(Pt::from(VP8_RTX)),
        Codec::Vp8,
        Frequency::NINETY_KHZ,
        None,
        FormatParams::default(),
    );
    let mut exts = ExtensionMap::empty();
    exts.set(1, Extension::AudioLevel);
    exts.set(3, Extension::AbsoluteSendTime);
    exts.set(5, Extension::TransportSequenceNumber);
    config.set_extension_map(exts)
}

impl Peer {
    async fn start(bridge: &BridgeTransport, sending: Sending, receiving: &[Sending]) -> Result<Peer> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = socket.local_addr()?;
        let mut rtc = peer_config().build(Instant::now());
        rtc.add_local_candidate(Candidate::host(addr, "udp")?).context("local candidate refused")?;
        rtc.add_remote_candidate(Candidate::host(bridge.candidate, "udp")?);
        let mut api = rtc.direct_api();
        api.set_ice_controlling(false);
        api.set_remote_ice_credentials(IceCreds { ufrag: bridge.ufrag.clone(), pass: bridge.pwd.clone() });
        api.set_remote_fingerprint(bridge.fingerprint.clone());
        api.start_dtls(true)?;
        api.start_sctp(true);
        api.create_data_channel(ChannelConfig { label: "JVB data channel".into(), ..Default::default() });
        api.declare_media(Mid::from("audio"), MediaKind::Audio);
        api.declare_media(Mid::from("video"), MediaKind::Video);
        api.declare_stream_tx(Ssrc::from(sending.audio), None, Mid::from("audio"), None);
        api.declare_stream_tx(Ssrc::from(sending.video), Some(Ssrc::from(sending.video_rtx)), Mid::from("video"), None);
        for other in receiving {
            api.expect_stream_rx(Ssrc::from(other.audio), None, Mid::from("audio"), None);
            api.expect_stream_rx(Ssrc::from(other.video), Some(Ssrc::from(other.video_rtx)), Mid::from("video"), None);
        }
        let creds = api.local_ice_credentials();
        let fingerprint = api.local_dtls_fingerprint().clone();
        let (state_tx, state) = watch::channel(PeerState::default());
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run_peer(rtc, socket, sending, state_tx, commands_rx));
        Ok(Peer { ufrag: creds.ufrag, pwd: creds.pass, fingerprint, addr, state, commands, task })
    }

    /// The Colibri2 update with this peer's transport and sources (a forwarded session-accept).
    fn update(&self, meeting: &str, endpoint: &str, sending: Sending) -> Element {
        let hex: Vec<String> = self.fingerprint.bytes.iter().map(|b| format!("{b:02X}")).collect();
        parse(&format!(
            "<conference-modify xmlns='jitsi:colibri2' meeting-id='{meeting}'>\
               <endpoint id='{endpoint}'>\
                 <transport><transport xmlns='{NS_ICE_UDP}' ufrag='{ufrag}' pwd='{pwd}'>\
                   <rtcp-mux/>\
                   <fingerprint xmlns='{NS_DTLS}' hash='sha-256' setup='active'>{fp}</fingerprint>\
                   <candidate component='1' foundation='1' generation='0' id='c1' network='0' priority='2130706431' \
                      protocol='udp' type='host' ip='{ip}' port='{port}'/>\
                 </transport></transport>\
                 {sources}\
               </endpoint>\
             </conference-modify>",
            ufrag = self.ufrag,
            pwd = self.pwd,
            fp = hex.join(":"),
            ip = self.addr.ip(),
            port = self.addr.port(),
            sources = sending.sources(endpoint),
        ))
    }

    async fn wait(&self, what: &str, mut condition: impl FnMut(&PeerState) -> bool) -> Result<PeerState> {
        let mut state = self.state.clone();
        let waited = tokio::time::timeout(TIMEOUT, state.wait_for(|s| condition(s) || s.failure.is_some())).await;
        let state = match waited {
            Ok(Ok(s)) => s.clone(),
            Ok(Err(_)) => bail!("the peer stopped while waiting for {what}"),
            Err(_) => bail!("timed out waiting for {what}: {:?}", summary(&self.state.borrow())),
        };
        match state.failure {
            Some(f) => bail!("the peer failed while waiting for {what}: {f}"),
            None => Ok(state),
        }
    }

    fn received(&self, ssrc: u32) -> u64 {
        self.state.borrow().received.get(&ssrc).map_or(0, |r| r.count)
    }
}

fn summary(state: &PeerState) -> String {
    let received: Vec<String> = state.received.iter().map(|(ssrc, r)| format!("{ssrc}: {}", r.count)).collect();
    format!(
        "connected {} channel {} sent {}/{} received [{}] keyframe requests {}",
        state.connected,
        state.channel_open,
        state.sent_audio,
        state.sent_video,
        received.join(", "),
        state.keyframe_requests
    )
}

async fn run_peer(
    mut rtc: Rtc,
    socket: UdpSocket,
    sending: Sending,
    state: watch::Sender<PeerState>,
    mut commands: mpsc::UnboundedReceiver<PeerCommand>,
) {
    let local = socket.local_addr().expect("bound");
    let mut buf = vec![0u8; 2048];
    let mut audio_ticks = tokio::time::interval(Duration::from_millis(20));
    let mut video_ticks = tokio::time::interval(Duration::from_millis(33));
    let (mut audio_n, mut video_n) = (0u64, 0u64);
    let fail = |state: &watch::Sender<PeerState>, e: String| state.send_modify(|s| s.failure = Some(e));
    loop {
        let deadline = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(at)) => break at,
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Event(event)) => state.send_modify(|s| match event {
                    Event::IceConnectionStateChange(IceConnectionState::Connected | IceConnectionState::Completed) => {}
                    Event::Connected => s.connected = true,
                    Event::ChannelOpen(..) => s.channel_open = true,
                    Event::RtpPacket(p) => {
                        let r = s.received.entry(*p.header.ssrc).or_default();
                        r.count += 1;
                        if r.packets.len() < 500 {
                            r.packets.push((*p.header.payload_type, p.header.sequence_number, p.header.timestamp));
                        }
                    }
                    Event::KeyframeRequest(_) => s.keyframe_requests += 1,
                    _ => {}
                }),
                Err(e) => return fail(&state, e.to_string()),
            }
        };
        let connected = state.borrow().connected;
        let input = tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, source)) => match DatagramRecv::try_from(&buf[..n]) {
                    Ok(contents) => Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: local, contents }),
                    Err(_) => continue,
                },
                Err(_) => continue,
            },
            _ = audio_ticks.tick(), if connected => {
                let ext = ExtensionValues { audio_level: Some(-30), voice_activity: Some(true), ..Default::default() };
                let write = RtpWrite::new(
                    Pt::from(OPUS),
                    (sending.first_seq + audio_n).into(),
                    sending.first_audio_time.wrapping_add(960 * audio_n as u32),
                    Instant::now(),
                    vec![0xfc; 60],
                )
                .ext_vals(ext);
                if let Some(stream) = rtc.direct_api().stream_tx(&Ssrc::from(sending.audio)) {
                    stream.write_rtp(write);
                }
                audio_n += 1;
                state.send_modify(|s| s.sent_audio = audio_n);
                Input::Timeout(Instant::now())
            }
            _ = video_ticks.tick(), if connected => {
                let write = RtpWrite::new(
                    Pt::from(VP8),
                    (sending.first_seq + video_n).into(),
                    sending.first_video_time.wrapping_add(3000 * video_n as u32),
                    Instant::now(),
                    vec![0x90; 900],
                )
                .marker(true)
                .nackable(true);
                if let Some(stream) = rtc.direct_api().stream_tx(&Ssrc::from(sending.video)) {
                    stream.write_rtp(write);
                }
                video_n += 1;
                state.send_modify(|s| s.sent_video = video_n);
                Input::Timeout(Instant::now())
            }
            command = commands.recv() => match command {
                Some(PeerCommand::RequestKeyframe(ssrc)) => {
                    if let Some(stream) = rtc.direct_api().stream_rx(&Ssrc::from(ssrc)) {
                        stream.request_keyframe(KeyframeRequestKind::Pli);
                    }
                    Input::Timeout(Instant::now())
                }
                None => return,
            },
            _ = tokio::time::sleep_until(deadline.into()) => Input::Timeout(Instant::now()),
        };
        if let Err(e) = rtc.handle_input(input) {
            return fail(&state, e.to_string());
        }
    }
}

/// Every packet of `received` carries the sender's own numbering: the payload type it used,
/// and the timestamp that goes with its sequence number.
fn assert_original_numbering(received: &Received, pt: u8, first_seq: u64, first_time: u32, step: u32, what: &str) {
    assert!(!received.packets.is_empty(), "{what}: nothing received");
    for (got_pt, seq, time) in &received.packets {
        assert_eq!(*got_pt, pt, "{what}: payload type");
        let n = u64::from(seq.wrapping_sub(first_seq as u16));
        assert!(n < 10_000, "{what}: sequence number {seq} is not the sender's (it started at {first_seq})");
        assert_eq!(*time, first_time.wrapping_add(step * n as u32), "{what}: timestamp of sequence number {seq}");
    }
}

/// Three peers: each receives two senders' audio and video (several forwarded streams per
/// media in one receiver, which str0m sends only from distinct mids).
#[tokio::test]
async fn peers_exchange_media_through_the_bridge() -> Result<()> {
    let mut bridge = LocalBridge::start(0).await?;
    let meeting = "5f1e1c36-1c3e-4a5e-9a6e-0c0ffee00001";
    let (a, b, c) = (Sending::of(1), Sending::of(2), Sending::of(3));

    let answer_a = bridge.colibri2(&create(meeting, "aaaa0001", true)).map_err(|e| anyhow!("create a: {e:?}"))?;
    let peer_a = Peer::start(&bridge_transport(&answer_a)?, a, &[b, c]).await?;
    let answer_b = bridge.colibri2(&create(meeting, "bbbb0002", false)).map_err(|e| anyhow!("create b: {e:?}"))?;
    let peer_b = Peer::start(&bridge_transport(&answer_b)?, b, &[a, c]).await?;
    let answer_c = bridge.colibri2(&create(meeting, "cccc0003", false)).map_err(|e| anyhow!("create c: {e:?}"))?;
    let peer_c = Peer::start(&bridge_transport(&answer_c)?, c, &[a, b]).await?;
    bridge.colibri2(&peer_a.update(meeting, "aaaa0001", a)).map_err(|e| anyhow!("update a: {e:?}"))?;
    bridge.colibri2(&peer_b.update(meeting, "bbbb0002", b)).map_err(|e| anyhow!("update b: {e:?}"))?;
    bridge.colibri2(&peer_c.update(meeting, "cccc0003", c)).map_err(|e| anyhow!("update c: {e:?}"))?;

    // Media every way: 50 audio and 30 video packets from each other peer.
    let flows = [
        (&peer_a, b, "a from b"),
        (&peer_a, c, "a from c"),
        (&peer_b, a, "b from a"),
        (&peer_b, c, "b from c"),
        (&peer_c, a, "c from a"),
        (&peer_c, b, "c from b"),
    ];
    for (peer, from, name) in flows {
        let state = peer
            .wait(&format!("{name}: the data channel and media"), |s| {
                s.channel_open
                    && s.received.get(&from.audio).is_some_and(|r| r.count >= 50)
                    && s.received.get(&from.video).is_some_and(|r| r.count >= 30)
            })
            .await?;
        println!("{name}: {}", summary(&state));
        assert_original_numbering(&state.received[&from.audio], OPUS, from.first_seq, from.first_audio_time, 960, name);
        assert_original_numbering(&state.received[&from.video], VP8, from.first_seq, from.first_video_time, 3000, name);
    }
    let view = bridge.wait_for(TIMEOUT, "the bridge's counters", |v| v.counters.rtp_forwarded >= 480).await?;
    // Every packet received went to both other peers.
    assert_eq!(view.counters.rtp_forwarded, 2 * view.counters.rtp_received, "{:?}", view.counters);

    // A keyframe request of b reaches the video senders b receives (a and c).
    assert_eq!(peer_a.state.borrow().keyframe_requests, 0, "no keyframe request yet");
    peer_b.commands.send(PeerCommand::RequestKeyframe(a.video))?;
    peer_a.wait("a keyframe request at a", |s| s.keyframe_requests >= 1).await?;
    peer_c.wait("a keyframe request at c", |s| s.keyframe_requests >= 1).await?;
    let view = bridge
        .wait_for(TIMEOUT, "the forwarded keyframe request", |v| v.counters.keyframe_requests_forwarded >= 1)
        .await?;
    assert_eq!(peer_b.state.borrow().keyframe_requests, 0, "b asked, a was asked: {:?}", view.counters);

    // Force-mute of a's audio: b gets no more of it while a keeps sending; video goes on.
    bridge
        .colibri2(&parse(&format!(
            "<conference-modify xmlns='jitsi:colibri2' meeting-id='{meeting}'>\
               <endpoint id='aaaa0001'><force-mute audio='true' video='false'/></endpoint>\
             </conference-modify>"
        )))
        .map_err(|e| anyhow!("force-mute: {e:?}"))?;
    bridge.wait_for(TIMEOUT, "50 of a's audio packets dropped", |v| v.counters.rtp_dropped_muted >= 50).await?;
    let (audio_before, video_before) = (peer_b.received(a.audio), peer_b.received(a.video));
    let audio_before_c = peer_c.received(a.audio);
    bridge.wait_for(TIMEOUT, "200 of a's audio packets dropped", |v| v.counters.rtp_dropped_muted >= 200).await?;
    peer_b.wait("more of a's video", |s| s.received.get(&a.video).is_some_and(|r| r.count > video_before + 10)).await?;
    assert_eq!(peer_b.received(a.audio), audio_before, "a's audio reached b while a was force-muted");
    assert_eq!(peer_c.received(a.audio), audio_before_c, "a's audio reached c while a was force-muted");

    // Expiring b frees its transport on the bridge.
    bridge
        .colibri2(&parse(&format!(
            "<conference-modify xmlns='jitsi:colibri2' meeting-id='{meeting}'>\
               <endpoint id='bbbb0002' expire='true'/>\
             </conference-modify>"
        )))
        .map_err(|e| anyhow!("expire b: {e:?}"))?;
    bridge
        .wait_for(TIMEOUT, "b's transport freed", |v| v.transports.keys().all(|k| k.endpoint_id != "bbbb0002"))
        .await?;
    bridge.shutdown().await;
    Ok(())
}
