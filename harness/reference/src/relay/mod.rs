//! The reference relay's tokio driver: a WebSocket load balancer between clients and an
//! ordered list of backends, around the sans-IO [`wirecheck_core::relay::Relay`], which
//! makes every decision (which backend, when to fail over, what to replay, what to
//! answer, what to close).
//!
//! Per client connection: exactly one task reads its socket (started when the machine
//! says [`Action::ReadClient`], once), one writes it from a bounded queue. Per backend
//! link: one task dials it and then reads it, one writes it. A timer task wakes the
//! machine for failover attempts and health probes, and hands it lost links in link order
//! (a crashed backend resets its connections in an order the runtime does not fix). Every event goes to the machine under
//! its lock, and the actions it returns are carried out there too, in order, so what the
//! observer records is the order of the decisions. A full outbound queue closes that
//! socket (its peer does not keep up); what follows is an ordinary close or loss.
//!
//! Generic over the client streams (`serve_connection`) and the backend streams (a
//! [`Dialer`]), so it runs over turmoil's simulated TCP and over real sockets alike.

mod tasks;

use crate::observe::{CloseCause, Lifecycle, LinkEnd, Observer, RelayEvent};
use futures_util::{Stream, StreamExt};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tasks::Out;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch, Notify};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as Ws};
use wirecheck_core::relay::{
    Action, ClientClose, ClientNo, LinkClose, LinkNo, Relay, RelayConfig, RelayStats, SharedRelay,
};

/// Driver settings on top of the state machine's [`RelayConfig`].
#[derive(Clone, Debug)]
pub struct RelayOptions {
    pub config: RelayConfig,
    /// Capacity of each socket's outbound queue, in messages; a full queue closes that
    /// socket.
    pub queue: usize,
    /// Largest WebSocket message read on either side, in bytes.
    pub max_message: usize,
    /// A client connection whose WebSocket handshake is not done by then is closed.
    pub handshake_timeout: Duration,
    /// A client connection that sends nothing for this long is closed (a client that
    /// vanished behind a partition would otherwise be held, and failed over, for ever).
    pub idle_timeout: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            config: RelayConfig::default(),
            queue: 1024,
            max_message: 1 << 20,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

impl RelayOptions {
    fn ws_config(&self) -> WebSocketConfig {
        // The reference's settings (8 KiB reads: tungstenite zeroes its whole read buffer
        // on every read, 9 % of the relay's CPU under load with the default 128 KiB),
        // capped at the relay's own message limit.
        crate::ws::config()
            .max_message_size(Some(self.max_message))
            .max_frame_size(Some(self.max_message))
    }
}

/// A future as dialers return it.
pub type DialFuture<'a, S> =
    Pin<Box<dyn Future<Output = io::Result<(S, Option<u16>)>> + Send + 'a>>;

/// Opens byte streams to backend addresses: turmoil, real TCP, TLS...
pub trait Dialer: Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A stream to `addr` (`host:port`) and this side's local port, when known (it names
    /// the connection in traces, as the backend sees it).
    fn dial<'a>(&'a self, addr: &'a str) -> DialFuture<'a, Self::Stream>;
}

/// Real TCP through tokio.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpDialer;

impl Dialer for TcpDialer {
    type Stream = tokio::net::TcpStream;
    fn dial<'a>(&'a self, addr: &'a str) -> DialFuture<'a, Self::Stream> {
        Box::pin(async move {
            let s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            let port = s.local_addr().ok().map(|a| a.port());
            Ok((s, port))
        })
    }
}

/// A client socket's read half, shared by its reader tasks (one, unless zoo flaw
/// `relay-two-readers` starts another).
type Source = Pin<Box<dyn Stream<Item = Result<Ws, WsError>> + Send>>;

struct ClientSlot {
    /// The address the client connected from: names it in observations.
    peer: String,
    tx: mpsc::Sender<Out>,
    kill: watch::Sender<bool>,
    source: Arc<tokio::sync::Mutex<Source>>,
}

enum LinkSlot {
    Dialing {
        client: String,
        backend: String,
        /// The machine closed it before the dial completed.
        cancelled: bool,
    },
    Open {
        client: String,
        backend: String,
        tx: mpsc::Sender<Out>,
        kill: watch::Sender<bool>,
    },
}

impl LinkSlot {
    fn names(&self) -> (String, String) {
        match self {
            LinkSlot::Dialing {
                client, backend, ..
            }
            | LinkSlot::Open {
                client, backend, ..
            } => (client.clone(), backend.clone()),
        }
    }
}

/// The driver's sockets, by the machine's numbers.
#[derive(Default)]
struct Sockets {
    clients: BTreeMap<ClientNo, ClientSlot>,
    links: BTreeMap<LinkNo, LinkSlot>,
}

/// A running relay: accepts client connections through [`RelayServer::serve_connection`].
pub struct RelayServer<D: Dialer> {
    opts: RelayOptions,
    state: SharedRelay,
    sockets: Mutex<Sockets>,
    dialer: D,
    observer: Arc<dyn Observer>,
    start: crate::time::Instant,
    next_client: AtomicU64,
    /// Links whose reader saw them end, with why and when, not yet handed to the machine.
    losses: Mutex<BTreeMap<LinkNo, (String, Duration)>>,
    /// Wakes the timer task when the machine's next deadline may have changed, or a link
    /// was lost.
    wake: Notify,
}

impl<D: Dialer> RelayServer<D> {
    /// Must be called inside a tokio runtime (it starts the timer task).
    pub fn new(opts: RelayOptions, dialer: D, observer: Arc<dyn Observer>) -> Arc<Self> {
        let server = Arc::new(RelayServer {
            state: SharedRelay::new(opts.config.clone()),
            opts,
            sockets: Mutex::new(Sockets::default()),
            dialer,
            observer,
            start: crate::time::Instant::now(),
            next_client: AtomicU64::new(1),
            losses: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
        });
        tokio::spawn(server.clone().timer());
        server
    }

    pub fn stats(&self) -> RelayStats {
        self.state.with(|r| r.stats())
    }

    /// The machine's structural self-check (see `wirecheck_core::relay`).
    pub fn check_invariants(&self) -> Result<(), String> {
        self.state.with(|r| r.check_invariants())
    }

    /// Client connections and backend links the driver holds sockets for: what the
    /// machine's maps must match.
    pub fn open_sockets(&self) -> (usize, usize) {
        let s = self.lock_sockets();
        (s.clients.len(), s.links.len())
    }

    /// Time since the relay started (simulated under turmoil).
    fn now(&self) -> Duration {
        crate::time::Instant::now() - self.start
    }

    fn lock_sockets(&self) -> std::sync::MutexGuard<'_, Sockets> {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Feeds one event to the machine and carries out its actions, all under the
    /// machine's lock (then the sockets' lock), so observations follow the decisions.
    fn event<R>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Relay, &mut Sockets, Duration) -> (Vec<Action>, R),
    ) -> R {
        let now = self.now();
        let (r, timers) = self.state.with(|relay| {
            let mut sockets = self.lock_sockets();
            let (actions, r) = f(relay, &mut sockets, now);
            self.apply(relay, &mut sockets, actions);
            (r, relay.take_timers_changed())
        });
        if timers {
            self.wake.notify_one();
        }
        r
    }

    /// Serves one accepted client byte stream until it is over. `peer` labels it in
    /// observations.
    pub async fn serve_connection<S>(self: Arc<Self>, stream: S, peer: String)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
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
        let (sink, source) = ws.split();
        let (tx, rx) = mpsc::channel(self.opts.queue.max(1));
        tokio::spawn(tasks::write(sink, rx));
        let client = self.next_client.fetch_add(1, Ordering::Relaxed);
        let (kill, mut done) = watch::channel(false);
        let slot = ClientSlot {
            peer,
            tx,
            kill,
            source: Arc::new(tokio::sync::Mutex::new(Box::pin(source))),
        };
        self.event(|relay, sockets, now| {
            sockets.clients.insert(client, slot);
            (relay.on_client_open(client, now), ())
        });
        // Returns when the connection is over (its slot's kill is set, or dropped).
        let _ = done.wait_for(|k| *k).await;
    }

    fn relay(&self, e: RelayEvent) {
        self.observer.lifecycle(Lifecycle::Relay(e));
    }

    fn backend_name(&self, backend: usize) -> String {
        self.opts
            .config
            .backends
            .get(backend)
            .cloned()
            .unwrap_or_default()
    }

    /// Carries out the machine's actions, in order.
    fn apply(self: &Arc<Self>, relay: &Relay, sockets: &mut Sockets, actions: Vec<Action>) {
        let _ = relay;
        for action in actions {
            match action {
                Action::ReadClient { client, reader } => {
                    let Some(slot) = sockets.clients.get(&client) else {
                        continue;
                    };
                    self.relay(RelayEvent::Reader {
                        client: slot.peer.clone(),
                        reader,
                        running: true,
                    });
                    let (source, kill, peer) = (
                        slot.source.clone(),
                        slot.kill.subscribe(),
                        slot.peer.clone(),
                    );
                    tokio::spawn(self.clone().read_client(client, reader, peer, source, kill));
                }
                Action::Dial {
                    client,
                    link,
                    backend,
                    attempt,
                } => {
                    let peer = sockets
                        .clients
                        .get(&client)
                        .map(|c| c.peer.clone())
                        .unwrap_or_default();
                    let addr = self.backend_name(backend);
                    self.relay(RelayEvent::Dial {
                        client: peer.clone(),
                        link,
                        backend: addr.clone(),
                        attempt,
                    });
                    sockets.links.insert(
                        link,
                        LinkSlot::Dialing {
                            client: peer,
                            backend: addr.clone(),
                            cancelled: false,
                        },
                    );
                    tokio::spawn(self.clone().link(link, addr));
                }
                Action::SendBackend { link, frame } => {
                    if let Some(LinkSlot::Open { tx, kill, .. }) = sockets.links.get(&link) {
                        if tx.try_send(Out::Frame(frame)).is_err() {
                            self.observer.note(&format!(
                                "link {link}: outbound queue full ({}): closing it",
                                self.opts.queue
                            ));
                            let _ = kill.send(true);
                        }
                    }
                }
                Action::SendClient { client, frame } => {
                    if let Some(slot) = sockets.clients.get(&client) {
                        if slot.tx.try_send(Out::Frame(frame)).is_err() {
                            self.observer.note(&format!(
                                "{}: outbound queue full ({}): closing it",
                                slot.peer, self.opts.queue
                            ));
                            let _ = slot.kill.send(true);
                        }
                    }
                }
                Action::CloseLink { link, why } => self.close_link(sockets, link, why),
                Action::CloseClient { client, why } => {
                    let Some(slot) = sockets.clients.remove(&client) else {
                        continue;
                    };
                    let (code, reason) = match why {
                        ClientClose::GaveUp { attempts } => {
                            self.relay(RelayEvent::GaveUp {
                                client: slot.peer.clone(),
                                attempts,
                            });
                            (
                                1013,
                                format!("no backend after {attempts} failover attempts"),
                            )
                        }
                        ClientClose::BufferFull { limit } => (
                            1008,
                            format!("more than {limit} messages while no backend served it"),
                        ),
                    };
                    let _ = slot.tx.try_send(Out::Close(code, reason.clone()));
                    let _ = slot.kill.send(true);
                    self.observer.lifecycle(Lifecycle::ConnClosed {
                        peer: slot.peer,
                        reason: format!("closed by the relay: {reason}"),
                        cause: CloseCause::Local,
                    });
                }
                Action::Probe { backend } => {
                    tokio::spawn(self.clone().probe(backend, self.backend_name(backend)));
                }
                Action::Health { backend, up } => self.relay(RelayEvent::Health {
                    backend: self.backend_name(backend),
                    up,
                }),
                Action::Ready { client, link } => {
                    if let Some(slot) = sockets.links.get(&link) {
                        let (peer, backend) = slot.names();
                        let _ = client;
                        self.relay(RelayEvent::Ready {
                            client: peer,
                            link,
                            backend,
                        });
                    }
                }
                Action::Note(what) => self.observer.note(&what),
            }
        }
    }

    fn close_link(&self, sockets: &mut Sockets, link: LinkNo, why: LinkClose) {
        let ended = match sockets.links.get_mut(&link) {
            Some(LinkSlot::Dialing {
                cancelled: true, ..
            })
            | None => return,
            Some(LinkSlot::Dialing {
                cancelled,
                client,
                backend,
            }) => {
                // The dial task closes what it opens and reports nothing more.
                *cancelled = true;
                (client.clone(), backend.clone())
            }
            Some(LinkSlot::Open { .. }) => {
                let Some(LinkSlot::Open {
                    client,
                    backend,
                    tx,
                    kill,
                }) = sockets.links.remove(&link)
                else {
                    return;
                };
                let _ = tx.try_send(Out::Close(1000, String::new()));
                let _ = kill.send(true);
                (client, backend)
            }
        };
        self.observer.note(&format!(
            "link {link}: closing ({})",
            match why {
                LinkClose::ClientGone => "its client left",
                LinkClose::Refused => "the backend refused the replayed registration",
                LinkClose::Superseded => "not the client's link any more",
            }
        ));
        self.relay(RelayEvent::Unlinked {
            client: ended.0,
            link,
            backend: ended.1,
            end: LinkEnd::Closed,
        });
    }
}

/// Limits of a relay on real TCP.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Client connections served at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: 10_000,
        }
    }
}

/// Runs a relay on a real TCP listener, dialing backends over real TCP, until the process
/// ends. Accept errors are survived (noted, brief backoff).
pub async fn run_tcp(
    listener: tokio::net::TcpListener,
    opts: RelayOptions,
    limits: TcpLimits,
    observer: Arc<dyn Observer>,
) -> io::Result<()> {
    let server = RelayServer::new(opts, TcpDialer, observer.clone());
    crate::accept::accept_loop(
        listener,
        limits.max_connections,
        observer,
        |_| Ok(()),
        |stream, peer| server.clone().serve_connection(stream, peer.to_string()),
    )
    .await
}
