//! Burst benchmark (ignored by default; timings are printed, never asserted):
//!
//!   cargo test --release --test bench_burst -- --ignored --nocapture --test-threads 1
//!
//! Repeats the finding "10,000 distinct rooms from 40 clients: none answered within 90 s, RSS
//! grew from 8 MB to 787 MB, only 2,094 reservations were deleted within 211 s" against the
//! release binary, a real Prosody and a real (fast) reservation server on loopback:
//!
//! - pass 1: 40 c2s clients each pipeline 250 conference requests for distinct new rooms (all
//!   sent before any answer is read), then collect every answer by id;
//! - pass 2: 1 s after pass 1, each client asks again, once, for its rooms answered
//!   `ready='false'` (as clients do with their back-off);
//! - then nobody joins: every conference ends after `initial_timeout` (2 s) and its reservation
//!   must be DELETEd; the wait for DELETEs == POSTs is bounded.
//!
//! The one assertion is the product's promise: every request gets an answer.
//!
//! Knobs (environment): BURST_CLIENTS (40), BURST_ROOMS_PER_CLIENT (250), BURST_MUC_CACHE
//! (Prosody `muc_room_cache_size`, 10000 as docker-jitsi-meet configures its main MUC; Prosody's
//! own default is 100), BURST_LOG_LEVEL (focus log level, "warn"), BURST_FOCUS_BIN (another
//! focus binary to measure, e.g. an earlier build), BURST_NO_STATE=1 (leave out `[state]`, for
//! builds that predate it).

mod harness;
mod support;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use minidom::Element;
use serde_json::json;
use support::procfs::{cpu_ticks, load_average, prosody_pid, status_kib, TICKS_PER_SECOND};
use support::{set_attr, Prosody, ProsodyOptions, Reply, ReservationServer, TestClient};

/// The focus' default `conference.request_timeout` (not set in the config below).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a pass waits for answers after a client's last request was written.
const ANSWER_WAIT: Duration = Duration::from_secs(90);
/// How long to wait, after pass 2, for every granted reservation to be DELETEd.
const DELETE_WAIT: Duration = Duration::from_secs(120);
/// Reservation ids are `n * ID_STRIDE + room + 1` for the n-th POST of a room.
const ID_STRIDE: usize = 1_000_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Clone, Copy)]
struct Sample {
    at: Duration,
    focus_rss: u64,
    focus_ticks: u64,
    prosody_rss: u64,
    prosody_ticks: u64,
    posts: usize,
    deletes: usize,
}

/// Samples both processes and the reservation server's counters every 200 ms until stopped.
fn start_monitor(
    focus: u32,
    prosody: Option<u32>,
    api: Arc<ReservationServer>,
    origin: Instant,
    stop: Arc<AtomicBool>,
) -> (Arc<Mutex<Vec<Sample>>>, std::thread::JoinHandle<()>) {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let out = samples.clone();
    let thread = std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let sample = Sample {
                at: origin.elapsed(),
                focus_rss: status_kib(focus, "VmRSS:").unwrap_or(0),
                focus_ticks: cpu_ticks(focus).unwrap_or(0),
                prosody_rss: prosody.and_then(|p| status_kib(p, "VmRSS:")).unwrap_or(0),
                prosody_ticks: prosody.and_then(cpu_ticks).unwrap_or(0),
                posts: api.count(|r| r.method == "POST"),
                deletes: api.count(|r| r.method == "DELETE"),
            };
            out.lock().unwrap().push(sample);
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    (samples, thread)
}

/// Highest CPU use (in % of one core) over any window of about `window`.
fn peak_cpu(samples: &[Sample], window: Duration, ticks: fn(&Sample) -> u64) -> f64 {
    let mut peak = 0.0f64;
    let mut start = 0;
    for end in 0..samples.len() {
        while samples[end].at - samples[start].at > window {
            start += 1;
        }
        let span = (samples[end].at - samples[start].at).as_secs_f64();
        if span >= window.as_secs_f64() * 0.75 {
            let used = ticks(&samples[end]).saturating_sub(ticks(&samples[start])) as f64 / TICKS_PER_SECOND;
            peak = peak.max(100.0 * used / span);
        }
    }
    peak
}

// ---------------------------------------------------------------------------------------------
// One pass of pipelined requests

#[derive(Debug, Clone)]
enum Kind {
    Ready,
    NotReady,
    Error(String),
}

#[derive(Debug, Clone)]
struct Answer {
    kind: Kind,
    latency: Duration,
    at: Instant,
}

struct ClientResult {
    client: usize,
    rooms: Vec<usize>,
    answers: HashMap<usize, Answer>,
    sends_done: Option<Instant>,
    duplicates: usize,
    disconnected: Option<String>,
}

fn room_name(room: usize) -> String {
    format!("burst{room}")
}

fn classify(reply: &Element) -> Kind {
    if reply.attr("type") == Some("result") {
        let ready = reply.get_child("conference", harness::FOCUS_NS).and_then(|c| c.attr("ready"));
        return if ready == Some("true") { Kind::Ready } else { Kind::NotReady };
    }
    match harness::reservation_error(reply) {
        Ok((code, _)) => Kind::Error(format!("reservation-error {code}")),
        Err(_) => Kind::Error(harness::error_condition(reply).map(|(c, _)| c).unwrap_or_else(|_| "?".into())),
    }
}

/// Each client writes one request per room without waiting, while a collector takes the
/// answers (by id) as they arrive; a client stops waiting `ANSWER_WAIT` after its last write.
async fn run_pass(pass: u32, clients: &[Arc<TestClient>], rooms: &[Vec<usize>]) -> (Instant, Vec<ClientResult>) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let client = client.clone();
        let my_rooms = rooms[i].clone();
        tasks.push(tokio::spawn(async move {
            let sent: Arc<Mutex<HashMap<String, (usize, Instant)>>> = Arc::default();
            let sends_done: Arc<Mutex<Option<Instant>>> = Arc::default();
            let prefix = format!("b{pass}c{i}r");
            let sender = tokio::spawn({
                let (client, sent, sends_done, prefix, my_rooms) =
                    (client.clone(), sent.clone(), sends_done.clone(), prefix.clone(), my_rooms.clone());
                async move {
                    for room in my_rooms {
                        let id = format!("{prefix}{room}");
                        let mut iq = harness::conference_iq(&room_name(room), None);
                        set_attr(&mut iq, "id", &id);
                        sent.lock().unwrap().insert(id, (room, Instant::now()));
                        if client.send(iq).await.is_err() {
                            break;
                        }
                    }
                    *sends_done.lock().unwrap() = Some(Instant::now());
                }
            });
            let mut answers = HashMap::new();
            let mut duplicates = 0;
            let hard_deadline = started + ANSWER_WAIT + Duration::from_secs(60);
            while answers.len() < my_rooms.len() {
                if sends_done.lock().unwrap().is_some_and(|done| done.elapsed() > ANSWER_WAIT)
                    || Instant::now() > hard_deadline
                {
                    break;
                }
                let reply = client
                    .next_matching(
                        |s| {
                            s.name() == "iq"
                                && s.attr("id").is_some_and(|id| id.starts_with(prefix.as_str()))
                                && matches!(s.attr("type"), Some("result" | "error"))
                        },
                        Duration::from_secs(1),
                    )
                    .await;
                let at = Instant::now();
                match reply {
                    Ok(reply) => {
                        let id = reply.attr("id").unwrap_or_default();
                        let Some(&(room, sent_at)) = sent.lock().unwrap().get(id) else { continue };
                        let answer = Answer { kind: classify(&reply), latency: at - sent_at, at };
                        if answers.insert(room, answer).is_some() {
                            duplicates += 1;
                        }
                    }
                    Err(_) if !client.is_connected() => break,
                    Err(_) => {}
                }
            }
            let _ = sender.await;
            let disconnected = (!client.is_connected()).then(|| "connection closed".to_owned());
            let sends_done = *sends_done.lock().unwrap();
            ClientResult { client: i, rooms: my_rooms, answers, sends_done, duplicates, disconnected }
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("a client task panicked"));
    }
    (started, results)
}

struct PassStats {
    sent: usize,
    sending: Duration,
    answered: usize,
    ready: usize,
    not_ready_fast: usize,
    not_ready_late: usize,
    errors: BTreeMap<String, usize>,
    unanswered: usize,
    within_timeout: usize,
    all: Vec<Duration>,
    ready_latencies: Vec<Duration>,
    refused_latencies: Vec<Duration>,
    last_answer: Duration,
    duplicates: usize,
    disconnected: usize,
}

fn stats(started: Instant, results: &[ClientResult]) -> PassStats {
    let mut s = PassStats {
        sent: 0,
        sending: Duration::ZERO,
        answered: 0,
        ready: 0,
        not_ready_fast: 0,
        not_ready_late: 0,
        errors: BTreeMap::new(),
        unanswered: 0,
        within_timeout: 0,
        all: Vec::new(),
        ready_latencies: Vec::new(),
        refused_latencies: Vec::new(),
        last_answer: Duration::ZERO,
        duplicates: 0,
        disconnected: 0,
    };
    for r in results {
        s.sent += r.rooms.len();
        s.sending = s.sending.max(r.sends_done.map_or(Duration::MAX, |d| d - started));
        s.unanswered += r.rooms.len() - r.answers.len();
        s.duplicates += r.duplicates;
        s.disconnected += r.disconnected.is_some() as usize;
        for a in r.answers.values() {
            s.answered += 1;
            s.all.push(a.latency);
            s.last_answer = s.last_answer.max(a.at - started);
            if a.latency <= REQUEST_TIMEOUT {
                s.within_timeout += 1;
            }
            match &a.kind {
                Kind::Ready => {
                    s.ready += 1;
                    s.ready_latencies.push(a.latency);
                }
                // The focus answers ready='false' before request_timeout only because of a limit;
                // at or after it, the request waited its full time.
                Kind::NotReady if a.latency < REQUEST_TIMEOUT => {
                    s.not_ready_fast += 1;
                    s.refused_latencies.push(a.latency);
                }
                Kind::NotReady => s.not_ready_late += 1,
                Kind::Error(e) => *s.errors.entry(e.clone()).or_default() += 1,
            }
        }
    }
    s.all.sort();
    s.ready_latencies.sort();
    s.refused_latencies.sort();
    s
}

fn secs(d: Duration) -> String {
    if d == Duration::MAX {
        return "never".into();
    }
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn percentiles(sorted: &[Duration]) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let at = |q: usize| sorted[((sorted.len() * q) / 100).min(sorted.len() - 1)];
    format!("{} / {} / {} / {}", secs(at(50)), secs(at(90)), secs(at(99)), secs(*sorted.last().unwrap()))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 / 1024.0)
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn process_burst_of_10000_new_rooms() -> Result<()> {
    let n_clients: usize = env_or("BURST_CLIENTS", 40);
    let per_client: usize = env_or("BURST_ROOMS_PER_CLIENT", 250);
    let muc_cache: usize = env_or("BURST_MUC_CACHE", 10_000);
    let log_level: String = env_or("BURST_LOG_LEVEL", "warn".to_owned());
    let binary: String = env_or("BURST_FOCUS_BIN", env!("CARGO_BIN_EXE_jitsi-focus").to_owned());
    let with_state = std::env::var("BURST_NO_STATE").is_err();
    let load_at_start = load_average();

    let prosody = Prosody::start(ProsodyOptions {
        restrict_room_creation: true,
        extra_global_config: format!("muc_room_cache_size = {muc_cache}"),
        log_level: "warn".into(),
        ..Default::default()
    })
    .await?;
    let api = Arc::new(ReservationServer::start().await?);
    // Every POST is granted with 201 and a fresh reservation id whose remainder by ID_STRIDE is
    // the room number + 1, so that a DELETE names its room (a room is POSTed again when its
    // first conference ended before the client re-asked).
    let start_time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    for room in 0..n_clients * per_client {
        let replies = (0..4)
            .map(|n| {
                let id = n * ID_STRIDE + room + 1;
                Reply::json(
                    201,
                    json!({ "id": id, "name": room_name(room), "start_time": start_time, "duration": 3600 }),
                )
            })
            .collect();
        api.script_post(&room_name(room), replies);
    }
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state)?;
    let state_section =
        if with_state { format!("[state]\ndirectory = \"{}\"\n", state.display()) } else { String::new() };
    let extra = format!(
        "[reservation]\nenabled = true\nbase_url = \"{}\"\n{state_section}[conference]\ninitial_timeout = \"2s\"\n[log]\nlevel = \"{log_level}\"\n",
        api.base_url(),
    );
    let config = dir.path().join("focus.toml");
    std::fs::write(&config, harness::config_toml(prosody.component_port(), support::DEFAULT_COMPONENT_SECRET, &extra))?;
    let log_path = dir.path().join("focus.log");
    let log = std::fs::File::create(&log_path)?;
    let mut child = tokio::process::Command::new(&binary)
        .arg("--config")
        .arg(&config)
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("pid")?;
    let prosody_pid = prosody_pid(&prosody);

    let probe = TestClient::anonymous(prosody.c2s_port()).await?;
    harness::wait_focus_online(&probe).await?;
    let mut clients = Vec::new();
    for _ in 0..n_clients {
        clients.push(Arc::new(TestClient::anonymous(prosody.c2s_port()).await?));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = status_kib(pid, "VmRSS:").unwrap_or(0);
    let focus_ticks_before = cpu_ticks(pid).unwrap_or(0);
    let prosody_ticks_before = prosody_pid.and_then(cpu_ticks).unwrap_or(0);

    let origin = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let (samples, monitor) = start_monitor(pid, prosody_pid, api.clone(), origin, stop.clone());

    // Pass 1: every room new, all requests in flight at once.
    let rooms: Vec<Vec<usize>> = (0..n_clients).map(|c| (c * per_client..(c + 1) * per_client).collect()).collect();
    let (p1_start, p1) = run_pass(1, &clients, &rooms).await;
    let s1 = stats(p1_start, &p1);
    let rss_after_1 = status_kib(pid, "VmRSS:").unwrap_or(0);

    // Pass 2: each client re-asks, once, for its rooms answered ready='false', after 1 s.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let retry: Vec<Vec<usize>> = p1
        .iter()
        .map(|r| {
            let mut rooms: Vec<usize> =
                r.answers.iter().filter(|(_, a)| matches!(a.kind, Kind::NotReady)).map(|(room, _)| *room).collect();
            rooms.sort();
            rooms
        })
        .collect();
    let (p2_start, p2) = run_pass(2, &clients, &retry).await;
    let s2 = stats(p2_start, &p2);
    let rss_after_2 = status_kib(pid, "VmRSS:").unwrap_or(0);
    let passes_done = Instant::now();

    // Nobody joins: every conference ends after initial_timeout; wait for all DELETEs.
    let distinct_deletes = || {
        let seen = RefCell::new(HashSet::new());
        api.count(|r| r.method == "DELETE" && seen.borrow_mut().insert(r.path.clone()));
        seen.into_inner().len()
    };
    let posts = || api.count(|r| r.method == "POST");
    let mut all_deleted_at = None;
    while passes_done.elapsed() < DELETE_WAIT {
        if distinct_deletes() >= posts() {
            all_deleted_at = Some(Instant::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = monitor.join();
    let samples = samples.lock().unwrap().clone();

    let (rss_end, hwm) = (status_kib(pid, "VmRSS:").unwrap_or(0), status_kib(pid, "VmHWM:").unwrap_or(0));
    let focus_cpu = (cpu_ticks(pid).unwrap_or(0).saturating_sub(focus_ticks_before)) as f64 / TICKS_PER_SECOND;
    let prosody_cpu =
        (prosody_pid.and_then(cpu_ticks).unwrap_or(0).saturating_sub(prosody_ticks_before)) as f64 / TICKS_PER_SECOND;
    let exited = child.try_wait()?;
    let requests = api.requests();
    let post_rooms: HashSet<&str> =
        requests.iter().filter(|r| r.method == "POST").filter_map(|r| r.field("name")).collect();
    let n_posts = requests.iter().filter(|r| r.method == "POST").count();
    let n_deletes = requests.iter().filter(|r| r.method == "DELETE").count();
    let n_distinct_deletes = distinct_deletes();
    // When the reservation server saw the calls, per phase (a POST marks a request the focus
    // accepted, at the moment it read it).
    let window = |method: &str, from: Instant, to: Option<Instant>| {
        let times: Vec<Duration> = requests
            .iter()
            .filter(|r| r.method == method && r.at >= from && to.is_none_or(|to| r.at < to))
            .map(|r| r.at - origin)
            .collect();
        match (times.iter().min(), times.iter().max()) {
            (Some(first), Some(last)) => {
                format!("{} between {:.2} s and {:.2} s", times.len(), first.as_secs_f64(), last.as_secs_f64())
            }
            _ => "0".into(),
        }
    };
    // First DELETE per reservation id, to see ready='true' answers that arrived after their
    // conference had ended. An answer's conference is the room's latest POST before it.
    let mut deleted_at: HashMap<usize, Instant> = HashMap::new();
    for r in requests.iter().filter(|r| r.method == "DELETE") {
        if let Some(id) = r.path.rsplit('/').next().and_then(|id| id.parse::<usize>().ok()) {
            deleted_at.entry(id).or_insert(r.at);
        }
    }
    let mut posted_at: HashMap<String, Vec<Instant>> = HashMap::new();
    for r in requests.iter().filter(|r| r.method == "POST") {
        posted_at.entry(r.field("name").unwrap_or_default().to_owned()).or_default().push(r.at);
    }
    let ready_after_end = |results: &[ClientResult]| {
        let (mut n, mut worst) = (0, Duration::ZERO);
        for r in results {
            for (room, a) in &r.answers {
                if !matches!(a.kind, Kind::Ready) {
                    continue;
                }
                let posts_before =
                    posted_at.get(&room_name(*room)).map_or(0, |t| t.iter().filter(|&&t| t < a.at).count());
                let Some(nth) = posts_before.checked_sub(1) else { continue };
                if let Some(&deleted) = deleted_at.get(&(nth * ID_STRIDE + room + 1)) {
                    if a.at > deleted {
                        n += 1;
                        worst = worst.max(a.at - deleted);
                    }
                }
            }
        }
        format!("{n} (up to {} after the DELETE)", secs(worst))
    };
    let posts_1 = window("POST", origin, Some(p2_start));
    let posts_2 = window("POST", p2_start, None);
    let deletes_all = window("DELETE", origin, None);
    let other_requests = requests.iter().filter(|r| r.method != "POST" && r.method != "DELETE").count();
    let log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let log_lines: Vec<&str> = log_text.lines().collect();
    let panics = log_lines.iter().filter(|l| l.contains("panicked")).count();
    let peak_sampled = samples.iter().map(|s| s.focus_rss).max().unwrap_or(0);
    let prosody_peak_rss = samples.iter().map(|s| s.prosody_rss).max().unwrap_or(0);
    let elapsed_total = origin.elapsed();

    // ---- report
    let row = |name: &str, a: String, b: String| println!("| {name:<46} | {a:>38} | {b:>38} |");
    println!();
    println!(
        "BENCH burst: {n_clients} clients x {per_client} new rooms, pipelined; focus: {binary}, max_pending_conferences 1000 (default), request_timeout 20 s (default), initial_timeout 2 s, reservation defaults (timeout 10 s, 3 retries); Prosody muc_room_cache_size {muc_cache}; load average at start {load_at_start}"
    );
    println!("| {:<46} | {:>38} | {:>38} |", "", "pass 1 (all new rooms)", "pass 2 (re-ask ready='false' after 1 s)");
    println!("|{}|{}|{}|", "-".repeat(48), "-".repeat(40), "-".repeat(40));
    let both = |f: &dyn Fn(&PassStats) -> String| (f(&s1), f(&s2));
    let rows: Vec<(&str, (String, String))> = vec![
        ("requests sent", both(&|s| s.sent.to_string())),
        ("all written to the socket after", both(&|s| secs(s.sending))),
        ("answered", both(&|s| s.answered.to_string())),
        ("  ready='true'", both(&|s| s.ready.to_string())),
        ("  ready='false' before request_timeout (limit)", both(&|s| s.not_ready_fast.to_string())),
        ("  ready='false' at/after request_timeout", both(&|s| s.not_ready_late.to_string())),
        ("  errors", both(&|s| if s.errors.is_empty() { "0".into() } else { format!("{:?}", s.errors) })),
        ("NOT answered (waited 90 s after last write)", both(&|s| s.unanswered.to_string())),
        ("answered within request_timeout (20 s)", both(&|s| s.within_timeout.to_string())),
        ("latency, all answers p50/p90/p99/max", both(&|s| percentiles(&s.all))),
        ("latency, ready='true' p50/p90/p99/max", both(&|s| percentiles(&s.ready_latencies))),
        ("latency, limit ready='false' p50/p90/p99/max", both(&|s| percentiles(&s.refused_latencies))),
        ("ready='true' that arrived after its DELETE", (ready_after_end(&p1), ready_after_end(&p2))),
        ("last answer after pass start", both(&|s| secs(s.last_answer))),
        ("duplicate answers / clients disconnected", both(&|s| format!("{} / {}", s.duplicates, s.disconnected))),
    ];
    for (name, (a, b)) in rows {
        row(name, a, b);
    }
    row("focus RSS at end of pass", mib(rss_after_1), mib(rss_after_2));
    println!();
    println!("| {:<44} | {:>40} |", "resources and reservations", "");
    println!("|{}|{}|", "-".repeat(46), "-".repeat(42));
    let line = |name: &str, v: String| println!("| {name:<44} | {v:>40} |");
    line("focus RSS idle (40 clients connected)", mib(idle_rss));
    line("focus RSS peak sampled (VmRSS / 200 ms)", mib(peak_sampled));
    line("focus VmHWM at end", mib(hwm));
    line("focus RSS at end", mib(rss_end));
    line(
        "focus CPU time (user+sys) during the run",
        format!("{focus_cpu:.1} s in {:.1} s", elapsed_total.as_secs_f64()),
    );
    line("focus peak CPU over 1 s", format!("{:.0} %", peak_cpu(&samples, Duration::from_secs(1), |s| s.focus_ticks)));
    line("Prosody CPU time (user+sys) during the run", format!("{prosody_cpu:.1} s"));
    line(
        "Prosody peak CPU over 1 s",
        format!("{:.0} %", peak_cpu(&samples, Duration::from_secs(1), |s| s.prosody_ticks)),
    );
    line("Prosody RSS peak sampled", mib(prosody_peak_rss));
    line("reservation POSTs (all granted 201)", n_posts.to_string());
    line("  distinct rooms POSTed", post_rooms.len().to_string());
    line("  POSTs until pass 2 started (t from burst)", posts_1);
    line("  POSTs from pass 2 on", posts_2);
    line("reservation DELETE requests", n_deletes.to_string());
    line("  DELETEs (t from burst start)", deletes_all);
    line("  distinct reservations DELETEd", n_distinct_deletes.to_string());
    line("  other requests (GET, …)", other_requests.to_string());
    line(
        "DELETEs == POSTs after (from burst start)",
        all_deleted_at.map_or(format!("not within {} s of pass 2", DELETE_WAIT.as_secs()), |t| secs(t - origin)),
    );
    line("  … from the end of pass 2", all_deleted_at.map_or("-".into(), |t| secs(t - passes_done)));
    line("reservations left undeleted at the end", n_posts.saturating_sub(n_distinct_deletes).to_string());
    line("focus process", exited.map_or("running".into(), |s| format!("EXITED: {s}")));
    line("focus log lines (level warn) / panics", format!("{} / {panics}", log_lines.len()));
    line("load average at end", load_average());
    println!();
    println!("timeline (every 10 s): t | focus RSS | focus CPU | Prosody CPU | POSTs | DELETEs");
    let mut last: Option<Sample> = None;
    for s in &samples {
        if let Some(prev) = last {
            if s.at - prev.at < Duration::from_secs(10) {
                continue;
            }
            let span = (s.at - prev.at).as_secs_f64();
            let cpu = |a: u64, b: u64| 100.0 * a.saturating_sub(b) as f64 / TICKS_PER_SECOND / span;
            println!(
                "  {:>6.1} s | {:>9} | {:>5.0} % | {:>5.0} % | {:>6} | {:>6}",
                s.at.as_secs_f64(),
                mib(s.focus_rss),
                cpu(s.focus_ticks, prev.focus_ticks),
                cpu(s.prosody_ticks, prev.prosody_ticks),
                s.posts,
                s.deletes
            );
        } else {
            println!(
                "  {:>6.1} s | {:>9} |         |         | {:>6} | {:>6}",
                s.at.as_secs_f64(),
                mib(s.focus_rss),
                s.posts,
                s.deletes
            );
        }
        last = Some(*s);
    }
    if !log_lines.is_empty() {
        println!("focus log, first lines:");
        for l in log_lines.iter().take(8) {
            println!("  {}", l.chars().take(240).collect::<String>());
        }
    }
    for (pass, results) in [(1, &p1), (2, &p2)] {
        let missing: Vec<String> = results
            .iter()
            .flat_map(|r| {
                r.rooms
                    .iter()
                    .filter(|room| !r.answers.contains_key(room))
                    .map(move |room| format!("c{}:{}", r.client, room_name(*room)))
            })
            .take(5)
            .collect();
        if !missing.is_empty() {
            println!("pass {pass}: unanswered, e.g. {missing:?}");
        }
    }

    // The product's promise: every conference request is answered.
    assert!(exited.is_none(), "the focus exited during the burst: {exited:?}");
    assert_eq!(s1.unanswered, 0, "pass 1: {} of {} requests got no answer", s1.unanswered, s1.sent);
    assert_eq!(s2.unanswered, 0, "pass 2: {} of {} requests got no answer", s2.unanswered, s2.sent);

    child.kill().await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    drop(prosody);
    Ok(())
}
