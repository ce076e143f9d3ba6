//! systemd's notify protocol (sd_notify(3)): `READY=1`, `STATUS=…`, `WATCHDOG=1` and
//! `STOPPING=1`, each a datagram to the socket named by `NOTIFY_SOCKET`.
//!
//! Written by hand rather than with a crate: it is one datagram per message, and the runtime's
//! tests need to aim it at a socket of their own without touching the process environment.
//! Sending never blocks the main loop (the socket is non-blocking) and never fails the focus:
//! a lost notification is logged at debug level and otherwise ignored.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::time::Duration;

use tracing::debug;

use crate::core::Focus;

/// Where notifications go, and how often systemd wants a watchdog ping.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    target: SocketAddr,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`, as systemd sets them for a
    /// `Type=notify` service; `None` when `NOTIFY_SOCKET` is unset (not run by systemd) or
    /// unusable (then a warning says why).
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        // WATCHDOG_PID names the process systemd watches; a child that inherited it is not it.
        let ours = std::env::var("WATCHDOG_PID").map_or(true, |pid| pid.trim() == std::process::id().to_string());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|usec| usec.trim().parse::<u64>().ok())
            .filter(|usec| *usec > 0 && ours)
            .map(Duration::from_micros);
        match Notifier::new(Path::new(&path), watchdog) {
            Ok(notifier) => Some(notifier),
            Err(e) => {
                tracing::warn!("NOTIFY_SOCKET {}: {e}; systemd will not hear from us", Path::new(&path).display());
                None
            }
        }
    }

    /// Notifications to the socket at `path` (a leading `@` names an abstract socket); systemd
    /// expects a ping at least every `watchdog`.
    pub fn new(path: &Path, watchdog: Option<Duration>) -> io::Result<Notifier> {
        let target = address(path)?;
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(Notifier { socket, target, watchdog })
    }

    /// How often to send `WATCHDOG=1`: half of systemd's watchdog timeout, as sd_watchdog_enabled(3)
    /// recommends; `None` when no watchdog is configured.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|timeout| (timeout / 2).max(Duration::from_millis(1)))
    }

    /// Sends one message of `KEY=value` lines.
    pub fn send(&self, message: &str) {
        if let Err(e) = self.socket.send_to_addr(message.as_bytes(), &self.target) {
            debug!("cannot notify systemd ({}): {e}", message.lines().next().unwrap_or_default());
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}"));
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    pub fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={status}"));
    }
}

/// The socket address of `NOTIFY_SOCKET`: a path, or `@name` for Linux's abstract namespace.
fn address(path: &Path) -> io::Result<SocketAddr> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    match bytes.strip_prefix(b"@") {
        #[cfg(target_os = "linux")]
        Some(name) => <SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(name),
        #[cfg(not(target_os = "linux"))]
        Some(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "abstract sockets exist only on Linux")),
        None if bytes.first() == Some(&b'/') => SocketAddr::from_pathname(path),
        None => Err(io::Error::new(io::ErrorKind::InvalidInput, "must be an absolute path or start with '@'")),
    }
}

/// What the main loop tells systemd: `READY=1` when the component first comes online, and its
/// status line whenever the text changed, at most once per tick of the loop's status timer.
#[derive(Debug, Default)]
pub(super) struct Reporter {
    notifier: Option<Notifier>,
    ready: bool,
    /// The link was up once: a link that is down now is being re-established.
    was_up: bool,
    last: String,
}

impl Reporter {
    pub(super) fn new(notifier: Option<Notifier>) -> Reporter {
        Reporter { notifier, ..Reporter::default() }
    }

    pub(super) fn notifier(&self) -> Option<&Notifier> {
        self.notifier.as_ref()
    }

    pub(super) fn watchdog(&self) {
        if let Some(notifier) = &self.notifier {
            notifier.watchdog();
        }
    }

    /// The link came up: the first time, systemd hears that we are ready.
    pub(super) fn connected(&mut self, focus: &Focus) {
        self.was_up = true;
        if !self.ready {
            self.ready = true;
            self.last = status(focus, true, true);
            if let Some(notifier) = &self.notifier {
                notifier.ready(&self.last);
            }
        }
    }

    /// Sends the status line if it changed since the last one sent.
    pub(super) fn update(&mut self, focus: &Focus, up: bool) {
        let text = status(focus, up, self.was_up);
        if text != self.last {
            if let Some(notifier) = &self.notifier {
                notifier.status(&text);
            }
            self.last = text;
        }
    }

    /// Shutdown begins (draining or stopping at once).
    pub(super) fn stopping(&mut self, status: &str) {
        if let Some(notifier) = &self.notifier {
            notifier.stopping(status);
        }
        self.last = status.to_owned();
    }
}

/// The status line: "online: 3 conferences, 7 participants", "connecting to Prosody",
/// "reconnecting to Prosody" or "draining: 2 conferences left".
pub(super) fn status(focus: &Focus, up: bool, was_up: bool) -> String {
    let conferences = plural(focus.conference_count(), "conference");
    match () {
        _ if focus.is_draining() => format!("draining: {conferences} left"),
        _ if up => format!("online: {conferences}, {}", plural(focus.participant_count(), "participant")),
        _ if was_up => "reconnecting to Prosody".to_owned(),
        _ => "connecting to Prosody".to_owned(),
    }
}

fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("a datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn messages_reach_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        receiver.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let notifier = Notifier::new(&path, Some(Duration::from_secs(30))).unwrap();
        assert_eq!(notifier.watchdog_interval(), Some(Duration::from_secs(15)));
        notifier.ready("online: 0 conferences, 0 participants");
        assert_eq!(receive(&receiver), "READY=1\nSTATUS=online: 0 conferences, 0 participants");
        notifier.watchdog();
        assert_eq!(receive(&receiver), "WATCHDOG=1");
        notifier.stopping("stopping");
        assert_eq!(receive(&receiver), "STOPPING=1\nSTATUS=stopping");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_at_sign_names_an_abstract_socket() {
        let name = format!("jitsi-focus-notify-test-{}", std::process::id());
        let address = <SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(&name).unwrap();
        let receiver = UnixDatagram::bind_addr(&address).unwrap();
        receiver.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let notifier = Notifier::new(Path::new(&format!("@{name}")), None).unwrap();
        assert_eq!(notifier.watchdog_interval(), None);
        notifier.status("connecting to Prosody");
        assert_eq!(receive(&receiver), "STATUS=connecting to Prosody");
    }

    #[test]
    fn a_relative_path_is_refused_and_a_missing_listener_is_not_an_error() {
        assert!(Notifier::new(Path::new("relative/notify"), None).is_err());
        let dir = tempfile::tempdir().unwrap();
        let notifier = Notifier::new(&dir.path().join("nobody"), None).unwrap();
        notifier.watchdog(); // logged, not fatal
    }
}
