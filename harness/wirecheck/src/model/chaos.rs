//! What a chaos scenario asks for: a `workload:` (senders, receivers, requests and their
//! distributions) and a `nemesis:` (a fault schedule and its heal), both drawn from the
//! scenario's seed when the scenario runs (`crate::chaos`). Every field has its default in
//! the vocabulary ([`super::vocab::FIELDS`], `workload.*` and `nemesis.*`).

use super::Loc;
use std::time::Duration;

/// `workload:` and `nemesis:` of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct ChaosSpec {
    pub workload: Workload,
    /// `None`: no faults (the workload alone, still judged by every checker).
    pub nemesis: Option<Nemesis>,
}

/// An inclusive range a value is drawn from, uniformly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span<T> {
    pub min: T,
    pub max: T,
}

impl<T: Copy> Span<T> {
    pub const fn fixed(v: T) -> Self {
        Span { min: v, max: v }
    }
}

/// Senders and receivers (reference clients the workload adds), and the requests the
/// senders make.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Where `workload:` is written (generated hosts and steps point here).
    pub loc: Loc,
    /// The broker host every workload client reaches (through the nemesis' proxy when it
    /// has message faults).
    pub broker: String,
    /// Sender hosts `s0`, `s1`, ...
    pub senders: u32,
    /// Receiver hosts `w0`, `w1`, ... serving `channel` with `echo`.
    pub receivers: u32,
    /// Requests made during the fault phase.
    pub requests: u32,
    /// Requests per second over all senders (gaps drawn uniformly in `[0, 2/rate]`).
    pub rate: u32,
    pub channel: String,
    /// Padding bytes appended to each request's tagged body.
    pub body: Span<u32>,
    /// Chunk frames sent after `start`.
    pub chunks: Span<u32>,
    pub timeout: Span<Duration>,
    /// Probability that a request is cancelled before its timeout.
    pub cancel: f64,
    /// Probability that a request is a `$info` query to the broker instead (its answer
    /// is the broker's, not an echo).
    pub info: f64,
    /// Each receiver's reply delay, drawn once per receiver.
    pub reply_delay: Span<Duration>,
    /// Each receiver's reply chunk count, drawn once per receiver.
    pub reply_chunks: Span<u32>,
    /// Each receiver's concurrency (receive credits), drawn once per receiver.
    pub concurrency: Span<u32>,
}

/// A network or process fault the nemesis can draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultSort {
    /// One client's link to the host it reaches is cut, then repaired.
    Partition,
    /// A majority of the workload's clients are cut from the host they reach, then repaired.
    Majority,
    /// One client's link is held, then released.
    Hold,
    /// A broker or a client is killed, then restarted.
    Crash,
    /// A broker or a client is restarted at once.
    Bounce,
    /// One direction of one client's link (drawn: to or from the host it reaches) is cut,
    /// then repaired. Opt-in: not in [`FaultSort::DEFAULT`].
    OneWay,
    /// One client's link to the host it reaches gets a drawn fixed latency (20..200 ms),
    /// then the network's latency back. Opt-in: not in [`FaultSort::DEFAULT`].
    Latency,
}

impl FaultSort {
    pub const ALL: [FaultSort; 7] = [
        FaultSort::Partition,
        FaultSort::Majority,
        FaultSort::Hold,
        FaultSort::Crash,
        FaultSort::Bounce,
        FaultSort::OneWay,
        FaultSort::Latency,
    ];

    /// The kinds drawn when a nemesis names none (the kinds older than `oneway` and
    /// `latency`, so the
    /// plans of existing scenario files stay as they were).
    pub const DEFAULT: [FaultSort; 5] = [
        FaultSort::Partition,
        FaultSort::Majority,
        FaultSort::Hold,
        FaultSort::Crash,
        FaultSort::Bounce,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            FaultSort::Partition => "partition",
            FaultSort::Majority => "majority",
            FaultSort::Hold => "hold",
            FaultSort::Crash => "crash",
            FaultSort::Bounce => "bounce",
            FaultSort::OneWay => "oneway",
            FaultSort::Latency => "latency",
        }
    }

    pub fn from_name(name: &str) -> Option<FaultSort> {
        FaultSort::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A message fault of the nemesis' chaos proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MessageFault {
    Drop,
    Duplicate,
    Delay,
    Reorder,
    Corrupt,
    Close,
}

impl MessageFault {
    pub const ALL: [MessageFault; 6] = [
        MessageFault::Drop,
        MessageFault::Duplicate,
        MessageFault::Delay,
        MessageFault::Reorder,
        MessageFault::Corrupt,
        MessageFault::Close,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            MessageFault::Drop => "drop",
            MessageFault::Duplicate => "duplicate",
            MessageFault::Delay => "delay",
            MessageFault::Reorder => "reorder",
            MessageFault::Corrupt => "corrupt",
            MessageFault::Close => "close",
        }
    }

    pub fn from_name(name: &str) -> Option<MessageFault> {
        MessageFault::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// The fault schedule: network and process faults during the workload, message faults
/// through a chaos proxy, then a heal phase.
#[derive(Clone, Debug, PartialEq)]
pub struct Nemesis {
    pub loc: Loc,
    /// Network and process faults drawn during the fault phase.
    pub faults: u32,
    /// The sorts of fault drawn from.
    pub kinds: Vec<FaultSort>,
    /// How long each fault lasts before it heals (crash: until the restart).
    pub length: Span<Duration>,
    /// Message faults; `None` (`messages: off`): no proxy.
    pub messages: Option<MessageFaults>,
    pub heal: Heal,
}

/// The chaos proxy's message faults: one rule per action, each matching a message with
/// probability `rate`, active during the fault phase only.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageFaults {
    pub rate: f64,
    pub actions: Vec<MessageFault>,
}

/// After the fault phase: every fault healed, `settle` for the system to notice and
/// recover, then `requests` more requests, each of which must be answered within `within`
/// (CONN-7).
#[derive(Clone, Debug, PartialEq)]
pub struct Heal {
    pub settle: Duration,
    pub requests: u32,
    pub within: Duration,
}
