//! A server measured in its own process: started from a command, its address read from
//! the banner it prints, its resident memory read from /proc, killed when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A server process; killed and reaped when dropped.
pub struct Server {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
}

impl Server {
    /// Starts `cmd` and waits for its first stdout line, which must end with the address
    /// it listens on (`... listening on ws://127.0.0.1:PORT/` or `... on 127.0.0.1:PORT`).
    pub fn start(mut cmd: Command) -> Result<Server, String> {
        let what = format!("{cmd:?}");
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("{what}: no banner: {e}"))?;
        let addr = line
            .split_whitespace()
            .last()
            .map(|a| {
                a.trim_start_matches("ws://")
                    .trim_end_matches('/')
                    .to_owned()
            })
            .filter(|a| a.contains(':'))
            .ok_or_else(|| format!("{what}: banner {line:?} names no address"))?;
        Ok(Server { child, addr })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of process `pid` in KiB (`VmRSS`), if it can be read.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system) process `pid` has used so far ("self" for this process), from
/// /proc/PID/stat, in clock ticks of 10 ms (USER_HZ is 100 on Linux).
pub fn cpu_time(pid: &str) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(std::time::Duration::from_millis(ticks * 10))
}
