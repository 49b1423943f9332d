//! The typed events of a trace. Producers (drivers, the runner) build these; checkers
//! match on them; only `crate::render` turns them into text.

use crate::model::{Corruption, Outcome};
use std::fmt;
use std::time::Duration;
use wirecheck_core::wire::Message;

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Time since the start of the run, as the world's clock tells it.
    pub at: Duration,
    pub host: String,
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// `host` received a text message from `from`.
    Recv {
        from: String,
        /// The connection, when known: the connecting side's ephemeral port (the peer's port
        /// on a connection `host` accepted; a proxy's own port toward its target). Tells apart
        /// two connections between the same hosts (a zombie and its replacement).
        conn: Option<u16>,
        text: String,
        /// The decoded message, if the text is a valid protocol message.
        msg: Option<Message>,
    },
    /// The script started a call on `host`.
    Call {
        id: String,
        call: Call,
        /// For requests: the time by which the call must have ended (its timeout).
        deadline: Option<Duration>,
    },
    /// A call on `host` ended.
    Result { id: String, outcome: Outcome },
    /// A lifecycle event of `host` (connect attempt, registered, backoff, connection closed).
    Life(Lifecycle),
    /// Free-form detail from `host` (dropped frame, ignored message...). Checkers never
    /// read notes: anything a verdict depends on is a typed event.
    Note(String),
    /// A network or process fault; `host` is the first host involved, `other` the second.
    Fault {
        fault: FaultKind,
        other: Option<String>,
    },
    /// A proxy (`host`) acted on a message from `peer`; `text` is the message as received.
    Proxy {
        action: ProxyAct,
        peer: String,
        text: String,
    },
}

/// A script call as issued, with what the diagram shows of it.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// Start the client: register as `client` with `brokers`, in failover order.
    Connect {
        client: String,
        brokers: Vec<String>,
    },
    Request {
        channel: String,
        body: String,
        chunks: usize,
        timeout: Option<Duration>,
        /// JSON-RPC: sent in the batch named after its first call's id.
        batch: Option<String>,
    },
    /// JSON-RPC: a notification (no id, no result).
    Notify { method: String, params: String },
    /// The caller drops the request.
    Cancel,
    /// Close the connection, no reconnect.
    Disconnect,
}

/// A fault the world applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    Partition,
    Repair,
    /// A one-way partition: the event's host is the sender whose messages are lost, its
    /// `other` the receiver.
    PartitionOneway,
    RepairOneway,
    /// The link's latency (both ways) is `[min, max]` from now on.
    Latency {
        min: Duration,
        max: Duration,
    },
    Hold,
    Release,
    Crash,
    Bounce,
    /// Not a fault of the world: the script's `heal` step, after which every request must
    /// be answered within the step's bound (CONN-7). Its event names no host.
    Heal,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Repair => "repair",
            FaultKind::PartitionOneway => "partition_oneway",
            FaultKind::RepairOneway => "repair_oneway",
            FaultKind::Latency { .. } => "latency",
            FaultKind::Hold => "hold",
            FaultKind::Release => "release",
            FaultKind::Crash => "crash",
            FaultKind::Bounce => "bounce",
            FaultKind::Heal => "heal",
        }
    }

    /// Does this fault cut or stall a link (messages on it may be late or lost)?
    pub fn disturbs_link(self) -> bool {
        matches!(
            self,
            FaultKind::Partition | FaultKind::PartitionOneway | FaultKind::Hold
        )
    }
}

/// What a chaos proxy did to one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyAct {
    Drop,
    Duplicate,
    Delay(Duration),
    Hold,
    Release,
    /// The message is the `nth` of `window` collected for a reversed batch.
    Reorder {
        nth: usize,
        window: u32,
    },
    Corrupt(Corruption),
    Close,
}

/// One end of a connection as a host sees it: the peer host and, when known, the
/// connecting side's port (which tells two connections between the same hosts apart).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Peer {
    pub host: String,
    pub conn: Option<u16>,
}

impl fmt::Display for Peer {
    /// `app:49152` for an accepted connection, `broker` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.conn {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// An address a client dials: a host of the scenario and its port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Why a registration attempt did not end in `welcome`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegError {
    /// The broker answered `error` with this code.
    Refused { code: String, message: String },
    /// The attempt failed locally (`timeout`, `unexpected_reply`, `send_failed`...).
    Failed {
        kind: crate::model::FailKind,
        detail: Option<String>,
    },
}

/// Who ended a connection, as the host that reports the close saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseCause {
    /// The peer closed it (a close frame, or the stream ended).
    Peer,
    /// This host closed it: the peer was silent for its idle timeout.
    Idle,
    /// This host decided to close it (a refused registration, a slow consumer, a rule).
    Local,
    /// A read error.
    Error,
}

/// Lifecycle events with meaning a checker can rely on (free-form text is a `Note`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Client: a connection attempt to `to` starts (attempts are numbered from 1).
    Connecting { to: Endpoint, attempt: u64 },
    /// Client: `welcome` accepted; requests may flow.
    Registered { to: Endpoint },
    /// Client: the attempt failed before registration completed.
    RegistrationFailed { to: Endpoint, error: RegError },
    /// Client: an established (registered) connection ended; `failed` pending requests
    /// were failed with `disconnected`.
    Disconnected { reason: String, failed: usize },
    /// Client: waiting this long before the next attempt (backoff).
    Backoff { delay: Duration },
    /// Client: waiting this long because of the attempt rate limit.
    RateLimited { wait: Duration },
    /// Client: gave up for good.
    Stopped { reason: String },
    /// Client: the library itself reported that two tasks read its connection at once
    /// (its own error, read from an external adapter's stderr; `said` is the line).
    TwoReaders { said: String },
    /// Scripted client: a connection to `to.host` is open; `to.conn` is this side's port
    /// (what the peer sees the connection come from).
    ConnOpened { to: Peer },
    /// Broker, proxy, relay, scripted peer or JSON-RPC server: the connection with `peer`
    /// is gone.
    ConnClosed {
        peer: Peer,
        reason: String,
        cause: CloseCause,
    },
    /// Relay: what it did with a client connection or a backend.
    Relay(RelayLife),
}

/// What a relay did. A client is the peer of an accepted connection (its host and port);
/// a backend is the host the relay dials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayLife {
    /// A task reading `client`'s socket started (`running`) or ended; `reader` numbers
    /// that socket's readers from 1.
    Reader {
        client: Peer,
        reader: u32,
        running: bool,
    },
    /// Dialing `backend` for `client` over link `link` (numbered by the relay, never
    /// reused): `attempt` 0 is the client's first backend, n ≥ 1 its nth failover attempt.
    Dial {
        client: Peer,
        link: u64,
        backend: String,
        attempt: u32,
    },
    /// The link is open; `conn` is the relay's port toward the backend (as the backend
    /// sees the connection).
    Linked {
        client: Peer,
        link: u64,
        backend: String,
        conn: Option<u16>,
    },
    /// `client` is served through `link`: its registration and credits were replayed (if
    /// it had any) and what it sent meanwhile was flushed.
    Ready {
        client: Peer,
        link: u64,
        backend: String,
    },
    /// The link ended.
    Unlinked {
        client: Peer,
        link: u64,
        backend: String,
        end: LinkEnd,
    },
    /// The relay now holds `backend` healthy (`up`) or not.
    Health { backend: String, up: bool },
    /// The relay gave up on `client` after `attempts` failed failover attempts in a row
    /// (it closes the client's connection).
    GaveUp { client: Peer, attempts: u32 },
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
