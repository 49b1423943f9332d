//! Shared by the loopback tests: the real `wirecheck-broker` binary on a free port.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A child process killed (and reaped) when dropped.
pub struct Proc {
    pub child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `wirecheck-broker --listen 127.0.0.1:0 --quiet EXTRA...` and returns it with the
/// URL from its banner (`ws://127.0.0.1:PORT/`).
pub fn start_broker(extra: &[&str]) -> (Proc, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirecheck-broker"));
    cmd.args(["--listen", "127.0.0.1:0", "--quiet"]).args(extra);
    spawn_broker(cmd)
}

/// Starts `cmd` (which runs the broker and lets it print its banner on stdout) and returns
/// it with the URL from the banner.
pub fn spawn_broker(mut cmd: Command) -> (Proc, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .expect("start wirecheck-broker");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("wirecheck-broker listening on ")
        .unwrap_or_else(|| panic!("unexpected banner {line:?}"))
        .to_owned();
    (Proc { child }, url)
}
