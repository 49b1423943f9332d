//! The world a scenario runs in: a clock, a network, faults and the lifecycle of hosts,
//! behind one interface ([`World`]), so the runner never names the simulator.
//!
//! [`sim::SimWorld`] is turmoil (simulated time and network, deterministic by seed).
//! [`real::RealWorld`] is the same traits in real time: `now` reads a wall clock, `step`
//! sleeps a tick, [`Net`] opens real sockets on the loopback range (one address per host),
//! and faults on links go through in-path relays.

pub mod real;
pub mod sim;

use crate::trace::{Clock, FaultKind};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Port every broker, proxy and scripted server listens on.
pub const PORT: u16 = 7300;

/// What a host's software returns when it stops.
pub type HostResult = Result<(), Box<dyn std::error::Error>>;

/// The software of one host, as the world runs it.
pub type HostFuture = Pin<Box<dyn Future<Output = HostResult>>>;

/// Builds a host's software: called when the host starts and again after every bounce.
/// `Send + Sync`, so a world may run each host on its own thread (the real-time world
/// does); the future it builds stays on that thread.
pub type Software = Box<dyn Fn() -> HostFuture + Send + Sync>;

/// A byte stream between two hosts.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A boxed stream, whatever the world's sockets are.
pub type BoxIo = Box<dyn Io>;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A listening socket.
pub trait Listener: Send {
    /// The next accepted connection and the address it came from.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxIo, SocketAddr)>>;
}

/// The network as a host's software sees it. Hosts are named by their scenario name.
pub trait Net: Send + Sync + 'static {
    /// Listens on this host's [`PORT`].
    fn listen(&self) -> BoxFuture<'_, io::Result<Box<dyn Listener>>>;
    /// Connects to `addr` (`host:port`, as [`addr_of`] makes it); returns the stream and
    /// the local port of this side (what the peer sees the connection come from).
    fn connect<'a>(&'a self, addr: &'a str) -> BoxFuture<'a, io::Result<(BoxIo, Option<u16>)>>;
    /// The scenario host an accepted connection's address belongs to.
    fn host_of(&self, addr: SocketAddr) -> Option<String>;
}

/// The address hosts dial to reach `host`.
pub fn addr_of(host: &str) -> String {
    format!("{host}:{PORT}")
}

/// How the simulated world lets time pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pace {
    /// Jump over stretches in which no host can act (the default).
    #[default]
    SkipIdle,
    /// One tick at a time, every host polled on every tick (what the jumps must equal).
    EveryTick,
}

/// Why the world could not advance.
#[derive(Debug)]
pub struct WorldError(pub String);

/// Clock, network, faults and host lifecycle. The runner drives a world through this
/// interface only.
pub trait World {
    /// Time since the start of the run.
    fn now(&self) -> Duration;
    /// A clock the trace and the hosts' software read.
    fn clock(&self) -> Clock;
    /// The network the hosts' software uses.
    fn net(&self) -> Arc<dyn Net>;
    /// Adds a host running `software`.
    fn add_host(&mut self, name: &str, software: Software);
    /// Lets one tick of time pass, running every host that has work.
    fn step(&mut self) -> Result<(), WorldError>;
    /// Lets time pass towards `limit`: at least one tick, and more at once when the world
    /// can tell that no host can act before then (the simulated world jumps over idle
    /// stretches; every event keeps the time tick-by-tick stepping gives it). The caller
    /// must not have handed a host anything since the last step (an unacknowledged
    /// command may still be waiting to wake its host): then it steps.
    fn advance(&mut self, limit: Duration) -> Result<(), WorldError> {
        let _ = limit;
        self.step()
    }
    /// Applies a fault: `a` and `b` for link faults (every pair of their hosts), `a` alone
    /// for `crash` and `bounce`.
    fn fault(&mut self, fault: FaultKind, a: &str, b: Option<&str>);
}
