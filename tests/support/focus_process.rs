//! The real `jitsi-focus` binary as systemd runs it: a process whose log lines the test reads
//! as they are written, signals sent to it, and a notification socket standing in for
//! systemd's `NOTIFY_SOCKET`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::UnixDatagram;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

pub const FOCUS_BIN: &str = env!("CARGO_BIN_EXE_jitsi-focus");

/// A Unix datagram socket in a temporary directory, receiving what the focus tells systemd.
pub struct NotifySocket {
    socket: UnixDatagram,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
    /// Every message received so far, oldest first.
    pub seen: Vec<String>,
}

impl NotifySocket {
    pub fn bind() -> Result<NotifySocket> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path)?;
        Ok(NotifySocket { socket, path, _dir: dir, seen: Vec::new() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next message, or `None` if none arrives within `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Option<String> {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(timeout, self.socket.recv(&mut buf)).await.ok()?.ok()?;
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        self.seen.push(message.clone());
        Some(message)
    }

    /// Waits for a message matching `pred`, keeping the others in `seen`.
    pub async fn wait_for(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await {
                Some(message) if pred(&message) => return Ok(message),
                Some(_) => {}
                None => bail!("no matching notification within {timeout:?}; received: {:?}", self.seen),
            }
        }
    }

    /// Takes every message already queued, without waiting.
    pub fn drain_queued(&mut self) -> Vec<String> {
        let mut buf = vec![0u8; 4096];
        let mut queued = Vec::new();
        while let Ok(n) = self.socket.try_recv(&mut buf) {
            queued.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        self.seen.extend(queued.iter().cloned());
        queued
    }
}

/// The running binary: its stdout and stderr, line by line, as they come.
pub struct FocusProcess {
    pub child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line read so far.
    pub log: Vec<String>,
}

impl FocusProcess {
    /// `jitsi-focus --config CONFIG run` with `env` added to the test's environment (minus any
    /// systemd variables the test runner might have).
    pub fn spawn(config: &Path, env: &[(&str, &str)]) -> Result<FocusProcess> {
        let mut command = Command::new(FOCUS_BIN);
        command.arg("--config").arg(config).arg("run");
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let mut child =
            command.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn().context("spawning")?;
        let (tx, lines) = mpsc::unbounded_channel();
        forward_lines(child.stdout.take().context("stdout")?, tx.clone());
        forward_lines(child.stderr.take().context("stderr")?, tx);
        Ok(FocusProcess { child, lines, log: Vec::new() })
    }

    pub fn signal(&self, name: &str) -> Result<()> {
        let pid = self.child.id().context("the focus has exited")?.to_string();
        let status = std::process::Command::new("kill").args(["-s", name, &pid]).status()?;
        anyhow::ensure!(status.success(), "kill -s {name} failed");
        Ok(())
    }

    /// Waits for a log line matching `pred`.
    pub async fn wait_line(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.log.push(line.clone());
                    if pred(&line) {
                        return Ok(line);
                    }
                }
                Ok(None) => bail!("the focus closed its output; log:\n{}", self.log.join("\n")),
                Err(_) => bail!("no matching log line within {timeout:?}; log:\n{}", self.log.join("\n")),
            }
        }
    }

    /// Takes the lines written so far, without waiting for more.
    pub fn drain_lines(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        &self.log
    }

    /// Waits for the process to exit; its exit code.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<Option<i32>> {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .with_context(|| format!("still running after {timeout:?}; log:\n{}", self.log.join("\n")))??;
        Ok(status.code())
    }
}

fn forward_lines(stream: impl AsyncRead + Unpin + Send + 'static, tx: mpsc::UnboundedSender<String>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}
