//! What a load run records: latency series, counts of what went wrong, and the CPU time and
//! memory of the focus and of Prosody, sampled from /proc while the run goes on.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::procfs::{cpu_seconds, status_kib};

/// One latency, measured many times.
#[derive(Default)]
pub struct Series {
    samples: Mutex<Vec<Duration>>,
}

impl Series {
    pub fn push(&self, latency: Duration) {
        self.samples.lock().unwrap().push(latency);
    }

    pub fn len(&self) -> usize {
        self.samples.lock().unwrap().len()
    }

    pub fn summary(&self) -> Summary {
        let mut samples = self.samples.lock().unwrap().clone();
        samples.sort();
        let at = |q: f64| samples.get(((samples.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied();
        Summary { count: samples.len(), p50: at(0.50), p99: at(0.99), max: samples.last().copied() }
    }
}

pub struct Summary {
    pub count: usize,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    pub max: Option<Duration>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{:.1} ms", d.as_secs_f64() * 1000.0));
        write!(f, "n={:<6} p50 {:>9}  p99 {:>9}  max {:>9}", self.count, ms(self.p50), ms(self.p99), ms(self.max))
    }
}

/// Everything the simulated participants report, shared by all of them.
#[derive(Default)]
pub struct Recorder {
    /// Conference request → `ready='true'`, for a room nobody was in (reservation, MUC creation).
    pub request_new_room: Series,
    /// Conference request → `ready='true'`, for a running conference.
    pub request_live_room: Series,
    /// MUC join sent → session-initiate received (for a room's first participant, from the
    /// second's join, which is what makes the focus invite).
    pub join_to_initiate: Series,
    /// session-accept sent by one participant → source-add with its sources at another.
    pub accept_to_source_add: Series,
    /// A bridge killed → session-initiate on another bridge, for each participant it had.
    pub bridge_loss_to_reinvite: Series,
    /// A client's ping answered by Prosody itself, every 50 ms during the run: the round trip
    /// the machine and Prosody give anyone at that moment.
    pub prosody_round_trip: Series,
    /// A client's disco#info answered by the focus through Prosody, every 50 ms.
    pub focus_round_trip: Series,
    pub connected: AtomicU64,
    pub joined: AtomicU64,
    pub left: AtomicU64,
    pub errors: AtomicU64,
    /// Requests or Jingle IQs of the focus's that got no answer in time.
    pub unanswered: AtomicU64,
    first_errors: Mutex<Vec<String>>,
    /// When each SSRC's session-accept was sent, to time the source-add at the others.
    accepted_at: Mutex<HashMap<u32, Instant>>,
    /// When a bridge was killed, with its UDP port (which names it in session-initiates).
    killed_bridge: Mutex<Option<(u16, Instant)>>,
    /// Per room: joins so far, and when the second participant joined (the focus invites
    /// once a room has two, so the first participant's session-initiate is timed from then).
    room_joins: Mutex<HashMap<String, (u32, Option<Instant>)>>,
}

impl Recorder {
    pub fn error(&self, what: impl Into<String>) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_errors.lock().unwrap();
        if first.len() < 10 {
            first.push(what.into());
        }
    }

    pub fn unanswered(&self, what: impl Into<String>) {
        self.unanswered.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_errors.lock().unwrap();
        if first.len() < 10 {
            first.push(format!("unanswered: {}", what.into()));
        }
    }

    pub fn first_errors(&self) -> Vec<String> {
        self.first_errors.lock().unwrap().clone()
    }

    pub fn count(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// The latest session-accept with these SSRCs (a participant moved to another bridge
    /// accepts its new session with the same sources, and the others' source-add follows that).
    pub fn accepted(&self, ssrcs: &[u32], at: Instant) {
        let mut accepted = self.accepted_at.lock().unwrap();
        for ssrc in ssrcs {
            accepted.insert(*ssrc, at);
        }
    }

    pub fn accepted_at(&self, ssrc: u32) -> Option<Instant> {
        self.accepted_at.lock().unwrap().get(&ssrc).copied()
    }

    pub fn room_joined(&self, room: &str, at: Instant) {
        let mut rooms = self.room_joins.lock().unwrap();
        let (joins, second) = rooms.entry(room.to_owned()).or_default();
        *joins += 1;
        if *joins == 2 {
            *second = Some(at);
        }
    }

    /// When the room's second participant joined, if one has.
    pub fn second_join(&self, room: &str) -> Option<Instant> {
        self.room_joins.lock().unwrap().get(room).and_then(|(_, second)| *second)
    }

    pub fn bridge_killed(&self, port: u16, at: Instant) {
        *self.killed_bridge.lock().unwrap() = Some((port, at));
    }

    pub fn killed_bridge(&self) -> Option<(u16, Instant)> {
        *self.killed_bridge.lock().unwrap()
    }
}

/// CPU seconds and memory of one process over a run.
#[derive(Clone, Copy, Default)]
pub struct ProcessCost {
    pub cpu_seconds: f64,
    /// Resident memory now, KiB.
    pub rss_kib: u64,
    /// Peak resident memory since the process started (VmHWM), KiB.
    pub peak_rss_kib: u64,
}

/// A process whose cost a run measures from a starting point.
pub struct Measured {
    pub pid: u32,
    cpu_at_start: f64,
}

impl Measured {
    pub fn new(pid: u32) -> Measured {
        Measured { pid, cpu_at_start: cpu_seconds(pid).unwrap_or(0.0) }
    }

    /// Restarts the CPU count (e.g. after the stack has started).
    pub fn reset(&mut self) {
        self.cpu_at_start = cpu_seconds(self.pid).unwrap_or(self.cpu_at_start);
    }

    pub fn cost(&self) -> ProcessCost {
        ProcessCost {
            cpu_seconds: cpu_seconds(self.pid).unwrap_or(0.0) - self.cpu_at_start,
            rss_kib: status_kib(self.pid, "VmRSS:").unwrap_or(0),
            peak_rss_kib: status_kib(self.pid, "VmHWM:").unwrap_or(0),
        }
    }
}

pub fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 / 1024.0)
}

/// Writes a progress line to stderr every second until dropped.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    pub fn start(
        scenario: String,
        target: u64,
        recorder: std::sync::Arc<Recorder>,
        focus: (u32, f64),
        prosody: (u32, f64),
    ) -> Progress {
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let cpu = |(pid, base): (u32, f64)| cpu_seconds(pid).unwrap_or(base) - base;
                let rss = |pid| mb(status_kib(pid, "VmRSS:").unwrap_or(0));
                let joined = Recorder::count(&recorder.joined);
                let left = Recorder::count(&recorder.left);
                eprintln!(
                    "[{scenario} {:>4}s] joined {joined}/{target} live {} errors {} unanswered {} | focus {:.2} s CPU {} | prosody {:.2} s CPU {}",
                    started.elapsed().as_secs(),
                    joined.saturating_sub(left),
                    Recorder::count(&recorder.errors),
                    Recorder::count(&recorder.unanswered),
                    cpu(focus),
                    rss(focus.0),
                    cpu(prosody),
                    rss(prosody.0),
                );
            }
        });
        Progress { task }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
    }
}
