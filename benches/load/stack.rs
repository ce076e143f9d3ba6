//! The system under load, started fresh for each scenario: a private Prosody (tuned as
//! `config/prosody.cfg.lua` recommends), a reservation API on loopback that grants every room,
//! test bridges in the brewery, and the release `jitsi-focus` binary as its own process, so
//! that its CPU time and memory are its own.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use jitsi_test_bridge::{TestBridge, TestBridgeConfig};
use tokio::process::{Child, Command};

use crate::harness;
use crate::support::focus_process::FOCUS_BIN;
use crate::support::procfs::{prosody_pid, status_kib};
use crate::support::{
    NotifySocket, Prosody, ProsodyOptions, ReservationServer, DEFAULT_COMPONENT_SECRET, DOMAIN, INTERNAL_MUC_DOMAIN,
};

pub const BREWERY: &str = "jvbbrewery";

#[derive(Clone)]
pub struct StackOptions {
    pub bridges: usize,
    /// The focus's `log.level`.
    pub focus_log_level: String,
    /// Prosody's log level.
    pub prosody_log_level: String,
}

pub struct Stack {
    pub prosody: Prosody,
    pub api: ReservationServer,
    pub bridges: Vec<TestBridge>,
    pub focus: Child,
    pub focus_pid: u32,
    pub prosody_pid: u32,
    /// Process start → `READY=1` (the component is online).
    pub startup: Duration,
    /// Resident memory of the focus right after `READY=1`, KiB.
    pub ready_rss_kib: u64,
    pub focus_log: PathBuf,
    /// The focus's HTTP API, for `/stats`.
    pub http_port: u16,
    _dir: tempfile::TempDir,
}

impl Stack {
    pub async fn start(options: &StackOptions) -> Result<Stack> {
        let prosody = Prosody::start(ProsodyOptions {
            log_level: options.prosody_log_level.clone(),
            // e.g. `network_settings = { nagle = true }` to see what Prosody's default costs.
            extra_global_config: std::env::var("LOAD_PROSODY_EXTRA").unwrap_or_default(),
            ..ProsodyOptions::default()
        })
        .await?;
        let prosody_pid = prosody_pid(&prosody).context("Prosody's pid")?;
        let api = ReservationServer::start().await?;
        let brewery = format!("{BREWERY}@{INTERNAL_MUC_DOMAIN}");
        let mut bridges = Vec::new();
        for n in 1..=options.bridges {
            // The focus gets the Colibri2 answers JVB gives; the bridges run no media behind
            // them (the browser tests prove media), which at thousands of endpoints would take
            // the CPU the focus and Prosody are measured on.
            let config = TestBridgeConfig::new(
                format!("127.0.0.1:{}", prosody.c2s_port()),
                DOMAIN,
                &brewery,
                format!("jvb-{n}"),
            )
            .signalling_only();
            bridges.push(TestBridge::start(config).await.with_context(|| format!("starting bridge jvb-{n}"))?);
        }

        let dir = tempfile::Builder::new().prefix("focus-load-").tempdir()?;
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state)?;
        let http_port = crate::support::free_port()?;
        let extra = format!(
            "[http]\nbind = \"127.0.0.1:{http_port}\"\n[reservation]\nenabled = true\nbase_url = \"{}\"\n[state]\ndirectory = \"{}\"\n[bridges]\nbrewery = \"{brewery}\"\n[log]\nlevel = \"{}\"\n",
            api.base_url(),
            state.display(),
            options.focus_log_level,
        );
        let config = dir.path().join("focus.toml");
        std::fs::write(&config, harness::config_toml(prosody.component_port(), DEFAULT_COMPONENT_SECRET, &extra))?;
        let focus_log = dir.path().join("focus.log");
        let log = std::fs::File::create(&focus_log)?;

        let mut notify = NotifySocket::bind()?;
        let spawned = Instant::now();
        // LOAD_FOCUS_BIN measures another build (e.g. an earlier commit's) on the same load.
        let binary = std::env::var("LOAD_FOCUS_BIN").unwrap_or_else(|_| FOCUS_BIN.to_owned());
        let focus = Command::new(&binary)
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("NOTIFY_SOCKET", notify.path())
            .env_remove("WATCHDOG_USEC")
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {binary}"))?;
        let focus_pid = focus.id().context("the focus's pid")?;
        if let Err(e) = notify.wait_for(|m| m.contains("READY=1"), Duration::from_secs(30)).await {
            let log = std::fs::read_to_string(&focus_log).unwrap_or_default();
            bail!("the focus did not come online: {e}\n{log}");
        }
        let startup = spawned.elapsed();
        let ready_rss_kib = status_kib(focus_pid, "VmRSS:").unwrap_or(0);
        Ok(Stack {
            prosody,
            api,
            bridges,
            focus,
            focus_pid,
            prosody_pid,
            startup,
            ready_rss_kib,
            focus_log,
            http_port,
            _dir: dir,
        })
    }

    pub fn c2s_port(&self) -> u16 {
        self.prosody.c2s_port()
    }

    /// Fails if the focus has exited (a crash under load is the worst result there is).
    pub fn check_focus_alive(&mut self) -> Result<()> {
        if let Some(status) = self.focus.try_wait()? {
            let log = std::fs::read_to_string(&self.focus_log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            bail!(
                "the focus exited with {status}; last log lines:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }

    /// Waits until every reservation the focus made has been DELETEd (conferences ended);
    /// returns (posts, deletes) at the end of the wait.
    pub async fn wait_reservations_deleted(&self, timeout: Duration) -> (usize, usize) {
        let deadline = Instant::now() + timeout;
        loop {
            let posts = self.api.count(|r| r.method == "POST");
            let deletes = self.api.count(|r| r.method == "DELETE");
            if deletes >= posts || Instant::now() > deadline {
                return (posts, deletes);
            }
            // The reservation server records requests; nothing here can be awaited per DELETE
            // cheaply at this scale, so poll.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The focus's `GET /stats`.
    pub async fn stats(&self) -> Result<serde_json::Value> {
        let url = format!("http://127.0.0.1:{}/stats", self.http_port);
        let response = reqwest::get(&url).await.with_context(|| format!("GET {url}"))?;
        anyhow::ensure!(response.status().is_success(), "GET {url}: {}", response.status());
        Ok(response.json().await?)
    }
}
