//! Host drivers: the only code that touches an implementation under test. One driver per
//! host kind ([`broker`], [`client`], [`scripted`], [`proxy`], [`rpc_server`], [`relay`]),
//! each behind [`Driver`].
//!
//! The runner talks to a host through its [`HostCtl`] (commands in; call results, the
//! scripted inbox and start/crash bookkeeping out) and its [`Driver`] (software, counters,
//! end-of-run facts, crash). What a driver cannot know (a black box may not report its
//! pending ids) is `None` in [`Facts`], and checkers that need it are skipped.

pub mod broker;
pub mod client;
pub mod external;
mod observer;
pub mod proxy;
pub mod relay;
pub mod rpc_server;
pub mod scripted;

use crate::model::{
    BatchCall, Frame, HostKind, NotifyCall, Outcome, RequestCall, ScriptedSpec, ServeSpec,
};
use crate::trace::{EventKind, Trace};
use crate::world::{HostFuture, Net};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use wirecheck_core::flaws::Flaws;

/// A command from the runner to a host driver. Each is acknowledged once the driver has
/// acted on it.
#[derive(Clone, Debug)]
pub enum Cmd {
    Connect {
        id: String,
    },
    Request(RequestCall),
    /// JSON-RPC only.
    Batch(BatchCall),
    Notify(NotifyCall),
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

/// Why a host did not act on a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CmdError {
    /// The host's software is not running (crashed, or not started yet).
    NotRunning { host: String },
    /// The host stopped before acknowledging.
    Stopped { host: String },
    /// A scripted peer has no open connection (with `peer`, when given) yet: a later tick
    /// may have one.
    NoConnection {
        host: String,
        peer: Option<String>,
        open: Vec<String>,
    },
    /// This kind of host does not take the command.
    Unsupported { kind: &'static str, cmd: String },
    /// The command does not fit the host's state now.
    Refused(String),
    /// The connection closed before the message could be queued.
    Closed,
}

impl CmdError {
    /// Might the same command succeed a tick later?
    pub fn retryable(&self) -> bool {
        matches!(self, CmdError::NoConnection { .. })
    }
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdError::NotRunning { host } => write!(
                f,
                "host `{host}` is not running (crashed, or not started yet)"
            ),
            CmdError::Stopped { host } => write!(f, "host `{host}` stopped before acting"),
            CmdError::NoConnection {
                host, peer: None, ..
            } => write!(f, "`{host}` has no open connection"),
            CmdError::NoConnection {
                host,
                peer: Some(peer),
                open,
            } => write!(
                f,
                "`{host}` has no open connection with `{peer}` (open: {})",
                open.join(", ")
            ),
            CmdError::Unsupported { kind, cmd } => match *kind {
                "broker" => write!(f, "a broker host takes no script commands (got {cmd})"),
                "proxy" => write!(f, "a proxy host only takes `release` (got {cmd})"),
                kind => write!(f, "a {kind} host cannot do {cmd}"),
            },
            CmdError::Refused(why) => f.write_str(why),
            CmdError::Closed => f.write_str("the connection closed"),
        }
    }
}

type Ack = oneshot::Sender<Result<(), CmdError>>;

/// The receiving end of a host's command mailbox, held by its running software.
pub type Mailbox = mpsc::UnboundedReceiver<(Cmd, Ack)>;

/// What every host reports, whatever its kind.
#[derive(Default)]
pub struct HostState {
    /// Call id → (time, outcome).
    pub results: BTreeMap<String, (Duration, Outcome)>,
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

/// The runner's handle on one host: its mailbox and what it reports.
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
    pub fn command(&self, cmd: Cmd) -> Result<oneshot::Receiver<Result<(), CmdError>>, CmdError> {
        let (tx, rx) = oneshot::channel();
        let guard = self.cmd.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(s) if s.send((cmd, tx)).is_ok() => Ok(rx),
            _ => Err(CmdError::NotRunning {
                host: self.name.clone(),
            }),
        }
    }

    /// Called by a host's software when it starts: a fresh mailbox.
    pub(crate) fn attach(&self) -> Mailbox {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.cmd.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        let mut st = self.state();
        st.starts += 1;
        st.crashed = false;
        rx
    }

    /// The world crashed the host.
    pub(crate) fn mark_crashed(&self) {
        self.state().crashed = true;
    }

    pub(crate) fn record_result(&self, trace: &Trace, id: &str, outcome: Outcome) {
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

/// Everything a driver's software needs.
#[derive(Clone)]
pub struct Ctx {
    pub ctl: Arc<HostCtl>,
    pub trace: Trace,
    pub net: Arc<dyn Net>,
    pub seed: u64,
    /// Zoo flaws switched on for this run (empty: the correct reference).
    pub flaws: Flaws,
    /// The scenario's wire protocol.
    pub protocol: crate::model::Protocol,
}

impl Ctx {
    pub(crate) fn note(&self, what: impl Into<String>) {
        self.trace
            .host_event(&self.ctl.name, EventKind::Note(what.into()));
    }

    /// Records a received text message from `from` on connection `conn`.
    pub(crate) fn received(&self, from: &str, conn: Option<u16>, text: &str) {
        self.trace.host_event(
            &self.ctl.name,
            EventKind::Recv {
                from: from.to_owned(),
                conn,
                text: text.to_owned(),
                msg: wirecheck_core::wire::Message::decode(text).ok(),
            },
        );
    }

    /// Host name and connection of an accepted connection's address.
    pub(crate) fn peer_of(&self, addr: std::net::SocketAddr) -> (String, Option<u16>) {
        match self.net.host_of(addr) {
            Some(name) => (name, Some(addr.port())),
            None => (addr.ip().to_string(), None),
        }
    }
}

/// End-of-run facts a driver may be able to report (each `None` when it cannot).
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Client: ids in the pending map.
    pub pending_ids: Option<Vec<String>>,
    /// Broker: request ids it still holds.
    pub broker_requests: Option<Vec<String>>,
    /// Broker: structural invariant violation (`Some(Ok(()))`: checked, none).
    pub broker_invariants: Option<Result<(), String>>,
    /// Relay: what its maps and counts hold.
    pub relay: Option<crate::trace::RelayFacts>,
}

/// Counters of a host, by name.
pub type Counters = BTreeMap<String, u64>;

/// A host kind's driver.
pub trait Driver: Send + Sync {
    /// The host's software: called when the host starts and again after every bounce.
    fn software(&self, ctx: Ctx) -> HostFuture;
    /// Counters now; empty when nothing is running that could report them.
    fn counters(&self, ctl: &HostCtl) -> Counters;
    /// What the driver can tell the checkers at the end.
    fn facts(&self) -> Facts;
    /// Ids still pending, for a hint when a result does not arrive (if known).
    fn pending(&self) -> Option<Vec<String>> {
        self.facts().pending_ids
    }
    /// The world crashed the host: forget what its software held.
    fn crashed(&self) {}
}

/// The driver for a host of this kind.
pub fn driver_for(kind: &HostKind) -> Arc<dyn Driver> {
    match kind.clone() {
        HostKind::Broker(spec) => Arc::new(broker::BrokerDriver::new(spec)),
        HostKind::Client(spec) => Arc::new(client::ClientDriver::new(spec)),
        HostKind::Scripted(ScriptedSpec::Server) => Arc::new(scripted::ScriptedServer),
        HostKind::Scripted(ScriptedSpec::Client {
            target,
            autoconnect,
        }) => Arc::new(scripted::ScriptedClient {
            target,
            autoconnect,
        }),
        HostKind::Proxy(spec) => Arc::new(proxy::ProxyDriver { spec }),
        HostKind::RpcServer => Arc::new(rpc_server::RpcServerDriver),
        HostKind::Relay(spec) => Arc::new(relay::RelayDriver::new(spec)),
    }
}

/// Takes a lock, surviving a panic of another holder.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
