//! The real reservation server for a test: `jitsi-reservations serve`, this package's second
//! binary, spawned with a TOML file and a SQLite database in a temporary directory, on a free
//! loopback port (`bind = "127.0.0.1:0"`; the address is read from the `listening http://…/`
//! line it prints). Its JSON log lines are collected as they come, so tests await what the
//! server did (a conference started or ended) instead of sleeping. Meetings are booked with the
//! binary's own CLI (`meetings add`) on the same database.
//!
//! Dropping it kills the process; [`ReservationsServer::stop`] sends SIGTERM, as systemd does,
//! and returns the exit status.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// The binary cargo built for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_jitsi-reservations");
/// The management API token of every test server (`[api] tokens`).
pub const TOKEN: &str = "test-management-token-5f0c2a9e";
/// How long the server may take to print its `listening` line.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// What the server is started with.
#[derive(Debug, Clone, Default)]
pub struct ReservationsOptions {
    /// `[policy] ad_hoc`: rooms with no meeting open too.
    pub ad_hoc: bool,
    /// TOML appended to the generated file (whole sections, e.g. `[log]\nlevel = "debug"\n`).
    pub extra_toml: String,
    /// Environment variables for the server process (e.g. `JITSI_RESERVATIONS_DATABASE__URL`).
    pub env: Vec<(String, String)>,
}

/// Fails loudly, never skips, when the binary is missing (cargo builds it for integration
/// tests, so this means a broken build directory).
pub fn check_binary() -> Result<()> {
    ensure!(
        Path::new(BIN).is_file(),
        "the jitsi-reservations binary is missing at {BIN}: build it with `cargo build` (cargo test builds it too)"
    );
    Ok(())
}

/// A `jitsi-reservations` command on `config`, without any `JITSI_RESERVATIONS_*` variable of
/// the test runner's environment and without backtraces (what an operator sees).
pub fn command(config: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.arg("--config").arg(config);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("JITSI_RESERVATIONS_") {
            command.env_remove(key);
        }
    }
    command.env_remove("RUST_BACKTRACE").env_remove("RUST_LIB_BACKTRACE").env_remove("RUST_LOG");
    command.stdin(Stdio::null()).kill_on_drop(true);
    command
}

/// Lines the server printed (stdout and stderr), in arrival order; JSON lines parsed.
#[derive(Default)]
struct Lines {
    lines: Mutex<Vec<Value>>,
    added: Notify,
}

impl Lines {
    fn push(&self, line: String) {
        let value = serde_json::from_str::<Value>(&line).unwrap_or(Value::String(line));
        self.lines.lock().unwrap().push(value);
        self.added.notify_waiters();
    }
}

pub struct ReservationsServer {
    child: Option<Child>,
    base_url: String,
    config: PathBuf,
    dir: tempfile::TempDir,
    output: Arc<Lines>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl ReservationsServer {
    /// Writes the configuration (SQLite file, port 0, JSON logs, [`TOKEN`]), starts `serve` and
    /// waits for its `listening` line.
    pub async fn start(options: ReservationsOptions) -> Result<ReservationsServer> {
        check_binary()?;
        let dir = tempfile::Builder::new().prefix("jitsi-reservations-").tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
        let config = dir.path().join("jitsi-reservations.toml");
        let toml = format!(
            "[server]\nbind = \"127.0.0.1:0\"\n[database]\nurl = \"sqlite://{}\"\n[api]\ntokens = [\"{TOKEN}\"]\n[policy]\nad_hoc = {}\n{}",
            dir.path().join("reservations.db").display(),
            options.ad_hoc,
            options.extra_toml
        );
        let toml = if toml.contains("[log]") { toml } else { format!("{toml}[log]\nformat = \"json\"\n") };
        std::fs::write(&config, toml)?;
        let mut command = command(&config);
        command
            .arg("serve")
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().with_context(|| format!("starting {BIN}"))?;
        let output = Arc::new(Lines::default());
        let stdout = child.stdout.take().context("stdout")?;
        let stderr = child.stderr.take().context("stderr")?;
        let readers =
            vec![tokio::spawn(read_lines(stdout, output.clone())), tokio::spawn(read_lines(stderr, output.clone()))];
        let mut server =
            ReservationsServer { child: Some(child), base_url: String::new(), config, dir, output, readers };
        let listening = server
            .wait_for_line(|l| l.as_str().is_some_and(|s| s.starts_with("listening http://")), START_DEADLINE)
            .await
            .context("jitsi-reservations serve did not print its listening line")?;
        let address = listening.as_str().unwrap_or_default().trim_start_matches("listening ").trim_end_matches('/');
        server.base_url = address.to_owned();
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`, what the focus's `reservation.base_url` is set to.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `jitsi-reservations --config THIS args…` (the CLI on the same database).
    pub async fn cli(&self, args: &[&str]) -> Result<Output> {
        let output = command(&self.config).args(args).output();
        Ok(tokio::time::timeout(Duration::from_secs(30), output).await.context("the CLI hung")??)
    }

    /// Books a meeting with `meetings add` (`args` after the room, e.g. `--start`, `--duration`,
    /// `--owner`); returns its id.
    pub async fn book(&self, room: &str, args: &[&str]) -> Result<i64> {
        let mut all = vec!["meetings", "add", "--room", room];
        all.extend_from_slice(args);
        let output = self.cli(&all).await?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        ensure!(
            output.status.success(),
            "meetings add {args:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout.trim().parse().with_context(|| format!("meetings add printed {stdout:?}, not an id"))
    }

    /// Books `room` open from a minute ago for an hour, for `owners` (none: anyone).
    pub async fn book_now(&self, room: &str, owners: &[&str]) -> Result<i64> {
        let start = (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1)).to_string();
        let mut args = vec!["--start", start.as_str(), "--duration", "1h"];
        for owner in owners {
            args.extend(["--owner", owner]);
        }
        self.book(room, &args).await
    }

    /// `GET /api/v1/conferences?room=ROOM` with the token: the room's conferences, newest first.
    pub async fn conferences(&self, room: &str) -> Result<Vec<Value>> {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1/conferences", self.base_url))
            .query(&[("room", room)])
            .bearer_auth(TOKEN)
            .send()
            .await?;
        ensure!(response.status().is_success(), "GET /api/v1/conferences: {}", response.status());
        Ok(response.json().await?)
    }

    /// `POST /conference` as the focus sends it; returns the status and the JSON body.
    pub async fn post_conference(&self, room: &str, mail_owner: Option<&str>) -> Result<(u16, Value)> {
        let start = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S.%3fZ").to_string();
        let mut form = vec![("name", room), ("start_time", start.as_str())];
        if let Some(owner) = mail_owner {
            form.push(("mail_owner", owner));
        }
        let response = reqwest::Client::new().post(format!("{}/conference", self.base_url)).form(&form).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// Everything printed so far (stdout and stderr), one line each.
    pub fn output(&self) -> String {
        let lines = self.output.lines.lock().unwrap();
        lines
            .iter()
            .map(|l| l.as_str().map(str::to_owned).unwrap_or_else(|| l.to_string()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits for a log event: a JSON line whose `fields.message` is `message` and whose fields
    /// include all of `fields`: a string field equal to the text, any other equal to the JSON the
    /// text spells (`("room", "hello")`, `("id", "5")`).
    pub async fn wait_for_event(&self, message: &str, fields: &[(&str, &str)], timeout: Duration) -> Result<Value> {
        self.wait_for_line(
            |line| {
                let f = &line["fields"];
                f["message"] == message
                    && fields.iter().all(|(k, v)| match &f[*k] {
                        Value::String(s) => s == v,
                        other => serde_json::from_str::<Value>(v).is_ok_and(|parsed| parsed == *other),
                    })
            },
            timeout,
        )
        .await
        .with_context(|| format!("no log event {message:?} with {fields:?}; the server printed:\n{}", self.output()))
    }

    /// The first line, printed before or during the wait, that matches.
    pub async fn wait_for_line(&self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so a line added in between still wakes us.
            let added = self.output.added.notified();
            tokio::pin!(added);
            added.as_mut().enable();
            // Whether the output ended is read before the lines, so a last line is never missed.
            let ended = self.readers.iter().all(|r| r.is_finished());
            if let Some(line) = self.output.lines.lock().unwrap().iter().find(|l| pred(l)) {
                return Ok(line.clone());
            }
            if ended {
                bail!("the server's output ended (it exited?):\n{}", self.output());
            }
            if tokio::time::timeout_at(deadline, added).await.is_err() {
                bail!("not within {timeout:?}; the server printed:\n{}", self.output());
            }
        }
    }

    /// SIGTERM (systemd's stop); the exit status once it has exited, and all it printed.
    pub async fn stop(mut self) -> Result<(ExitStatus, String)> {
        let mut child = self.child.take().context("already stopped")?;
        let pid = child.id().context("the server already exited")?.to_string();
        ensure!(std::process::Command::new("kill").args(["-TERM", &pid]).status()?.success(), "kill -TERM {pid}");
        let status =
            tokio::time::timeout(Duration::from_secs(15), child.wait()).await.context("no exit after SIGTERM")??;
        for reader in self.readers.drain(..) {
            reader.await?;
        }
        Ok((status, self.output()))
    }
}

async fn read_lines(stream: impl AsyncRead + Unpin, lines: Arc<Lines>) {
    let mut reader = BufReader::new(stream).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        lines.push(line);
    }
    // Wake waiters: the stream ended.
    lines.added.notify_waiters();
}
