//! The `jitsi-focus` binary: command line, logging and signals around the library.
//!
//! Signals: SIGTERM and SIGINT stop the focus (the first drains, a second stops at once);
//! SIGHUP re-reads the configuration and applies its `log.level`, and nothing else.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use futures::Stream;
use jitsi_focus::config::{Config, LogFormat, DEFAULT_PATH};
use jitsi_focus::runtime::{notify::Notifier, RunOptions, Stop};
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

#[derive(Parser)]
#[command(version, about = "A conference focus for Jitsi Meet, run as an XMPP component beside Prosody")]
struct Cli {
    /// Configuration file (TOML). Environment variables JITSI_FOCUS_<SECTION>__<KEY> override it.
    #[arg(long, short, global = true, default_value = DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the focus (the default).
    Run,
    /// Validate the configuration and print it with secrets redacted.
    CheckConfig {
        /// Only validate; print nothing unless there is an error.
        #[arg(long)]
        quiet: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The default path may be absent (everything can come from the environment); a path the
    // operator named must exist.
    let require_file = cli.config != std::path::Path::new(DEFAULT_PATH);
    let config = match Config::load(&cli.config, require_file) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("jitsi-focus: invalid configuration: {e}");
            std::process::exit(2);
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig { quiet } => {
            if !quiet {
                print!("{}", config.redacted_toml());
            }
            Ok(())
        }
        Command::Run => run(config, &cli.config, require_file),
    }
}

fn run(config: Config, path: &Path, require_file: bool) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log.level).context("log.level")?;
    // The filter sits behind a reload layer so that SIGHUP can change the level.
    let (filter, log_level) = reload::Layer::new(filter);
    // Colour only for a person at a terminal: journald, files and pipes get plain text.
    let output = tracing_subscriber::fmt::layer().with_target(false).with_ansi(std::io::stdout().is_terminal());
    let registry = tracing_subscriber::registry().with(filter);
    match config.log.format {
        LogFormat::Text => registry.with(output).init(),
        LogFormat::Json => registry.with(output.json().flatten_event(true)).init(),
    }
    tracing::info!(version = env!("CARGO_PKG_VERSION"), component = %config.xmpp.component, "starting jitsi-focus");
    // One thread, like the core it drives: every stanza passes between the connection task and
    // the main loop, and across threads each pass cost a futex wake-up and a context switch,
    // most of the focus's CPU time under load (BENCHMARKS.md, "one thread").
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        // Handlers first: from here on these signals no longer kill the process.
        let stops = stop_requests()?;
        tokio::spawn(reload_on_sighup(signal(SignalKind::hangup())?, path.to_owned(), require_file, log_level));
        let options = RunOptions { notify: Notifier::from_env(), ..RunOptions::default() };
        jitsi_focus::runtime::run_with(config, stops, options).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// One [`Stop::Drain`] per SIGTERM (systemd's stop) or SIGINT (Ctrl-C); the runtime takes a
/// second one while draining as "stop now".
fn stop_requests() -> std::io::Result<impl Stream<Item = Stop>> {
    let signals = (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?);
    Ok(futures::stream::unfold(signals, |(mut term, mut int)| async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Some((Stop::Drain, (term, int)))
    }))
}

/// On SIGHUP: loads and validates the configuration as at start (file, then the environment
/// the process started with) and applies its `log.level`. Other changes wait for a restart; an
/// invalid file or level is logged as an error and the current level kept.
async fn reload_on_sighup(
    mut hangup: tokio::signal::unix::Signal,
    path: PathBuf,
    require_file: bool,
    log_level: reload::Handle<EnvFilter, Registry>,
) {
    while hangup.recv().await.is_some() {
        // Off the runtime's only thread: a configuration file on a slow or hung disk must not
        // stop the main loop.
        let load = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || Config::load(&path, require_file))
        };
        let Ok(loaded) = load.await else { continue };
        let level = match loaded {
            Ok(config) => config.log.level,
            Err(e) => {
                tracing::error!("SIGHUP: configuration not reloaded, log level kept: {e}");
                continue;
            }
        };
        // Validated by Config::load, so this parses.
        let Ok(filter) = EnvFilter::try_new(&level) else { continue };
        let old = log_level.with_current(ToString::to_string).unwrap_or_default();
        if old == filter.to_string() {
            tracing::info!(level = %old, "SIGHUP: log level unchanged");
            continue;
        }
        match log_level.reload(filter) {
            Ok(()) => tracing::info!(from = %old, to = %level, "SIGHUP: log level changed"),
            Err(e) => tracing::error!("SIGHUP: cannot change the log level: {e}"),
        }
    }
}
