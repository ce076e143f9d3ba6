//! A throw-away Prosody 0.12 for one test: own temp dir, own loopback ports.
//!
//! The configuration follows `shared/e2e-recipe/prosody/prosody.cfg.lua`, which was proven against
//! the real lib-jitsi-meet; only paths and ports differ so tests can run in parallel.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::{free_port, AUTH_DOMAIN, DEFAULT_COMPONENT_SECRET, DOMAIN, FOCUS_DOMAIN, INTERNAL_MUC_DOMAIN, MUC_DOMAIN};

const PROSODY: &str = "/usr/bin/prosody";
const PROSODYCTL: &str = "/usr/bin/prosodyctl";
/// Prosody starts in ~0.1 s here; the margin is for a loaded CI machine.
const START_DEADLINE: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct ProsodyOptions {
    /// XEP-0114 secret of `focus.meet.test`.
    pub component_secret: String,
    /// Jitsi's MUC policy: only admins (the focus) may create rooms.
    pub restrict_room_creation: bool,
    /// Adds VirtualHost `auth.meet.test` (internal_hashed) with these (user, password) accounts.
    /// Accounts then live in files (in the temp dir), so they survive `restart()`.
    pub users: Vec<(String, String)>,
    /// Adds the `auth.meet.test` host even without initial users (see `Prosody::register`).
    pub auth_host: bool,
    /// Extra global modules, e.g. "smacks" (left out by default: it would hibernate sessions of
    /// clients that enable it instead of ending them when their TCP connection is cut).
    pub extra_modules: Vec<String>,
    /// Lua appended to the global section (before the first VirtualHost).
    pub extra_global_config: String,
    /// Prosody log level; env `PROSODY_LOG_LEVEL` overrides it.
    pub log_level: String,
}

impl Default for ProsodyOptions {
    fn default() -> Self {
        Self {
            component_secret: DEFAULT_COMPONENT_SECRET.to_string(),
            restrict_room_creation: false,
            users: Vec::new(),
            auth_host: false,
            extra_modules: Vec::new(),
            extra_global_config: String::new(),
            log_level: "info".to_string(),
        }
    }
}

impl ProsodyOptions {
    /// Convenience: default options plus one account on `auth.meet.test`.
    pub fn with_user(mut self, user: &str, password: &str) -> Self {
        self.users.push((user.to_string(), password.to_string()));
        self
    }
}

pub struct Prosody {
    // Field order matters for Drop: the child is killed before its directory is deleted.
    child: Option<Child>,
    dir: TempDir,
    config: PathBuf,
    c2s_port: u16,
    component_port: u16,
    http_port: u16,
    options: ProsodyOptions,
}

impl Prosody {
    pub async fn start(options: ProsodyOptions) -> Result<Prosody> {
        if !Path::new(PROSODY).exists() || !Path::new(PROSODYCTL).exists() {
            // Never skip: a silently skipped integration test is a test that does not exist.
            bail!("prosody not installed: run scripts/test.sh or apt-get install prosody");
        }
        let dir = tempfile::Builder::new().prefix("prosody-test-").tempdir()?;
        std::fs::create_dir_all(dir.path().join("data"))?;
        std::fs::create_dir_all(dir.path().join("certs"))?;
        let mut prosody = Prosody {
            child: None,
            config: dir.path().join("prosody.cfg.lua"),
            dir,
            c2s_port: free_port()?,
            component_port: free_port()?,
            http_port: free_port()?,
            options,
        };
        std::fs::write(&prosody.config, prosody.render_config())?;
        for (user, password) in prosody.options.users.clone() {
            prosody.register(&user, &password).await?;
        }
        prosody.spawn().await?;
        Ok(prosody)
    }

    pub fn c2s_port(&self) -> u16 {
        self.c2s_port
    }
    pub fn component_port(&self) -> u16 {
        self.component_port
    }
    pub fn http_port(&self) -> u16 {
        self.http_port
    }
    pub fn component_secret(&self) -> &str {
        &self.options.component_secret
    }
    pub fn bosh_url(&self) -> String {
        format!("http://127.0.0.1:{}/http-bind", self.http_port)
    }
    pub fn websocket_url(&self) -> String {
        format!("ws://127.0.0.1:{}/xmpp-websocket", self.http_port)
    }
    pub fn config_path(&self) -> &Path {
        &self.config
    }
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates an account on `auth.meet.test` (needs `users` or `auth_host`). Works before start
    /// and while running: Prosody's file storage reads accounts from disk on each login.
    pub async fn register(&self, user: &str, password: &str) -> Result<()> {
        if !self.has_auth_host() {
            bail!("register needs ProsodyOptions::auth_host or users");
        }
        let out = Command::new(PROSODYCTL)
            .arg("--config")
            .arg(&self.config)
            .args(["register", user, AUTH_DOMAIN, password])
            .stdin(Stdio::null())
            .output()
            .await
            .context("running prosodyctl register")?;
        if !out.status.success() {
            bail!(
                "prosodyctl register {user} failed: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Kills Prosody (SIGKILL, so peers see their TCP connections drop) and waits for it to exit.
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("killing prosody")?;
        }
        Ok(())
    }

    /// Stops, then starts again with the same config and ports. Memory storage (rooms, anonymous
    /// sessions) is lost, file-stored accounts are kept.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        self.spawn().await
    }

    /// Prosody's own log plus anything it printed to stdout/stderr, for failure messages.
    pub fn log_contents(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("--- prosody.log ---\n{}--- console ---\n{}", read("prosody.log"), read("console.log"))
    }

    fn has_auth_host(&self) -> bool {
        self.options.auth_host || !self.options.users.is_empty()
    }

    async fn spawn(&mut self) -> Result<()> {
        // Append, so a restart keeps the earlier run's output for diagnostics.
        let console =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("console.log"))?;
        let child = Command::new(PROSODY)
            .arg("-F")
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(console.try_clone()?)
            .stderr(console)
            .kill_on_drop(true)
            .spawn()
            .context("spawning prosody")?;
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        for port in [self.c2s_port, self.component_port, self.http_port] {
            self.wait_port(port, deadline).await?;
        }
        Ok(())
    }

    /// Polls until `port` accepts TCP (bounded), failing early if Prosody exited.
    async fn wait_port(&mut self, port: u16, deadline: Instant) -> Result<()> {
        loop {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(());
            }
            let child = self.child.as_mut().expect("spawned");
            if let Some(status) = child.try_wait()? {
                bail!("prosody exited ({status}) before listening on {port}\n{}", self.log_contents());
            }
            if Instant::now() > deadline {
                bail!("prosody did not listen on {port} in time\n{}", self.log_contents());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn render_config(&self) -> String {
        let o = &self.options;
        let dir = self.dir.path().display();
        let level = std::env::var("PROSODY_LOG_LEVEL").unwrap_or_else(|_| o.log_level.clone());
        let extra_modules: String = o.extra_modules.iter().map(|m| format!("\"{m}\"; ")).collect();
        // Accounts need a file store for prosodyctl register; everything else stays in memory so
        // a restart starts from a clean slate, like the recipe.
        let storage = if self.has_auth_host() {
            "default_storage = \"memory\"\nstorage = { accounts = \"internal\" }"
        } else {
            "storage = \"memory\""
        };
        let auth_host = if self.has_auth_host() {
            format!(
                "VirtualHost \"{AUTH_DOMAIN}\"\n    authentication = \"internal_hashed\"\n    \
                 c2s_require_encryption = false\n    \
                 modules_enabled = {{ \"bosh\"; \"websocket\"; \"ping\"; }}\n"
            )
        } else {
            String::new()
        };
        format!(
            r#"-- Generated by tests/support/prosody.rs
run_as_root = true            -- tests run as root; mod_posix refuses uid 0 without this
daemonize = false
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
certificates = "{dir}/certs"  -- empty: no TLS anywhere
log = {{ {{ levels = {{ min = "{level}" }}, to = "file", filename = "{dir}/prosody.log" }}; }}
plugin_paths = {{ }}
admins = {{ }}

interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
s2s_ports = {{ }}
component_ports = {{ {component} }}
component_interfaces = {{ "127.0.0.1" }}
http_ports = {{ {http} }}
http_interfaces = {{ "127.0.0.1" }}
https_ports = {{ }}
https_interfaces = {{ }}
http_default_host = "{DOMAIN}"   -- browsers send Host: 127.0.0.1:PORT

c2s_require_encryption = false   -- 0.12 defaults to true; with no certs SASL would fail
s2s_require_encryption = false
consider_bosh_secure = true
consider_websocket_secure = true
http_default_cors_enabled = true  -- 0.12: BOSH CORS comes from mod_http

modules_enabled = {{
    "disco"; "roster"; "saslauth"; "private"; "vcard4"; "vcard_legacy";
    "version"; "uptime"; "time"; "ping"; "posix"; "bosh"; "websocket"; {extra_modules}
}}
modules_disabled = {{ "s2s"; "offline"; "c2s_direct_tls"; }}
bosh_max_inactivity = 60
-- As config/prosody.cfg.lua recommends: about twice the signalling per CPU second.
gc = {{ mode = "generational" }}
network_default_read_size = 65536
network_settings = {{ nagle = false }}  -- TCP_NODELAY: no stanza waits for a delayed ACK
muc_room_cache_size = 10000   -- as recommended for the conference MUC (a test's extra lines may override it)
{storage}
{extra}

VirtualHost "{DOMAIN}"
    authentication = "anonymous"
    allow_anonymous_s2s = false
    c2s_require_encryption = false
    modules_enabled = {{ "bosh"; "websocket"; "ping"; }}

{auth_host}
Component "{MUC_DOMAIN}" "muc"
    storage = "memory"
    muc_room_locking = false             -- no locked-room/201 configuration dance
    muc_room_default_public_jids = true  -- clients must see the focus' real JID
    restrict_room_creation = {restrict}
    admins = {{ "{FOCUS_DOMAIN}" }}        -- the focus component is owner in every room
    muc_max_occupants = 50

Component "{INTERNAL_MUC_DOMAIN}" "muc"  -- bridges' brewery rooms
    storage = "memory"
    muc_room_locking = false
    muc_room_default_public_jids = true
    admins = {{ "{FOCUS_DOMAIN}" }}

Component "{FOCUS_DOMAIN}"
    component_secret = "{secret}"
"#,
            c2s = self.c2s_port,
            component = self.component_port,
            http = self.http_port,
            extra = o.extra_global_config,
            restrict = o.restrict_room_creation,
            secret = o.component_secret,
        )
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        // Same as kill_on_drop, but explicit: nothing may outlive the test and its temp dir.
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}
