//! The narrow window through which a harness watches a reference host.

use std::fmt;
use std::time::Duration;
use wirecheck_core::pending::CallError;

/// Lifecycle events with meaning a checker can rely on (free-form text goes to
/// [`Observer::note`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Client: a connection attempt to `addr` starts (attempts are numbered from 1).
    Connecting { addr: String, attempt: u64 },
    /// Client: `welcome` accepted; requests may flow.
    Registered { addr: String },
    /// Client: the attempt failed before registration completed.
    RegistrationFailed { addr: String, error: CallError },
    /// Client: an established (registered) connection ended; `failed` pending requests
    /// were failed with `disconnected`.
    Disconnected { reason: String, failed: usize },
    /// Client: waiting this long before the next attempt (backoff).
    Backoff { delay: Duration },
    /// Client: waiting this long because of the attempt rate limit.
    RateLimited { wait: Duration },
    /// Client: gave up for good.
    Stopped { reason: String },
    /// Broker or relay: the connection from `peer` is gone (all its state has been
    /// released).
    ConnClosed {
        peer: String,
        reason: String,
        cause: CloseCause,
    },
    /// Relay: what it did with a client connection or a backend.
    Relay(RelayEvent),
}

/// What a relay did. Clients are named by the address they connected from (`peer`
/// labels), backends by the address the relay dials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    /// A task reading `client`'s socket started (`running`) or ended. `reader` numbers
    /// the readers of that socket from 1.
    Reader {
        client: String,
        reader: u32,
        running: bool,
    },
    /// Dialing `backend` for `client` over link `link`: `attempt` 0 is the client's first
    /// backend, n ≥ 1 its nth failover attempt.
    Dial {
        client: String,
        link: u64,
        backend: String,
        attempt: u32,
    },
    /// The link is open; `conn` is the relay's port toward the backend.
    Linked {
        client: String,
        link: u64,
        backend: String,
        conn: Option<u16>,
    },
    /// `client` is served through `link` (its registration and credits replayed, what it
    /// sent meanwhile flushed).
    Ready {
        client: String,
        link: u64,
        backend: String,
    },
    /// The link ended.
    Unlinked {
        client: String,
        link: u64,
        backend: String,
        end: LinkEnd,
    },
    /// The relay now holds `backend` healthy (`up`) or not.
    Health { backend: String, up: bool },
    /// The relay gave up on `client` after `attempts` failed failover attempts in a row.
    GaveUp { client: String, attempts: u32 },
}

/// How a relay's backend link ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkEnd {
    /// The dial failed (refused, reset, timed out): it never opened.
    Failed,
    /// The backend ended it (closed, crashed, reset).
    Lost,
    /// The relay closed it (its client left, a refused replay, superseded).
    Closed,
}

impl fmt::Display for RelayEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayEvent::Reader {
                client,
                reader,
                running,
            } => write!(
                f,
                "reader {reader} of {client} {}",
                if *running { "started" } else { "ended" }
            ),
            RelayEvent::Dial {
                client,
                link,
                backend,
                attempt: 0,
            } => write!(f, "link {link}: dial {backend} for {client}"),
            RelayEvent::Dial {
                client,
                link,
                backend,
                attempt,
            } => write!(
                f,
                "link {link}: dial {backend} for {client} (failover attempt {attempt})"
            ),
            RelayEvent::Linked { link, backend, .. } => write!(f, "link {link}: {backend} open"),
            RelayEvent::Ready {
                client,
                link,
                backend,
            } => write!(f, "link {link}: {client} served by {backend}"),
            RelayEvent::Unlinked {
                link, backend, end, ..
            } => write!(
                f,
                "link {link}: {backend} {}",
                match end {
                    LinkEnd::Failed => "dial failed",
                    LinkEnd::Lost => "lost",
                    LinkEnd::Closed => "closed by the relay",
                }
            ),
            RelayEvent::Health { backend, up } => {
                write!(f, "{backend} {}", if *up { "healthy" } else { "down" })
            }
            RelayEvent::GaveUp { client, attempts } => {
                write!(
                    f,
                    "gave up on {client} after {attempts} failed failover attempts"
                )
            }
        }
    }
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lifecycle::Connecting { addr, attempt } => {
                write!(f, "connect {addr} (attempt {attempt})")
            }
            Lifecycle::Registered { addr } => write!(f, "registered with {addr}"),
            Lifecycle::RegistrationFailed { addr, error } => {
                write!(f, "registration with {addr} failed: {error}")
            }
            Lifecycle::Disconnected { reason, failed } => write!(
                f,
                "disconnected: {reason}; {failed} pending request(s) failed"
            ),
            Lifecycle::Backoff { delay } => write!(f, "backoff {}", fmt_dur(*delay)),
            Lifecycle::RateLimited { wait } => {
                write!(f, "rate limit: next attempt in {}", fmt_dur(*wait))
            }
            Lifecycle::Stopped { reason } => write!(f, "stopped: {reason}"),
            Lifecycle::ConnClosed { peer, reason, .. } => {
                write!(f, "connection from {peer} closed: {reason}")
            }
            Lifecycle::Relay(e) => e.fmt(f),
        }
    }
}

/// Who ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseCause {
    /// The peer closed it (a close frame, or the stream ended).
    Peer,
    /// This host closed it because the peer was silent for its idle timeout.
    Idle,
    /// This host decided to close it (a refused registration, a slow consumer).
    Local,
    /// A read error.
    Error,
}

/// Receives what a host reads and what it decides, for tracing. Implementations must be
/// cheap and must not block: they run on the reader's path.
pub trait Observer: Send + Sync + 'static {
    /// A text message arrived from `peer` (an address label such as `10.0.0.2:49152` or
    /// `broker:7000`). Called before the message is acted on.
    fn received(&self, peer: &str, text: &str) {
        let _ = (peer, text);
    }

    /// A text message arrived from `peer` on the connection this host opened from local
    /// port `conn` (a relay's backend link). By default the same as
    /// [`Observer::received`].
    fn received_on(&self, peer: &str, conn: Option<u16>, text: &str) {
        let _ = conn;
        self.received(peer, text);
    }

    /// A lifecycle event. By default rendered as a note.
    fn lifecycle(&self, event: Lifecycle) {
        self.note(&event.to_string());
    }

    /// Free-form detail: a dropped frame, an ignored message...
    fn note(&self, what: &str) {
        let _ = what;
    }
}

/// An observer that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// `1.500s`, `250ms`: durations as traces print them.
pub use wirecheck_core::mux::fmt_dur;
