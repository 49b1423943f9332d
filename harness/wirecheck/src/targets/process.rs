//! A started target process: its own process group (killed as a whole on crash and at the
//! end), readiness, and its output (the last lines kept for error messages; standard error
//! lines also become `Note` events of its host, bounded).

use super::{Endpoint, Ready, Target};
use crate::model::BrokerSpec;
use crate::trace::{EventKind, Lifecycle, Trace};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Output lines kept for error messages.
const KEEP_LINES: usize = 12;
/// Standard error lines turned into trace notes per process, at most.
const MAX_NOTES: usize = 200;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What libraries say when two tasks read one connection (MUX-1), as they word it:
/// Python `websockets` (before 13: "…already waiting for the next message"; 13 and later,
/// 17 included: "…already running recv or recv_streaming"), and `aiohttp`.
const TWO_READERS: &[&str] = &[
    "while another coroutine is already waiting for the next message",
    "while another coroutine is already running recv",
    "Concurrent call to receive() is not allowed",
];

/// The part of a standard error line that reports two readers, if it does.
pub fn two_readers(line: &str) -> Option<&str> {
    TWO_READERS
        .iter()
        .any(|sig| line.contains(sig))
        .then_some(line.trim())
}

/// A process's output as it arrives.
#[derive(Default)]
pub struct Output {
    last: Mutex<VecDeque<String>>,
    ready_line: AtomicBool,
    /// Where standard error lines go as notes: the trace and the host's name.
    sink: Mutex<Option<(Trace, String)>>,
    notes: AtomicUsize,
    /// Output streams still open (their reader threads still running).
    open: AtomicUsize,
}

impl Output {
    fn line(&self, stream: &str, line: String, ready: Option<&str>) {
        if ready.is_some_and(|r| line.contains(r)) {
            self.ready_line.store(true, Ordering::SeqCst);
        }
        if stream == "stderr" {
            if let Some((trace, host)) = lock(&self.sink).as_ref() {
                let n = self.notes.fetch_add(1, Ordering::Relaxed);
                if let Some(said) = two_readers(&line) {
                    trace.host_event(
                        host,
                        EventKind::Life(Lifecycle::TwoReaders {
                            said: said.to_owned(),
                        }),
                    );
                }
                if n < MAX_NOTES {
                    trace.host_event(host, EventKind::Note(format!("stderr: {line}")));
                } else if n == MAX_NOTES {
                    trace.host_event(
                        host,
                        EventKind::Note(format!(
                            "stderr: (more lines not traced; {MAX_NOTES} shown)"
                        )),
                    );
                }
            }
        }
        let mut last = lock(&self.last);
        if last.len() == KEEP_LINES {
            last.pop_front();
        }
        last.push_back(format!("{stream}: {line}"));
    }

    /// Waits (up to `limit`) until the process's output has been read to the end: after
    /// it exited, so the last lines are there for the error message.
    pub fn drain(&self, limit: Duration) {
        let t = Instant::now();
        while self.open.load(Ordering::SeqCst) > 0 && t.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends standard error lines to `trace` as notes of `host` from now on.
    pub fn trace_to(&self, trace: Trace, host: &str) {
        *lock(&self.sink) = Some((trace, host.to_owned()));
    }

    /// The last output lines, indented, or a note that there were none.
    pub fn tail(&self) -> String {
        let last = lock(&self.last);
        if last.is_empty() {
            "  (no output)".into()
        } else {
            last.iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}

/// A running target process.
pub struct Process {
    child: Mutex<Child>,
    pgid: i32,
    pub output: Arc<Output>,
    pub at: Endpoint,
    ready: Ready,
    pub command: String,
    /// Lines to write to its standard input (a writer thread), when it was piped.
    stdin: Option<std::sync::mpsc::Sender<String>>,
}

/// Standard output lines of a piped process (DRIVER.md's replies and events), as read.
pub type Lines = tokio::sync::mpsc::UnboundedReceiver<String>;

/// Picks a free port on `host`.
pub fn free_port(host: std::net::Ipv4Addr) -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind((host, 0))?.local_addr()?.port())
}

fn pump(
    r: impl Read + Send + 'static,
    stream: &'static str,
    out: Arc<Output>,
    ready: Option<String>,
    lines: Option<tokio::sync::mpsc::UnboundedSender<String>>,
) {
    out.open.fetch_add(1, Ordering::SeqCst);
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    tracing::trace!(stream, %line, "target output");
                    if let Some(tx) = &lines {
                        let _ = tx.send(line.clone());
                    }
                    out.line(stream, line, ready.as_deref());
                }
            }
        }
        out.open.fetch_sub(1, Ordering::SeqCst);
    });
}

impl Process {
    /// Starts the broker target for a host with `spec`, listening at `at`.
    pub fn spawn(target: &Target, spec: &BrokerSpec, at: Endpoint) -> Result<Process, String> {
        let (argv, env) = target.command(spec, &at);
        Self::start(target, &argv, &env, at, None)
    }

    /// Starts a client adapter: stdin piped (see [`Process::send_line`]), stdout lines
    /// delivered to the returned receiver.
    pub fn spawn_piped(target: &Target) -> Result<(Process, Lines), String> {
        let (argv, env) = target.client_command();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let at = Endpoint {
            host: std::net::Ipv4Addr::LOCALHOST,
            port: 0,
        };
        Ok((Self::start(target, &argv, &env, at, Some(tx))?, rx))
    }

    fn start(
        target: &Target,
        argv: &[String],
        env: &std::collections::BTreeMap<String, String>,
        at: Endpoint,
        lines: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    ) -> Result<Process, String> {
        let command = argv.join(" ");
        let piped = lines.is_some();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .envs(env)
            .stdin(if piped { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(dir) = &target.cwd {
            cmd.current_dir(dir);
        }
        // SAFETY: prctl(2) is async-signal-safe. If wirecheck dies without cleaning up
        // (SIGKILL), the target's leader is killed too instead of living on as an orphan.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            format!(
                "cannot start `{}`: {e}\n  hint: check `start:` in {} (relative programs are looked up in PATH, or relative to `cwd:`)",
                argv[0],
                target.file.display()
            )
        })?;
        let output = Arc::new(Output::default());
        let (out_ready, err_ready) = match &target.ready {
            Ready::Stdout(t) => (Some(t.clone()), None),
            Ready::Stderr(t) => (None, Some(t.clone())),
            Ready::Tcp => (None, None),
        };
        if let Some(o) = child.stdout.take() {
            pump(o, "stdout", output.clone(), out_ready, lines);
        }
        if let Some(e) = child.stderr.take() {
            pump(e, "stderr", output.clone(), err_ready, None);
        }
        let stdin = child.stdin.take().map(|mut w| {
            let (tx, rx) = std::sync::mpsc::channel::<String>();
            std::thread::spawn(move || {
                use std::io::Write;
                for line in rx {
                    if w.write_all(line.as_bytes()).is_err()
                        || w.write_all(b"\n").is_err()
                        || w.flush().is_err()
                    {
                        break;
                    }
                }
            });
            tx
        });
        let pgid = child.id() as i32;
        tracing::debug!(target_name = %target.name, pid = pgid, %command, "started the target");
        Ok(Process {
            child: Mutex::new(child),
            pgid,
            output,
            at,
            ready: target.ready.clone(),
            command,
            stdin,
        })
    }

    /// Writes one line to a piped process's standard input (false: the pipe is gone).
    pub fn send_line(&self, line: String) -> bool {
        self.stdin.as_ref().is_some_and(|s| s.send(line).is_ok())
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&self) -> Option<String> {
        match lock(&self.child).try_wait() {
            Ok(Some(status)) => {
                self.output.drain(Duration::from_secs(2));
                Some(status.to_string())
            }
            Ok(None) => None,
            Err(e) => Some(format!("unknown status ({e})")),
        }
    }

    /// Is it ready now? `Err` when it exited.
    pub fn poll_ready(&self) -> Result<bool, String> {
        if let Some(status) = self.exited() {
            return Err(format!("exited ({status}) before it was ready"));
        }
        Ok(match self.ready {
            Ready::Stdout(_) | Ready::Stderr(_) => self.output.ready_line.load(Ordering::SeqCst),
            Ready::Tcp => std::net::TcpStream::connect_timeout(
                &(self.at.host, self.at.port).into(),
                Duration::from_millis(100),
            )
            .is_ok(),
        })
    }

    /// Waits (blocking) until ready, exited, or `limit` passed.
    pub fn wait_ready(&self, limit: Duration) -> Result<(), String> {
        let t = Instant::now();
        loop {
            if self.poll_ready()? {
                tracing::debug!(
                    pid = self.pgid,
                    after_ms = t.elapsed().as_millis() as u64,
                    "target ready"
                );
                return Ok(());
            }
            if t.elapsed() >= limit {
                return Err(self.not_ready(limit));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn not_ready(&self, limit: Duration) -> String {
        let what = match &self.ready {
            Ready::Stdout(t) => format!("no stdout line containing `{t}`"),
            Ready::Stderr(t) => format!("no stderr line containing `{t}`"),
            Ready::Tcp => format!(
                "{}:{} never accepted a connection",
                self.at.host, self.at.port
            ),
        };
        format!(
            "never became ready within {:.1}s ({what})\n  hint: raise `ready: {{ timeout: .. }}` if it starts slowly, or check `ready:`",
            limit.as_secs_f64()
        )
    }

    /// Kills the whole process group and reaps the process.
    pub fn kill(&self) {
        tracing::debug!(pid = self.pgid, "killing the target's process group");
        // SAFETY: kill(2) with a negative pid signals the process group we created.
        unsafe {
            libc::kill(-self.pgid, libc::SIGKILL);
        }
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_readers_matches_the_libraries_wordings() {
        for line in [
            "websockets.exceptions.ConcurrencyError: cannot call recv while another coroutine is already running recv or recv_streaming",
            "RuntimeError: cannot call recv while another coroutine is already waiting for the next message",
            "RuntimeError: Concurrent call to receive() is not allowed",
        ] {
            assert!(super::two_readers(line).is_some(), "{line}");
        }
        assert!(super::two_readers("ConnectionClosedError: no close frame received").is_none());
    }
}
