//! The simulated world: one turmoil host per scenario host, each run by a *driver* for its
//! kind. Drivers are the only code that touches a system under test; the runner talks to
//! them through [`HostCtl`] (commands in, results and counters out). A driver for an
//! implementation in another language would implement the same commands over real sockets.

use crate::model::{
    BrokerSpec, ClientSpec, FailKind, Frame, HostKind, Outcome as Expected, RequestCall,
    ScriptedSpec, ServeSpec,
};
use crate::trace::{Call, Endpoint, EventKind, Lifecycle, Peer, RegError, Trace};
use futures_util::{SinkExt, StreamExt};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as Ws;
use wirecheck_core::broker::BrokerConfig;
use wirecheck_core::flaws::Flaws;
use wirecheck_core::pending::{CallError, Outcome};
use wirecheck_core::reconnect::ReconnectPolicy;
use wirecheck_core::wire::Message;
use wirecheck_reference::broker::{BrokerOptions, BrokerServer};
use wirecheck_reference::client::{Answer, Client, ClientConfig, Connector, Heartbeat, Request};
use wirecheck_reference::observe::Lifecycle as RefLife;
use wirecheck_reference::Observer;

/// Port every broker and scripted server listens on.
pub const PORT: u16 = 7300;

/// A command from the runner to a host driver. Each is acknowledged once the driver has
/// acted on it (`Err` says why it could not).
#[derive(Clone, Debug)]
pub enum Cmd {
    Connect {
        id: String,
    },
    Request(RequestCall),
    Cancel {
        id: String,
    },
    Disconnect,
    Serve(ServeSpec),
    Send(Frame),
    /// Send on the connection with this peer host.
    SendTo(String, Frame),
    Close,
    ScriptedConnect,
    /// A proxy forwards what it holds.
    Release,
}

type Ack = oneshot::Sender<Result<(), String>>;

/// Prefix of a refusal that may succeed if the runner tries again a tick later (e.g. a
/// scripted peer whose connection is still opening).
pub const RETRY: &str = "(retry) ";

/// What the runner can see of a host.
#[derive(Default)]
pub struct HostState {
    /// Call id → (simulated time, outcome).
    pub results: BTreeMap<String, (Duration, Expected)>,
    pub client: Option<Client>,
    pub broker: Option<Arc<BrokerServer>>,
    /// Scripted peers: received texts not yet matched by an `expect` step.
    pub inbox: VecDeque<(Duration, String)>,
    pub received: u64,
    pub connections: u64,
    /// Proxy counters by name (`forwarded`, `dropped`, `duplicated`, ...).
    pub proxy: BTreeMap<String, u64>,
    /// How many times the host's software started (1 + bounces).
    pub starts: u64,
    /// Crashed and not restarted since.
    pub crashed: bool,
}

/// The runner's handle on one host.
pub struct HostCtl {
    pub name: String,
    cmd: Mutex<Option<mpsc::UnboundedSender<(Cmd, Ack)>>>,
    state: Mutex<HostState>,
}

impl HostCtl {
    pub fn new(name: &str) -> Arc<Self> {
        Arc::new(HostCtl {
            name: name.to_owned(),
            cmd: Mutex::new(None),
            state: Mutex::new(HostState::default()),
        })
    }

    pub fn state(&self) -> MutexGuard<'_, HostState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a command; the returned receiver yields the driver's acknowledgement.
    pub fn command(&self, cmd: Cmd) -> Result<oneshot::Receiver<Result<(), String>>, String> {
        let (tx, rx) = oneshot::channel();
        let guard = self.cmd.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(s) if s.send((cmd, tx)).is_ok() => Ok(rx),
            _ => Err(format!(
                "host `{}` is not running (crashed, or not started yet)",
                self.name
            )),
        }
    }

    pub(crate) fn attach(&self) -> mpsc::UnboundedReceiver<(Cmd, Ack)> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.cmd.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        let mut st = self.state();
        st.starts += 1;
        st.crashed = false;
        st.client = None;
        st.broker = None;
        rx
    }

    fn record_result(&self, trace: &Trace, id: &str, outcome: Expected) {
        let at = trace.now();
        trace.host_event(
            &self.name,
            EventKind::Result {
                id: id.to_owned(),
                outcome: outcome.clone(),
            },
        );
        self.state().results.insert(id.to_owned(), (at, outcome));
    }
}

/// Maps a call's outcome onto the scenario vocabulary.
pub fn classify(o: &Outcome) -> Expected {
    match o {
        Ok(body) => Expected::Ok(body.clone()),
        Err(CallError::Remote { code, .. }) | Err(CallError::Rejected { code, .. }) => {
            Expected::Error(code.clone())
        }
        Err(e) => Expected::Fails(fail_kind(e).unwrap_or(FailKind::Protocol)),
    }
}

/// The local failure kind of a core call error (`None` for an answer from the peer).
fn fail_kind(e: &CallError) -> Option<FailKind> {
    Some(match e {
        CallError::Remote { .. } | CallError::Rejected { .. } => return None,
        CallError::Timeout => FailKind::Timeout,
        CallError::Disconnected => FailKind::Disconnected,
        CallError::SendFailed(_) => FailKind::SendFailed,
        CallError::Cancelled => FailKind::Cancelled,
        CallError::UnexpectedReply(_) => FailKind::UnexpectedReply,
        CallError::NotConnected => FailKind::NotConnected,
        CallError::Protocol(_) => FailKind::Protocol,
        CallError::DuplicateId => FailKind::DuplicateId,
    })
}

/// Why a registration attempt failed, as the trace types it.
fn reg_error(e: &CallError) -> RegError {
    match e {
        CallError::Remote { code, message } | CallError::Rejected { code, message } => {
            RegError::Refused {
                code: code.clone(),
                message: message.clone(),
            }
        }
        CallError::SendFailed(m) | CallError::UnexpectedReply(m) | CallError::Protocol(m) => {
            RegError::Failed {
                kind: fail_kind(e).unwrap_or(FailKind::Protocol),
                detail: Some(m.clone()),
            }
        }
        other => RegError::Failed {
            kind: fail_kind(other).unwrap_or(FailKind::Protocol),
            detail: None,
        },
    }
}

/// Everything a driver needs.
#[derive(Clone)]
pub struct Ctx {
    pub ctl: Arc<HostCtl>,
    pub trace: Trace,
    pub seed: u64,
    /// Zoo flaws switched on for this run (empty: the correct reference).
    pub flaws: Flaws,
}

impl Ctx {
    pub(crate) fn note(&self, what: impl Into<String>) {
        self.trace
            .host_event(&self.ctl.name, EventKind::Note(what.into()));
    }

    /// An observer for a host that dials `brokers` (host names, in order).
    fn observer(&self, brokers: &[String]) -> Arc<dyn Observer> {
        Arc::new(HostObserver {
            host: self.ctl.name.clone(),
            trace: self.trace.clone(),
            endpoints: brokers
                .iter()
                .map(|h| {
                    (
                        format!("{h}:{PORT}"),
                        Endpoint {
                            host: h.clone(),
                            port: PORT,
                        },
                    )
                })
                .collect(),
        })
    }
}

/// Records what a reference host reads and notes.
struct HostObserver {
    host: String,
    trace: Trace,
    /// The addresses this host dials (as the reference was configured) and what they are.
    endpoints: BTreeMap<String, Endpoint>,
}

impl HostObserver {
    fn endpoint(&self, addr: &str) -> Endpoint {
        self.endpoints
            .get(addr)
            .cloned()
            .unwrap_or_else(|| Endpoint {
                host: addr.to_owned(),
                port: 0,
            })
    }
}

impl Observer for HostObserver {
    fn received(&self, peer: &str, text: &str) {
        let (from, conn) = peer_of(peer);
        self.trace.host_event(
            &self.host,
            EventKind::Recv {
                from,
                conn,
                text: text.to_owned(),
                msg: Message::decode(text).ok(),
            },
        );
    }

    fn lifecycle(&self, event: RefLife) {
        let event = match event {
            RefLife::Connecting { addr, attempt } => Lifecycle::Connecting {
                to: self.endpoint(&addr),
                attempt,
            },
            RefLife::Registered { addr } => Lifecycle::Registered {
                to: self.endpoint(&addr),
            },
            RefLife::RegistrationFailed { addr, error } => Lifecycle::RegistrationFailed {
                to: self.endpoint(&addr),
                error: reg_error(&error),
            },
            RefLife::Disconnected { reason, failed } => Lifecycle::Disconnected { reason, failed },
            RefLife::Backoff { delay } => Lifecycle::Backoff { delay },
            RefLife::RateLimited { wait } => Lifecycle::RateLimited { wait },
            RefLife::Stopped { reason } => Lifecycle::Stopped { reason },
            RefLife::ConnClosed { peer, reason } => {
                let (host, conn) = peer_of(&peer);
                Lifecycle::ConnClosed {
                    peer: Peer { host, conn },
                    reason,
                }
            }
        };
        self.trace.host_event(&self.host, EventKind::Life(event));
    }

    fn note(&self, what: &str) {
        self.trace
            .host_event(&self.host, EventKind::Note(what.to_owned()));
    }
}

/// Host name and connection for a peer label: `10.0.0.2:49152` (an accepted connection)
/// resolves through turmoil's reverse lookup and keeps the port; `broker:7300` (a
/// connection we opened) is just the host.
pub fn peer_of(peer: &str) -> (String, Option<u16>) {
    if let Ok(addr) = peer.parse::<SocketAddr>() {
        if let Some(name) = turmoil::reverse_lookup(addr.ip()) {
            return (name, Some(addr.port()));
        }
    }
    let host = peer.rsplit_once(':').map_or(peer, |(h, _)| h);
    (host.to_owned(), None)
}

/// Host name for a peer label (see [`peer_of`]).
pub fn host_of(peer: &str) -> String {
    peer_of(peer).0
}

/// The future a turmoil host runs.
pub type HostFuture = Pin<Box<dyn Future<Output = turmoil::Result>>>;

/// Builds the software of a host: called at start and again after every bounce.
pub fn host_software(kind: &HostKind, ctx: Ctx) -> HostFuture {
    match kind.clone() {
        HostKind::Broker(spec) => Box::pin(broker_host(spec, ctx)),
        HostKind::Client(spec) => Box::pin(client_host(spec, ctx)),
        HostKind::Scripted(ScriptedSpec::Server) => Box::pin(scripted_server(ctx)),
        HostKind::Scripted(ScriptedSpec::Client {
            target,
            autoconnect,
        }) => Box::pin(scripted_client(target, autoconnect, ctx)),
        HostKind::Proxy(spec) => Box::pin(crate::proxy::proxy_host(spec, ctx)),
    }
}

// ---------------------------------------------------------------------------------------
// Broker driver

async fn broker_host(spec: BrokerSpec, ctx: Ctx) -> turmoil::Result {
    let mut cmds = ctx.ctl.attach();
    let opts = BrokerOptions {
        config: BrokerConfig {
            max_message: spec.max_message,
            tokens: spec.tokens.clone(),
            flaws: ctx.flaws.clone(),
        },
        queue: spec.queue,
        idle_timeout: spec.idle_timeout,
    };
    let server = BrokerServer::new(opts, ctx.observer(&[]));
    ctx.ctl.state().broker = Some(server.clone());
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
    loop {
        tokio::select! {
            biased;
            Some((cmd, ack)) = cmds.recv() => {
                let _ = ack.send(Err(format!("a broker host takes no script commands (got {cmd:?})")));
            }
            accepted = listener.accept() => {
                let (stream, peer) = accepted?;
                ctx.ctl.state().connections += 1;
                tokio::spawn(server.clone().serve_connection(stream, peer.to_string()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reference client driver

struct TurmoilConnector;

impl Connector for TurmoilConnector {
    type Stream = turmoil::net::TcpStream;
    fn connect<'a>(
        &'a self,
        addr: &'a str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Self::Stream>> + Send + 'a>> {
        Box::pin(turmoil::net::TcpStream::connect(addr.to_owned()))
    }
}

fn client_config(spec: &ClientSpec, seed: u64, flaws: &Flaws) -> ClientConfig {
    ClientConfig {
        client_id: spec.id.clone(),
        token: spec.token.clone(),
        brokers: spec.connect.iter().map(|h| format!("{h}:{PORT}")).collect(),
        register_timeout: spec.register_timeout,
        request_timeout: spec.request_timeout,
        heartbeat: spec.heartbeat.as_ref().map(|h| Heartbeat {
            interval: h.interval,
            timeout: h.timeout,
        }),
        reconnect: spec.reconnect.as_ref().map(|r| ReconnectPolicy {
            base: r.base,
            cap: r.cap,
            jitter: r.jitter,
            max_attempts: r.max_attempts,
            window: r.window,
            min_gap: r.min_gap,
        }),
        seed,
        flaws: flaws.clone(),
    }
}

async fn client_host(spec: ClientSpec, ctx: Ctx) -> turmoil::Result {
    let mut cmds = ctx.ctl.attach();
    let mut calls: BTreeMap<String, JoinHandle<()>> = BTreeMap::new();
    if spec.autoconnect {
        start_client(&spec, &ctx, "connect");
    }
    while let Some((cmd, ack)) = cmds.recv().await {
        let client = ctx.ctl.state().client.clone();
        let reply = match (cmd, client) {
            (Cmd::Connect { id }, None) => {
                start_client(&spec, &ctx, &id);
                Ok(())
            }
            (Cmd::Connect { .. }, Some(_)) => {
                Err("the client is already started (autoconnect, or an earlier connect)".into())
            }
            (Cmd::Request(call), client) => {
                let now = ctx.trace.now();
                ctx.trace.host_event(
                    &ctx.ctl.name,
                    EventKind::Call {
                        id: call.id.clone(),
                        call: Call::Request {
                            channel: call.channel.clone(),
                            body: call.body.clone(),
                            chunks: call.chunks.len(),
                            timeout: call.timeout,
                        },
                        deadline: Some(now + call.timeout.unwrap_or(spec.request_timeout)),
                    },
                );
                let ctx2 = ctx.clone();
                let id = call.id.clone();
                let handle = tokio::spawn(async move {
                    let outcome = match client {
                        Some(c) => {
                            c.request(Request {
                                id: call.id.clone(),
                                channel: call.channel,
                                body: call.body,
                                chunks: call.chunks,
                                timeout: call.timeout,
                            })
                            .await
                        }
                        None => Err(CallError::NotConnected),
                    };
                    ctx2.ctl
                        .record_result(&ctx2.trace, &call.id, classify(&outcome));
                });
                calls.insert(id, handle);
                Ok(())
            }
            (Cmd::Cancel { id }, _) => match calls.remove(&id) {
                Some(h) if !h.is_finished() => {
                    ctx.trace.host_event(
                        &ctx.ctl.name,
                        EventKind::Call {
                            id: id.clone(),
                            call: Call::Cancel,
                            deadline: None,
                        },
                    );
                    h.abort();
                    let _ = h.await;
                    ctx.ctl
                        .record_result(&ctx.trace, &id, Expected::Fails(FailKind::Cancelled));
                    Ok(())
                }
                Some(_) => {
                    ctx.note(format!("cancel {id}: the call had already ended"));
                    Ok(())
                }
                None => Err(format!("no call `{id}` was started on this host")),
            },
            (Cmd::Disconnect, Some(c)) => {
                ctx.trace.host_event(
                    &ctx.ctl.name,
                    EventKind::Call {
                        id: "disconnect".into(),
                        call: Call::Disconnect,
                        deadline: None,
                    },
                );
                tokio::spawn(async move { c.close().await });
                Ok(())
            }
            (Cmd::Serve(s), Some(c)) => {
                spawn_server(&c, s, &ctx);
                Ok(())
            }
            (Cmd::Disconnect | Cmd::Serve(_), None) => {
                Err("the client is not started: add a `connect` step first".into())
            }
            (other, _) => Err(format!("a client host cannot do {other:?}")),
        };
        let _ = ack.send(reply);
    }
    Ok(())
}

fn start_client(spec: &ClientSpec, ctx: &Ctx, call_id: &str) {
    ctx.trace.host_event(
        &ctx.ctl.name,
        EventKind::Call {
            id: call_id.to_owned(),
            call: Call::Connect {
                client: spec.id.clone(),
                brokers: spec.connect.clone(),
            },
            deadline: None,
        },
    );
    let (client, first) = Client::start(
        client_config(spec, ctx.seed, &ctx.flaws),
        TurmoilConnector,
        ctx.observer(&spec.connect),
    );
    ctx.ctl.state().client = Some(client.clone());
    for s in &spec.serve {
        spawn_server(&client, s.clone(), ctx);
    }
    let ctx2 = ctx.clone();
    let id = call_id.to_owned();
    tokio::spawn(async move {
        let outcome = first.await.unwrap_or(Err(CallError::NotConnected));
        ctx2.ctl.record_result(&ctx2.trace, &id, classify(&outcome));
    });
}

/// Serves `spec.channel` with the configured reply behaviour.
fn spawn_server(client: &Client, spec: ServeSpec, ctx: &Ctx) {
    use crate::model::Reply;
    let mut incoming = client.serve(&spec.channel, spec.concurrency);
    let client = client.clone();
    let ctx = ctx.clone();
    tokio::spawn(async move {
        while let Some(inc) = incoming.recv().await {
            let client = client.clone();
            let spec = spec.clone();
            let ctx = ctx.clone();
            tokio::spawn(async move {
                if !spec.delay.is_zero() {
                    tokio::time::sleep(spec.delay).await;
                }
                let answer = match &spec.reply {
                    Reply::Echo => Answer::Parts(split(&inc.body, spec.chunks)),
                    Reply::Fixed(b) => Answer::Parts(split(b, spec.chunks)),
                    Reply::Error(code) => Answer::Error(code.clone()),
                    Reply::Ignore => return,
                };
                if let Err(e) = client.respond(&inc, answer).await {
                    ctx.note(format!("answer to {} failed: {e}", inc.req));
                }
            });
        }
    });
}

/// `chunks == 0`: the whole body in `start`. Otherwise an empty `start` and the body in
/// `chunks` near-equal pieces.
fn split(body: &str, chunks: u32) -> Vec<String> {
    if chunks == 0 {
        return vec![body.to_owned()];
    }
    let chars: Vec<char> = body.chars().collect();
    let n = chunks as usize;
    let mut parts = vec![String::new()];
    for i in 0..n {
        let (a, b) = (i * chars.len() / n, (i + 1) * chars.len() / n);
        parts.push(chars[a..b].iter().collect());
    }
    parts
}

// ---------------------------------------------------------------------------------------
// Scripted peers

type Writer = mpsc::UnboundedSender<Ws>;

/// A scripted peer's open connections: the latest one (the default target of `send` and
/// `close`) and each by the peer host's name (the target of `send` with `to:`).
#[derive(Default)]
struct Conns {
    latest: Option<Writer>,
    by_peer: BTreeMap<String, Writer>,
}

type SharedConns = Arc<Mutex<Conns>>;

fn conns(c: &SharedConns) -> MutexGuard<'_, Conns> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

async fn scripted_server(ctx: Ctx) -> turmoil::Result {
    let mut cmds = ctx.ctl.attach();
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
    let open: SharedConns = Arc::default();
    loop {
        tokio::select! {
            biased;
            Some((cmd, ack)) = cmds.recv() => {
                let _ = ack.send(scripted_command(cmd, &open, &ctx));
            }
            accepted = listener.accept() => {
                let (stream, peer) = accepted?;
                let (peer, conn) = peer_of(&peer.to_string());
                let ctx = ctx.clone();
                let open = open.clone();
                tokio::spawn(async move {
                    match tokio_tungstenite::accept_async(stream).await {
                        Ok(ws) => scripted_io(ws, peer, conn, open, ctx).await,
                        Err(e) => ctx.note(format!("handshake with {peer} failed: {e}")),
                    }
                });
            }
        }
    }
}

async fn scripted_client(target: String, autoconnect: bool, ctx: Ctx) -> turmoil::Result {
    let mut cmds = ctx.ctl.attach();
    let open: SharedConns = Arc::default();
    if autoconnect {
        connect_scripted(&target, &open, &ctx).await;
    }
    while let Some((cmd, ack)) = cmds.recv().await {
        let reply = match cmd {
            Cmd::ScriptedConnect => {
                connect_scripted(&target, &open, &ctx).await;
                Ok(())
            }
            other => scripted_command(other, &open, &ctx),
        };
        let _ = ack.send(reply);
    }
    Ok(())
}

async fn connect_scripted(target: &str, open: &SharedConns, ctx: &Ctx) {
    let addr = format!("{target}:{PORT}");
    let stream = match turmoil::net::TcpStream::connect(addr.clone()).await {
        Ok(s) => s,
        Err(e) => {
            ctx.note(format!("connect {addr} failed: {e}"));
            return;
        }
    };
    match tokio_tungstenite::client_async(format!("ws://{addr}/"), stream).await {
        Ok((ws, _)) => {
            let (ctx, open, target) = (ctx.clone(), open.clone(), target.to_owned());
            tokio::spawn(async move { scripted_io(ws, target, None, open, ctx).await });
            // Let the new connection register itself before the next script step.
            tokio::task::yield_now().await;
        }
        Err(e) => ctx.note(format!("WebSocket handshake with {addr} failed: {e}")),
    }
}

fn scripted_command(cmd: Cmd, open: &SharedConns, ctx: &Ctx) -> Result<(), String> {
    let c = conns(open);
    let pick = |to: Option<&str>| -> Result<Writer, String> {
        let w = match to {
            None => c.latest.as_ref(),
            Some(peer) => c.by_peer.get(peer),
        };
        w.filter(|w| !w.is_closed())
            .cloned()
            .ok_or_else(|| match to {
                None => format!("{RETRY}`{}` has no open connection", ctx.ctl.name),
                Some(peer) => format!(
                    "{RETRY}`{}` has no open connection with `{peer}` (open: {})",
                    ctx.ctl.name,
                    c.by_peer
                        .iter()
                        .filter(|(_, w)| !w.is_closed())
                        .map(|(p, _)| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    };
    let text = |f: Frame| match f {
        Frame::Json(v) => Ws::Text(v.to_string().into()),
        Frame::Raw(t) => Ws::Text(t.into()),
    };
    let (writer, msg) = match cmd {
        Cmd::Send(f) => (pick(None)?, text(f)),
        Cmd::SendTo(to, f) => (pick(Some(&to))?, text(f)),
        Cmd::Close => (pick(None)?, Ws::Close(None)),
        other => return Err(format!("a scripted host cannot do {other:?}")),
    };
    writer
        .send(msg)
        .map_err(|_| "the connection closed".to_owned())
}

/// Reads one scripted connection into the inbox and writes what the script sends.
async fn scripted_io<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    peer: String,
    conn: Option<u16>,
    open: SharedConns,
    ctx: Ctx,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel();
    {
        let mut c = conns(&open);
        c.latest = Some(tx.clone());
        c.by_peer.insert(peer.clone(), tx);
    }
    ctx.ctl.state().connections += 1;
    let (mut sink, mut source) = ws.split();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let closing = matches!(m, Ws::Close(_));
            if sink.send(m).await.is_err() || closing {
                break;
            }
        }
    });
    while let Some(frame) = source.next().await {
        match frame {
            Ok(Ws::Text(t)) => {
                let text = t.as_str().to_owned();
                ctx.trace.host_event(
                    &ctx.ctl.name,
                    EventKind::Recv {
                        from: peer.clone(),
                        conn,
                        text: text.clone(),
                        msg: Message::decode(&text).ok(),
                    },
                );
                let at = ctx.trace.now();
                let mut st = ctx.ctl.state();
                st.received += 1;
                st.inbox.push_back((at, text));
            }
            Ok(Ws::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    ctx.trace.host_event(
        &ctx.ctl.name,
        EventKind::Life(Lifecycle::ConnClosed {
            peer: Peer { host: peer, conn },
            reason: "connection ended".into(),
        }),
    );
    writer.abort();
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_keeps_every_character() {
        assert_eq!(split("hello", 0), vec!["hello"]);
        assert_eq!(split("hello", 2), vec!["", "he", "llo"]);
        assert_eq!(split("", 3), vec!["", "", "", ""]);
    }
}
