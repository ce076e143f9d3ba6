//! Readings of a process's cost from /proc, for the benchmarks (Linux only).

use super::Prosody;

/// Linux USER_HZ (clock ticks of /proc/PID/stat) on x86_64 and aarch64.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// A field of /proc/PID/status in KiB, e.g. `status_kib(pid, "VmRSS:")` (resident now) or
/// `"VmHWM:"` (the resident peak since the process started).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may contain spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_ticks(pid).map(|t| t as f64 / TICKS_PER_SECOND)
}

/// Prosody's pid: from its pidfile, else the process whose command line names its config.
pub fn prosody_pid(prosody: &Prosody) -> Option<u32> {
    if let Some(pid) =
        std::fs::read_to_string(prosody.dir().join("prosody.pid")).ok().and_then(|s| s.trim().parse().ok())
    {
        return Some(pid);
    }
    let config = prosody.config_path().to_string_lossy().into_owned();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        (cmdline.contains("prosody") && cmdline.contains(&config)).then_some(pid)
    })
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg writes them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
