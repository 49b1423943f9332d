//! The external client driver: a scenario `client` host played by a client library behind
//! a DRIVER.md adapter process. Script commands become operations on its stdin; replies
//! become call results and events lifecycle events of the host; its connections go through
//! [`super::gate`]s. `crash` kills its process group; `bounce` starts a fresh adapter, sends
//! `init` again and (with `autoconnect`) `connect`.

use super::adapter::{self, Answer, Event, Line, Op};
use super::gate;
use crate::hosts::{lock, Cmd, CmdError, Counters, Ctx, Driver, Facts, HostCtl};
use crate::model::vocab::ClientCounter;
use crate::model::{ClientSpec, Outcome};
use crate::targets::process::{Lines, Output, Process};
use crate::targets::{ClientCap, Target};
use crate::trace::{Call, Endpoint, EventKind, Lifecycle, RegError};
use crate::world::{HostFuture, PORT};
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

type StatsReply = std_mpsc::Sender<Option<Value>>;

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
    spec: ClientSpec,
    host: String,
    seed: u64,
    /// One loopback listener per broker of `spec.connect`, in order, with its URL.
    gates: Vec<(String, String, std::net::TcpListener)>,
    proc: Mutex<Option<(Arc<Process>, Option<Lines>)>>,
    output: Mutex<Option<Arc<Output>>>,
    error: Mutex<Option<String>>,
    /// An operation the adapter answered `unsupported` (the run is UNIMPLEMENTED).
    unsupported: Mutex<Option<String>>,
    hello: Mutex<Option<Hello>>,
    stats: Mutex<Option<mpsc::UnboundedSender<StatsReply>>>,
    started_once: AtomicBool,
    next_op: AtomicU64,
}

/// An operation waiting for its reply.
enum Waiting {
    /// `connect` or `request`: the reply is the call's result.
    Call(String),
    /// An acknowledgement, due by the instant.
    Ack(&'static str, Instant),
    Stats(StatsReply, Instant),
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

    fn set_error(&self, e: String) {
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

fn clip(s: &str) -> String {
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

/// One run of the adapter's software: what is waiting for a reply.
struct Session<'a> {
    me: &'a ExternalClient,
    ctx: &'a Ctx,
    proc: &'a Process,
    waiting: BTreeMap<u64, Waiting>,
    /// Call id → the operation id of its `request`.
    calls: BTreeMap<String, u64>,
    started: bool,
    /// Counts `connecting` events, for the gates.
    announce: watch::Sender<u64>,
}

impl Session<'_> {
    fn send(&mut self, op: &Op) -> u64 {
        let id = self.me.next_op.fetch_add(1, Ordering::SeqCst);
        self.proc.send_line(adapter::encode(id, op));
        id
    }

    fn event(&self, kind: EventKind) {
        self.ctx.trace.host_event(&self.ctx.ctl.name, kind);
    }

    fn call_event(&self, id: &str, call: Call, deadline: Option<Duration>) {
        self.event(EventKind::Call {
            id: id.to_owned(),
            call,
            deadline,
        });
    }

    fn ack(&mut self, op: &Op) {
        let id = self.send(op);
        self.waiting
            .insert(id, Waiting::Ack(op.word(), Instant::now() + ACK_LIMIT));
    }

    fn connect(&mut self, call: &str) {
        self.started = true;
        self.call_event(
            call,
            Call::Connect {
                client: self.me.spec.id.clone(),
                brokers: self.me.spec.connect.clone(),
            },
            None,
        );
        let id = self.send(&Op::Connect { call: call.into() });
        self.waiting.insert(id, Waiting::Call(call.into()));
    }

    fn command(&mut self, cmd: Cmd) -> Result<(), CmdError> {
        let not_started = || {
            Err(CmdError::Refused(
                "the client is not started: add a `connect` step first".into(),
            ))
        };
        match cmd {
            Cmd::Connect { .. } if self.started => Err(CmdError::Refused(
                "the client is already started (autoconnect, or an earlier connect)".into(),
            )),
            Cmd::Connect { id } => {
                self.connect(&id);
                Ok(())
            }
            Cmd::Request(call) => {
                let now = self.ctx.trace.now();
                let timeout = call.timeout.unwrap_or(self.me.spec.request_timeout);
                self.call_event(
                    &call.id,
                    Call::Request {
                        channel: call.channel.clone(),
                        body: call.body.clone(),
                        chunks: call.chunks.len(),
                        timeout: call.timeout,
                    },
                    Some(now + timeout),
                );
                let call_id = call.id.clone();
                let id = self.send(&Op::Request(call));
                self.waiting.insert(id, Waiting::Call(call_id.clone()));
                self.calls.insert(call_id, id);
                Ok(())
            }
            Cmd::Cancel { id } => match self.calls.get(&id) {
                Some(op) if self.waiting.contains_key(op) => {
                    self.call_event(&id, Call::Cancel, None);
                    self.ack(&Op::Cancel { call: id });
                    Ok(())
                }
                Some(_) => {
                    self.ctx
                        .note(format!("cancel {id}: the call had already ended"));
                    Ok(())
                }
                None => Err(CmdError::Refused(format!(
                    "no call `{id}` was started on this host"
                ))),
            },
            Cmd::Disconnect if self.started => {
                self.call_event("disconnect", Call::Disconnect, None);
                self.ack(&Op::Disconnect);
                Ok(())
            }
            Cmd::Serve(s) if self.started => {
                self.ack(&Op::Serve(s));
                Ok(())
            }
            Cmd::Disconnect | Cmd::Serve(_) => not_started(),
            other => Err(CmdError::Unsupported {
                kind: "client",
                cmd: format!("{other:?}"),
            }),
        }
    }

    fn line(&mut self, line: &str) {
        match adapter::decode(line) {
            Ok(Line::Reply { id, answer }) => self.reply(id, answer),
            Ok(Line::Event(e)) => self.lifecycle(e),
            Err(e) => self.me.set_error(format!(
                "printed a line on stdout that is not DRIVER.md: {e}: `{}`",
                clip(line)
            )),
        }
    }

    fn reply(&mut self, id: u64, answer: Answer) {
        let Some(w) = self.waiting.remove(&id) else {
            self.me.set_error(format!(
                "answered operation {id} twice, or an operation it was never sent (every operation gets exactly one reply: DRIVER.md)"
            ));
            return;
        };
        if let Answer::Unsupported(why) = &answer {
            let what = match &w {
                Waiting::Call(c) => format!("call `{c}`"),
                Waiting::Ack(op, _) => format!("`{op}`"),
                Waiting::Stats(..) => "`stats`".into(),
            };
            lock(&self.me.unsupported)
                .get_or_insert(format!("the adapter cannot do {what}: {why}"));
            return;
        }
        match w {
            Waiting::Call(call) => {
                let outcome = match answer {
                    Answer::Ok(Value::String(s)) => Outcome::Ok(s),
                    Answer::Ok(Value::Null) => Outcome::Ok(String::new()),
                    Answer::Ok(v) => Outcome::Ok(v.to_string()),
                    Answer::Error(code) => Outcome::Error(code),
                    Answer::Fails(kind, _) => Outcome::Fails(kind),
                    Answer::Unsupported(_) => return,
                };
                self.ctx.ctl.record_result(&self.ctx.trace, &call, outcome);
            }
            Waiting::Ack(op, _) => {
                if !matches!(answer, Answer::Ok(_)) {
                    self.ctx
                        .note(format!("{op}: the adapter answered {answer:?}"));
                }
            }
            Waiting::Stats(reply, _) => {
                let _ = reply.send(match answer {
                    Answer::Ok(v) => Some(v),
                    _ => None,
                });
            }
        }
    }

    fn endpoint(&self, url: &str) -> Endpoint {
        let host = self
            .me
            .gates
            .iter()
            .find(|(_, u, _)| u.trim_end_matches('/') == url.trim_end_matches('/'))
            .map(|(b, _, _)| b.clone())
            .unwrap_or_else(|| url.to_owned());
        Endpoint { host, port: PORT }
    }

    fn lifecycle(&self, e: Event) {
        let life = match e {
            Event::Connecting { url, attempt } => {
                self.announce.send_modify(|n| *n += 1);
                Lifecycle::Connecting {
                    to: self.endpoint(&url),
                    attempt,
                }
            }
            Event::Registered { url } => Lifecycle::Registered {
                to: self.endpoint(&url),
            },
            Event::RegistrationFailed { url, answer } => Lifecycle::RegistrationFailed {
                to: self.endpoint(&url),
                error: match answer {
                    Answer::Error(code) => RegError::Refused {
                        code,
                        message: String::new(),
                    },
                    Answer::Fails(kind, detail) => RegError::Failed { kind, detail },
                    other => RegError::Failed {
                        kind: crate::model::FailKind::Protocol,
                        detail: Some(format!("{other:?}")),
                    },
                },
            },
            Event::Disconnected { reason, failed } => Lifecycle::Disconnected { reason, failed },
            Event::Backoff { delay } => Lifecycle::Backoff { delay },
            Event::RateLimited { wait } => Lifecycle::RateLimited { wait },
            Event::Stopped { reason } => Lifecycle::Stopped { reason },
        };
        self.event(EventKind::Life(life));
    }

    /// Acknowledgements not given in time are the adapter's protocol error.
    fn overdue(&mut self) {
        let now = Instant::now();
        let late = self.waiting.iter().find_map(|(id, w)| match w {
            Waiting::Ack(op, due) if *due <= now => Some((*id, *op)),
            Waiting::Stats(_, due) if *due <= now => Some((*id, "stats")),
            _ => None,
        });
        if let Some((id, op)) = late {
            self.me.set_error(format!(
                "did not answer operation {id} (`{op}`) within {}s (DRIVER.md: it is answered at once)",
                ACK_LIMIT.as_secs()
            ));
        }
    }
}
