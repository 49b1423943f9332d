//! The reference multiplexer: many concurrent requests over one WebSocket, one reader.
//!
//! A thin tokio driver around the sans-IO state machine [`wirecheck_core::mux::Mux`],
//! which makes every protocol decision (registration outcome, dispatch of every frame,
//! credits, `not_serving`, heartbeat nonces). This module owns sockets, tasks and
//! timers, turns their events into calls on the machine and carries out the
//! [`Action`]s it returns.
//!
//! Structure (MUX-1): per connection, exactly one *reader* task reads the socket and
//! feeds every frame to the machine, and one *writer* task owns the sink
//! (`conn.rs`). Callers never touch the socket: they wait on a
//! [`Waiter`](wirecheck_core::pending::Waiter) of the machine's pending map. A
//! *supervisor* task (`supervisor.rs`) connects, registers, and
//! reconnects with backoff across the broker list (CONN-2..4).

mod conn;
mod rpc;
pub use rpc::{Batch, CallFuture};
mod supervisor;

pub use crate::observe::fmt_dur;
use crate::observe::{Lifecycle, Observer};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};
use wirecheck_core::flaws::Flaws;
use wirecheck_core::mux::{Action, Begin, ConnNo, Mux, MuxConfig, SharedMux};
pub use wirecheck_core::mux::{Answer, Incoming, MuxStats as ClientStats, Request};
use wirecheck_core::pending::{CallError, Outcome, PendingMap, Removal};
use wirecheck_core::reconnect::ReconnectPolicy;
use wirecheck_core::wire::Message;
use wirecheck_core::Protocol;

/// Opens byte streams to broker addresses. Implement it for turmoil, real TCP, TLS...
pub trait Connector: Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn connect<'a>(
        &'a self,
        addr: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send + 'a>>;
}

/// Real TCP through tokio.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    type Stream = tokio::net::TcpStream;
    fn connect<'a>(
        &'a self,
        addr: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send + 'a>> {
        Box::pin(async move {
            let s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            Ok(s)
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Heartbeat {
    pub interval: Duration,
    /// No frame received for this long: the connection is dead (CONN-1).
    pub timeout: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    pub client_id: String,
    pub token: Option<String>,
    /// Broker addresses (`host:port`) in failover order.
    pub brokers: Vec<String>,
    pub register_timeout: Duration,
    pub request_timeout: Duration,
    pub heartbeat: Option<Heartbeat>,
    /// `None`: give up when the connection is lost.
    pub reconnect: Option<ReconnectPolicy>,
    /// Seed of the jitter RNG.
    pub seed: u64,
    /// Zoo flaws to switch on (empty: the correct multiplexer).
    pub flaws: Flaws,
    /// The wire protocol: wirecheck-v1, or JSON-RPC 2.0 through the codec
    /// ([`wirecheck_core::jsonrpc::codec`]; no registration, heartbeats or cancels).
    pub protocol: Protocol,
}

impl ClientConfig {
    pub fn new(client_id: impl Into<String>, brokers: Vec<String>) -> Self {
        ClientConfig {
            client_id: client_id.into(),
            token: None,
            brokers,
            register_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            heartbeat: Some(Heartbeat {
                interval: Duration::from_secs(5),
                timeout: Duration::from_secs(15),
            }),
            reconnect: Some(ReconnectPolicy::default()),
            seed: 0,
            flaws: Flaws::none(),
            protocol: Protocol::default(),
        }
    }
}

/// Connection state as seen by callers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Connecting,
    Registered,
    /// Stopped for good (closed by the user, refused, or lost without reconnect).
    Stopped(String),
}

/// What the writer task of a connection is told.
enum Out {
    /// Write this; report the result to the sender, if any.
    Write(Payload, Option<oneshot::Sender<Result<(), String>>>),
    Close,
}

/// What one WebSocket message carries.
enum Payload {
    /// A protocol message, in the connection's protocol (nothing, if it has no form there).
    Msg(Message),
    /// JSON-RPC: these requests as one batch (an array).
    Batch(Vec<Message>),
    /// Text as it is (a JSON-RPC notification).
    Text(String),
}

/// The current connection's writer queue.
struct Link {
    no: ConnNo,
    out: mpsc::UnboundedSender<Out>,
}

/// The driver's side of the machine's decisions: where actions go.
#[derive(Default)]
struct Io {
    link: Option<Link>,
    /// Served channels → the receivers of their incoming requests.
    serving: BTreeMap<String, mpsc::UnboundedSender<Incoming>>,
    /// The registration attempt in flight: where its outcome goes.
    registration: Option<(ConnNo, oneshot::Sender<Outcome>)>,
    /// Zoo flaw `second-reader` only: the caller waiting to grab the next frame.
    side_reader: Option<oneshot::Sender<String>>,
}

struct Inner {
    config: ClientConfig,
    /// Every protocol decision. Lock order: `mux`, then `io`.
    mux: SharedMux,
    io: Mutex<Io>,
    state: watch::Sender<State>,
    observer: Arc<dyn Observer>,
}

impl Inner {
    fn io(&self) -> MutexGuard<'_, Io> {
        self.io.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one decision of the machine and carries out its actions, under its lock (so
    /// actions are queued in decision order). Returns the reason of an [`Action::Stop`].
    fn act(&self, decide: impl FnOnce(&mut Mux) -> Vec<Action>) -> Option<String> {
        self.mux.with(|m| {
            let actions = decide(m);
            self.run(m, actions)
        })
    }

    fn run(&self, m: &mut Mux, actions: Vec<Action>) -> Option<String> {
        let mut stop = None;
        for action in actions {
            match action {
                Action::Send(no, msg) => {
                    if let Some(link) = self.io().link.as_ref().filter(|l| l.no == no) {
                        let _ = link.out.send(Out::Write(Payload::Msg(msg), None));
                    }
                }
                Action::Close(no) => {
                    if let Some(link) = self.io().link.as_ref().filter(|l| l.no == no) {
                        let _ = link.out.send(Out::Close);
                    }
                }
                Action::Registration(no, outcome) => {
                    let mut io = self.io();
                    if io.registration.as_ref().is_some_and(|(n, _)| *n == no) {
                        if let Some((_, tx)) = io.registration.take() {
                            let _ = tx.send(outcome);
                        }
                    }
                }
                Action::Deliver(incoming) => {
                    let req = incoming.req.clone();
                    let delivered = self
                        .io()
                        .serving
                        .get(&incoming.channel)
                        .is_some_and(|tx| tx.send(incoming).is_ok());
                    if !delivered {
                        m.on_undeliverable(&req);
                    }
                }
                Action::Stolen(text) => {
                    if let Some(thief) = self.io().side_reader.take() {
                        let _ = thief.send(text);
                    }
                }
                Action::Note(what) => self.observer.note(&what),
                Action::Disconnected { reason, failed } => self
                    .observer
                    .lifecycle(Lifecycle::Disconnected { reason, failed }),
                Action::Stop(_, why) => stop = Some(why),
            }
        }
        stop
    }

    fn life(&self, event: Lifecycle) {
        self.observer.lifecycle(event);
    }
}

/// Handle to a running multiplexer. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Starts the supervisor (connect, register, reconnect) on the current tokio runtime.
    /// The returned receiver yields the outcome of the first registration attempt.
    pub fn start<C: Connector>(
        config: ClientConfig,
        connector: C,
        observer: Arc<dyn Observer>,
    ) -> (Client, oneshot::Receiver<Outcome>) {
        let (state, _) = watch::channel(State::Connecting);
        let inner = Arc::new_cyclic(|me: &Weak<Inner>| {
            // Timeouts and cancellations tell the broker, so it can free the assignment
            // (MUX-8). The hook runs outside the pending map's lock, never under the
            // machine's (no waiter is dropped inside `SharedMux::with`).
            let me = me.clone();
            let hook: wirecheck_core::pending::RemovalHook =
                Box::new(move |id: &str, why: Removal| {
                    if let Some(inner) = me.upgrade() {
                        inner.act(|m| m.on_removed(id, why));
                    }
                });
            let pending = PendingMap::configured(Some(hook), config.flaws.clone());
            let mux = Mux::new(
                MuxConfig {
                    client_id: config.client_id.clone(),
                    token: config.token.clone(),
                    flaws: config.flaws.clone(),
                },
                pending,
            );
            Inner {
                config,
                mux: SharedMux::new(mux),
                io: Mutex::default(),
                state,
                observer,
            }
        });
        let client = Client { inner };
        let (first_tx, first_rx) = oneshot::channel();
        tokio::spawn(supervisor::supervise(client.clone(), connector, first_tx));
        (client, first_rx)
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    pub fn state(&self) -> State {
        self.inner.state.borrow().clone()
    }

    /// Waits until the client is registered or stopped.
    pub async fn wait_registered(&self) -> Result<(), CallError> {
        let mut rx = self.inner.state.subscribe();
        let st = rx
            .wait_for(|s| !matches!(s, State::Connecting))
            .await
            .map(|s| s.clone());
        match st {
            Ok(State::Registered) => Ok(()),
            _ => Err(CallError::NotConnected),
        }
    }

    pub fn stats(&self) -> ClientStats {
        self.inner.mux.with(|m| m.stats())
    }

    /// Ids of requests still pending.
    pub fn pending_ids(&self) -> Vec<String> {
        self.inner.mux.with(|m| m.pending_ids())
    }

    /// Sends a request and waits for its response (MUX-2, MUX-8).
    pub async fn request(&self, req: Request) -> Outcome {
        let inner = &self.inner;
        let limit = req.timeout.unwrap_or(inner.config.request_timeout);
        let (thief, stolen) = oneshot::channel();
        let begin = inner.mux.with(|m| {
            let begin = m.request(&req);
            if let Begin::Send { steal: true, .. } = begin {
                inner.io().side_reader = Some(thief);
            }
            begin
        });
        let (mut waiter, frames) = match begin {
            Begin::Fail(e) => return Err(e),
            Begin::Stall => {
                crate::time::sleep(limit).await;
                return Err(CallError::Timeout);
            }
            Begin::Send {
                waiter,
                frames,
                steal: true,
            } => return self.second_reader(waiter, frames, stolen, limit).await,
            Begin::Send { waiter, frames, .. } => (waiter, frames),
        };
        // The deadline runs from the call. A write can hang on a dead connection (a
        // partitioned stream whose buffer is full): the caller then still ends when the
        // connection is declared lost (MUX-6) or at its deadline (MUX-8), whichever is first.
        let deadline = crate::time::Instant::now() + limit;
        for frame in frames {
            let sent = tokio::select! {
                biased;
                outcome = &mut waiter => return outcome,
                sent = self.send(frame) => sent,
                () = crate::time::sleep_until(deadline) => return waiter.expire(),
            };
            if let Err(e) = sent {
                if inner.mux.with(|m| m.on_send_failed(&req.id, e)) {
                    // MUX-7: the caller learns that its request never left.
                    return waiter.await;
                }
                break;
            }
        }
        let left = deadline.saturating_duration_since(crate::time::Instant::now());
        match crate::time::timeout(left, &mut waiter).await {
            Ok(outcome) => outcome,
            Err(_) => waiter.expire(),
        }
    }

    /// Zoo flaw `second-reader`: the caller "reads the socket" for its own answer, i.e.
    /// takes whatever frame the connection delivers next, stealing it from the reader.
    async fn second_reader(
        &self,
        waiter: wirecheck_core::pending::Waiter,
        frames: Vec<Message>,
        stolen: oneshot::Receiver<String>,
        limit: Duration,
    ) -> Outcome {
        for frame in frames {
            self.send(frame).await?;
        }
        let stolen = crate::time::timeout(limit, stolen).await;
        drop(waiter);
        match stolen {
            Ok(Ok(text)) => Mux::stolen_outcome(&text),
            _ => Err(CallError::Timeout),
        }
    }

    /// Starts serving `channel`: the broker assigns requests to this client, at most
    /// `concurrency` at a time. Each [`Incoming`] must be answered with [`Client::respond`].
    pub fn serve(&self, channel: &str, concurrency: u32) -> mpsc::UnboundedReceiver<Incoming> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.inner.act(|m| {
            self.inner.io().serving.insert(channel.to_owned(), tx);
            m.serve(channel, concurrency)
        });
        rx
    }

    /// Answers an incoming request, then asks for the next one on its channel. Does nothing
    /// if the request was cancelled or its connection is gone (the broker has forgotten it).
    pub async fn respond(&self, incoming: &Incoming, answer: Answer) -> Result<(), CallError> {
        let Some(frames) = self.inner.mux.with(|m| m.respond(incoming, answer)) else {
            return Ok(());
        };
        for frame in frames {
            self.send(frame).await?;
        }
        Ok(())
    }

    /// Closes the connection and stops reconnecting. Pending requests fail `disconnected`.
    pub async fn close(&self) {
        self.inner.act(|m| m.close());
        let mut rx = self.inner.state.subscribe();
        let _ = rx.wait_for(|s| matches!(s, State::Stopped(_))).await;
    }

    /// Sends one message on the current connection and waits until the sink took it.
    async fn send(&self, msg: Message) -> Result<(), CallError> {
        self.write(Payload::Msg(msg)).await
    }

    /// Writes one WebSocket message on the current connection and waits until the sink
    /// took it.
    async fn write(&self, payload: Payload) -> Result<(), CallError> {
        let (ack_tx, ack_rx) = oneshot::channel();
        let sent = match &self.inner.io().link {
            Some(link) => link.out.send(Out::Write(payload, Some(ack_tx))).is_ok(),
            None => return Err(CallError::NotConnected),
        };
        if !sent {
            return Err(CallError::SendFailed("connection closed".into()));
        }
        match ack_rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CallError::SendFailed(e)),
            Err(_) => Err(CallError::SendFailed(
                "connection closed before the message was written".into(),
            )),
        }
    }
}
