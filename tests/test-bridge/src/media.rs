//! The ICE/DTLS endpoint runtime: one UDP socket on 127.0.0.1 shared by every endpoint, one
//! str0m `Rtc` (direct API, RTP mode) per endpoint, datagrams demultiplexed with
//! `Rtc::accepts`.
//!
//! Per endpoint, as JVB: a full ICE agent (controlling when Colibri2 asked for it), one host
//! candidate (the socket's address), the bridge's DTLS certificate (one per bridge, as JVB's)
//! whose sha-256 fingerprint is answered with `setup='actpass'`. When the client's transport arrives (ufrag, pwd,
//! fingerprint, candidates) the bridge starts DTLS as server (the client answered
//! `setup='active'`) and, if SCTP was asked for, SCTP as server. Clients' addresses are also
//! learnt peer-reflexively from their checks, so their candidates are optional.
//!
//! Media forwarding is not done yet: `<media>` declares the mids (`audio`, `video`) and the
//! sources are kept, which is where forwarding will attach (`expect_stream_rx` for each
//! source, `declare_stream_tx` towards the other endpoints, `MediaData` events written on).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use str0m::config::{DtlsCert, Fingerprint};
use str0m::media::{MediaKind, Mid};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::{Candidate, CandidateKind, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::colibri2::{
    EndpointTransports, IceUdpTransport, LocalCandidate, LocalTransport, MediaDescription, MediaSource, MediaType,
};
use crate::view::{BridgeView, EndpointKey, TransportState};

enum Command {
    Add { key: EndpointKey, rtc: Box<Rtc> },
    StartSctp(EndpointKey),
    SetMedia(EndpointKey, Vec<MediaDescription>),
    SetRemote(EndpointKey, IceUdpTransport),
    SetSources(EndpointKey, Vec<MediaSource>),
    Expire(EndpointKey),
}

/// The running UDP socket and its endpoints.
pub struct MediaRuntime {
    commands: mpsc::UnboundedSender<Command>,
    local_addr: SocketAddr,
    certificate: Option<DtlsCert>,
    task: JoinHandle<()>,
}

impl MediaRuntime {
    /// Binds `127.0.0.1:port` (0 = any free port) and starts the runtime.
    pub async fn start(port: u16, view: watch::Sender<BridgeView>) -> std::io::Result<MediaRuntime> {
        let socket = UdpSocket::bind((IpAddr::from([127, 0, 0, 1]), port)).await?;
        let local_addr = socket.local_addr()?;
        let (commands, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(socket, local_addr, rx, view));
        info!(%local_addr, "media runtime listening");
        // `None` if the provider cannot generate one: each `Rtc` then makes its own.
        let certificate = str0m::crypto::from_feature_flags().dtls_provider.generate_certificate();
        Ok(MediaRuntime { commands, local_addr, certificate, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The handle the Colibri2 handler creates and updates endpoints through.
    pub fn transports(&self) -> RtcTransports {
        RtcTransports {
            commands: self.commands.clone(),
            local_addr: self.local_addr,
            certificate: self.certificate.clone(),
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

/// [`EndpointTransports`] backed by str0m: builds each endpoint's `Rtc` and hands it to the
/// runtime task.
#[derive(Clone)]
pub struct RtcTransports {
    commands: mpsc::UnboundedSender<Command>,
    local_addr: SocketAddr,
    certificate: Option<DtlsCert>,
}

impl RtcTransports {
    fn send(&self, command: Command) {
        // The runtime only stops when the bridge stops; a command then has nowhere to go.
        let _ = self.commands.send(command);
    }
}

/// `AB:CD:…` (upper case, as JVB and browsers write fingerprints).
fn hex_colons(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

impl EndpointTransports for RtcTransports {
    fn create(&mut self, key: &EndpointKey, ice_controlling: bool) -> Result<LocalTransport, String> {
        let mut config = RtcConfig::new().set_rtp_mode(true).set_local_ice_credentials(IceCreds::new());
        if let Some(certificate) = &self.certificate {
            config = config.set_dtls_cert(certificate.clone());
        }
        let mut rtc = config.build(Instant::now());
        rtc.direct_api().set_ice_controlling(ice_controlling);
        let candidate = Candidate::host(self.local_addr, "udp").map_err(|e| format!("host candidate: {e}"))?;
        let priority = candidate.prio();
        if rtc.add_local_candidate(candidate).is_none() {
            return Err(format!("str0m refused the host candidate {}", self.local_addr));
        }
        let creds = rtc.direct_api().local_ice_credentials();
        let fingerprint = rtc.direct_api().local_dtls_fingerprint().clone();
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
        self.send(Command::Add { key: key.clone(), rtc: Box::new(rtc) });
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

    fn expire(&mut self, key: &EndpointKey) {
        self.send(Command::Expire(key.clone()));
    }
}

/// One endpoint in the runtime.
struct Endpoint {
    rtc: Rtc,
    sctp_wanted: bool,
    sctp_started: bool,
    dtls_started: bool,
    remote_fingerprint: bool,
    media: BTreeSet<MediaType>,
    /// Kept for media forwarding (later).
    #[allow(dead_code)]
    sources: Vec<MediaSource>,
    state: TransportState,
    /// `state` changed since it was last published.
    dirty: bool,
    /// Got input (or a command) since it was last polled.
    needs_poll: bool,
    /// When str0m wants time to pass (`None` once the `Rtc` is closed).
    next_at: Option<Instant>,
}

impl Endpoint {
    fn new(rtc: Rtc) -> Self {
        Endpoint {
            rtc,
            sctp_wanted: false,
            sctp_started: false,
            dtls_started: false,
            remote_fingerprint: false,
            media: BTreeSet::new(),
            sources: Vec::new(),
            state: TransportState { ice_state: "New".to_string(), ..TransportState::default() },
            dirty: true,
            needs_poll: true,
            next_at: None,
        }
    }

    fn fail(&mut self, key: &EndpointKey, why: String) {
        warn!(endpoint = %key, "transport failed: {why}");
        self.state.failure = Some(why);
        self.dirty = true;
        self.rtc.disconnect();
    }

    fn set_remote(&mut self, key: &EndpointKey, remote: &IceUdpTransport) {
        if let (Some(ufrag), Some(pwd)) = (&remote.ufrag, &remote.pwd) {
            self.rtc.direct_api().set_remote_ice_credentials(IceCreds { ufrag: ufrag.clone(), pass: pwd.clone() });
        }
        for c in &remote.candidates {
            if c.protocol != "udp" {
                continue;
            }
            let ip = match c.ip.parse::<IpAddr>() {
                Ok(ip) if !ip.is_unspecified() && !ip.is_multicast() && c.port != 0 => ip,
                _ => {
                    debug!(endpoint = %key, ip = %c.ip, port = c.port, "skipping an unusable candidate");
                    continue;
                }
            };
            let kind = match c.kind.as_str() {
                "srflx" => CandidateKind::ServerReflexive,
                "prflx" => CandidateKind::PeerReflexive,
                "relay" => CandidateKind::Relayed,
                _ => CandidateKind::Host,
            };
            let candidate = Candidate::from_parts(
                c.foundation.clone(),
                c.component,
                Protocol::Udp,
                c.priority,
                SocketAddr::new(ip, c.port),
                kind,
                None,
                None,
                remote.ufrag.clone(),
            );
            self.rtc.add_remote_candidate(candidate);
        }
        // Prefer sha-256 when several fingerprints are offered.
        let fingerprint = remote
            .fingerprints
            .iter()
            .find(|f| f.hash.eq_ignore_ascii_case("sha-256"))
            .or_else(|| remote.fingerprints.first());
        if let Some(f) = fingerprint {
            match format!("{} {}", f.hash.to_ascii_lowercase(), f.value).parse::<Fingerprint>() {
                Ok(parsed) => {
                    self.rtc.direct_api().set_remote_fingerprint(parsed);
                    self.remote_fingerprint = true;
                }
                Err(e) => return self.fail(key, format!("unreadable DTLS fingerprint {:?}: {e}", f.value)),
            }
            if !self.dtls_started {
                // The client answers the bridge's actpass: `active` makes the bridge the DTLS server.
                let active = f.setup.as_deref() == Some("passive");
                if let Err(e) = self.rtc.direct_api().start_dtls(active) {
                    return self.fail(key, format!("starting DTLS: {e}"));
                }
                self.dtls_started = true;
                info!(endpoint = %key, role = if active { "client" } else { "server" }, "DTLS started");
            }
        }
        self.maybe_start_sctp(key);
    }

    fn maybe_start_sctp(&mut self, key: &EndpointKey) {
        if self.sctp_wanted && self.dtls_started && !self.sctp_started {
            self.rtc.direct_api().start_sctp(false);
            self.sctp_started = true;
            debug!(endpoint = %key, "SCTP started as server");
        }
    }

    fn set_media(&mut self, media: &[MediaDescription]) {
        for m in media {
            if self.media.insert(m.kind) {
                let kind = match m.kind {
                    MediaType::Audio => MediaKind::Audio,
                    MediaType::Video => MediaKind::Video,
                };
                self.rtc.direct_api().declare_media(Mid::from(m.kind.as_str()), kind);
            }
        }
    }

    /// Polls the `Rtc` until it wants time to pass; sends what it transmits. Returns when to
    /// poll again.
    fn drive(&mut self, key: &EndpointKey, socket: &UdpSocket) -> Option<Instant> {
        while self.rtc.is_alive() {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => return Some(at),
                Ok(Output::Transmit(t)) => {
                    if let Err(e) = socket.try_send_to(&t.contents, t.destination) {
                        debug!(endpoint = %key, to = %t.destination, "datagram not sent: {e}");
                    }
                }
                Ok(Output::Event(event)) => self.on_event(key, event),
                Err(e) => {
                    self.fail(key, format!("str0m: {e}"));
                    return None;
                }
            }
        }
        None
    }

    fn on_event(&mut self, key: &EndpointKey, event: Event) {
        match event {
            Event::IceConnectionStateChange(ice) => {
                self.state.ice_state = format!("{ice:?}");
                if matches!(ice, IceConnectionState::Connected | IceConnectionState::Completed)
                    && !self.state.ice_connected
                {
                    self.state.ice_connected = true;
                    info!(endpoint = %key, "ICE connected");
                }
                self.dirty = true;
            }
            Event::Connected if !self.state.dtls_connected => {
                self.state.dtls_connected = true;
                self.dirty = true;
                info!(endpoint = %key, "DTLS connected");
            }
            Event::ChannelOpen(_, label) => {
                info!(endpoint = %key, %label, "data channel open");
                self.state.data_channel = Some(label);
                self.dirty = true;
            }
            // Media forwarding attaches here (later issue).
            _ => {}
        }
    }
}

/// Publishes changed transport states (and counts connections) in the view.
fn publish(endpoints: &mut BTreeMap<EndpointKey, Endpoint>, view: &watch::Sender<BridgeView>) {
    if !endpoints.values().any(|e| e.dirty) {
        return;
    }
    view.send_modify(|v| {
        for (key, e) in endpoints.iter_mut().filter(|(_, e)| e.dirty) {
            let before = v.transports.get(key).cloned().unwrap_or_default();
            if e.state.ice_connected && !before.ice_connected {
                v.counters.ice_connected += 1;
            }
            if e.state.dtls_connected && !before.dtls_connected {
                v.counters.dtls_connected += 1;
            }
            v.transports.insert(key.clone(), e.state.clone());
            e.dirty = false;
        }
    });
}

async fn run(
    socket: UdpSocket,
    local_addr: SocketAddr,
    mut commands: mpsc::UnboundedReceiver<Command>,
    view: watch::Sender<BridgeView>,
) {
    let mut endpoints: BTreeMap<EndpointKey, Endpoint> = BTreeMap::new();
    // The endpoint that last accepted a datagram from an address: checked first.
    let mut by_source: HashMap<SocketAddr, EndpointKey> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    loop {
        // Only endpoints that got input or whose timer fired are polled.
        for (key, endpoint) in endpoints.iter_mut().filter(|(_, e)| e.needs_poll) {
            endpoint.needs_poll = false;
            endpoint.next_at = endpoint.drive(key, &socket);
        }
        publish(&mut endpoints, &view);
        let idle = Instant::now() + Duration::from_secs(1);
        let next = endpoints.values().filter_map(|e| e.next_at).min().map_or(idle, |at| at.min(idle));

        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { break };
                apply(command, &mut endpoints, &view);
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
            }
        }
        by_source.retain(|_, key| endpoints.contains_key(key));
    }
}

fn apply(command: Command, endpoints: &mut BTreeMap<EndpointKey, Endpoint>, view: &watch::Sender<BridgeView>) {
    let touched = match &command {
        Command::Add { key, .. }
        | Command::StartSctp(key)
        | Command::SetMedia(key, _)
        | Command::SetRemote(key, _)
        | Command::SetSources(key, _)
        | Command::Expire(key) => key.clone(),
    };
    match command {
        Command::Add { key, rtc } => {
            debug!(endpoint = %key, "endpoint transport added");
            endpoints.insert(key, Endpoint::new(*rtc));
        }
        Command::StartSctp(key) => {
            if let Some(e) = endpoints.get_mut(&key) {
                e.sctp_wanted = true;
                e.maybe_start_sctp(&key);
            }
        }
        Command::SetMedia(key, media) => {
            if let Some(e) = endpoints.get_mut(&key) {
                e.set_media(&media);
            }
        }
        Command::SetRemote(key, remote) => {
            if let Some(e) = endpoints.get_mut(&key) {
                if e.rtc.is_alive() {
                    e.set_remote(&key, &remote);
                }
            }
        }
        Command::SetSources(key, sources) => {
            if let Some(e) = endpoints.get_mut(&key) {
                e.sources = sources;
            }
        }
        Command::Expire(key) => {
            if let Some(mut e) = endpoints.remove(&key) {
                e.rtc.disconnect();
                debug!(endpoint = %key, "endpoint transport expired");
            }
            view.send_modify(|v| {
                v.transports.remove(&key);
            });
        }
    }
    if let Some(e) = endpoints.get_mut(&touched) {
        e.needs_poll = true;
    }
}
