//! The `jitsi-reservations` binary: the reservation server (`serve`) and its CLI (`meetings
//! add|list|cancel`) on the configured database.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use jiff::{SignedDuration, Timestamp};
use jitsi_focus::reservations::config::{ReservationsConfig, DEFAULT_PATH};
use jitsi_focus::reservations::model::{Meeting, Recurrence};
use jitsi_focus::reservations::policy;
use jitsi_focus::reservations::server::{self, manage, AppState};
use jitsi_focus::reservations::store::{NewMeeting, Store};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(version, about = "A reservation server for Jitsi Meet: meetings booked by room, owner and time")]
struct Cli {
    /// Configuration file (TOML). Environment variables JITSI_RESERVATIONS_<SECTION>__<KEY>
    /// override it.
    #[arg(long, short, global = true, default_value = DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (reservation API for the focus or Prosody).
    Serve,
    /// Book, list and cancel meetings in the configured database.
    #[command(subcommand)]
    Meetings(MeetingsCommand),
}

#[derive(Subcommand)]
enum MeetingsCommand {
    /// Book a meeting; prints its id.
    Add(Box<AddArgs>),
    /// List meetings (one per line).
    List {
        /// Only this room's.
        #[arg(long)]
        room: Option<String>,
        /// Cancelled ones too.
        #[arg(long)]
        all: bool,
    },
    /// Cancel a meeting (kept as history); prints its id.
    Cancel { id: i64 },
}

#[derive(Args)]
struct AddArgs {
    /// The room name (lower case letters, digits, `.`, `_`, `-`).
    #[arg(long)]
    room: String,
    /// Start, RFC 3339 (e.g. 2026-12-01T14:00:00+01:00).
    #[arg(long)]
    start: String,
    /// End, RFC 3339.
    #[arg(long, conflicts_with = "duration", required_unless_present = "duration")]
    end: Option<String>,
    /// Length instead of an end (e.g. 1h, 90m).
    #[arg(long)]
    duration: Option<humantime::Duration>,
    /// Who may open the room (a bare JID; repeat for several). None: anyone.
    #[arg(long = "owner")]
    owners: Vec<String>,
    /// How long before the start the room may open (e.g. 10m).
    #[arg(long, default_value = "0s")]
    early_join: humantime::Duration,
    /// Sent to the focus as max_occupants.
    #[arg(long)]
    max_participants: Option<u32>,
    /// The time zone refusal texts and weekly repetition use (IANA name). Default: the
    /// system's, else UTC.
    #[arg(long)]
    timezone: Option<String>,
    /// A refusal text of your own, used instead of the generated ones.
    #[arg(long)]
    message: Option<String>,
    /// Repeat every N weeks (1 = weekly).
    #[arg(long)]
    every_weeks: Option<u32>,
    /// Last repetition starts no later than this (RFC 3339).
    #[arg(long, requires = "every_weeks")]
    until: Option<String>,
}

fn parse_time(what: &str, text: &str) -> anyhow::Result<Timestamp> {
    text.parse::<Timestamp>()
        .with_context(|| format!("--{what} {text:?} is not an RFC 3339 time such as 2026-12-01T14:00:00+01:00"))
}

fn new_meeting(args: &AddArgs) -> anyhow::Result<NewMeeting> {
    let room = args.room.clone();
    policy::validate_room_name(&room).map_err(|why| anyhow::anyhow!("--room: {why}"))?;
    for owner in &args.owners {
        policy::validate_owner(owner).map_err(|why| anyhow::anyhow!("--owner {owner:?}: {why}"))?;
    }
    let start = parse_time("start", &args.start)?;
    let end = match (&args.end, args.duration) {
        (Some(end), _) => parse_time("end", end)?,
        (None, Some(d)) => {
            let d = SignedDuration::try_from(*d).context("--duration is too long")?;
            start.checked_add(d).context("--duration is too long")?
        }
        (None, None) => bail!("give --end or --duration"),
    };
    let time_zone = match &args.timezone {
        Some(tz) => policy::canonical_time_zone(tz).map_err(|why| anyhow::anyhow!("--timezone: {why}"))?,
        None => jiff::tz::TimeZone::system().iana_name().unwrap_or("UTC").to_owned(),
    };
    let early_join = SignedDuration::try_from(*args.early_join).context("--early-join is too long")?;
    let recurrence = match args.every_weeks {
        Some(interval) => Some(Recurrence::Weekly {
            interval,
            until: args.until.as_deref().map(|u| parse_time("until", u)).transpose()?,
        }),
        None => None,
    };
    let meeting = NewMeeting {
        room,
        owners: manage::dedup_lowercase(&args.owners),
        start,
        end,
        time_zone,
        early_join,
        recurrence,
        max_participants: args.max_participants,
        message: args.message.clone(),
    };
    manage::check_meeting(&meeting).map_err(|why| anyhow::anyhow!("{why}"))?;
    Ok(meeting)
}

fn describe(m: &Meeting) -> String {
    let owners = if m.owners.is_empty() { "anyone".to_owned() } else { m.owners.join(",") };
    let repeat = match m.recurrence {
        Some(Recurrence::Weekly { interval, until }) => {
            format!(" every {interval} week(s){}", until.map(|u| format!(" until {u}")).unwrap_or_default())
        }
        None => String::new(),
    };
    format!(
        "{}\t{}\t{} – {} ({}){repeat}\towners: {owners}{}",
        m.id,
        m.room,
        m.start,
        m.end,
        m.time_zone,
        if m.cancelled { "\tcancelled" } else { "" }
    )
}

fn init_logging(config: &ReservationsConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log.level).context("log.level")?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let require_file = cli.config != std::path::Path::new(DEFAULT_PATH);
    let config =
        ReservationsConfig::load(&cli.config, require_file).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    init_logging(&config)?;
    let store = Store::connect(&config.database.url).await.context("opening the database")?;
    match cli.command {
        Command::Serve => serve(config, store).await,
        Command::Meetings(MeetingsCommand::Add(args)) => {
            let meeting = store.add_meeting(&new_meeting(&args)?).await?;
            println!("{}", meeting.id);
            Ok(())
        }
        Command::Meetings(MeetingsCommand::List { room, all }) => {
            for m in store.meetings(room.as_deref(), all).await? {
                println!("{}", describe(&m));
            }
            Ok(())
        }
        Command::Meetings(MeetingsCommand::Cancel { id }) => match store.cancel_meeting(id).await? {
            Some(m) => {
                println!("{}", m.id);
                Ok(())
            }
            None => bail!("no meeting {id}"),
        },
    }
}

async fn serve(config: ReservationsConfig, store: Store) -> anyhow::Result<()> {
    let state = AppState {
        store,
        ad_hoc: Arc::new(config.policy.ad_hoc_policy()),
        ad_hoc_duration: SignedDuration::try_from(config.policy.ad_hoc_duration).context("policy.ad_hoc_duration")?,
        clock: server::system_clock(),
        tokens: Arc::new(config.api.tokens.clone()),
    };
    let listener =
        tokio::net::TcpListener::bind(config.bind()).await.with_context(|| format!("binding {}", config.bind()))?;
    tracing::info!(address = %listener.local_addr()?, "jitsi-reservations listening");
    // One line on stdout for scripts and tests waiting for the server.
    println!("listening http://{}/", listener.local_addr()?);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        tracing::info!("stopping");
    };
    jitsi_focus::http_serve::serve(listener, server::router(state), config.server.limits(), shutdown).await?;
    Ok(())
}
