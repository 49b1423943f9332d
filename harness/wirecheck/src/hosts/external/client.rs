//! The external client driver: a scenario `client` host played by a client library behind
//! a DRIVER.md adapter process. Script commands become operations on its stdin; replies
//! become call results and events lifecycle events of the host; its connections go through
//! [`super::gate`]s. `crash` kills its process group; `bounce` starts a fresh adapter, sends
//! `init` again and (with `autoconnect`) `connect`.

use super::adapter::{self, Answer, Line, Op};
use super::gate;
use super::session::{Session, StatsReply, Waiting};
use crate::hosts::{lock, Counters, Ctx, Driver, Facts, HostCtl};
use crate::model::vocab::ClientCounter;
use crate::model::ClientSpec;
use crate::targets::process::{Lines, Output, Process};
use crate::targets::{ClientCap, Target};
use crate::world::HostFuture;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// An operation that only acknowledges (`cancel`, `serve`, ...) must be answered this soon.
pub const ACK_LIMIT: Duration = Duration::from_secs(5);
/// How long `facts` waits for the adapter's `stats`.
const STATS_LIMIT: Duration = Duration::from_secs(2);

/// What the adapter said in its reply to `init`.
#[derive(Clone, Debug, Default)]
pub struct Hello {
    pub capabilities: Vec<ClientCap>,
    /// Capability names DRIVER.md does not define (ignored).
    pub unknown: Vec<String>,
    pub library: String,
}

pub struct ExternalClient {
    target: Arc<Target>,
    pub(super) spec: ClientSpec,
    host: String,
    seed: u64,
    /// One loopback listener per broker of `spec.connect`, in order, with its URL.
    pub(super) gates: Vec<(String, String, std::net::TcpListener)>,
    proc: Mutex<Option<(Arc<Process>, Option<Lines>)>>,
    output: Mutex<Option<Arc<Output>>>,
    error: Mutex<Option<String>>,
    /// An operation the adapter answered `unsupported` (the run is UNIMPLEMENTED).
    pub(super) unsupported: Mutex<Option<String>>,
    hello: Mutex<Option<Hello>>,
    stats: Mutex<Option<mpsc::UnboundedSender<StatsReply>>>,
    started_once: AtomicBool,
    pub(super) next_op: AtomicU64,
}

impl ExternalClient {
    /// A driver for scenario host `host` (with `spec`) played by `target`; `seed` goes to
    /// `init`.
    pub fn new(
        target: Arc<Target>,
        host: &str,
        spec: ClientSpec,
        seed: u64,
    ) -> Result<Self, String> {
        let mut gates = Vec::new();
        for b in &spec.connect {
            let l = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|e| format!("cannot open a gate for `{b}` on 127.0.0.1: {e}"))?;
            let port = l.local_addr().map_err(|e| e.to_string())?.port();
            gates.push((b.clone(), format!("ws://127.0.0.1:{port}/"), l));
        }
        Ok(ExternalClient {
            target,
            spec,
            host: host.to_owned(),
            seed,
            gates,
            proc: Mutex::default(),
            output: Mutex::default(),
            error: Mutex::default(),
            unsupported: Mutex::default(),
            hello: Mutex::default(),
            stats: Mutex::default(),
            started_once: AtomicBool::new(false),
            next_op: AtomicU64::new(1),
        })
    }

    pub(super) fn set_error(&self, e: String) {
        lock(&self.error).get_or_insert(e);
    }

    /// What the adapter did wrong, if anything.
    pub fn error(&self) -> Option<String> {
        lock(&self.error).clone()
    }

    /// The first operation the adapter could not do, with its reason.
    pub fn unsupported(&self) -> Option<String> {
        lock(&self.unsupported).clone()
    }

    /// What `init`'s reply said (after [`Self::prepare`]).
    pub fn hello(&self) -> Option<Hello> {
        lock(&self.hello).clone()
    }

    pub fn tail(&self) -> String {
        lock(&self.output)
            .as_ref()
            .map(|o| o.tail())
            .unwrap_or_else(|| "  (not started)".into())
    }

    pub fn command(&self) -> Option<String> {
        lock(&self.proc).as_ref().map(|(p, _)| p.command.clone())
    }

    pub fn stop(&self) {
        if let Some((p, _)) = lock(&self.proc).take() {
            p.send_line(adapter::encode(0, &Op::Shutdown));
            p.kill();
        }
    }

    fn init_line(&self) -> String {
        adapter::encode(
            0,
            &Op::Init {
                host: self.host.clone(),
                spec: Box::new(self.spec.clone()),
                urls: self.gates.iter().map(|(_, u, _)| u.clone()).collect(),
                seed: self.seed,
                protocol: self.target.protocol,
            },
        )
    }

    /// Starts an adapter and sends `init`; the reply is read by [`Self::take_hello`].
    fn spawn(&self) -> Result<(Arc<Process>, Lines), String> {
        let (p, lines) = Process::spawn_piped(&self.target)?;
        let p = Arc::new(p);
        *lock(&self.output) = Some(p.output.clone());
        p.send_line(self.init_line());
        Ok((p, lines))
    }

    /// The reply to `init` among `line`s: `Ok(None)` for a line to skip.
    fn take_hello(&self, line: &str) -> Result<Option<Hello>, String> {
        match adapter::decode(line) {
            Ok(Line::Reply { id: 0, answer }) => {
                let v = match answer {
                    Answer::Ok(v) => v,
                    other => return Err(format!("answered `init` with {other:?}")),
                };
                let (capabilities, unknown, library) = adapter::init_reply(&v)?;
                let hello = Hello {
                    capabilities,
                    unknown,
                    library,
                };
                *lock(&self.hello) = Some(hello.clone());
                Ok(Some(hello))
            }
            Ok(Line::Event(_)) => Ok(None),
            Ok(Line::Reply { id, .. }) => Err(format!(
                "answered operation {id} before `init` (id 0) was answered"
            )),
            Err(e) => Err(format!(
                "printed a line on stdout that is not DRIVER.md: {e}: `{}`",
                clip(line)
            )),
        }
    }

    /// Starts the adapter and waits (blocking) for its reply to `init`, before the run's
    /// clock starts: the capabilities decide whether the scenario applies.
    pub fn prepare(&self) -> Result<Hello, String> {
        let r = self.prepare_inner();
        if let Err(e) = &r {
            self.set_error(e.clone());
        }
        r
    }

    fn prepare_inner(&self) -> Result<Hello, String> {
        let (p, mut lines) = self.spawn()?;
        *lock(&self.proc) = Some((p.clone(), None));
        let limit = self.target.ready_timeout;
        let t = Instant::now();
        loop {
            match lines.try_recv() {
                Ok(line) => {
                    if let Some(h) = self.take_hello(&line)? {
                        *lock(&self.proc) = Some((p, Some(lines)));
                        return Ok(h);
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    let status = p.exited().unwrap_or_else(|| "closed its stdout".into());
                    return Err(format!("exited ({status}) before answering `init`"));
                }
                Err(mpsc::error::TryRecvError::Empty) => {
                    if let Some(status) = p.exited() {
                        return Err(format!("exited ({status}) before answering `init`"));
                    }
                    if t.elapsed() >= limit {
                        return Err(format!(
                            "did not answer `init` within {:.1}s\n  hint: an adapter answers `init` with `{{\"id\":0,\"ok\":{{\"capabilities\":[...]}}}}` on stdout (DRIVER.md); raise `ready: {{ timeout: .. }}` if it starts slowly",
                            limit.as_secs_f64()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    }

    /// The process to run with: the prepared one on the first start, a fresh one after.
    async fn ensure_running(&self) -> Result<(Arc<Process>, Lines), String> {
        if !self.started_once.swap(true, Ordering::SeqCst) {
            let prepared = lock(&self.proc).take();
            if let Some((p, Some(lines))) = prepared {
                *lock(&self.proc) = Some((p.clone(), None));
                return Ok((p, lines));
            }
        }
        self.stop();
        let (p, mut lines) = self.spawn()?;
        *lock(&self.proc) = Some((p.clone(), None));
        let limit = self.target.ready_timeout;
        let wait = async {
            while let Some(line) = lines.recv().await {
                if self.take_hello(&line)?.is_some() {
                    return Ok(());
                }
            }
            Err(format!(
                "exited ({}) before answering `init`",
                p.exited().unwrap_or_else(|| "closed its stdout".into())
            ))
        };
        match tokio::time::timeout(limit, wait).await {
            Ok(Ok(())) => Ok((p, lines)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!(
                "did not answer `init` within {:.1}s after a restart",
                limit.as_secs_f64()
            )),
        }
    }

    /// Asks the running adapter for `stats` (blocking, at most [`STATS_LIMIT`]).
    fn query_stats(&self) -> Option<Value> {
        if !self.has(ClientCap::Stats) {
            return None;
        }
        let tx = lock(&self.stats).clone()?;
        let (reply, rx) = std_mpsc::channel();
        tx.send(reply).ok()?;
        rx.recv_timeout(STATS_LIMIT).ok().flatten()
    }

    fn has(&self, c: ClientCap) -> bool {
        lock(&self.hello)
            .as_ref()
            .is_some_and(|h| h.capabilities.contains(&c))
    }
}

pub(super) fn clip(s: &str) -> String {
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s.to_owned()
    }
}

impl Driver for Arc<ExternalClient> {
    fn software(&self, ctx: Ctx) -> HostFuture {
        let me = self.clone();
        Box::pin(async move {
            let mut cmds = ctx.ctl.attach();
            let (proc, mut lines) = match me.ensure_running().await {
                Ok(p) => p,
                Err(e) => {
                    me.set_error(e.clone());
                    return Err(e.into());
                }
            };
            proc.output.trace_to(ctx.trace.clone(), &me.host);
            if let Some(h) = me.hello().filter(|h| !h.unknown.is_empty()) {
                ctx.note(format!(
                    "the adapter ({}) lists capabilities DRIVER.md does not define, ignored: {}",
                    h.library,
                    h.unknown.join(", ")
                ));
            }
            let (announce, announced) = watch::channel(0u64);
            let attempts = me.has(ClientCap::Events).then(|| gate::Attempts {
                announced,
                accepted: Arc::default(),
            });
            for (broker, _, l) in &me.gates {
                let l = l
                    .try_clone()
                    .and_then(tokio::net::TcpListener::from_std)
                    .map_err(|e| format!("gate for `{broker}`: {e}"))?;
                tokio::spawn(gate::serve(
                    l,
                    broker.clone(),
                    ctx.clone(),
                    attempts.clone(),
                ));
            }
            let (stats_tx, mut stats_rx) = mpsc::unbounded_channel();
            *lock(&me.stats) = Some(stats_tx);
            let mut session = Session {
                me: &me,
                ctx: &ctx,
                proc: &proc,
                waiting: BTreeMap::new(),
                calls: BTreeMap::new(),
                rpc_calls: Default::default(),
                started: false,
                announce,
            };
            if me.spec.autoconnect {
                session.connect("connect");
            }
            let mut check = tokio::time::interval(Duration::from_millis(20));
            loop {
                tokio::select! {
                    biased;
                    line = lines.recv() => match line {
                        Some(line) => session.line(&line),
                        None => {
                            let status = proc.exited().unwrap_or_else(|| "closed its stdout".into());
                            let e = format!("crashed mid-scenario: the adapter exited ({status})");
                            me.set_error(e.clone());
                            return Err(e.into());
                        }
                    },
                    Some((cmd, ack)) = cmds.recv() => {
                        let _ = ack.send(session.command(cmd));
                    }
                    Some(reply) = stats_rx.recv() => {
                        let id = session.send(&Op::Stats);
                        session.waiting.insert(id, Waiting::Stats(reply, Instant::now() + STATS_LIMIT));
                    }
                    _ = check.tick() => {
                        if let Some(status) = proc.exited() {
                            let e = format!("crashed mid-scenario: the adapter exited ({status})");
                            me.set_error(e.clone());
                            return Err(e.into());
                        }
                        session.overdue();
                        if let Some(e) = me.error() {
                            return Err(e.into());
                        }
                    }
                }
            }
        })
    }

    /// The counters of the vocabulary the adapter's `stats` reports (none without `stats`).
    fn counters(&self, _ctl: &HostCtl) -> Counters {
        let Some(v) = self.query_stats() else {
            return Counters::new();
        };
        ClientCounter::ALL
            .iter()
            .filter_map(|c| Some((c.name().to_owned(), v.get(c.name())?.as_u64()?)))
            .collect()
    }

    fn facts(&self) -> Facts {
        let ids = self.query_stats().and_then(|v| {
            v.get("pending_ids")?
                .as_array()?
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        });
        Facts {
            pending_ids: ids,
            ..Facts::default()
        }
    }

    fn pending(&self) -> Option<Vec<String>> {
        None
    }

    fn crashed(&self) {
        *lock(&self.stats) = None;
        self.stop();
    }
}
