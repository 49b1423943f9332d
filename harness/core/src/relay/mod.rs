//! The relay's state machine: a WebSocket load balancer between clients and an ordered
//! list of backends (brokers), with failover.
//!
//! Sans-IO: a driver feeds it events (a client connected, sent a frame or closed; a backend
//! link came up, failed, was lost or sent a frame; a health probe answered; time passed)
//! and carries out the [`Action`]s it returns (read the client's socket, dial a backend,
//! send a frame, close a socket, probe a backend). Every decision of the reference relay
//! is made here; the tokio driver in `wirecheck-reference` only moves frames and keeps
//! time.
//!
//! What it decides (PROTOCOL.md, "The relay", rules LB-1..7):
//! - **one reader per client socket** for the connection's whole life, failovers included
//!   ([`Action::ReadClient`] once per client), and one backend link per client at a time;
//! - **where a client goes**: the first healthy backend in the configured order; a
//!   backend is marked down when a dial to it fails or a link to it is lost, and up again
//!   when a link to it opens or a health probe ([`Action::Probe`], every
//!   `probe_interval` while it is down) succeeds;
//! - **failover**: a lost link does not close the client. The relay keeps the client's
//!   connection, answers what was in flight (`error backend_gone` for the requests it
//!   sent, `cancel` for those it was serving), dials the next healthy backend, replays
//!   its registration (`hello`, the backend's `welcome` swallowed) and its outstanding
//!   `receive` credits, then flushes what the client sent meanwhile (held in a bounded
//!   buffer). Attempts are rate limited per client (at most `max_attempts` per `window`,
//!   at least `min_gap` apart); after `max_attempts` failed attempts in a row it gives up
//!   and closes the client. A working client is never moved back (no failback), so a
//!   flapping backend moves each client at most once;
//! - **cleanup**: when the client closes, its link is closed at once, and every map
//!   entry it owned goes with it; per-backend counts are the open links to each backend
//!   (checked by [`Relay::check_invariants`]).
//!
//! Layout: this file holds the types, the client events and the maps; `links` the backend
//! links' events (up, failed, lost, their frames) and a client served again; `session`
//! what a client's broker session holds and replays; `failover` health, the choice of
//! backend, the rate limit and giving up, probes and timers; `check` the counters and
//! invariants; `shared` [`SharedRelay`].

use crate::flaws::{Flaw, Flaws};
use crate::reconnect::RateLimit;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

mod check;
mod failover;
mod links;
mod session;
mod shared;
pub use check::RelayStats;
pub use failover::FailoverPolicy;
use session::Session;
pub use shared::SharedRelay;

/// Identifies one accepted client connection. Chosen by the driver, never reused.
pub type ClientNo = u64;
/// Identifies one backend link (a connection the relay opened for a client). Chosen by the
/// machine, never reused.
pub type LinkNo = u64;
/// Numbers the readers of one client's socket (the correct relay has only reader 1).
pub type ReaderNo = u32;
/// A backend, by its position in the configured order.
pub type BackendNo = usize;

/// One WebSocket message, as the relay forwards it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

/// Why the relay closes a backend link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkClose {
    /// Its client's connection ended (or the relay closed the client).
    ClientGone,
    /// The backend refused the replayed registration.
    Refused,
    /// It is not the client's current link (a late dial whose client moved on).
    Superseded,
}

/// Why the relay closes a client connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientClose {
    /// `attempts` failover attempts in a row failed.
    GaveUp { attempts: u32 },
    /// The client sent more than the buffer holds while no backend was serving it.
    BufferFull { limit: usize },
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start reading the client's socket: every frame goes to
    /// [`Relay::on_client_frame`] with this reader's number, the end to
    /// [`Relay::on_client_closed`].
    ReadClient {
        client: ClientNo,
        reader: ReaderNo,
    },
    /// Open `link` to `backend` for `client` (WebSocket handshake included, within the
    /// driver's connect timeout), then report [`Relay::on_link_up`] or
    /// [`Relay::on_link_failed`]; once up, read it ([`Relay::on_backend_frame`]) until it
    /// ends ([`Relay::on_link_lost`]). `attempt` 0 is the client's first backend; n ≥ 1 is
    /// its nth failover attempt.
    Dial {
        client: ClientNo,
        link: LinkNo,
        backend: BackendNo,
        attempt: u32,
    },
    SendBackend {
        link: LinkNo,
        frame: Frame,
    },
    SendClient {
        client: ClientNo,
        frame: Frame,
    },
    /// Close the link (stop its reader, close its socket). The machine has forgotten it:
    /// do not report its end.
    CloseLink {
        link: LinkNo,
        why: LinkClose,
    },
    /// Close the client connection (stop its readers, close its socket) after what was
    /// sent to it. The machine has forgotten it: do not report its end.
    CloseClient {
        client: ClientNo,
        why: ClientClose,
    },
    /// Try to open (and close) a connection to `backend`, then report
    /// [`Relay::on_probe`].
    Probe {
        backend: BackendNo,
    },
    /// The relay's view of `backend` changed.
    Health {
        backend: BackendNo,
        up: bool,
    },
    /// `client` is served by `link` again: its registration and credits were replayed
    /// (when it had any) and what it sent meanwhile was flushed.
    Ready {
        client: ClientNo,
        link: LinkNo,
    },
    /// Free-form detail for the log.
    Note(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct RelayConfig {
    /// Backend addresses (`host:port`), in order of preference. At least one.
    pub backends: Vec<String>,
    pub failover: FailoverPolicy,
    /// How often a backend marked down is probed.
    pub probe_interval: Duration,
    /// A dial (TCP connect and WebSocket handshake) that takes longer fails (the driver
    /// applies it).
    pub connect_timeout: Duration,
    /// Client messages held while no backend serves the client; one more closes it.
    pub buffer: usize,
    /// Zoo flaws to switch on (empty: the correct relay).
    pub flaws: Flaws,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            backends: Vec::new(),
            failover: FailoverPolicy::default(),
            probe_interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            buffer: 64,
            flaws: Flaws::none(),
        }
    }
}

/// Where a client is in its backend's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Dialing this link.
    Dialing(LinkNo),
    /// The link is up; the backend has not answered the replayed `hello` yet.
    Replaying(LinkNo),
    /// Frames flow through the link.
    Ready(LinkNo),
    /// No link; the next failover attempt is due at this time.
    Waiting(Duration),
}

impl Phase {
    fn link(self) -> Option<LinkNo> {
        match self {
            Phase::Dialing(l) | Phase::Replaying(l) | Phase::Ready(l) => Some(l),
            Phase::Waiting(_) => None,
        }
    }
}

struct Client {
    phase: Phase,
    session: Session,
    /// Frames held while the client is not `Ready`, oldest first.
    buffer: VecDeque<Frame>,
    /// The number of the reader that feeds this client's frames.
    reader: ReaderNo,
    /// Zoo flaw `relay-two-readers` only: earlier readers, still running, each bound to
    /// the link it was started for (gone).
    stale_readers: BTreeSet<ReaderNo>,
    /// Links this client owns (dialing or up): one, or none while waiting.
    links: BTreeSet<LinkNo>,
    /// Failover attempts (rate limited).
    limiter: RateLimit,
    /// Failover attempts made for this client so far (they number the attempts).
    attempts: u32,
    /// Failed attempts since the client was last served.
    failures: u32,
    /// The backend of the latest dial.
    last_backend: BackendNo,
    /// Lost its backend and not served since.
    moving: bool,
}

struct Link {
    client: ClientNo,
    backend: BackendNo,
    /// Connected (counted in its backend's count).
    up: bool,
}

struct Backend {
    up: bool,
    /// Open links to it.
    count: u64,
    /// While down: when to probe next (none while a probe runs).
    next_probe: Option<Duration>,
}

/// Totals since the relay started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Totals {
    failovers: u64,
    attempts: u64,
    gave_up: u64,
    backend_gone: u64,
    cancelled: u64,
    /// Count decrements that found 0 (a bug if ever non-zero).
    underflows: u64,
}

/// The relay. Single-threaded; wrap it in [`SharedRelay`] to share it between tasks.
pub struct Relay {
    config: RelayConfig,
    backends: Vec<Backend>,
    clients: BTreeMap<ClientNo, Client>,
    links: BTreeMap<LinkNo, Link>,
    next_link: LinkNo,
    totals: Totals,
    /// A failover wait or a probe was scheduled (see [`Relay::take_timers_changed`]).
    timers_changed: bool,
}

impl Relay {
    pub fn new(config: RelayConfig) -> Self {
        let backends = config
            .backends
            .iter()
            .map(|_| Backend {
                up: true,
                count: 0,
                next_probe: None,
            })
            .collect();
        Relay {
            config,
            backends,
            clients: BTreeMap::new(),
            links: BTreeMap::new(),
            next_link: 0,
            totals: Totals::default(),
            timers_changed: false,
        }
    }

    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// A client connection was accepted at `now`: its one reader, and a dial to the first
    /// healthy backend.
    pub fn on_client_open(&mut self, client: ClientNo, now: Duration) -> Vec<Action> {
        if self.clients.contains_key(&client) || self.backends.is_empty() {
            return vec![Action::Note(format!(
                "client {client}: refused (already known, or no backends configured)"
            ))];
        }
        let backend = self.pick(None);
        let link = self.new_link(client, backend);
        self.clients.insert(
            client,
            Client {
                phase: Phase::Dialing(link),
                session: Session::default(),
                buffer: VecDeque::new(),
                reader: 1,
                stale_readers: BTreeSet::new(),
                links: BTreeSet::from([link]),
                limiter: RateLimit::new(self.config.failover.as_policy()),
                attempts: 0,
                failures: 0,
                last_backend: backend,
                moving: false,
            },
        );
        let _ = now;
        vec![
            Action::ReadClient { client, reader: 1 },
            Action::Dial {
                client,
                link,
                backend,
                attempt: 0,
            },
        ]
    }

    /// Reader `reader` of `client`'s socket read `frame`.
    pub fn on_client_frame(
        &mut self,
        client: ClientNo,
        reader: ReaderNo,
        frame: Frame,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let limit = self.config.buffer;
        let Some(c) = self.clients.get_mut(&client) else {
            return out;
        };
        if reader != c.reader {
            // Only with zoo flaw `relay-two-readers`: an earlier link's reader still runs
            // and forwards what it reads to its own link, which is gone.
            let stale = c.stale_readers.contains(&reader);
            out.push(Action::Note(format!(
                "client {client}: reader {reader} (of {} link) read a frame: lost",
                if stale { "an earlier" } else { "an unknown" }
            )));
            return out;
        }
        match c.phase {
            Phase::Ready(link) => forward(c, link, frame, &mut out),
            _ if c.buffer.len() >= limit => {
                let why = ClientClose::BufferFull { limit };
                out.extend(self.drop_client(client, why));
            }
            _ => c.buffer.push_back(frame),
        }
        out
    }

    /// `client`'s socket ended (closed by the peer, reset, read error). Closes its link
    /// at once and forgets everything it owned.
    pub fn on_client_closed(&mut self, client: ClientNo) -> Vec<Action> {
        if self.flaw(Flaw::RelayStaleState) {
            // Zoo flaw: the sockets are closed, the tracking maps and counts are not.
            let links = self.clients.get(&client).map(|c| c.links.clone());
            return links
                .into_iter()
                .flatten()
                .map(|link| Action::CloseLink {
                    link,
                    why: LinkClose::ClientGone,
                })
                .collect();
        }
        self.forget_client(client)
    }

    /// Forgets `link` (closed by the relay, or lost): out of the maps and its count.
    pub(super) fn unlink(&mut self, link: LinkNo, out: &mut Vec<Action>) {
        let Some(l) = self.links.remove(&link) else {
            return;
        };
        if let Some(c) = self.clients.get_mut(&l.client) {
            c.links.remove(&link);
        }
        if l.up {
            let b = &mut self.backends[l.backend];
            match b.count.checked_sub(1) {
                Some(n) => b.count = n,
                None => {
                    self.totals.underflows += 1;
                    out.push(Action::Note(format!(
                        "backend {}: count already 0 when link {link} closed",
                        l.backend
                    )));
                }
            }
        }
    }

    /// Forgets `client` and everything it owns; its links are closed.
    pub(super) fn forget_client(&mut self, client: ClientNo) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(c) = self.clients.get(&client) else {
            return out;
        };
        for link in c.links.clone() {
            self.unlink(link, &mut out);
            out.push(Action::CloseLink {
                link,
                why: LinkClose::ClientGone,
            });
        }
        self.clients.remove(&client);
        out
    }

    /// The relay closes `client` for `why`: its links first, then its socket.
    pub(super) fn drop_client(&mut self, client: ClientNo, why: ClientClose) -> Vec<Action> {
        let mut out = self.forget_client(client);
        out.push(Action::CloseClient { client, why });
        out
    }

    pub(super) fn new_link(&mut self, client: ClientNo, backend: BackendNo) -> LinkNo {
        self.next_link += 1;
        let link = self.next_link;
        self.links.insert(
            link,
            Link {
                client,
                backend,
                up: false,
            },
        );
        link
    }

    pub(super) fn flaw(&self, f: Flaw) -> bool {
        self.config.flaws.has(f)
    }
}

/// Forwards a client's `frame` to `link`, unless its session says the relay already
/// ended the request it belongs to.
fn forward(c: &mut Client, link: LinkNo, frame: Frame, out: &mut Vec<Action>) {
    if let Frame::Text(t) = &frame {
        if let Ok(m) = crate::wire::Message::decode(t) {
            if !c.session.client_sent(&m, t) {
                out.push(Action::Note(format!(
                    "dropped {} (its request already ended at a lost backend)",
                    crate::wire::summary(&m)
                )));
                return;
            }
        }
    }
    out.push(Action::SendBackend { link, frame });
}

#[cfg(all(test, not(loom)))]
mod tests;
