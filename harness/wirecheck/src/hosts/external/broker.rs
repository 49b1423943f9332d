//! The external broker driver: a scenario `broker` host played by a target process (see
//! `crate::targets`). The host's in-world address is a [`super::tap`] that relays every
//! connection to the process and records what it receives; the process is a black box
//! (no counters, no facts). `crash` kills its process group; `bounce` (and the host's
//! first start after a crash) starts a fresh process and waits until it is ready.

use super::tap;
use crate::hosts::{lock, CmdError, Counters, Ctx, Driver, Facts, HostCtl};
use crate::model::BrokerSpec;
use crate::targets::process::{free_port, Output, Process};
use crate::targets::{Endpoint, Target};
use crate::world::{real::alloc_ip, HostFuture};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct ExternalBroker {
    target: Arc<Target>,
    spec: BrokerSpec,
    host: String,
    /// Where the process listens (the same after every restart).
    at: Endpoint,
    proc: Mutex<Option<Arc<Process>>>,
    /// The latest process's output (kept after it is gone, for error messages).
    output: Mutex<Option<Arc<Output>>>,
    /// What the target did wrong (it exited, never became ready, ...), first only.
    error: Arc<Mutex<Option<String>>>,
    started_once: AtomicBool,
}

impl ExternalBroker {
    /// A driver for scenario host `host` (with `spec`) played by `target`.
    pub fn new(target: Arc<Target>, host: &str, spec: BrokerSpec) -> Result<Self, String> {
        let ip = alloc_ip();
        let port = free_port(ip).map_err(|e| format!("no free port on {ip}: {e}"))?;
        Ok(ExternalBroker {
            target,
            spec,
            host: host.to_owned(),
            at: Endpoint { host: ip, port },
            proc: Mutex::default(),
            output: Mutex::default(),
            error: Arc::default(),
            started_once: AtomicBool::new(false),
        })
    }

    fn spawn(&self) -> Result<Arc<Process>, String> {
        let p = Arc::new(Process::spawn(&self.target, &self.spec, self.at.clone())?);
        *lock(&self.output) = Some(p.output.clone());
        *lock(&self.proc) = Some(p.clone());
        Ok(p)
    }

    /// Starts the process and waits until it is ready (before the run's clock starts).
    pub fn prepare(&self) -> Result<(), String> {
        let p = self.spawn().inspect_err(|e| self.set_error(e.clone()))?;
        p.wait_ready(self.target.ready_timeout)
            .inspect_err(|e| self.set_error(e.clone()))
    }

    fn set_error(&self, e: String) {
        lock(&self.error).get_or_insert(e);
    }

    /// What the target did wrong during the run, if anything.
    pub fn error(&self) -> Option<String> {
        lock(&self.error).clone()
    }

    /// The last lines the target printed.
    pub fn tail(&self) -> String {
        lock(&self.output)
            .as_ref()
            .map(|o| o.tail())
            .unwrap_or_else(|| "  (not started)".into())
    }

    /// The command line as started (placeholders substituted).
    pub fn command(&self) -> Option<String> {
        lock(&self.proc).as_ref().map(|p| p.command.clone())
    }

    /// Where the process listens.
    pub fn address(&self) -> std::net::SocketAddr {
        (self.at.host, self.at.port).into()
    }

    /// Kills the process (end of run).
    pub fn stop(&self) {
        if let Some(p) = lock(&self.proc).take() {
            p.kill();
        }
    }

    /// The process to serve with: the prepared one on the first start, a fresh one after.
    async fn ensure_running(&self) -> Result<Arc<Process>, String> {
        let first = !self.started_once.swap(true, Ordering::SeqCst);
        if first {
            if let Some(p) = lock(&self.proc).clone() {
                return Ok(p);
            }
        }
        self.stop();
        let p = self.spawn()?;
        let t = Instant::now();
        loop {
            if p.poll_ready()? {
                return Ok(p);
            }
            if t.elapsed() >= self.target.ready_timeout {
                return Err(p.not_ready(self.target.ready_timeout));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Driver for Arc<ExternalBroker> {
    fn software(&self, ctx: Ctx) -> HostFuture {
        let me = self.clone();
        Box::pin(async move {
            let mut cmds = ctx.ctl.attach();
            let proc = match me.ensure_running().await {
                Ok(p) => p,
                Err(e) => {
                    me.set_error(e.clone());
                    return Err(e.into());
                }
            };
            proc.output.trace_to(ctx.trace.clone(), &me.host);
            let target = std::net::SocketAddr::from((me.at.host, me.at.port));
            let mut listener = ctx.net.listen().await?;
            let mut check = tokio::time::interval(Duration::from_millis(20));
            loop {
                tokio::select! {
                    biased;
                    Some((cmd, ack)) = cmds.recv() => {
                        let _ = ack.send(Err(CmdError::Unsupported {
                            kind: "broker",
                            cmd: format!("{cmd:?}"),
                        }));
                    }
                    accepted = listener.accept() => {
                        let (stream, addr) = accepted?;
                        let (peer, conn) = ctx.peer_of(addr);
                        ctx.ctl.state().connections += 1;
                        tokio::spawn(tap::tap(stream, peer, conn, target, ctx.clone(), me.error.clone()));
                    }
                    _ = check.tick() => {
                        if let Some(status) = proc.exited() {
                            let e = format!("crashed mid-scenario: the process exited ({status})");
                            me.set_error(e.clone());
                            return Err(e.into());
                        }
                        if let Some(e) = me.error() {
                            return Err(e.into());
                        }
                    }
                }
            }
        })
    }

    fn counters(&self, _ctl: &HostCtl) -> Counters {
        Counters::new()
    }

    fn facts(&self) -> Facts {
        Facts::default()
    }

    fn crashed(&self) {
        self.stop();
    }
}
