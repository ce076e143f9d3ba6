//! Benchmark of the reservation server (ignored by default; numbers are printed, never
//! asserted):
//!
//!   cargo test --release --test bench_reservations -- --ignored --nocapture --test-threads 1
//!
//! The release `jitsi-reservations serve` binary, on SQLite (a file) and on a real PostgreSQL
//! (started by the test), ad-hoc rooms allowed. `CLIENTS` concurrent clients on loopback each
//! open a new room (`POST /conference`, as the focus does for every new conference) and end it
//! (`DELETE /conference/{id}`), `CYCLES` times. Reported: cycles per second, and the latency
//! of each call (p50, p99, max) as the client sees it.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

const CLIENTS: usize = 16;
const CYCLES: usize = 250;

struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `jitsi-reservations serve` on `database_url`; returns it with its base URL.
fn start(dir: &std::path::Path, database_url: &str) -> Result<(ServerProcess, String)> {
    let config = dir.join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\n[database]\nurl = \"{database_url}\"\n[policy]\nad_hoc = true\n[log]\nlevel = \"warn\"\n"
        ),
    )?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitsi-reservations"))
        .args(["--config"])
        .arg(&config)
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let server = ServerProcess(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let Some(url) = line.trim().strip_prefix("listening ") else { bail!("unexpected first line {line:?}") };
    Ok((server, url.trim_end_matches('/').to_owned()))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn run(backend: &str, base_url: &str) -> Result<()> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build()?;
    let started = Instant::now();
    let workers = (0..CLIENTS).map(|worker| {
        let http = http.clone();
        let base = base_url.to_owned();
        tokio::spawn(async move {
            let (mut posts, mut deletes) = (Vec::with_capacity(CYCLES), Vec::with_capacity(CYCLES));
            for cycle in 0..CYCLES {
                let room = format!("bench-{worker}-{cycle}");
                let t = Instant::now();
                let answer = http.post(format!("{base}/conference")).form(&[("name", room.as_str())]).send().await?;
                let status = answer.status();
                let json: Value = answer.json().await?;
                posts.push(t.elapsed());
                anyhow::ensure!(status == 200, "POST {room}: {status} {json}");
                let id = json["id"].as_i64().context("id")?;
                let t = Instant::now();
                let answer = http.delete(format!("{base}/conference/{id}")).send().await?;
                anyhow::ensure!(answer.status() == 200, "DELETE {id}: {}", answer.status());
                deletes.push(t.elapsed());
            }
            anyhow::Ok((posts, deletes))
        })
    });
    let (mut posts, mut deletes) = (Vec::new(), Vec::new());
    for worker in workers.collect::<Vec<_>>() {
        let (p, d) = worker.await??;
        posts.extend(p);
        deletes.extend(d);
    }
    let elapsed = started.elapsed();
    posts.sort();
    deletes.sort();
    let cycles = posts.len();
    println!(
        "{backend}: {cycles} POST+DELETE cycles by {CLIENTS} clients in {:.2} s = {:.0} cycles/s; \
         POST p50 {} p99 {} max {}; DELETE p50 {} p99 {} max {}",
        elapsed.as_secs_f64(),
        cycles as f64 / elapsed.as_secs_f64(),
        ms(percentile(&posts, 0.5)),
        ms(percentile(&posts, 0.99)),
        ms(*posts.last().context("no POST")?),
        ms(percentile(&deletes, 0.5)),
        ms(percentile(&deletes, 0.99)),
        ms(*deletes.last().context("no DELETE")?),
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --release --test bench_reservations -- --ignored --nocapture"]
async fn post_delete_throughput_on_sqlite_and_postgres() -> Result<()> {
    let dir = tempfile::tempdir()?;
    {
        let (_server, url) = start(dir.path(), &format!("sqlite://{}", dir.path().join("bench.db").display()))?;
        run("SQLite", &url).await?;
    }
    let pg = support::postgres::Postgres::start().await?;
    let (_server, url) = start(dir.path(), &pg.url())?;
    run("PostgreSQL", &url).await?;
    Ok(())
}
