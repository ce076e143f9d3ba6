//! The `jitsi-focus` binary: command line, logging and signals around the library.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use jitsi_focus::config::{Config, LogFormat, DEFAULT_PATH};
use tracing_subscriber::EnvFilter;

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
        Command::Run => run(config),
    }
}

fn run(config: Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log.level).context("log.level")?;
    // Colour only for a person at a terminal: journald, files and pipes get plain text.
    let subscriber =
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(std::io::stdout().is_terminal());
    match config.log.format {
        LogFormat::Text => subscriber.init(),
        LogFormat::Json => subscriber.json().flatten_event(true).init(),
    }
    tracing::info!(version = env!("CARGO_PKG_VERSION"), component = %config.xmpp.component, "starting jitsi-focus");
    // Two worker threads are plenty: the work is I/O and small state machines.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        jitsi_focus::runtime::run(config, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Completes on SIGTERM (systemd stop) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
