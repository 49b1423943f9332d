//! The reference broker's tokio driver.
//!
//! One task reads each connection and feeds the shared sans-IO [`Broker`]; one task writes
//! each connection from a bounded queue. The driver owns only I/O concerns: WebSocket
//! framing, the idle timeout, and the outbound queues (BRK-9: a connection whose queue is
//! full is closed as a slow consumer, and its state is freed like any other disconnect).

use crate::observe::{CloseCause, Lifecycle, Observer};
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message as Ws;
use wirecheck_core::broker::{Action, BrokerConfig, BrokerStats, ConnId, SharedBroker};
use wirecheck_core::flaws::Flaw;
use wirecheck_core::wire::{code, Message};

/// Driver settings on top of the state machine's [`BrokerConfig`].
#[derive(Clone, Debug)]
pub struct BrokerOptions {
    pub config: BrokerConfig,
    /// Capacity of each connection's outbound queue, in messages.
    pub queue: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// A connection that has not completed its WebSocket handshake by then is closed.
    pub handshake_timeout: Duration,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            config: BrokerConfig::default(),
            queue: 64,
            idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

enum Out {
    Msg(Message),
    Close,
    /// Close with this status code (RFC 6455 §7.4) and reason, then stop writing.
    CloseWith(u16, String),
}

struct ConnHandle {
    tx: mpsc::Sender<Out>,
    kill: Arc<Notify>,
}

/// A running broker: accepts connections through [`BrokerServer::serve_connection`].
pub struct BrokerServer {
    opts: BrokerOptions,
    state: SharedBroker,
    conns: Mutex<BTreeMap<ConnId, ConnHandle>>,
    next_conn: AtomicU64,
    observer: Arc<dyn Observer>,
}

impl BrokerServer {
    /// Must be called inside a tokio runtime.
    pub fn new(opts: BrokerOptions, observer: Arc<dyn Observer>) -> Arc<Self> {
        let polling = opts.config.flaws.has(Flaw::PollingReceivers);
        let server = Arc::new(BrokerServer {
            state: SharedBroker::new(opts.config.clone()),
            opts,
            conns: Mutex::new(BTreeMap::new()),
            next_conn: AtomicU64::new(1),
            observer,
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

    /// Serves one accepted byte stream until it closes. `peer` labels it in observations.
    pub async fn serve_connection<S>(self: Arc<Self>, stream: S, peer: String)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // Leave room above our own limit so oversized messages reach the state machine and
        // get a `too_large` answer instead of killing the connection.
        let limit = self.opts.config.max_message.saturating_mul(4).max(1 << 16);
        let ws_config = crate::ws::config()
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit));
        let handshake = tokio_tungstenite::accept_async_with_config(stream, Some(ws_config));
        let ws = match crate::time::timeout(self.opts.handshake_timeout, handshake).await {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                self.observer
                    .note(&format!("handshake with {peer} failed: {e}"));
                return;
            }
            Err(_) => {
                self.observer.note(&format!(
                    "handshake with {peer} not done within {:?}: closed",
                    self.opts.handshake_timeout
                ));
                return;
            }
        };
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::channel::<Out>(self.opts.queue.max(1));
        let kill = Arc::new(Notify::new());
        self.lock_conns().insert(
            conn,
            ConnHandle {
                tx,
                kill: kill.clone(),
            },
        );
        self.state.with(|b| b.on_connect(conn));
        let (mut sink, mut source) = ws.split();

        let writer = tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                match out {
                    Out::Msg(m) => {
                        if sink.send(Ws::Text(m.encode().into())).await.is_err() {
                            break;
                        }
                    }
                    Out::Close => break,
                    Out::CloseWith(code, reason) => {
                        let frame = CloseFrame {
                            code: CloseCode::from(code),
                            reason: reason.into(),
                        };
                        let _ = sink.send(Ws::Close(Some(frame))).await;
                        break;
                    }
                }
            }
            let _ = sink.close().await;
        });

        // Set when the peer broke the WebSocket layer itself: the close says why.
        let mut close_code: Option<(u16, &str)> = None;
        let (reason, cause) = loop {
            tokio::select! {
                biased;
                _ = kill.notified() => break ("closed by broker".to_owned(), CloseCause::Local),
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
                let _ = h.tx.try_send(Out::CloseWith(code, why.to_owned()));
            }
        }
        let actions = self.state.with(|b| b.on_disconnect(conn));
        self.observer.lifecycle(Lifecycle::ConnClosed {
            peer: peer.clone(),
            reason,
            cause,
        });
        self.apply(actions);
        // The writer drains what is queued (e.g. a refusal) and then closes the socket.
        let _ = writer.await;
    }

    fn lock_conns(&self) -> std::sync::MutexGuard<'_, BTreeMap<ConnId, ConnHandle>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Carries out the state machine's actions. A full outbound queue closes that
    /// connection (slow consumer), which in turn frees its state.
    fn apply(&self, actions: Vec<Action>) {
        let mut slow = Vec::new();
        {
            let conns = self.lock_conns();
            for action in actions {
                let (conn, out) = match action {
                    Action::Send(c, m) => (c, Out::Msg(m)),
                    Action::Close(c, why) => {
                        self.observer.note(&format!("conn {c}: closing: {why}"));
                        (c, Out::Close)
                    }
                };
                let Some(h) = conns.get(&conn) else { continue };
                let closing = matches!(out, Out::Close);
                match h.tx.try_send(out) {
                    Ok(()) if closing => h.kill.notify_one(),
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => slow.push(conn),
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
        for conn in slow {
            // Taken out of the map at once, so nothing more is queued for it; its reader
            // stops and the disconnect frees its state like any other.
            if let Some(h) = self.lock_conns().remove(&conn) {
                self.observer.note(&format!(
                    "conn {conn}: outbound queue full ({}), closing as {}",
                    self.opts.queue,
                    code::SLOW_CONSUMER
                ));
                h.kill.notify_one();
            }
        }
    }
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

/// Limits of a broker on real TCP.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Connections served at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: 10_000,
        }
    }
}

/// Runs a broker on a real TCP listener until the process ends, with default limits.
pub async fn run_tcp(
    listener: tokio::net::TcpListener,
    opts: BrokerOptions,
    observer: Arc<dyn Observer>,
) -> std::io::Result<()> {
    run_tcp_with(listener, opts, TcpLimits::default(), observer).await
}

/// Runs a broker on a real TCP listener until the process ends. An accept error (out of
/// file descriptors, say) never ends it: it notes the error, backs off briefly and goes on
/// serving; a connection beyond `limits.max_connections` is closed at once.
pub async fn run_tcp_with(
    listener: tokio::net::TcpListener,
    opts: BrokerOptions,
    limits: TcpLimits,
    observer: Arc<dyn Observer>,
) -> std::io::Result<()> {
    let server = BrokerServer::new(opts, observer.clone());
    let live = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut backoff = Duration::from_millis(5);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff = Duration::from_millis(5);
                accepted
            }
            Err(e) => {
                observer.note(&format!("accept failed: {e}; retrying in {backoff:?}"));
                crate::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        if live.load(Ordering::SeqCst) >= limits.max_connections {
            observer.note(&format!(
                "connection from {peer} refused: {} connections already (--max-connections)",
                limits.max_connections
            ));
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        live.fetch_add(1, Ordering::SeqCst);
        let (server, live) = (server.clone(), live.clone());
        tokio::spawn(async move {
            server.serve_connection(stream, peer.to_string()).await;
            live.fetch_sub(1, Ordering::SeqCst);
        });
    }
}
