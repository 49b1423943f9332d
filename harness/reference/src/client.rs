//! The reference multiplexer: many concurrent requests over one WebSocket, one reader.
//!
//! Structure (MUX-1): per connection, exactly one *reader* task reads the socket and
//! dispatches every frame (registration replies, responses, incoming requests, pings) and
//! one *writer* task owns the sink. Callers never touch the socket: they register a
//! [`Waiter`](wirecheck_core::pending::Waiter) in the pending map and await it. A
//! *supervisor* task connects, registers, and reconnects with backoff across the broker
//! list (CONN-2..4).

pub use crate::observe::fmt_dur;
use crate::observe::{Lifecycle, Observer};
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as Ws;
use wirecheck_core::flaws::{Flaw, Flaws};
use wirecheck_core::pending::{CallError, Outcome, PendingMap, Removal, Stats};
use wirecheck_core::reconnect::{Backoff, RateLimit, ReconnectPolicy};
use wirecheck_core::rng::SplitMix64;
use wirecheck_core::wire::{code, summary, Dir, Message};

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
        }
    }
}

/// A request to send.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    pub id: String,
    pub channel: String,
    pub body: String,
    /// Sent as `chunk` frames after `start`, then `end`. Empty: one `start` with `end: true`.
    pub chunks: Vec<String>,
    /// `None`: the configured default.
    pub timeout: Option<Duration>,
}

/// A request received on a served channel, fully assembled.
#[derive(Clone, Debug, PartialEq)]
pub struct Incoming {
    pub req: String,
    pub channel: String,
    pub body: String,
    conn: u64,
}

/// How to answer an [`Incoming`] request.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// `start` with the first part, a `chunk` per further part, then `end`. One part: a
    /// single `start` with `end: true`.
    Parts(Vec<String>),
    Error(String),
}

/// Counters beyond the pending map's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub pending: Stats,
    pub connect_attempts: u64,
    pub registrations: u64,
    /// Successful registrations after the first.
    pub reconnects: u64,
    pub disconnects: u64,
    /// Incoming requests answered.
    pub served: u64,
    /// Incoming requests cancelled by the broker before they were answered.
    pub served_cancelled: u64,
}

/// Connection state as seen by callers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Connecting,
    Registered,
    /// Stopped for good (closed by the user, refused, or lost without reconnect).
    Stopped(String),
}

const HELLO: &str = "$hello";

enum Out {
    Msg(Message, Option<oneshot::Sender<Result<(), String>>>),
    Close,
}

struct Link {
    no: u64,
    out: mpsc::UnboundedSender<Out>,
}

struct Serving {
    tx: mpsc::UnboundedSender<Incoming>,
    credits: u32,
}

/// An incoming request being assembled from its frames.
struct Assembly {
    channel: String,
    body: String,
    next_seq: u64,
}

#[derive(Default)]
struct Mutable {
    link: Option<Link>,
    serving: BTreeMap<String, Serving>,
    assembling: BTreeMap<String, Assembly>,
    /// Incoming requests handed to a server and not answered yet: req → (channel, conn).
    in_service: BTreeMap<String, (String, u64)>,
    stats: ClientStats,
    closing: bool,
    /// Zoo flaw `second-reader` only: a caller waiting to grab the next frame.
    side_reader: Option<oneshot::Sender<String>>,
}

struct Inner {
    config: ClientConfig,
    /// Requests in flight, by request id.
    pending: PendingMap,
    /// The registration in flight (one entry at most, id `$hello`): same mechanism, own
    /// counters, so request statistics stay about requests.
    registration: PendingMap,
    m: Arc<Mutex<Mutable>>,
    state: watch::Sender<State>,
    observer: Arc<dyn Observer>,
}

/// Handle to a running multiplexer. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

fn lock(m: &Mutex<Mutable>) -> MutexGuard<'_, Mutable> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Client {
    /// Starts the supervisor (connect, register, reconnect) on the current tokio runtime.
    /// The returned receiver yields the outcome of the first registration attempt.
    pub fn start<C: Connector>(
        config: ClientConfig,
        connector: C,
        observer: Arc<dyn Observer>,
    ) -> (Client, oneshot::Receiver<Outcome>) {
        let m: Arc<Mutex<Mutable>> = Arc::default();
        let hook_m = m.clone();
        // Timeouts and cancellations tell the broker, so it can free the assignment (MUX-8).
        let hook: wirecheck_core::pending::RemovalHook =
            Box::new(move |id: &str, _why: Removal| {
                if let Some(link) = &lock(&hook_m).link {
                    let _ = link
                        .out
                        .send(Out::Msg(Message::Cancel { req: id.to_owned() }, None));
                }
            });
        let pending = PendingMap::configured(Some(hook), config.flaws.clone());
        let (state, _) = watch::channel(State::Connecting);
        let client = Client {
            inner: Arc::new(Inner {
                config,
                pending,
                registration: PendingMap::new(),
                m,
                state,
                observer,
            }),
        };
        let (first_tx, first_rx) = oneshot::channel();
        tokio::spawn(supervise(client.clone(), connector, first_tx));
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
        let mut s = lock(&self.inner.m).stats;
        s.pending = self.inner.pending.stats();
        s
    }

    /// Ids of requests still pending.
    pub fn pending_ids(&self) -> Vec<String> {
        self.inner.pending.ids()
    }

    /// Sends a request and waits for its response (MUX-2, MUX-8).
    pub async fn request(&self, req: Request) -> Outcome {
        let limit = req.timeout.unwrap_or(self.inner.config.request_timeout);
        if self.state() != State::Registered {
            if self.flaw(Flaw::SwallowSendErrors) {
                tokio::time::sleep(limit).await;
                return Err(CallError::Timeout);
            }
            return Err(CallError::NotConnected);
        }
        let mut waiter = self.inner.pending.insert(&req.id)?;
        if self.flaw(Flaw::SecondReader) && req.channel.starts_with('$') {
            return self.second_reader(req, waiter).await;
        }
        let frames = request_frames(&req);
        for frame in frames {
            if let Err(e) = self.send(frame).await {
                if self.flaw(Flaw::SwallowSendErrors) {
                    break; // zoo flaw: logged nowhere, the caller waits for its timeout
                }
                // MUX-7: the caller learns that its request never left.
                self.inner.pending.fail(&req.id, e);
                return waiter.await;
            }
        }
        match tokio::time::timeout(limit, &mut waiter).await {
            Ok(outcome) => outcome,
            Err(_) => waiter.expire(),
        }
    }

    /// Zoo flaw `second-reader`: the caller "reads the socket" for its own answer, i.e.
    /// takes whatever frame the connection delivers next, stealing it from the reader.
    async fn second_reader(
        &self,
        req: Request,
        waiter: wirecheck_core::pending::Waiter,
    ) -> Outcome {
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.m).side_reader = Some(tx);
        for frame in request_frames(&req) {
            self.send(frame).await?;
        }
        let limit = req.timeout.unwrap_or(self.inner.config.request_timeout);
        let stolen = tokio::time::timeout(limit, rx).await;
        drop(waiter);
        match stolen {
            Ok(Ok(text)) => match Message::decode(&text) {
                Ok(Message::Start { body, .. }) => Ok(body),
                _ => Ok(text),
            },
            _ => Err(CallError::Timeout),
        }
    }

    fn flaw(&self, f: Flaw) -> bool {
        self.inner.config.flaws.has(f)
    }

    /// Starts serving `channel`: the broker assigns requests to this client, at most
    /// `concurrency` at a time. Each [`Incoming`] must be answered with [`Client::respond`].
    pub fn serve(&self, channel: &str, concurrency: u32) -> mpsc::UnboundedReceiver<Incoming> {
        let (tx, rx) = mpsc::unbounded_channel();
        let credits = concurrency.max(1);
        let mut m = lock(&self.inner.m);
        m.serving
            .insert(channel.to_owned(), Serving { tx, credits });
        if let Some(link) = &m.link {
            if self.state() == State::Registered {
                for _ in 0..credits {
                    let _ = link.out.send(Out::Msg(
                        Message::Receive {
                            channel: channel.to_owned(),
                        },
                        None,
                    ));
                }
            }
        }
        rx
    }

    /// Answers an incoming request, then asks for the next one on its channel. Does nothing
    /// if the request was cancelled or its connection is gone (the broker has forgotten it).
    pub async fn respond(&self, incoming: &Incoming, answer: Answer) -> Result<(), CallError> {
        {
            let mut m = lock(&self.inner.m);
            let live = m.link.as_ref().map(|l| l.no) == Some(incoming.conn);
            if m.in_service.remove(&incoming.req).is_none() || !live {
                return Ok(());
            }
            m.stats.served += 1;
        }
        for frame in answer_frames(&incoming.req, answer) {
            self.send(frame).await?;
        }
        self.send(Message::Receive {
            channel: incoming.channel.clone(),
        })
        .await
    }

    /// Closes the connection and stops reconnecting. Pending requests fail `disconnected`.
    pub async fn close(&self) {
        let out = {
            let mut m = lock(&self.inner.m);
            m.closing = true;
            m.link.as_ref().map(|l| l.out.clone())
        };
        if let Some(out) = out {
            let _ = out.send(Out::Close);
        }
        let mut rx = self.inner.state.subscribe();
        let _ = rx.wait_for(|s| matches!(s, State::Stopped(_))).await;
    }

    /// Sends one message on the current connection and waits until the sink took it.
    async fn send(&self, msg: Message) -> Result<(), CallError> {
        let (ack_tx, ack_rx) = oneshot::channel();
        let sent = match &lock(&self.inner.m).link {
            Some(link) => link.out.send(Out::Msg(msg, Some(ack_tx))).is_ok(),
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

    fn note(&self, what: impl AsRef<str>) {
        self.inner.observer.note(what.as_ref());
    }

    fn life(&self, event: Lifecycle) {
        self.inner.observer.lifecycle(event);
    }
}

fn request_frames(req: &Request) -> Vec<Message> {
    let mut frames = vec![Message::Start {
        req: req.id.clone(),
        channel: req.channel.clone(),
        dir: Dir::Request,
        body: req.body.clone(),
        end: req.chunks.is_empty(),
    }];
    if !req.chunks.is_empty() {
        for (seq, data) in req.chunks.iter().enumerate() {
            frames.push(Message::Chunk {
                req: req.id.clone(),
                dir: Dir::Request,
                seq: seq as u64,
                data: data.clone(),
            });
        }
        frames.push(Message::End {
            req: req.id.clone(),
            dir: Dir::Request,
        });
    }
    frames
}

fn answer_frames(req: &str, answer: Answer) -> Vec<Message> {
    match answer {
        Answer::Error(c) => vec![Message::error(Some(req), &c, "")],
        Answer::Parts(parts) => {
            let mut it = parts.into_iter();
            let first = it.next().unwrap_or_default();
            let rest: Vec<String> = it.collect();
            let mut frames = vec![Message::Start {
                req: req.to_owned(),
                channel: String::new(),
                dir: Dir::Response,
                body: first,
                end: rest.is_empty(),
            }];
            if !rest.is_empty() {
                for (seq, data) in rest.into_iter().enumerate() {
                    frames.push(Message::Chunk {
                        req: req.to_owned(),
                        dir: Dir::Response,
                        seq: seq as u64,
                        data,
                    });
                }
                frames.push(Message::End {
                    req: req.to_owned(),
                    dir: Dir::Response,
                });
            }
            frames
        }
    }
}

/// Connects, registers and reconnects until stopped.
async fn supervise<C: Connector>(client: Client, connector: C, first: oneshot::Sender<Outcome>) {
    let inner = &client.inner;
    let cfg = &inner.config;
    let origin = Instant::now();
    let policy = cfg.reconnect.clone();
    let rng = SplitMix64::derive(cfg.seed, &cfg.client_id);
    let mut backoff = Backoff::new(policy.clone().unwrap_or_default(), rng);
    let mut limiter = policy.clone().map(RateLimit::new);
    let mut first = Some(first);
    let mut next_addr = 0usize;
    let mut conn_no = 0u64;
    let reason = loop {
        if lock(&inner.m).closing {
            break "closed by the client".to_owned();
        }
        if cfg.brokers.is_empty() {
            break "no broker addresses configured".to_owned();
        }
        let failing_over = next_addr != 0;
        let skip_limit = client.flaw(Flaw::NoRateLimit)
            || (failing_over && client.flaw(Flaw::FailoverNoRateLimit));
        if let Some(limiter) = limiter.as_mut().filter(|_| !skip_limit) {
            let wait = limiter.wait_before_attempt(origin.elapsed());
            if !wait.is_zero() {
                client.life(Lifecycle::RateLimited { wait });
                tokio::time::sleep(wait).await;
            }
            limiter.record(origin.elapsed());
        }
        let addr = cfg.brokers[next_addr].clone();
        conn_no += 1;
        let attempt = {
            let mut m = lock(&inner.m);
            m.stats.connect_attempts += 1;
            m.stats.connect_attempts
        };
        client.life(Lifecycle::Connecting {
            addr: addr.clone(),
            attempt,
        });
        // `connect` bounds each of its phases by the registration timeout itself, and
        // cleans up after itself on every failure.
        let registered = connect(&client, &connector, &addr, conn_no).await;
        match registered {
            Ok(reader) => {
                {
                    let mut m = lock(&inner.m);
                    m.stats.registrations += 1;
                    if m.stats.registrations > 1 {
                        m.stats.reconnects += 1;
                    }
                }
                client.life(Lifecycle::Registered { addr: addr.clone() });
                inner.state.send_replace(State::Registered);
                if let Some(f) = first.take() {
                    let _ = f.send(Ok("welcome".into()));
                }
                backoff.reset();
                next_addr = 0;
                let mut why = reader
                    .await
                    .unwrap_or_else(|e| format!("reader panicked: {e}"));
                if lock(&inner.m).closing {
                    why = "closed by the client".into();
                }
                lost_connection(&client, conn_no, Some(&why));
                if lock(&inner.m).closing {
                    break "closed by the client".to_owned();
                }
                if client.flaw(Flaw::NoReconnect) {
                    break "connection lost (zoo flaw: never reconnects)".to_owned();
                }
                inner.state.send_replace(State::Connecting);
            }
            Err(e) => {
                client.life(Lifecycle::RegistrationFailed {
                    addr: addr.clone(),
                    error: e.clone(),
                });
                lost_connection(&client, conn_no, None);
                if let Some(f) = first.take() {
                    let _ = f.send(Err(e.clone()));
                }
                // A refused identity or token will be refused again: stop. `client_id_taken`
                // is different: after a partition the broker may still hold our previous,
                // dead connection until its idle timeout frees the id, so keep trying.
                if let CallError::Rejected { code, .. } = &e {
                    if code != wirecheck_core::wire::code::CLIENT_ID_TAKEN {
                        break format!("registration refused: {code}");
                    }
                }
                next_addr = (next_addr + 1) % cfg.brokers.len();
            }
        }
        if policy.is_none() {
            break "connection lost and reconnect is off".to_owned();
        }
        // Fail over to the next address at once; back off after a whole round failed or
        // after losing an established connection.
        if next_addr == 0 && !client.flaw(Flaw::NoBackoff) {
            let delay = backoff.next_delay();
            client.life(Lifecycle::Backoff { delay });
            tokio::time::sleep(delay).await;
        }
    };
    client.life(Lifecycle::Stopped {
        reason: reason.clone(),
    });
    inner.pending.fail_all(CallError::Disconnected);
    if let Some(f) = first.take() {
        let _ = f.send(Err(CallError::NotConnected));
    }
    inner.state.send_replace(State::Stopped(reason));
}

/// Tears down what belongs to connection `no` after it ended (MUX-6).
/// `why` is `Some` for an established (registered) connection, `None` for an attempt that
/// never registered.
fn lost_connection(client: &Client, no: u64, why: Option<&str>) {
    let inner = &client.inner;
    let was_current = {
        let mut m = lock(&inner.m);
        let current = m.link.as_ref().map(|l| l.no) == Some(no);
        if current {
            m.link = None;
            m.assembling.clear();
            m.in_service.clear();
        }
        current
    };
    if !was_current {
        return;
    }
    let failed = if client.flaw(Flaw::DisconnectLeavesPending) {
        0
    } else {
        inner.pending.fail_all(CallError::Disconnected)
    };
    if let Some(why) = why {
        lock(&inner.m).stats.disconnects += 1;
        client.life(Lifecycle::Disconnected {
            reason: why.to_owned(),
            failed,
        });
    }
}

/// Opens connection `no` to `addr`, starts its reader and writer, and registers through the
/// reader (AUTH-1..3). Returns the reader's handle, which yields why the connection ended.
async fn connect<C: Connector>(
    client: &Client,
    connector: &C,
    addr: &str,
    no: u64,
) -> Result<tokio::task::JoinHandle<String>, CallError> {
    let inner = &client.inner;
    let limit = inner.config.register_timeout;
    let stream = tokio::time::timeout(limit, connector.connect(addr))
        .await
        .map_err(|_| CallError::Timeout)?
        .map_err(|e| CallError::SendFailed(format!("connect to {addr}: {e}")))?;
    let (ws, _) = tokio::time::timeout(
        limit,
        tokio_tungstenite::client_async(format!("ws://{addr}/"), stream),
    )
    .await
    .map_err(|_| CallError::Timeout)?
    .map_err(|e| CallError::SendFailed(format!("WebSocket handshake with {addr}: {e}")))?;
    let (mut sink, source) = ws.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Out>();
    tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            match out {
                Out::Msg(m, ack) => {
                    let r = sink
                        .send(Ws::Text(m.encode().into()))
                        .await
                        .map_err(|e| e.to_string());
                    let failed = r.is_err();
                    if let Some(ack) = ack {
                        let _ = ack.send(r);
                    }
                    if failed {
                        break;
                    }
                }
                Out::Close => break,
            }
        }
        let _ = sink.close().await;
    });
    lock(&inner.m).link = Some(Link {
        no,
        out: out_tx.clone(),
    });
    let hello = inner.registration.insert(HELLO)?;
    // Until registration succeeds, the reader belongs to this attempt: any early return
    // (or this future being dropped) must stop it, or a reader of an abandoned connection
    // would go on dispatching frames into the client.
    let reader = AbortOnDrop(Some(tokio::spawn(read_loop(
        client.clone(),
        source,
        addr.to_owned(),
        no,
    ))));
    let sent = client
        .send(Message::Hello {
            client: inner.config.client_id.clone(),
            token: inner.config.token.clone(),
        })
        .await;
    let outcome = match sent {
        Err(e) => {
            inner.registration.fail(HELLO, e);
            hello.await
        }
        Ok(()) => {
            let mut hello = hello;
            match tokio::time::timeout(inner.config.register_timeout, &mut hello).await {
                Ok(o) => o,
                Err(_) => hello.expire(),
            }
        }
    };
    match outcome {
        Ok(_) => {
            // Credits for served channels, on every (re)connection.
            let m = lock(&inner.m);
            for (channel, s) in &m.serving {
                for _ in 0..s.credits {
                    let _ = out_tx.send(Out::Msg(
                        Message::Receive {
                            channel: channel.clone(),
                        },
                        None,
                    ));
                }
            }
            Ok(reader.into_inner())
        }
        Err(e) => {
            let _ = out_tx.send(Out::Close);
            drop(reader); // aborts it
            Err(e)
        }
    }
}

/// A task handle that aborts the task when dropped, unless taken out.
struct AbortOnDrop<T>(Option<tokio::task::JoinHandle<T>>);

impl<T> AbortOnDrop<T> {
    fn into_inner(mut self) -> tokio::task::JoinHandle<T> {
        self.0.take().expect("handle present until taken")
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}

/// The one reader of connection `no` (MUX-1). Returns why the connection ended.
async fn read_loop<S>(
    client: Client,
    mut source: futures_util::stream::SplitStream<tokio_tungstenite::WebSocketStream<S>>,
    peer: String,
    no: u64,
) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let inner = &client.inner;
    let hb = inner.config.heartbeat.clone();
    let mut last_seen = Instant::now();
    let far = Duration::from_secs(86_400 * 365);
    let mut next_ping = Instant::now() + hb.as_ref().map_or(far, |h| h.interval);
    let mut nonce = 0u64;
    loop {
        let dead_at = last_seen + hb.as_ref().map_or(far, |h| h.timeout);
        tokio::select! {
            biased;
            frame = source.next() => {
                last_seen = Instant::now();
                match frame {
                    None => return "connection ended".into(),
                    Some(Err(e)) => return format!("read error: {e}"),
                    Some(Ok(Ws::Close(_))) => return "closed by peer".into(),
                    Some(Ok(Ws::Text(text))) => {
                        inner.observer.received(&peer, text.as_str());
                        if lock(&inner.m).link.as_ref().map(|l| l.no) != Some(no) {
                            // Belt and braces: a superseded connection dispatches nothing.
                            return "superseded by a newer connection".into();
                        }
                        let thief = lock(&inner.m).side_reader.take();
                        match thief {
                            Some(t) => { let _ = t.send(text.as_str().to_owned()); }
                            None => dispatch(&client, no, text.as_str()),
                        }
                    }
                    Some(Ok(_)) => {}
                }
            }
            _ = tokio::time::sleep_until(next_ping), if hb.is_some() && !inner.registration.contains(HELLO) => {
                nonce += 1;
                next_ping += hb.as_ref().map_or(far, |h| h.interval);
                if let Some(link) = &lock(&inner.m).link {
                    let _ = link.out.send(Out::Msg(Message::Ping { nonce }, None));
                }
            }
            _ = tokio::time::sleep_until(dead_at), if hb.is_some() => {
                return format!(
                    "heartbeat timeout: nothing received for {}",
                    fmt_dur(hb.as_ref().map_or(far, |h| h.timeout))
                );
            }
        }
    }
}

/// Routes one received text. Never blocks, never reads.
fn dispatch(client: &Client, no: u64, text: &str) {
    let inner = &client.inner;
    let pending = &inner.pending;
    let registration = &inner.registration;
    let registering = registration.contains(HELLO);
    if registering && client.flaw(Flaw::AnyReplyRegisters) {
        let refused = matches!(Message::decode(text), Ok(Message::Error { req: None, .. }));
        if !refused {
            registration.complete(HELLO, Ok("welcome".into()));
            return;
        }
    }
    if registering && client.flaw(Flaw::DropDuringRegistration) {
        let reply = matches!(
            Message::decode(text),
            Ok(Message::Welcome { .. } | Message::Error { req: None, .. })
        );
        if !reply {
            return; // the registration step read it and threw it away
        }
    }
    let msg = match Message::decode(text) {
        Ok(m) => m,
        Err(e) => {
            if registering {
                registration.complete(
                    HELLO,
                    Err(CallError::UnexpectedReply(format!(
                        "not a protocol message ({e})"
                    ))),
                );
            } else {
                client.note(format!("dropped undecodable frame: {e}"));
            }
            return;
        }
    };
    let dropped = |what: &str, d: wirecheck_core::pending::Delivery| {
        use wirecheck_core::pending::Delivery::*;
        if matches!(d, Duplicate | Late | Unknown) {
            client.note(format!("dropped {what} ({d:?})").to_lowercase());
        }
    };
    match msg {
        Message::Welcome { client: id } if registering => {
            let outcome = if id == inner.config.client_id {
                Ok("welcome".to_owned())
            } else {
                Err(CallError::UnexpectedReply(format!(
                    "welcome for client `{id}`, not `{}`",
                    inner.config.client_id
                )))
            };
            registration.complete(HELLO, outcome);
        }
        Message::Error {
            req: None,
            code,
            message,
        } if registering => {
            registration.complete(HELLO, Err(CallError::Rejected { code, message }));
        }
        Message::Error {
            req: None,
            code,
            message,
        } => client.note(format!("broker error `{code}`: {message}")),
        Message::Start {
            req,
            dir: Dir::Response,
            body,
            end,
            ..
        } => {
            let d = pending.on_start(&req, &body, end);
            dropped(&summary_of(text), d);
        }
        Message::Chunk {
            req,
            dir: Dir::Response,
            seq,
            data,
        } => {
            let d = pending.on_chunk(&req, seq, &data);
            dropped(&summary_of(text), d);
        }
        Message::End {
            req,
            dir: Dir::Response,
        } => {
            let d = pending.on_end(&req);
            dropped(&summary_of(text), d);
        }
        Message::Error {
            req: Some(req),
            code,
            message,
        } => {
            let in_service = lock(&inner.m).in_service.remove(&req).is_some();
            if in_service {
                client.note(format!("broker refused our answer to {req}: {code}"));
            } else {
                let d = pending.complete(&req, Err(CallError::Remote { code, message }));
                dropped(&summary_of(text), d);
            }
        }
        Message::Start {
            req,
            channel,
            dir: Dir::Request,
            body,
            end,
        } => incoming_start(client, no, req, channel, body, end),
        Message::Chunk {
            req,
            dir: Dir::Request,
            seq,
            data,
        } => incoming_frame(client, no, &req, Some((seq, data))),
        Message::End {
            req,
            dir: Dir::Request,
        } => incoming_frame(client, no, &req, None),
        Message::Cancel { req } => {
            let mut m = lock(&inner.m);
            let channel = match (m.assembling.remove(&req), m.in_service.remove(&req)) {
                (Some(a), _) => Some(a.channel),
                (None, Some((channel, _))) => Some(channel),
                (None, None) => None,
            };
            if let Some(channel) = channel {
                m.stats.served_cancelled += 1;
                // The credit the cancelled request held comes back.
                if let Some(link) = &m.link {
                    let _ = link.out.send(Out::Msg(Message::Receive { channel }, None));
                }
            }
        }
        Message::Ping { nonce } => {
            if let Some(link) = &lock(&inner.m).link {
                let _ = link.out.send(Out::Msg(Message::Pong { nonce }, None));
            }
        }
        Message::Pong { .. } => {}
        other if registering => {
            registration.complete(
                HELLO,
                Err(CallError::UnexpectedReply(format!(
                    "`{}` instead of `welcome` or `error`",
                    other.kind()
                ))),
            );
        }
        other => client.note(format!("ignored unexpected `{}`", other.kind())),
    }
}

fn summary_of(text: &str) -> String {
    Message::decode(text)
        .map(|m| summary(&m))
        .unwrap_or_else(|_| "frame".into())
}

fn incoming_start(client: &Client, no: u64, req: String, channel: String, body: String, end: bool) {
    let inner = &client.inner;
    let mut m = lock(&inner.m);
    if !m.serving.contains_key(&channel) {
        if let Some(link) = &m.link {
            let _ = link.out.send(Out::Msg(
                Message::error(
                    Some(&req),
                    code::NOT_SERVING,
                    format!("this client does not serve `{channel}`"),
                ),
                None,
            ));
        }
        return;
    }
    m.assembling.insert(
        req.clone(),
        Assembly {
            channel,
            body,
            next_seq: 0,
        },
    );
    if end {
        finish_incoming(&mut m, no, &req);
    }
}

fn incoming_frame(client: &Client, no: u64, req: &str, chunk: Option<(u64, String)>) {
    let inner = &client.inner;
    let mut m = lock(&inner.m);
    let Some(a) = m.assembling.get_mut(req) else {
        drop(m);
        client.note(format!("dropped request frame for unknown {req}"));
        return;
    };
    match chunk {
        Some((seq, data)) if seq == a.next_seq => {
            a.body.push_str(&data);
            a.next_seq += 1;
        }
        Some((seq, _)) => {
            let expected = a.next_seq;
            let channel = a.channel.clone();
            m.assembling.remove(req);
            if let Some(link) = &m.link {
                let _ = link.out.send(Out::Msg(
                    Message::error(
                        Some(req),
                        code::MALFORMED,
                        format!("chunk #{seq} where #{expected} was expected"),
                    ),
                    None,
                ));
                // The refused request used a credit: ask for the next one.
                let _ = link.out.send(Out::Msg(Message::Receive { channel }, None));
            }
        }
        None => finish_incoming(&mut m, no, req),
    }
}

fn finish_incoming(m: &mut Mutable, no: u64, req: &str) {
    let Some(a) = m.assembling.remove(req) else {
        return;
    };
    let Some(serving) = m.serving.get(&a.channel) else {
        return;
    };
    let incoming = Incoming {
        req: req.to_owned(),
        channel: a.channel.clone(),
        body: a.body,
        conn: no,
    };
    if serving.tx.send(incoming).is_ok() {
        m.in_service.insert(req.to_owned(), (a.channel, no));
    }
}
