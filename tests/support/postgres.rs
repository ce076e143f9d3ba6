//! A throw-away PostgreSQL server for one test: the Debian package's binaries, a temporary data
//! directory, a free loopback port, trust authentication, fsync off. Stopped (fast shutdown) and
//! its directory removed on drop.
//!
//! The binaries are taken from `/usr/lib/postgresql/<version>/bin` (the newest version there),
//! or from `$POSTGRES_BIN` if set. Debian puts only the client wrappers on `PATH`; a
//! `/usr/local/bin/initdb` on some machines is just a symlink into that same directory, so
//! the versioned directory is the one place that always has initdb, postgres and pg_ctl
//! together.
//!
//! initdb and postgres refuse to run as root, and the tests run as root: then both run as the
//! `postgres` system user (which the Debian package creates), in a directory under `/tmp`
//! owned by it. As any other user they run as that user.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tempfile::TempDir;
use tokio::time::Instant;

use super::free_port;

/// The database [`Postgres::start`] creates, which [`Postgres::url`] points at.
pub const DATABASE: &str = "reservations";
/// The superuser initdb creates; trust authentication, so no password.
pub const SUPERUSER: &str = "postgres";
/// initdb takes about a second here; the margin is for a loaded CI machine.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// Another process may take the free port between our check and postgres binding it.
const PORT_ATTEMPTS: usize = 3;
const INSTALL_HINT: &str = "run scripts/install-deps.sh or apt-get install postgresql";

pub struct Postgres {
    // Drop stops the server (while `dir` still exists), then `dir` is removed.
    server: Option<Child>,
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    /// (uid, gid) of the `postgres` user when we are root; `None`: run as ourselves.
    run_as: Option<(u32, u32)>,
}

impl Postgres {
    /// initdb, start on 127.0.0.1, wait until it accepts connections, create [`DATABASE`].
    pub async fn start() -> Result<Postgres> {
        let bin = bin_dir()?;
        let run_as = if running_as_root()? { Some(postgres_user()?) } else { None };
        // Under /tmp when root: the postgres user must be able to reach the directory, and a
        // TMPDIR under /root would not let it.
        let dir = tempfile::Builder::new().prefix("postgres-test-").tempdir_in(match run_as {
            Some(_) => PathBuf::from("/tmp"),
            None => std::env::temp_dir(),
        })?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .with_context(|| format!("chown {} to the postgres user", dir.path().display()))?;
        }
        let mut pg = Postgres { server: None, dir, bin, port: 0, run_as };
        pg.initdb().await?;
        pg.spawn_server().await?;
        pg.create_database(DATABASE).await?;
        Ok(pg)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/reservations`.
    pub fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates another database (e.g. one per test case on a shared server); returns its URL.
    pub async fn create_database(&self, name: &str) -> Result<String> {
        let out = tokio::process::Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", SUPERUSER, name])
            .env_remove("PGPASSWORD")
            .stdin(Stdio::null())
            .output()
            .await
            .context("running createdb")?;
        if !out.status.success() {
            bail!(
                "createdb {name} failed: {}\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                self.log_contents()
            );
        }
        Ok(self.url_for(name))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's own output, for failure messages.
    pub fn log_contents(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        format!("--- postgres.log ---\n{log}")
    }

    /// Fast shutdown (`pg_ctl stop -m fast`: open transactions are rolled back, clients
    /// disconnected), waiting for the server to exit. Killed if that fails. Idempotent.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut server) = self.server.take() else { return Ok(()) };
        let stopped = self
            .command(&self.bin.join("pg_ctl"))
            .arg("stop")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "-t", "20"])
            .stdin(Stdio::null())
            .output();
        let clean = matches!(&stopped, Ok(out) if out.status.success());
        if !clean {
            let _ = server.kill();
        }
        let _ = server.wait();
        match stopped {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => bail!("pg_ctl stop failed ({}), killed: {}", out.status, String::from_utf8_lossy(&out.stderr)),
            Err(e) => bail!("running pg_ctl stop failed ({e}), killed"),
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// A command for a server-side binary, as the postgres user when we are root, started in
    /// the temporary directory (it may not be able to read our working directory).
    fn command(&self, program: &Path) -> std::process::Command {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new(program);
        command.current_dir(self.dir.path());
        if let Some((uid, gid)) = self.run_as {
            // std drops root's supplementary groups before setuid.
            command.uid(uid).gid(gid);
        }
        command
    }

    async fn initdb(&self) -> Result<()> {
        let mut command = tokio::process::Command::from(self.command(&self.bin.join("initdb")));
        command
            .arg("-D")
            .arg(self.data_dir())
            .args(["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"])
            .stdin(Stdio::null());
        let out = command.output().await.context("running initdb")?;
        if !out.status.success() {
            bail!(
                "initdb failed: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    async fn spawn_server(&mut self) -> Result<()> {
        for attempt in 1..=PORT_ATTEMPTS {
            self.port = free_port()?;
            // Appended: a retry keeps the earlier attempt's output for the failure message.
            let log = File::options().create(true).append(true).open(self.log_path())?;
            let server = self
                .command(&self.bin.join("postgres"))
                .arg("-D")
                .arg(self.data_dir())
                .args(["-p", &self.port.to_string()])
                .args(["-c", "listen_addresses=127.0.0.1"])
                .arg("-c")
                .arg(format!("unix_socket_directories={}", self.dir.path().display()))
                // Durability is not what these tests are about; speed is.
                .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
                // Race tests open several pools at once.
                .args(["-c", "max_connections=200", "-c", "shared_buffers=32MB"])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("spawning postgres")?;
            self.server = Some(server);
            match self.wait_ready().await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < PORT_ATTEMPTS && self.log_contents().contains("could not bind") => {
                    eprintln!("postgres: port {} was taken ({e}); trying another", self.port);
                    let _ = self.stop();
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Polls `pg_isready` (bounded) until the server accepts connections, failing early if it
    /// exited.
    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let ready = tokio::process::Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", SUPERUSER, "-d", "postgres"])
                .stdin(Stdio::null())
                .status()
                .await
                .context("running pg_isready")?;
            if ready.success() {
                return Ok(());
            }
            let server = self.server.as_mut().expect("spawned");
            if let Some(status) = server.try_wait()? {
                self.server = None;
                bail!("postgres exited ({status}) before accepting connections\n{}", self.log_contents());
            }
            if Instant::now() > deadline {
                bail!("postgres did not accept connections in time\n{}", self.log_contents());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("stopping the test postgres: {e}");
        }
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with the server binaries, or `$POSTGRES_BIN`.
fn bin_dir() -> Result<PathBuf> {
    let has_server =
        |dir: &Path| ["initdb", "postgres", "pg_ctl", "pg_isready", "createdb"].iter().all(|b| dir.join(b).is_file());
    if let Some(dir) = std::env::var_os("POSTGRES_BIN") {
        let dir = PathBuf::from(dir);
        if !has_server(&dir) {
            bail!("POSTGRES_BIN={}: no initdb, postgres, pg_ctl, pg_isready and createdb there", dir.display());
        }
        return Ok(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => Ok(bin),
        // Never skip: a silently skipped integration test is a test that does not exist.
        None => bail!("PostgreSQL server not installed (no /usr/lib/postgresql/*/bin/postgres): {INSTALL_HINT}"),
    }
}

/// Whether this process runs as root: `/proc/self` belongs to the effective uid.
fn running_as_root() -> Result<bool> {
    Ok(std::fs::metadata("/proc/self").context("reading /proc/self")?.uid() == 0)
}

/// (uid, gid) of the `postgres` system user, from the passwd database.
fn postgres_user() -> Result<(u32, u32)> {
    let out = std::process::Command::new("getent").args(["passwd", "postgres"]).output().context("running getent")?;
    let line = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = line.trim().split(':').collect();
    match (fields.get(2).and_then(|f| f.parse().ok()), fields.get(3).and_then(|f| f.parse().ok())) {
        (Some(uid), Some(gid)) if out.status.success() => Ok((uid, gid)),
        _ => bail!("running as root, and there is no `postgres` user to run PostgreSQL as: {INSTALL_HINT}"),
    }
}
