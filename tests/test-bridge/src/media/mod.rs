//! The media runtime: one UDP socket on 127.0.0.1 shared by every endpoint, one str0m `Rtc`
//! (direct API, RTP mode) per endpoint, datagrams demultiplexed with `Rtc::accepts`, and
//! selective forwarding between the endpoints of each conference.
//!
//! Per endpoint, as JVB: a full ICE agent (controlling when Colibri2 asked for it), one host
//! candidate (the socket's address), the bridge's DTLS certificate (one per bridge, as JVB's)
//! whose sha-256 fingerprint is answered with `setup='actpass'`. When the client's transport
//! arrives (ufrag, pwd, fingerprint, candidates) the bridge starts DTLS as server (the client
//! answered `setup='active'`) and, if SCTP was asked for, SCTP as server. Clients' addresses
//! are also learnt peer-reflexively from their checks, so their candidates are optional.
//!
//! Codecs and header extensions come from the Colibri2 media of the endpoint create
//! ([`codecs`]); streams from its sources; forwarding is in [`forward`].

mod codecs;
mod endpoint;
mod forward;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use str0m::config::{DtlsCert, Fingerprint};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::{Candidate, IceCreds, Input, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::colibri2::{
    EndpointTransports, IceUdpTransport, LocalCandidate, LocalTransport, MediaDescription, MediaSource,
};
use crate::view::{BridgeView, EndpointKey};
use endpoint::{sent_streams, Endpoint, Routed};
use forward::{Endpoints, ForwardCounters};

/// How often media counters (packets) are published in the view at most: they change with
/// every packet, and each publication wakes every test waiting on the view.
const COUNTERS_PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

enum Command {
    Add {
        key: EndpointKey,
        config: Box<RtcConfig>,
        ice_controlling: bool,
        media: Vec<MediaDescription>,
        candidate: Candidate,
    },
    StartSctp(EndpointKey),
    SetMedia(EndpointKey, Vec<MediaDescription>),
    SetRemote(EndpointKey, IceUdpTransport),
    SetSources(EndpointKey, Vec<MediaSource>),
    ForceMute {
        key: EndpointKey,
        audio: bool,
        video: bool,
    },
    Expire(EndpointKey),
}

/// The running UDP socket and its endpoints.
pub struct MediaRuntime {
    commands: mpsc::UnboundedSender<Command>,
    local_addr: SocketAddr,
    certificate: DtlsCert,
    fingerprint: Fingerprint,
    task: JoinHandle<()>,
}

impl MediaRuntime {
    /// Binds `127.0.0.1:port` (0 = any free port) and starts the runtime.
    pub async fn start(port: u16, view: watch::Sender<BridgeView>) -> std::io::Result<MediaRuntime> {
        // One certificate for every endpoint, as JVB: its fingerprint is known before an
        // endpoint's `Rtc` is built (which waits for the media of the create).
        let certificate = str0m::crypto::from_feature_flags()
            .dtls_provider
            .generate_certificate()
            .ok_or_else(|| std::io::Error::other("the DTLS provider could not generate a certificate"))?;
        let fingerprint = RtcConfig::new()
            .set_dtls_cert(certificate.clone())
            .build(Instant::now())
            .direct_api()
            .local_dtls_fingerprint()
            .clone();
        let socket = UdpSocket::bind((IpAddr::from([127, 0, 0, 1]), port)).await?;
        let local_addr = socket.local_addr()?;
        let (commands, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(socket, local_addr, rx, view));
        info!(%local_addr, "media runtime listening");
        Ok(MediaRuntime { commands, local_addr, certificate, fingerprint, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The handle the Colibri2 handler creates and updates endpoints through.
    pub fn transports(&self, signalling_only: bool) -> RtcTransports {
        RtcTransports {
            commands: self.commands.clone(),
            signalling_only,
            local_addr: self.local_addr,
            certificate: self.certificate.clone(),
            fingerprint: self.fingerprint.clone(),
        }
    }

    /// Stops the runtime without waiting (the socket closes when the task is dropped).
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Stops the runtime and closes the socket (returns once it is closed).
    pub async fn shutdown(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// [`EndpointTransports`] backed by str0m: prepares each endpoint's `Rtc` configuration and
/// hands it to the runtime task.
#[derive(Clone)]
pub struct RtcTransports {
    commands: mpsc::UnboundedSender<Command>,
    /// Answer Colibri2 with this bridge's transport but run no ICE, DTLS or media for it (load
    /// tests of the focus, where thousands of idle str0m peers would only cost CPU).
    signalling_only: bool,
    local_addr: SocketAddr,
    certificate: DtlsCert,
    fingerprint: Fingerprint,
}

impl RtcTransports {
    fn send(&self, command: Command) {
        if self.signalling_only {
            return;
        }
        // The runtime only stops when the bridge stops; a command then has nowhere to go.
        let _ = self.commands.send(command);
    }
}

/// `AB:CD:…` (upper case, as JVB and browsers write fingerprints).
fn hex_colons(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

impl EndpointTransports for RtcTransports {
    fn create(
        &mut self,
        key: &EndpointKey,
        ice_controlling: bool,
        media: &[MediaDescription],
    ) -> Result<LocalTransport, String> {
        let creds = IceCreds::new();
        let config = RtcConfig::new().set_local_ice_credentials(creds.clone()).set_dtls_cert(self.certificate.clone());
        let candidate = Candidate::host(self.local_addr, "udp").map_err(|e| format!("host candidate: {e}"))?;
        let priority = candidate.prio();
        let fingerprint = &self.fingerprint;
        let local = LocalTransport {
            ufrag: creds.ufrag,
            pwd: creds.pass,
            fingerprint_hash: fingerprint.hash_func.clone(),
            fingerprint: hex_colons(&fingerprint.bytes),
            candidates: vec![LocalCandidate {
                foundation: "1".to_string(),
                priority,
                ip: self.local_addr.ip().to_string(),
                port: self.local_addr.port(),
                id: format!("{:016x}", rand::random::<u64>()),
            }],
        };
        self.send(Command::Add {
            key: key.clone(),
            config: Box::new(config),
            ice_controlling,
            media: media.to_vec(),
            candidate,
        });
        Ok(local)
    }

    fn start_sctp(&mut self, key: &EndpointKey) {
        self.send(Command::StartSctp(key.clone()));
    }

    fn set_media(&mut self, key: &EndpointKey, media: &[MediaDescription]) {
        self.send(Command::SetMedia(key.clone(), media.to_vec()));
    }

    fn set_remote(&mut self, key: &EndpointKey, transport: &IceUdpTransport) {
        self.send(Command::SetRemote(key.clone(), transport.clone()));
    }

    fn set_sources(&mut self, key: &EndpointKey, sources: &[MediaSource]) {
        self.send(Command::SetSources(key.clone(), sources.to_vec()));
    }

    fn set_force_mute(&mut self, key: &EndpointKey, audio: bool, video: bool) {
        self.send(Command::ForceMute { key: key.clone(), audio, video });
    }

    fn expire(&mut self, key: &EndpointKey) {
        self.send(Command::Expire(key.clone()));
    }
}

/// What the runtime publishes in the view, and when it last did.
struct Publisher {
    view: watch::Sender<BridgeView>,
    counters: ForwardCounters,
    published: ForwardCounters,
    last: Instant,
}

impl Publisher {
    /// Publishes changed transport states at once, and media counters at most every
    /// [`COUNTERS_PUBLISH_INTERVAL`] (or when `force`).
    fn publish(&mut self, endpoints: &mut Endpoints, force: bool) {
        let transports_changed = endpoints.values().any(|e| e.dirty);
        let counters_due = self.counters != self.published
            && (force || transports_changed || self.last.elapsed() >= COUNTERS_PUBLISH_INTERVAL);
        if !transports_changed && !counters_due {
            return;
        }
        let counters = self.counters;
        self.view.send_modify(|v| {
            for (key, e) in endpoints.iter_mut() {
                let media_changed = counters_due
                    && v.transports.get(key).is_some_and(|t| {
                        t.rtp_received != e.counters.rtp_received || t.rtp_sent != e.counters.rtp_forwarded_to
                    });
                if !e.dirty && !media_changed {
                    continue;
                }
                let before = v.transports.get(key).cloned().unwrap_or_default();
                if e.state.ice_connected && !before.ice_connected {
                    v.counters.ice_connected += 1;
                }
                if e.state.dtls_connected && !before.dtls_connected {
                    v.counters.dtls_connected += 1;
                }
                let mut state = e.state.clone();
                state.rtp_received = e.counters.rtp_received;
                state.rtp_sent = e.counters.rtp_forwarded_to;
                v.transports.insert(key.clone(), state);
                e.dirty = false;
            }
            if counters_due {
                v.counters.rtp_received = counters.rtp_received;
                v.counters.rtp_forwarded = counters.rtp_forwarded;
                v.counters.rtp_dropped_muted = counters.rtp_dropped_muted;
                v.counters.keyframe_requests_forwarded = counters.keyframe_requests_forwarded;
            }
        });
        if counters_due {
            self.published = counters;
            self.last = Instant::now();
        }
    }

    /// When unpublished counters are due.
    fn due(&self) -> Option<Instant> {
        (self.counters != self.published).then_some(self.last + COUNTERS_PUBLISH_INTERVAL)
    }
}

/// Polls every endpoint that needs it, routes what they produced, and repeats until nothing
/// is left to poll (forwarded packets make receivers need a poll to be transmitted).
fn drive_all(endpoints: &mut Endpoints, socket: &UdpSocket, counters: &mut ForwardCounters) {
    loop {
        let mut produced: Vec<(EndpointKey, Vec<Routed>)> = Vec::new();
        for (key, endpoint) in endpoints.iter_mut().filter(|(_, e)| e.needs_poll) {
            endpoint.needs_poll = false;
            let mut routed = Vec::new();
            endpoint.next_at = endpoint.drive(key, socket, &mut routed);
            if !routed.is_empty() {
                produced.push((key.clone(), routed));
            }
        }
        if produced.is_empty() && !endpoints.values().any(|e| e.needs_poll) {
            return;
        }
        for (from, routed) in produced {
            forward::route(endpoints, &from, routed, counters);
        }
    }
}

async fn run(
    socket: UdpSocket,
    local_addr: SocketAddr,
    mut commands: mpsc::UnboundedReceiver<Command>,
    view: watch::Sender<BridgeView>,
) {
    let mut endpoints = Endpoints::new();
    let mut publisher = Publisher {
        view,
        counters: ForwardCounters::default(),
        published: ForwardCounters::default(),
        last: Instant::now(),
    };
    // The endpoint that last accepted a datagram from an address: checked first.
    let mut by_source: std::collections::HashMap<SocketAddr, EndpointKey> = std::collections::HashMap::new();
    let mut buf = vec![0u8; 2048];
    loop {
        drive_all(&mut endpoints, &socket, &mut publisher.counters);
        publisher.publish(&mut endpoints, false);
        let idle = Instant::now() + Duration::from_secs(1);
        let next =
            endpoints.values().filter_map(|e| e.next_at).chain(publisher.due()).min().map_or(idle, |at| at.min(idle));

        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { break };
                apply(command, &mut endpoints, &publisher.view);
            }
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, source)) => {
                    let Ok(contents) = DatagramRecv::try_from(&buf[..n]) else {
                        debug!(%source, "unreadable datagram ({n} bytes)");
                        continue;
                    };
                    let input = Input::Receive(
                        Instant::now(),
                        Receive { proto: Protocol::Udp, source, destination: local_addr, contents },
                    );
                    let accepts = |e: &Endpoint| e.rtc.is_alive() && e.rtc.accepts(&input);
                    let key = match by_source.get(&source).filter(|k| endpoints.get(*k).is_some_and(accepts)) {
                        Some(key) => Some(key.clone()),
                        None => endpoints.iter().find(|(_, e)| accepts(e)).map(|(k, _)| k.clone()),
                    };
                    let Some(key) = key else {
                        debug!(%source, "datagram for no endpoint");
                        continue;
                    };
                    if let Some(endpoint) = endpoints.get_mut(&key) {
                        if let Err(e) = endpoint.rtc.handle_input(input) {
                            endpoint.fail(&key, format!("str0m input: {e}"));
                        }
                        endpoint.needs_poll = true;
                    }
                    by_source.insert(source, key);
                }
                // e.g. an ICMP port unreachable reported on the socket: not fatal.
                Err(e) => debug!("udp receive: {e}"),
            },
            _ = tokio::time::sleep_until(next.into()) => {
                let now = Instant::now();
                for (key, endpoint) in endpoints.iter_mut() {
                    if endpoint.rtc.is_alive() && endpoint.next_at.is_some_and(|at| at <= now) {
                        if let Err(e) = endpoint.rtc.handle_input(Input::Timeout(now)) {
                            endpoint.fail(key, format!("str0m timeout: {e}"));
                        }
                        endpoint.needs_poll = true;
                    }
                }
                publisher.publish(&mut endpoints, true);
            }
        }
        by_source.retain(|_, key| endpoints.contains_key(key));
    }
}

fn apply(command: Command, endpoints: &mut Endpoints, view: &watch::Sender<BridgeView>) {
    match command {
        Command::Add { key, config, ice_controlling, media, candidate } => {
            let (config, applied) = codecs::configure(*config, &media);
            debug!(endpoint = %key, ?applied, "endpoint codecs");
            let mut rtc = config.build(Instant::now());
            rtc.direct_api().set_ice_controlling(ice_controlling);
            if rtc.add_local_candidate(candidate).is_none() {
                warn!(endpoint = %key, "str0m refused the host candidate");
            }
            let kinds: Vec<_> = media.iter().map(|m| m.kind).collect();
            endpoints.insert(key.clone(), Endpoint::new(rtc, &kinds));
            debug!(endpoint = %key, "endpoint transport added");
            forward::reconcile(endpoints, &key.meeting_id);
        }
        Command::StartSctp(key) => {
            if let Some(e) = endpoints.get_mut(&key) {
                e.want_sctp(&key);
                e.needs_poll = true;
            }
        }
        Command::SetMedia(key, media) => {
            // str0m fixes codecs when the `Rtc` is built (at the create); JVB never removes
            // payload types either. New ones are reported, not applied.
            if let Some(e) = endpoints.get(&key) {
                let new: Vec<_> = media.iter().filter(|m| !e.media.contains(&m.kind)).map(|m| m.kind).collect();
                if !new.is_empty() {
                    warn!(endpoint = %key, ?new, "media added after the create is not forwarded");
                }
            }
        }
        Command::SetRemote(key, remote) => {
            if let Some(e) = endpoints.get_mut(&key) {
                if e.rtc.is_alive() {
                    e.set_remote(&key, &remote);
                }
                e.needs_poll = true;
            }
        }
        Command::SetSources(key, sources) => {
            if let Some(e) = endpoints.get_mut(&key) {
                e.sending = sent_streams(&sources);
                forward::reconcile(endpoints, &key.meeting_id);
            }
        }
        Command::ForceMute { key, audio, video } => {
            if let Some(e) = endpoints.get_mut(&key) {
                e.force_mute_audio = audio;
                e.force_mute_video = video;
            }
        }
        Command::Expire(key) => {
            if let Some(mut e) = endpoints.remove(&key) {
                e.rtc.disconnect();
                debug!(endpoint = %key, "endpoint transport expired");
                forward::reconcile(endpoints, &key.meeting_id);
            }
            view.send_modify(|v| {
                v.transports.remove(&key);
            });
        }
    }
}
