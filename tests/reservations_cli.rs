//! The `jitsi-reservations` binary as operators run it: `meetings add|list|cancel` on a SQLite
//! file named by a temporary configuration, bad input refused with a precise message and
//! nothing stored, configuration errors, the environment overriding the file, `serve`
//! answering the reservation contract and stopping on SIGTERM, and secrets (management tokens,
//! a PostgreSQL password) never printed, not even in errors.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use anyhow::{ensure, Context, Result};
use jiff::{SignedDuration, Timestamp};
use support::postgres::Postgres;
use support::reservations_server::{check_binary, command, TOKEN};
use support::{ReservationsOptions, ReservationsServer, DEFAULT_TIMEOUT};

/// A configuration file naming a SQLite database, both in a temporary directory.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    fn new() -> Result<Setup> {
        Setup::with_toml("")
    }

    /// The file's `[database]` section, then `extra`.
    fn with_toml(extra: &str) -> Result<Setup> {
        check_binary()?;
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("jitsi-reservations.toml");
        std::fs::write(
            &config,
            format!("[database]\nurl = \"sqlite://{}\"\n{extra}", dir.path().join("r.db").display()),
        )?;
        Ok(Setup { dir, config })
    }

    async fn run(&self, args: &[&str]) -> Result<Run> {
        run(&self.config, args, &[]).await
    }

    /// `meetings list --all`: every stored meeting.
    async fn everything(&self) -> Result<String> {
        let list = self.run(&["meetings", "list", "--all"]).await?.ok()?;
        Ok(list.stdout)
    }
}

/// What one run of the binary printed.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Exit 0 required.
    fn ok(self) -> Result<Run> {
        ensure!(self.code == Some(0), "exit {:?}\nstdout: {}\nstderr: {}", self.code, self.stdout, self.stderr);
        Ok(self)
    }
}

async fn run(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Run> {
    let output = command(config).args(args).envs(env.iter().copied()).output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), output).await.context("the CLI hung")??;
    Ok(Run::from(output))
}

/// The id `meetings add` printed: its whole stdout, one number.
fn printed_id(run: &Run) -> Result<i64> {
    run.stdout.strip_suffix('\n').unwrap_or(&run.stdout).parse().with_context(|| format!("not an id: {:?}", run.stdout))
}

/// The lines of `meetings list` for meeting `id`.
fn lines_of(list: &str, id: i64) -> Vec<&str> {
    list.lines().filter(|l| l.split('\t').next() == Some(&*id.to_string())).collect()
}

#[tokio::test]
async fn add_list_and_cancel_a_meeting() -> Result<()> {
    let s = Setup::new()?;
    let add = s
        .run(&[
            "meetings",
            "add",
            "--room",
            "weekly.sync",
            "--start",
            "2026-12-01T14:00:00+01:00",
            "--duration",
            "90m",
            "--owner",
            "Alice@Example.com",
            "--owner",
            "bob@example.com",
            "--early-join",
            "10m",
            "--max-participants",
            "12",
            "--timezone",
            "europe/berlin",
            "--message",
            "Ask Alice for the slides",
            "--every-weeks",
            "1",
            "--until",
            "2027-03-01T00:00:00Z",
        ])
        .await?
        .ok()?;
    assert_eq!(add.stderr, "", "nothing but the id is printed");
    let weekly = printed_id(&add)?;
    let other = printed_id(
        &s.run(&[
            "meetings",
            "add",
            "--room",
            "other",
            "--start",
            "2026-12-02T09:00:00Z",
            "--end",
            "2026-12-02T10:00:00Z",
        ])
        .await?
        .ok()?,
    )?;
    assert!(weekly > 0 && other > weekly, "ids {weekly}, {other}");

    let list = s.run(&["meetings", "list"]).await?.ok()?.stdout;
    let line = lines_of(&list, weekly);
    assert_eq!(line.len(), 1, "{list}");
    let fields: Vec<&str> = line[0].split('\t').collect();
    assert_eq!(fields[1], "weekly.sync", "{list}");
    // Times in UTC, the zone canonical, weekly until, owners lower case.
    assert_eq!(
        fields[2],
        "2026-12-01T13:00:00Z – 2026-12-01T14:30:00Z (Europe/Berlin) every 1 week(s) until 2027-03-01T00:00:00Z",
        "{list}"
    );
    assert_eq!(fields[3], "owners: alice@example.com,bob@example.com", "{list}");
    assert_eq!(lines_of(&list, other).len(), 1, "{list}");
    let only = s.run(&["meetings", "list", "--room", "other"]).await?.ok()?.stdout;
    assert!(lines_of(&only, weekly).is_empty() && lines_of(&only, other).len() == 1, "{only}");

    let cancel = s.run(&["meetings", "cancel", &weekly.to_string()]).await?.ok()?;
    assert_eq!(printed_id(&cancel)?, weekly);
    let list = s.run(&["meetings", "list"]).await?.ok()?.stdout;
    assert!(lines_of(&list, weekly).is_empty(), "a cancelled meeting is listed: {list}");
    assert_eq!(lines_of(&list, other).len(), 1, "{list}");
    let all = s.everything().await?;
    let cancelled = lines_of(&all, weekly);
    assert_eq!(cancelled.len(), 1, "{all}");
    assert!(cancelled[0].ends_with("\tcancelled"), "{all}");
    assert!(!lines_of(&all, other)[0].ends_with("cancelled"), "{all}");

    let unknown = s.run(&["meetings", "cancel", "999"]).await?;
    assert_ne!(unknown.code, Some(0));
    assert!(unknown.stderr.contains("no meeting 999"), "{}", unknown.stderr);
    assert_eq!(unknown.stdout, "");
    Ok(())
}

#[tokio::test]
async fn bad_input_is_refused_precisely_and_nothing_is_stored() -> Result<()> {
    let s = Setup::new()?;
    const START: &str = "2026-12-01T14:00:00+01:00";
    let cases: &[(&[&str], &str)] = &[
        (
            &["--room", "hello", "--start", START, "--end", "2026-12-01T13:00:00+01:00", "--timezone", "Europe/Berlin"],
            "The meeting ends (Tue 1 Dec 2026 at 13:00) before it starts (Tue 1 Dec 2026 at 14:00, Europe/Berlin); the end must be after the start",
        ),
        (
            &["--room", "hello", "--start", START, "--end", START, "--timezone", "Europe/Berlin"],
            "The meeting ends when it starts (Tue 1 Dec 2026 at 14:00, Europe/Berlin); the end must be after the start",
        ),
        (
            &["--room", "hello", "--start", "next tuesday", "--duration", "1h"],
            "--start \"next tuesday\" is not an RFC 3339 time such as 2026-12-01T14:00:00+01:00",
        ),
        (
            &["--room", "hello", "--start", "2026-12-01T14:00:00", "--duration", "1h"],
            "--start \"2026-12-01T14:00:00\" is not an RFC 3339 time",
        ),
        (
            &["--room", "hello", "--start", START, "--end", "soon"],
            "--end \"soon\" is not an RFC 3339 time",
        ),
        (
            &["--room", "Hello", "--start", START, "--duration", "1h"],
            "--room: The room name «Hello» has capital letters; Jitsi Meet room names are lower case: «hello»",
        ),
        (
            &["--room", "my room", "--start", START, "--duration", "1h"],
            "--room: The room name «my room» contains a space",
        ),
        (
            &["--room", "hello", "--start", START, "--duration", "1h", "--owner", "alice@"],
            "--owner \"alice@\": The owner «alice@» has no domain after the «@»",
        ),
        (
            &["--room", "hello", "--start", START, "--duration", "1h", "--owner", "alice@example.com/phone"],
            "The owner «alice@example.com/phone» has a resource (the part from «/»); give the bare JID: «alice@example.com»",
        ),
        (
            // One good owner and one bad: nothing is stored, not even the good one.
            &["--room", "hello", "--start", START, "--duration", "1h", "--owner", "bob@example.com", "--owner", "Alice Smith"],
            "--owner \"Alice Smith\": The owner «Alice Smith» contains a space; give a JID such as alice@example.com",
        ),
        (
            &["--room", "hello", "--start", START, "--duration", "1h", "--timezone", "Mars/Olympus_Mons"],
            "--timezone: Unknown time zone «Mars/Olympus_Mons»; use an IANA name such as Europe/Berlin, America/New_York or UTC",
        ),
        (
            &["--room", "hello", "--start", START, "--end", "2026-12-01T15:00:00+01:00", "--duration", "1h"],
            "cannot be used with",
        ),
        (&["--room", "hello", "--start", START], "the following required arguments were not provided"),
        (
            &["--room", "hello", "--start", START, "--duration", "1h", "--max-participants", "0"],
            "The participant limit must be at least 1 (leave it out for no limit)",
        ),
        (
            &["--room", "hello", "--start", START, "--duration", "1h", "--every-weeks", "0"],
            "A weekly repetition needs an interval of at least 1 week (it is 0)",
        ),
        (
            &["--room", "hello", "--start", START, "--duration", "1h", "--until", "2027-01-01T00:00:00Z"],
            "--every-weeks",
        ),
        (&["--room", "hello", "--start", START, "--duration", "soon"], "--duration"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["meetings", "add"];
        all.extend_from_slice(args);
        let run = s.run(&all).await?;
        assert!(run.code.is_some_and(|c| c != 0), "{args:?} was accepted: {run:?}");
        assert!(run.stderr.contains(expected), "{args:?}: expected {expected:?} on stderr, got:\n{}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?} printed an id");
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
    }
    assert_eq!(s.everything().await?, "", "a refused booking left something behind");
    // And the same database still takes a good booking.
    let good = s.run(&["meetings", "add", "--room", "hello", "--start", START, "--duration", "1h"]).await?.ok()?;
    let id = printed_id(&good)?;
    assert_eq!(lines_of(&s.everything().await?, id).len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_missing_or_broken_configuration_file_is_named() -> Result<()> {
    check_binary()?;
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("nowhere").join("jitsi-reservations.toml");
    for args in [&["meetings", "list"][..], &["serve"][..]] {
        let out = run(&missing, args, &[]).await?;
        assert_ne!(out.code, Some(0), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains(&format!("configuration file {}: no such file", missing.display())),
            "{args:?}: {}",
            out.stderr
        );
        assert_eq!(out.stdout, "");
    }
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[database]\nurl = \"sqlite:///tmp/x.db\"\n[policy]\nad_hoc = maybe\n")?;
    let out = run(&broken, &["meetings", "list"], &[]).await?;
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains(&broken.display().to_string()), "{}", out.stderr);
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "[database]\nurl = \"sqlite:///tmp/x.db\"\npath = \"/tmp/y.db\"\n")?;
    let out = run(&unknown, &["meetings", "list"], &[]).await?;
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("database.path") && out.stderr.contains("unknown"), "{}", out.stderr);
    Ok(())
}

#[tokio::test]
async fn the_environment_overrides_the_database_url() -> Result<()> {
    let s = Setup::new()?;
    let other = s.dir.path().join("other.db");
    let url = format!("sqlite://{}", other.display());
    let env = [("JITSI_RESERVATIONS_DATABASE__URL", url.as_str())];
    let add = run(
        &s.config,
        &["meetings", "add", "--room", "from-env", "--start", "2026-12-01T14:00:00Z", "--duration", "1h"],
        &env,
    )
    .await?
    .ok()?;
    let id = printed_id(&add)?;
    assert!(other.is_file(), "the database named by the environment was not created");
    let listed = run(&s.config, &["meetings", "list"], &env).await?.ok()?.stdout;
    assert_eq!(lines_of(&listed, id).len(), 1, "{listed}");
    assert!(listed.contains("\tfrom-env\t"), "{listed}");
    // The file's database has nothing.
    assert_eq!(s.everything().await?, "");
    // A bad value from the environment is named as coming from there.
    let bad = run(&s.config, &["meetings", "list"], &[("JITSI_RESERVATIONS_DATABASE__URL", "mysql://db/r")]).await?;
    assert_ne!(bad.code, Some(0));
    assert!(bad.stderr.contains("database.url"), "{}", bad.stderr);
    Ok(())
}

#[tokio::test]
async fn serve_answers_the_contract_for_a_booked_room_and_stops_on_sigterm() -> Result<()> {
    let server = ReservationsServer::start(ReservationsOptions::default()).await?;
    let listening =
        server.wait_for_line(|l| l.as_str().is_some_and(|s| s.starts_with("listening ")), DEFAULT_TIMEOUT).await?;
    let line = listening.as_str().unwrap_or_default();
    let port = line
        .strip_prefix("listening http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix('/'))
        .and_then(|port| port.parse::<u16>().ok())
        .with_context(|| format!("not a listening line: {line:?}"))?;
    assert_ne!(port, 0);

    let start = Timestamp::now() - SignedDuration::from_mins(5);
    let id = server.book("standup", &["--start", &start.to_string(), "--duration", "1h"]).await?;
    let (status, body) = server.post_conference("standup", Some("alice@meet.test")).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "standup");
    assert_eq!(body["mail_owner"], "alice@meet.test");
    let duration = body["duration"].as_i64().context("duration")?;
    // Until the meeting ends: 55 minutes, less the time this test took.
    assert!((3000..=3300).contains(&duration), "duration {duration}");
    let conference = body["id"].as_i64().context("id")?;
    server
        .wait_for_event("conference started", &[("room", "standup"), ("id", &conference.to_string())], DEFAULT_TIMEOUT)
        .await?;
    let listed = server.conferences("standup").await?;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["meeting_id"], id);

    let (status, body) = server.post_conference("unbooked", None).await?;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["message"], "Room «unbooked» has no meeting booked");

    let (status, output) = server.stop().await?;
    assert_eq!(status.code(), Some(0), "exit status {status}; output:\n{output}");
    assert!(output.contains("\"stopping\""), "{output}");
    Ok(())
}

/// Every way a secret could reach a terminal or the journal: logs of a running server (debug
/// level) that was asked with right and wrong tokens, configuration errors, database errors,
/// and a real PostgreSQL reached with a password in its URL.
#[tokio::test]
async fn secrets_never_appear_in_output_or_errors() -> Result<()> {
    const PASSWORD: &str = "pg-Pa55word-7c41d";
    const WRONG_TOKEN: &str = "wrong-token-9e8d7c6b5a";

    // The management token: a server at debug level, called with it and with a wrong one.
    let server = ReservationsServer::start(ReservationsOptions {
        extra_toml: "[log]\nlevel = \"debug\"\nformat = \"json\"\n".into(),
        ..Default::default()
    })
    .await?;
    let client = reqwest::Client::new();
    let meetings = format!("{}/api/v1/meetings", server.base_url());
    let right = client.get(&meetings).bearer_auth(TOKEN).send().await?;
    assert_eq!(right.status(), 200);
    let wrong = client.get(&meetings).bearer_auth(WRONG_TOKEN).send().await?;
    assert_eq!(wrong.status(), 401);
    let wrong_body = wrong.text().await?;
    assert!(!wrong_body.contains(WRONG_TOKEN) && !wrong_body.contains(TOKEN), "{wrong_body}");
    let (_, output) = server.stop().await?;
    assert!(output.contains("jitsi-reservations listening"), "the debug log is empty? {output}");
    for secret in [TOKEN, WRONG_TOKEN] {
        assert!(!output.contains(secret), "{secret} was printed:\n{output}");
    }

    // Configuration errors around a token (from the file and from the environment).
    let s = Setup::with_toml(&format!("[api]\ntokens = \"{TOKEN}\"\n"))?;
    let out = s.run(&["meetings", "list"]).await?;
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("api.tokens"), "{}", out.stderr);
    assert!(!out.stderr.contains(TOKEN), "{}", out.stderr);
    let short = "Zq9-short-tok";
    let s = Setup::new()?;
    for value in [format!("[{short}]"), format!("[{TOKEN}, \"{short}\"]"), format!("{TOKEN} {short}")] {
        let out = run(&s.config, &["serve"], &[("JITSI_RESERVATIONS_API__TOKENS", &value)]).await?;
        assert_ne!(out.code, Some(0), "{value}: {out:?}");
        assert!(out.stderr.contains("api.tokens"), "{value}: {}", out.stderr);
        assert!(!out.stderr.contains(short) && !out.stderr.contains(TOKEN), "{value}: {}", out.stderr);
        assert!(!out.stdout.contains(short) && !out.stdout.contains(TOKEN), "{value}: {}", out.stdout);
    }

    // PostgreSQL URLs with a password that cannot be used: nothing listens, a bad port, a host
    // that is not one, a scheme the server does not take.
    for url in [
        format!("postgres://jitsi:{PASSWORD}@127.0.0.1:1/reservations"),
        format!("postgres://jitsi:{PASSWORD}@127.0.0.1:notaport/reservations"),
        format!("postgresql://jitsi:{PASSWORD}@[::1/reservations"),
        format!("postgres://127.0.0.1:1/reservations?user=jitsi&password={PASSWORD}"),
        format!("mysql://jitsi:{PASSWORD}@127.0.0.1/reservations"),
    ] {
        for args in [&["meetings", "list"][..], &["serve"][..]] {
            let out = run(&s.config, args, &[("JITSI_RESERVATIONS_DATABASE__URL", &url)]).await?;
            assert_ne!(out.code, Some(0), "{url} {args:?}: {out:?}");
            assert!(!out.stderr.is_empty(), "{url}: no error message");
            assert!(!out.stderr.contains(PASSWORD) && !out.stdout.contains(PASSWORD), "{url} {args:?}: {out:?}");
        }
    }

    // A real PostgreSQL (trust authentication: it takes any password, so the URL carries one):
    // booking, listing, serving and failing on a database that does not exist show none of it.
    let pg = Postgres::start().await?;
    let url = format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/reservations", pg.port());
    let env = [("JITSI_RESERVATIONS_DATABASE__URL", url.as_str())];
    let add = run(
        &s.config,
        &["meetings", "add", "--room", "pg-room", "--start", "2026-12-01T14:00:00Z", "--duration", "1h"],
        &env,
    )
    .await?
    .ok()?;
    let id = printed_id(&add)?;
    let list = run(&s.config, &["meetings", "list"], &env).await?.ok()?;
    assert_eq!(lines_of(&list.stdout, id).len(), 1, "{}", list.stdout);
    let missing_db = format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/no_such_database", pg.port());
    let failed = run(&s.config, &["meetings", "list"], &[("JITSI_RESERVATIONS_DATABASE__URL", &missing_db)]).await?;
    assert_ne!(failed.code, Some(0));
    assert!(failed.stderr.contains("no_such_database") && failed.stderr.contains("postgres:***@"), "{}", failed.stderr);
    let server = ReservationsServer::start(ReservationsOptions {
        extra_toml: "[log]\nlevel = \"debug\"\nformat = \"json\"\n".into(),
        env: vec![("JITSI_RESERVATIONS_DATABASE__URL".into(), url.clone())],
        ..Default::default()
    })
    .await?;
    let (status, body) = server.post_conference("pg-room", None).await?;
    assert_eq!(status, 403, "{body}");
    let (exit, output) = server.stop().await?;
    assert!(exit.success(), "{exit}: {output}");
    for text in [&add.stdout, &add.stderr, &list.stdout, &list.stderr, &failed.stdout, &failed.stderr, &output] {
        assert!(!text.contains(PASSWORD), "the password was printed:\n{text}");
    }
    Ok(())
}
