//! The load generator (issue 11): simulated participants with real Jingle behaviour and test
//! bridges drive the release `jitsi-focus` binary through a real Prosody, and the report gives
//! latencies, errors, and the CPU time and peak memory of the focus and of Prosody in the same
//! run.
//!
//! ```sh
//! cargo bench --bench load -- --scenario burst --conferences 2000 --rate 100
//! cargo bench --bench load -- --scenario conferences --conferences 2000 --participants 5 --rate 50
//! cargo bench --bench load -- --help
//! ```
//!
//! Under `cargo test` (the test command) it runs a short smoke scenario instead, and fails if
//! anything went wrong; nothing is timed there.

#[path = "../../tests/harness/mod.rs"]
mod harness;
mod measure;
mod participant;
mod scenarios;
mod stack;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;

use scenarios::{Load, Report, Scenario};
use stack::StackOptions;

/// Load generator for jitsi-focus: see BENCHMARKS.md for what each scenario measures.
#[derive(Parser, Debug)]
#[command(name = "cargo bench --bench load --")]
struct Options {
    /// Scenarios to run, each on a fresh stack (repeat the flag for several).
    #[arg(long, value_enum, default_values_t = [Scenario::Burst, Scenario::Conferences, Scenario::Churn, Scenario::BridgeKill])]
    scenario: Vec<Scenario>,
    /// Conferences (rooms) in the run.
    #[arg(long, default_value_t = 200)]
    conferences: usize,
    /// Participants per conference (burst: always 1).
    #[arg(long, default_value_t = 5)]
    participants: usize,
    /// Participants joining, and later leaving, per second.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Seconds everyone stays once all have joined.
    #[arg(long, default_value_t = 5.0)]
    hold: f64,
    /// Churn: participants leaving (each replaced by a new one) per second.
    #[arg(long, default_value_t = 20.0)]
    churn_rate: f64,
    /// Churn: seconds of churn.
    #[arg(long, default_value_t = 30.0)]
    churn_duration: f64,
    /// Test bridges in the brewery (bridge-kill: at least 2).
    #[arg(long, default_value_t = 2)]
    bridges: usize,
    /// The focus's log level (operators run `info`).
    #[arg(long, default_value = "info")]
    focus_log_level: String,
    /// Prosody's log level (Jitsi's packages use `info`).
    #[arg(long, default_value = "info")]
    prosody_log_level: String,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; `cargo test` runs bench targets without it.
    let measuring = args.iter().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let outcome = if measuring {
        let options = Options::parse_from(args.into_iter().filter(|a| a != "--bench"));
        runtime.block_on(measure(options))
    } else {
        runtime.block_on(smoke())
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn measure(options: Options) -> Result<()> {
    let load = Load {
        conferences: options.conferences,
        participants: options.participants,
        rate: options.rate,
        hold: Duration::from_secs_f64(options.hold),
        churn_rate: options.churn_rate,
        churn_duration: Duration::from_secs_f64(options.churn_duration),
    };
    let stack = StackOptions {
        bridges: options.bridges,
        focus_log_level: options.focus_log_level,
        prosody_log_level: options.prosody_log_level,
    };
    println!("machine: {} CPUs, load average {}", num_cpus(), support::procfs::load_average());
    let mut failed = Vec::new();
    for scenario in options.scenario {
        let report = scenarios::run(scenario, &load, &stack).await?;
        println!("{report}");
        failed.extend(report.problems().into_iter().map(|p| format!("{scenario:?}: {p}")));
    }
    anyhow::ensure!(failed.is_empty(), "problems:\n{}", failed.join("\n"));
    Ok(())
}

/// Every scenario, small: what the test command runs so that the load generator cannot rot.
async fn smoke() -> Result<()> {
    let load = Load {
        conferences: 4,
        participants: 3,
        rate: 40.0,
        hold: Duration::ZERO,
        churn_rate: 10.0,
        churn_duration: Duration::from_secs(2),
    };
    let stack = StackOptions { bridges: 2, focus_log_level: "info".into(), prosody_log_level: "info".into() };
    for scenario in [Scenario::Burst, Scenario::Churn, Scenario::BridgeKill] {
        let report: Report = scenarios::run(scenario, &load, &stack).await?;
        println!("{report}");
        let r = &report.recorder;
        let problems = report.problems();
        anyhow::ensure!(problems.is_empty(), "{scenario:?}: {}", problems.join("; "));
        let expected_joins = if scenario == Scenario::Burst { 4 } else { 12 };
        anyhow::ensure!(
            measure::Recorder::count(&r.joined) >= expected_joins,
            "{scenario:?}: {} of {expected_joins} joined",
            measure::Recorder::count(&r.joined)
        );
        anyhow::ensure!(r.request_new_room.len() == 4, "{scenario:?}: {} new rooms ready", r.request_new_room.len());
        if scenario != Scenario::Burst {
            anyhow::ensure!(
                r.join_to_initiate.len() >= 12,
                "{scenario:?}: only {} session-initiates",
                r.join_to_initiate.len()
            );
            anyhow::ensure!(r.accept_to_source_add.len() > 0, "{scenario:?}: no source-add after a session-accept");
        }
        if scenario == Scenario::BridgeKill {
            anyhow::ensure!(report.expected_reinvites.unwrap_or(0) > 0, "the killed bridge had no participants");
        }
    }
    println!("load smoke: every scenario ran without an error");
    Ok(())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
