//! The scenarios: participants joining conferences at a steady rate, churn, a bridge killed
//! under load, and a burst of new rooms. Each runs on a fresh stack and ends with everyone
//! gone and every reservation deleted, so that nothing it left behind is hidden.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use rand::Rng;

use crate::measure::{mb, Measured, ProcessCost, Progress, Recorder};
use crate::participant::{Participant, Spec};
use crate::stack::{Stack, StackOptions};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// `conferences` × `participants` join at `rate`, stay for `hold`, leave at `rate`.
    Conferences,
    /// As `conferences`, then for `churn_duration` participants leave and others join their
    /// rooms at `churn_rate` each.
    Churn,
    /// As `conferences`, then the busiest bridge is killed: everyone it had must be re-invited.
    BridgeKill,
    /// `conferences` new rooms, one participant each, at `rate`.
    Burst,
}

#[derive(Clone, Debug)]
pub struct Load {
    pub conferences: usize,
    pub participants: usize,
    /// Participants joining (and later leaving) per second.
    pub rate: f64,
    pub hold: Duration,
    pub churn_rate: f64,
    pub churn_duration: Duration,
}

/// What one scenario measured.
pub struct Report {
    pub title: String,
    pub recorder: Arc<Recorder>,
    pub startup: Duration,
    pub ready_rss_kib: u64,
    pub focus: ProcessCost,
    pub prosody: ProcessCost,
    /// CPU seconds of this load generator (participants, bridges, reservation API).
    pub load_generator_cpu: f64,
    pub elapsed: Duration,
    /// Participants the killed bridge had, for `BridgeKill`.
    pub expected_reinvites: Option<usize>,
    /// (POSTs, DELETEs) of reservations at the end.
    pub reservations: (usize, usize),
    /// Participants in the focus's `/stats` once everyone had joined, and what `/stats`
    /// still counted once everyone had left (conferences, participants, Jingle sessions,
    /// reservations to delete), which must all be 0.
    pub tracked_when_joined: u64,
    /// Participants that had joined then.
    pub joined_at_settle: u64,
    pub left_behind: [u64; 4],
}

impl Report {
    /// What must hold for any run: no errors, nothing unanswered, everyone moved off a killed
    /// bridge, every reservation deleted once the rooms emptied.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let errors = Recorder::count(&self.recorder.errors);
        let unanswered = Recorder::count(&self.recorder.unanswered);
        if errors + unanswered > 0 {
            problems.push(format!("{errors} errors, {unanswered} unanswered: {:#?}", self.recorder.first_errors()));
        }
        if let Some(expected) = self.expected_reinvites {
            let moved = self.recorder.bridge_loss_to_reinvite.len();
            if moved != expected {
                problems.push(format!("{moved} of {expected} participants of the killed bridge were re-invited"));
            }
        }
        if self.tracked_when_joined != self.joined_at_settle {
            problems.push(format!(
                "the focus tracked {} participants when {} had joined",
                self.tracked_when_joined, self.joined_at_settle
            ));
        }
        if self.left_behind != [0; 4] {
            let [c, p, j, d] = self.left_behind;
            problems.push(format!("after everyone left the focus still had {c} conferences, {p} participants, {j} Jingle sessions, {d} reservations to delete"));
        }
        let (posts, deletes) = self.reservations;
        if deletes < posts {
            problems.push(format!("{deletes} of {posts} reservations deleted after the rooms emptied"));
        }
        problems
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.recorder;
        let mut out = String::new();
        writeln!(out, "== {} ({:.1} s)", self.title, self.elapsed.as_secs_f64())?;
        writeln!(
            out,
            "  focus start-up to component online: {:.1} ms, resident then {}",
            self.startup.as_secs_f64() * 1000.0,
            mb(self.ready_rss_kib)
        )?;
        writeln!(out, "  conference request -> ready, new room   {}", r.request_new_room.summary())?;
        writeln!(out, "  conference request -> ready, live room  {}", r.request_live_room.summary())?;
        writeln!(out, "  probe: ping answered by Prosody         {}", r.prosody_round_trip.summary())?;
        writeln!(out, "  probe: disco#info answered by the focus {}", r.focus_round_trip.summary())?;
        writeln!(out, "  MUC join -> session-initiate            {}", r.join_to_initiate.summary())?;
        writeln!(out, "  session-accept -> source-add at others  {}", r.accept_to_source_add.summary())?;
        if let Some(expected) = self.expected_reinvites {
            writeln!(
                out,
                "  bridge killed -> re-invited ({expected} expected) {}",
                r.bridge_loss_to_reinvite.summary()
            )?;
        }
        writeln!(
            out,
            "  participants: {} connected, {} joined, {} left; errors {}, unanswered {}; reservations {} made, {} deleted",
            Recorder::count(&r.connected),
            Recorder::count(&r.joined),
            Recorder::count(&r.left),
            Recorder::count(&r.errors),
            Recorder::count(&r.unanswered),
            self.reservations.0,
            self.reservations.1,
        )?;
        writeln!(
            out,
            "  focus /stats: {} participants once all had joined; after all left: {:?} (conferences, participants, Jingle sessions, reservations to delete)",
            self.tracked_when_joined, self.left_behind
        )?;
        for error in r.first_errors() {
            writeln!(out, "    {error}")?;
        }
        let ratio = if self.prosody.cpu_seconds > 0.0 {
            format!("{:.0} %", 100.0 * self.focus.cpu_seconds / self.prosody.cpu_seconds)
        } else {
            "-".into()
        };
        writeln!(out, "  load generator: CPU {:.2} s", self.load_generator_cpu)?;
        writeln!(
            out,
            "  focus:   CPU {:>7.2} s, peak RSS {:>9}, RSS at the end {:>9}\n  Prosody: CPU {:>7.2} s, peak RSS {:>9}, RSS at the end {:>9}\n  focus CPU / Prosody CPU: {ratio}",
            self.focus.cpu_seconds,
            mb(self.focus.peak_rss_kib),
            mb(self.focus.rss_kib),
            self.prosody.cpu_seconds,
            mb(self.prosody.peak_rss_kib),
            mb(self.prosody.rss_kib),
        )?;
        f.write_str(&out)
    }
}

struct Run {
    stack: Stack,
    recorder: Arc<Recorder>,
    load: Load,
    participants: Vec<Participant>,
    /// Participants spawned so far (names, SSRCs).
    spawned: u32,
}

impl Run {
    fn spawn(&mut self, room: usize, opens_room: bool) {
        self.spawned += 1;
        let n = self.spawned;
        let spec = Spec {
            c2s_port: self.stack.c2s_port(),
            room: format!("load{room}"),
            nick: format!("p{n}"),
            opens_room,
            // Multiples of 4, away from 0 and from the bridges' own feedback SSRCs.
            ssrc_base: 4 * (1_000 + n),
        };
        self.participants.push(Participant::spawn(spec, self.recorder.clone()));
    }

    /// Spawns `conferences × participants`, room by room, `rate` per second.
    async fn join_all(&mut self) {
        let mut tick = rate_ticker(self.load.rate);
        for room in 0..self.load.conferences {
            for seat in 0..self.load.participants {
                tick.tick().await;
                self.spawn(room, seat == 0);
            }
        }
    }

    /// Waits until every participant has joined or failed, and (with two or more per room)
    /// has had its session-initiate.
    async fn settle(&mut self, timeout: Duration) -> Result<()> {
        let total = self.participants.len() as u64;
        let deadline = Instant::now() + timeout;
        loop {
            self.stack.check_focus_alive()?;
            let r = &self.recorder;
            let failed = Recorder::count(&r.errors) + Recorder::count(&r.unanswered);
            let joined = Recorder::count(&r.joined);
            let initiated = r.join_to_initiate.len() as u64;
            let jingle_done = self.load.participants < 2 || initiated + failed >= total;
            if joined + failed >= total && jingle_done {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("after {timeout:?}: {joined} of {total} joined, {initiated} session-initiates, {failed} failed");
            }
            // Participants report by counters; at thousands of them a poll is cheaper than a
            // wake-up per event.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn churn(&mut self) {
        let mut tick = rate_ticker(self.load.churn_rate);
        let started = Instant::now();
        while started.elapsed() < self.load.churn_duration {
            tick.tick().await;
            let victim = rand::thread_rng().gen_range(0..self.participants.len());
            let mut leaving = self.participants.swap_remove(victim);
            leaving.leave();
            let room: usize = leaving.room.trim_start_matches("load").parse().expect("load rooms are numbered");
            tokio::spawn(leaving.finished(Duration::from_secs(30)));
            self.spawn(room, false);
        }
    }

    async fn leave_all(&mut self) {
        let mut tick = rate_ticker(self.load.rate);
        let mut leaving = Vec::new();
        for mut participant in self.participants.drain(..) {
            tick.tick().await;
            participant.leave();
            leaving.push(participant);
        }
        for participant in leaving {
            if !participant.finished(Duration::from_secs(30)).await {
                self.recorder.error("a participant did not finish leaving within 30 s");
            }
        }
    }
}

fn rate_ticker(per_second: f64) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second.max(0.001)));
    // Arrivals are independent of how fast the system answers: a late tick is caught up.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    tick
}

pub async fn run(scenario: Scenario, load: &Load, stack_options: &StackOptions) -> Result<Report> {
    let mut load = load.clone();
    if scenario == Scenario::Burst {
        load.participants = 1;
    }
    let mut stack_options = stack_options.clone();
    if scenario == Scenario::BridgeKill {
        stack_options.bridges = stack_options.bridges.max(2);
    }
    let title = match scenario {
        Scenario::Burst => format!("burst: {} new rooms at {}/s", load.conferences, load.rate),
        _ => format!(
            "{scenario:?}: {} conferences x {} participants at {}/s, {} bridges{}",
            load.conferences,
            load.participants,
            load.rate,
            stack_options.bridges,
            if scenario == Scenario::Churn {
                format!(", then {}/s leave and join for {:?}", load.churn_rate, load.churn_duration)
            } else {
                String::new()
            }
        ),
    };
    eprintln!("starting: {title}");
    let stack = Stack::start(&stack_options).await?;
    let (startup, ready_rss_kib) = (stack.startup, stack.ready_rss_kib);
    let mut focus = Measured::new(stack.focus_pid);
    let mut prosody = Measured::new(stack.prosody_pid);
    focus.reset();
    prosody.reset();
    let recorder = Arc::new(Recorder::default());
    let total = (load.conferences * load.participants) as u64;
    let _progress = Progress::start(
        format!("{scenario:?}"),
        total,
        recorder.clone(),
        (focus.pid, crate::support::procfs::cpu_seconds(focus.pid).unwrap_or(0.0)),
        (prosody.pid, crate::support::procfs::cpu_seconds(prosody.pid).unwrap_or(0.0)),
    );
    let started = Instant::now();
    let own_cpu = crate::support::procfs::cpu_seconds(std::process::id()).unwrap_or(0.0);
    let probes = crate::participant::Probes::start(stack.c2s_port(), recorder.clone()).await?;
    let mut run = Run { stack, recorder: recorder.clone(), load: load.clone(), participants: Vec::new(), spawned: 0 };

    run.join_all().await;
    let settle_timeout = Duration::from_secs(60) + Duration::from_secs_f64(total as f64 / load.rate.max(0.001));
    run.settle(settle_timeout).await?;
    let tracked_when_joined = run.stack.stats().await?["participants"].as_u64().unwrap_or(0);
    let joined_at_settle = Recorder::count(&recorder.joined);
    let mut expected_reinvites = None;
    match scenario {
        Scenario::Churn => run.churn().await,
        Scenario::BridgeKill => {
            // The bridge with the most endpoints: whichever the focus's selection filled.
            let endpoints_of = |b: &jitsi_test_bridge::TestBridge| -> usize {
                b.view().conferences.values().map(|c| c.endpoints.len()).sum()
            };
            let busiest =
                (0..run.stack.bridges.len()).max_by_key(|&i| endpoints_of(&run.stack.bridges[i])).unwrap_or(0);
            let killed = run.stack.bridges.remove(busiest);
            let endpoints = endpoints_of(&killed);
            let port = killed.udp_addr().port();
            expected_reinvites = Some(endpoints);
            recorder.bridge_killed(port, Instant::now());
            killed.kill().await;
            let deadline = Instant::now() + Duration::from_secs(60);
            while recorder.bridge_loss_to_reinvite.len() < endpoints && Instant::now() < deadline {
                run.stack.check_focus_alive()?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Scenario::Conferences | Scenario::Burst => {}
    }
    tokio::time::sleep(load.hold).await;
    run.stack.check_focus_alive()?;
    run.leave_all().await;
    let reservations = run.stack.wait_reservations_deleted(Duration::from_secs(60)).await;
    run.stack.check_focus_alive()?;
    drop(probes);
    let stats = run.stack.stats().await?;
    let count = |v: &serde_json::Value| v.as_u64().unwrap_or(u64::MAX);
    let sessions = &stats["jingle_sessions"];
    let jingle = ["allocating", "initiated", "active"].iter().map(|k| count(&sessions[*k])).sum::<u64>();
    let left_behind = [
        count(&stats["conferences"]),
        count(&stats["participants"]),
        jingle,
        count(&stats["pending_reservation_deletes"]),
    ];
    let report = Report {
        title,
        recorder,
        startup,
        ready_rss_kib,
        focus: focus.cost(),
        prosody: prosody.cost(),
        load_generator_cpu: crate::support::procfs::cpu_seconds(std::process::id()).unwrap_or(own_cpu) - own_cpu,
        elapsed: started.elapsed(),
        expected_reinvites,
        reservations,
        tracked_when_joined,
        joined_at_settle,
        left_behind,
    };
    Ok(report)
}
