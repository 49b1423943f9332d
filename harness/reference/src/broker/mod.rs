//! The reference broker's tokio driver.
//!
//! One task reads each connection and feeds the shared sans-IO [`Broker`]; one task writes
//! each connection from its [`outbox`]. The driver owns only I/O concerns: WebSocket
//! framing, the clocks (idle timeout, registration deadline, write deadline), and the
//! outbound queues (BRK-9: a peer that does not keep up, in bytes or in time, is closed as
//! a slow consumer at once, its socket aborted, and its state is freed like any other
//! disconnect). `tcp` runs it on a real listener.
//!
//! [`Broker`]: wirecheck_core::broker::Broker

mod outbox;
mod tcp;

use crate::observe::{CloseCause, Lifecycle, Observer};
use futures_util::StreamExt;
use outbox::{Out, Outbox, Refused, WriterEnd};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message as Ws;
use wirecheck_core::broker::{
    Action, AuthThrottle, BrokerConfig, BrokerStats, ConnId, SharedBroker,
};
use wirecheck_core::flaws::Flaw;
use wirecheck_core::wire::{code, Message};

pub use tcp::{run_tcp, run_tcp_with, TcpLimits};

/// Driver settings on top of the state machine's [`BrokerConfig`].
#[derive(Clone, Debug)]
pub struct BrokerOptions {
    pub config: BrokerConfig,
    /// Each connection's outbound budget, in messages of the maximum size: a peer with
    /// more than `queue × max_message` bytes waiting for it is a slow consumer.
    pub queue: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// A connection that has not completed its WebSocket handshake by then is closed.
    pub handshake_timeout: Duration,
    /// A connection not registered (`welcome`) this long after its handshake is closed,
    /// whatever it sends meanwhile (pings do not extend it).
    pub register_timeout: Duration,
    /// A write to a peer that makes no progress for this long (the peer stopped reading)
    /// closes it as a slow consumer.
    pub write_timeout: Duration,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            config: BrokerConfig::default(),
            queue: 64,
            idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            register_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
        }
    }
}

impl BrokerOptions {
    /// Bytes that may wait for one peer before it is a slow consumer.
    pub fn outbound_budget(&self) -> usize {
        self.queue
            .max(1)
            .saturating_mul(self.config.max_message.max(1))
    }

    /// The WebSocket layer's settings: its cap leaves room above our own limit, so an
    /// oversized message reaches the state machine and gets `too_large`; its read buffer
    /// is no larger than a message needs (an idle connection costs a few KiB, not 128).
    fn ws_config(&self) -> WebSocketConfig {
        let max = self.config.max_message;
        let limit = max.saturating_mul(4).max(1 << 16);
        WebSocketConfig::default()
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit))
            .read_buffer_size((max + 16).clamp(512, 8 << 10))
            .write_buffer_size(0)
    }
}

/// What the driver knows of a connection beyond its bytes.
pub struct ConnMeta {
    /// Labels it in observations.
    pub peer: String,
    /// Its address, for the limit on failed registrations (none: not limited).
    pub origin: Option<IpAddr>,
    /// Aborts the socket at once (a reset, nothing more flushed), for a slow consumer.
    pub abort: Option<Box<dyn Fn() + Send + Sync>>,
}

struct ConnHandle {
    outbox: Outbox,
    kill: Arc<Notify>,
    /// Set when the connection is killed as a slow consumer: its socket is aborted.
    slow: Arc<AtomicBool>,
}

/// A running broker: accepts connections through [`BrokerServer::serve_connection`].
pub struct BrokerServer {
    opts: BrokerOptions,
    state: SharedBroker,
    conns: Mutex<BTreeMap<ConnId, ConnHandle>>,
    next_conn: AtomicU64,
    observer: Arc<dyn Observer>,
    guesses: Mutex<AuthThrottle<IpAddr>>,
    started: crate::time::Instant,
}

impl BrokerServer {
    /// Must be called inside a tokio runtime.
    pub fn new(opts: BrokerOptions, observer: Arc<dyn Observer>) -> Arc<Self> {
        Self::with_auth_limit(opts, 0, observer)
    }

    /// Like [`BrokerServer::new`], allowing at most `max_failures` failed registrations
    /// per address a minute (0: no limit); an address at the limit is refused at accept.
    pub fn with_auth_limit(
        opts: BrokerOptions,
        max_failures: usize,
        observer: Arc<dyn Observer>,
    ) -> Arc<Self> {
        let polling = opts.config.flaws.has(Flaw::PollingReceivers);
        let server = Arc::new(BrokerServer {
            state: SharedBroker::new(opts.config.clone()),
            opts,
            conns: Mutex::new(BTreeMap::new()),
            next_conn: AtomicU64::new(1),
            observer,
            guesses: Mutex::new(AuthThrottle::new(max_failures, Duration::from_secs(60))),
            started: crate::time::Instant::now(),
        });
        if polling {
            // Zoo flaw `polling-receivers`: hand out work on a timer, not on events.
            let weak = Arc::downgrade(&server);
            tokio::spawn(async move {
                let mut tick = crate::time::interval(Duration::from_millis(100));
                while let Some(server) = {
                    tick.tick().await;
                    weak.upgrade()
                } {
                    let actions = server.state.with(|b| b.poll());
                    server.apply(actions);
                }
            });
        }
        server
    }

    pub fn stats(&self) -> BrokerStats {
        self.state.with(|b| b.stats())
    }

    /// Ids of the requests the broker holds (queued or assigned).
    pub fn request_ids(&self) -> Vec<String> {
        self.state.with(|b| b.request_ids())
    }

    /// Checks the state machine's structural invariants (see `wirecheck_core::broker`).
    pub fn check_invariants(&self) -> Result<(), String> {
        self.state.with(|b| b.check_invariants())
    }

    /// Whether `origin` may try to register now (it is under its failed-registration limit).
    pub fn admits(&self, origin: IpAddr) -> bool {
        let now = self.started.elapsed();
        lock(&self.guesses).allows(&origin, now)
    }

    /// Serves one accepted byte stream until it closes. `peer` labels it in observations.
    pub async fn serve_connection<S>(self: Arc<Self>, stream: S, peer: String)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let meta = ConnMeta {
            peer,
            origin: None,
            abort: None,
        };
        self.serve(stream, meta).await
    }

    /// Serves one accepted byte stream until it closes, with what the driver knows of it.
    pub async fn serve<S>(self: Arc<Self>, stream: S, meta: ConnMeta)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = meta.peer;
        let Some(ws) = crate::handshake::accept_within(
            stream,
            self.opts.ws_config(),
            self.opts.handshake_timeout,
            &peer,
            &*self.observer,
        )
        .await
        else {
            return;
        };
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (outbox, inbox) = Outbox::new(self.opts.outbound_budget());
        let kill = Arc::new(Notify::new());
        let slow = Arc::new(AtomicBool::new(false));
        self.lock_conns().insert(
            conn,
            ConnHandle {
                outbox,
                kill: kill.clone(),
                slow: slow.clone(),
            },
        );
        self.state.with(|b| b.on_connect(conn));
        let (sink, mut source) = ws.split();

        let write_timeout = self.opts.write_timeout;
        let server = Arc::downgrade(&self);
        let writer = tokio::spawn(async move {
            let end = inbox.drain(sink, write_timeout).await;
            if end == WriterEnd::Stalled {
                if let Some(server) = server.upgrade() {
                    server.kill_slow(
                        conn,
                        &format!("a write made no progress for {write_timeout:?}"),
                    );
                }
            }
            end
        });

        // Set when the peer broke the WebSocket layer itself: the close says why.
        let mut close_code: Option<(u16, &str)> = None;
        let register_by = crate::time::Instant::now() + self.opts.register_timeout;
        let mut registering = true;
        let (reason, cause) = loop {
            tokio::select! {
                biased;
                _ = kill.notified() => break (
                    if slow.load(Ordering::Acquire) {
                        format!("closed by broker: {}", code::SLOW_CONSUMER)
                    } else {
                        "closed by broker".to_owned()
                    },
                    CloseCause::Local,
                ),
                _ = crate::time::sleep_until(register_by), if registering => {
                    registering = false;
                    let actions = self.state.with(|b| b.on_register_deadline(conn));
                    self.apply(actions);
                }
                next = crate::time::timeout(self.opts.idle_timeout, source.next()) => match next {
                    Err(_) => break (format!("idle for {:?}", self.opts.idle_timeout), CloseCause::Idle),
                    Ok(None) => break ("connection ended".to_owned(), CloseCause::Peer),
                    Ok(Some(Err(e))) => {
                        close_code = ws_close_code(&e);
                        break (format!("read error: {e}"), CloseCause::Error);
                    }
                    Ok(Some(Ok(Ws::Text(text)))) => {
                        self.observer.received(&peer, text.as_str());
                        let actions = self.state.with(|b| b.on_text(conn, text.as_str()));
                        if let Some(origin) = meta.origin {
                            self.count_refusals(conn, origin, &actions);
                        }
                        self.apply(actions);
                    }
                    Ok(Some(Ok(Ws::Binary(bytes)))) => {
                        self.observer.received(&peer, &String::from_utf8_lossy(&bytes));
                        let actions = self.state.with(|b| b.on_binary(conn, bytes.len()));
                        self.apply(actions);
                    }
                    Ok(Some(Ok(Ws::Close(_)))) => break ("closed by peer".to_owned(), CloseCause::Peer),
                    Ok(Some(Ok(_))) => {}
                }
            }
        };
        if let Some(h) = self.lock_conns().remove(&conn) {
            if let Some((code, why)) = close_code {
                // Past anything queued; the writer sends it and stops.
                let _ = h.outbox.push(Out::CloseWith(code, why.to_owned()));
            }
        }
        let slow = slow.load(Ordering::Acquire);
        if slow {
            // A peer that does not read would hold the socket and the writer's buffers
            // for as long as it likes: reset it now.
            writer.abort();
            if let Some(abort) = &meta.abort {
                abort();
            }
        }
        let actions = self.state.with(|b| b.on_disconnect(conn));
        self.observer.lifecycle(Lifecycle::ConnClosed {
            peer: peer.clone(),
            reason,
            cause,
        });
        self.apply(actions);
        // The writer drains what is queued (e.g. a refusal) and then closes the socket,
        // within its write deadline; a peer that let it stall is reset.
        if !slow && matches!(writer.await, Ok(WriterEnd::Stalled)) {
            if let Some(abort) = &meta.abort {
                abort();
            }
        }
    }

    fn lock_conns(&self) -> std::sync::MutexGuard<'_, BTreeMap<ConnId, ConnHandle>> {
        lock(&self.conns)
    }

    /// A failed registration from `origin` counts toward its limit.
    fn count_refusals(&self, conn: ConnId, origin: IpAddr, actions: &[Action]) {
        let refused = actions.iter().any(|a| {
            matches!(a, Action::Send(c, Message::Error { req: None, code: k, .. })
                if *c == conn && k == code::UNAUTHORIZED)
        });
        if refused {
            let now = self.started.elapsed();
            lock(&self.guesses).failed(origin, now);
        }
    }

    /// Closes `conn` as a slow consumer at once: nothing more is queued for it, its reader
    /// stops, its socket is aborted and its state freed like any other disconnect.
    fn kill_slow(&self, conn: ConnId, why: &str) {
        if let Some(h) = self.lock_conns().remove(&conn) {
            self.observer.note(&format!(
                "conn {conn}: {why}, closing as {}",
                code::SLOW_CONSUMER
            ));
            h.slow.store(true, Ordering::Release);
            h.kill.notify_one();
        }
    }

    /// Carries out the state machine's actions. A peer that does not keep up (its bytes
    /// waiting pass the budget) is closed as a slow consumer, which frees its state.
    fn apply(&self, actions: Vec<Action>) {
        // Encoded before the connection table is locked: other readers are not held up.
        let planned: Vec<(ConnId, Option<String>)> = actions
            .into_iter()
            .map(|action| match action {
                Action::Send(c, m) => (c, Some(m.encode())),
                Action::Close(c, why) => {
                    self.observer.note(&format!("conn {c}: closing: {why}"));
                    (c, None)
                }
            })
            .collect();
        let mut slow = Vec::new();
        {
            let conns = self.lock_conns();
            for (c, text) in planned {
                let Some(h) = conns.get(&c) else { continue };
                match text {
                    Some(text) => {
                        if let Err(Refused::OverBudget { waiting }) = h.outbox.push_text(text) {
                            slow.push((c, waiting));
                        }
                    }
                    None => {
                        if h.outbox.push(Out::Close).is_ok() {
                            h.kill.notify_one();
                        }
                    }
                }
            }
        }
        for (conn, waiting) in slow {
            self.kill_slow(
                conn,
                &format!(
                    "{waiting} bytes already waiting for the peer (budget {})",
                    self.opts.outbound_budget()
                ),
            );
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The close code for a peer that broke the WebSocket layer (RFC 6455 §7.4.1): 1009 for a
/// message above the layer's cap, 1007 for a text message that is not UTF-8, 1002 for
/// any other protocol violation. `None` for I/O errors (nothing to tell a gone peer).
fn ws_close_code(e: &WsError) -> Option<(u16, &'static str)> {
    match e {
        WsError::Capacity(_) => Some((1009, "message too big")),
        WsError::Utf8(_) => Some((1007, "text message is not UTF-8")),
        WsError::Protocol(_) => Some((1002, "WebSocket protocol error")),
        _ => None,
    }
}
