//! `jitsi-test-bridge`: the test bridge as a process (see README.md).

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use jitsi_test_bridge::{ColibriFailure, ColibriMode, HealthMode, Switches, TestBridge, TestBridgeConfig};
use tokio::io::{AsyncBufReadExt, BufReader};

/// A test video bridge speaking what jitsi-videobridge speaks: brewery presence with stats,
/// health checks, Colibri2, ICE and DTLS on 127.0.0.1.
#[derive(Parser, Debug)]
#[command(name = "jitsi-test-bridge", version)]
struct Cli {
    /// XMPP c2s address (host:port).
    #[arg(long, default_value = "127.0.0.1:5222")]
    xmpp: String,
    /// XMPP domain to log in on.
    #[arg(long)]
    domain: String,
    /// Account name (SASL with a registered account); without it the login is anonymous.
    #[arg(long, requires = "password")]
    user: Option<String>,
    /// Account password.
    #[arg(long, requires = "user")]
    password: Option<String>,
    /// Brewery room (bare JID).
    #[arg(long)]
    brewery: String,
    /// Nickname in the brewery (the bridge id).
    #[arg(long, default_value = "jvb-1")]
    nick: String,
    /// UDP port for ICE/DTLS on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    udp_port: u16,
    /// Stat `region`.
    #[arg(long)]
    region: Option<String>,
    /// Stat `version`.
    #[arg(long, default_value = "2.3.0-test")]
    bridge_version: String,
    /// Stat `release`.
    #[arg(long)]
    release: Option<String>,
    /// Stat `relay_id`.
    #[arg(long)]
    relay_id: Option<String>,
    /// Stat `stress_level`.
    #[arg(long, default_value_t = 0.0)]
    stress_level: f64,
    /// Stat `drain` = true.
    #[arg(long)]
    drain: bool,
    /// Stat `graceful_shutdown` = true (conference creation is then refused, as JVB does).
    #[arg(long)]
    graceful_shutdown: bool,
    /// Stat `shutting_down` = true.
    #[arg(long)]
    shutting_down: bool,
    /// Health checks: `healthy`, `fail` (internal-server-error) or `timeout` (no answer).
    #[arg(long, default_value = "healthy")]
    fail_health: HealthMode,
    /// Answer every Colibri2 request with this error: `CONDITION[:REASON]`,
    /// e.g. `service-unavailable:graceful_shutdown`.
    #[arg(long, conflicts_with = "colibri_no_answer")]
    colibri_error: Option<ColibriFailure>,
    /// Never answer Colibri2 requests.
    #[arg(long)]
    colibri_no_answer: bool,
    /// Connect but stay out of the brewery.
    #[arg(long)]
    stay_out: bool,
    /// Interval of stats presences, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    presence_interval_ms: u64,
    /// Read switch commands from stdin, one per line (see README.md).
    #[arg(long)]
    control_stdin: bool,
    /// tracing filter, e.g. `info` or `jitsi_test_bridge=debug`.
    #[arg(long, default_value = "info")]
    log: String,
}

impl Cli {
    fn config(&self) -> TestBridgeConfig {
        let colibri = match (&self.colibri_error, self.colibri_no_answer) {
            (Some(failure), _) => ColibriMode::Error(failure.clone()),
            (None, true) => ColibriMode::NoAnswer,
            (None, false) => ColibriMode::Normal,
        };
        let mut config = TestBridgeConfig::new(&self.xmpp, &self.domain, &self.brewery, &self.nick);
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            config = config.with_password(user, password);
        }
        config.udp_port = self.udp_port;
        config.presence_interval = Duration::from_millis(self.presence_interval_ms.max(1));
        config.switches = Switches {
            health: self.fail_health,
            colibri,
            in_brewery: !self.stay_out,
            drain: self.drain,
            graceful_shutdown: self.graceful_shutdown,
            shutting_down: self.shutting_down,
            stress_level: self.stress_level,
            region: self.region.clone(),
            version: self.bridge_version.clone(),
            release: self.release.clone(),
            relay_id: self.relay_id.clone(),
        };
        config
    }
}

fn on_off(value: &str) -> Result<bool> {
    match value {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        other => bail!("expected on/off, got {other:?}"),
    }
}

enum Next {
    Continue,
    Stop,
    Kill,
}

/// One stdin command; see README.md.
async fn command(bridge: &TestBridge, line: &str) -> Result<Next> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let timeout = Duration::from_secs(10);
    match words.as_slice() {
        [] => {}
        ["health", mode] => bridge.set_health(mode.parse().map_err(anyhow::Error::msg)?),
        ["colibri", "normal"] => bridge.set_colibri(ColibriMode::Normal),
        ["colibri", "no-answer"] => bridge.set_colibri(ColibriMode::NoAnswer),
        ["colibri", "error", spec] => bridge.set_colibri(ColibriMode::Error(spec.parse().map_err(anyhow::Error::msg)?)),
        ["drain", v] => bridge.set_drain(on_off(v)?),
        ["graceful-shutdown", v] => bridge.set_graceful_shutdown(on_off(v)?),
        ["shutting-down", v] => bridge.set_shutting_down(on_off(v)?),
        ["stress", v] => bridge.set_stress_level(v.parse().context("stress level")?),
        ["region", v] => bridge.set_region(Some(v)),
        ["region"] => bridge.set_region(None),
        ["version", v] => bridge.set_version(v),
        ["leave"] => bridge.leave_brewery(timeout).await?,
        ["join"] => bridge.join_brewery(timeout).await?,
        ["stop"] => return Ok(Next::Stop),
        ["kill"] => return Ok(Next::Kill),
        _ => bail!("unknown command {line:?}"),
    }
    Ok(Next::Continue)
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log).context("--log")?)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: logs captured by tests and journald stay plain.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let bridge = TestBridge::start(cli.config()).await.context("starting the test bridge")?;
    // One line on stdout for scripts waiting for the bridge.
    println!("READY occupant={} jid={} udp={}", bridge.occupant_jid(), bridge.jid(), bridge.udp_addr());

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = cli.control_stdin;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut failures = bridge.subscribe();
    let next = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break Next::Stop,
            _ = sigterm.recv() => break Next::Stop,
            changed = failures.changed() => {
                let connected = changed.is_ok() && failures.borrow_and_update().xmpp_connected;
                if !connected {
                    let why = bridge.view().failure.unwrap_or_else(|| "disconnected".into());
                    bridge.kill().await;
                    bail!("the bridge stopped: {why}");
                }
            }
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(line)) => match command(&bridge, &line).await {
                    Ok(Next::Continue) => println!("OK {line}"),
                    Ok(next) => break next,
                    Err(e) => println!("ERROR {line}: {e:#}"),
                },
                Ok(None) | Err(_) => stdin_open = false,
            },
        }
    };
    match next {
        Next::Kill => bridge.kill().await,
        _ => bridge.stop().await,
    }
    Ok(())
}
