//! What a checker may look at ([`Input`]: the scenario, the indexed trace, what each host's
//! driver reported at the end) and the helpers shared by the rule families: roles, excuses
//! (a disturbed host, a faulted link) and the message classes the rules talk about.

use super::verdict::{RuleId, Violation};
use crate::model::{BrokerSpec, ClientSpec, HostKind, ProxySpec, RelaySpec, Scenario};
use crate::trace::index::{Rx, Sessions, TraceIndex};
use crate::trace::jsonrpc::Decoded;
use crate::trace::{Event, EventKind, FaultKind, RelayFacts};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use wirecheck_core::wire::{code, Dir, Message};

/// How long a broker may take to react (answer an error, send `cancel`, ...).
pub const PROMPT: Duration = Duration::from_secs(1);
/// Timing tolerance for deadlines measured on both sides of a tick.
pub const SLACK: Duration = Duration::from_millis(20);

/// What a host's driver reported about it at the end of the run (after the quiet period).
///
/// `running`, `restarted` and `counters` every driver reports. The other fields are
/// optional facts about the implementation's internal state: a driver that cannot see
/// them (a black-box implementation in another language) leaves them `None`, and a
/// checker that needs one skips that host and says so (see [`super::Skip`]).
#[derive(Clone, Debug, Default)]
pub struct HostFinal {
    /// The host's software was running at the end (not crashed).
    pub running: bool,
    /// The host was crashed or bounced at some point (counters restarted).
    pub restarted: bool,
    /// Counters by name.
    pub counters: BTreeMap<String, u64>,
    /// Client: ids in the pending map.
    pub pending_ids: Option<Vec<String>>,
    /// Broker: request ids it still holds.
    pub broker_requests: Option<Vec<String>>,
    /// Broker: its structural self-check (`Err` names the inconsistency).
    pub broker_invariants: Option<Result<(), String>>,
    /// Relay: what its tracking maps and counts hold.
    pub relay: Option<RelayFacts>,
}

/// Everything a checker may look at.
pub struct Input<'a> {
    pub scenario: &'a Scenario,
    pub events: &'a [Event],
    pub finals: &'a BTreeMap<String, HostFinal>,
    /// Simulated time at the end of the run.
    pub end: Duration,
    /// The trace, indexed once.
    pub ix: TraceIndex<'a>,
    /// JSON-RPC runs: the trace decoded under the profile (frames, bindings); the index
    /// above then holds the decoded messages.
    pub rpc: Option<&'a Decoded>,
}

impl<'a> Input<'a> {
    /// Indexes `events` once for every checker.
    pub fn new(
        scenario: &'a Scenario,
        events: &'a [Event],
        finals: &'a BTreeMap<String, HostFinal>,
        end: Duration,
    ) -> Self {
        Input {
            scenario,
            events,
            finals,
            end,
            ix: TraceIndex::new(events),
            rpc: None,
        }
    }

    /// A JSON-RPC run: the checkers see `decoded`'s messages (see
    /// [`crate::trace::jsonrpc`]), so the MUX rules are judged by the same code.
    pub fn with_rpc(
        scenario: &'a Scenario,
        events: &'a [Event],
        finals: &'a BTreeMap<String, HostFinal>,
        end: Duration,
        decoded: &'a Decoded,
    ) -> Self {
        Input {
            scenario,
            events,
            finals,
            end,
            ix: TraceIndex::from_messages(events, &decoded.msgs),
            rpc: Some(decoded),
        }
    }

    /// The longest a message may take on any link: the network's `max_latency`, widened
    /// by every `latency` fault of the run (slack for deadlines is built from this).
    pub fn max_latency(&self) -> Duration {
        self.latency_faults()
            .map(|(_, max)| max)
            .fold(self.scenario.network.max_latency, Duration::max)
    }

    /// The shortest a message may take on any link (the network's, lowered by every
    /// `latency` fault of the run).
    pub fn min_latency(&self) -> Duration {
        self.latency_faults()
            .map(|(min, _)| min)
            .fold(self.scenario.network.min_latency, Duration::min)
    }

    fn latency_faults(&self) -> impl Iterator<Item = (Duration, Duration)> + '_ {
        self.ix.faults().filter_map(|(_, e)| match e.kind {
            EventKind::Fault {
                fault: FaultKind::Latency { min, max },
                ..
            } => Some((min, max)),
            _ => None,
        })
    }

    // -- Roles: the part each host plays in the scenario, or by its behaviour.

    /// Hosts playing a client under test (the scenario's `client` hosts), with their spec.
    pub fn client_hosts(&self) -> impl Iterator<Item = (&'a str, &'a ClientSpec)> + 'a {
        self.scenario.hosts.iter().filter_map(|h| match &h.kind {
            HostKind::Client(c) => Some((h.name.as_str(), c)),
            _ => None,
        })
    }

    /// Hosts playing a broker under test (the scenario's `broker` hosts), with their spec.
    pub fn broker_impls(&self) -> impl Iterator<Item = (&'a str, &'a BrokerSpec)> + 'a {
        self.scenario.hosts.iter().filter_map(|h| match &h.kind {
            HostKind::Broker(b) => Some((h.name.as_str(), b)),
            _ => None,
        })
    }

    /// Message-level proxies (the scenario's `proxy` hosts), with their spec.
    pub fn proxy_hosts(&self) -> impl Iterator<Item = (&'a str, &'a ProxySpec)> + 'a {
        self.scenario.hosts.iter().filter_map(|h| match &h.kind {
            HostKind::Proxy(p) => Some((h.name.as_str(), p)),
            _ => None,
        })
    }

    pub fn is_proxy(&self, host: &str) -> bool {
        self.proxy_hosts().any(|(h, _)| h == host)
    }

    /// The scenario's relays (`relay` hosts), with their spec.
    pub fn relay_hosts(&self) -> impl Iterator<Item = (&'a str, &'a RelaySpec)> + 'a {
        self.scenario.hosts.iter().filter_map(|h| match &h.kind {
            HostKind::Relay(r) => Some((h.name.as_str(), r)),
            _ => None,
        })
    }

    /// Does `host` forward other hosts' messages (a proxy or a relay)? It passes a
    /// broker's `welcome` on without being a broker.
    pub fn forwards(&self, host: &str) -> bool {
        self.is_proxy(host) || self.relay_hosts().any(|(h, _)| h == host)
    }

    /// Is `host` an implementation under test (a client or broker driver), as opposed to a
    /// peer wirecheck plays itself (scripted peers, proxies), which has no internal state
    /// to report?
    pub fn under_test(&self, host: &str) -> bool {
        self.scenario
            .hosts
            .iter()
            .any(|h| h.name == host && matches!(h.kind, HostKind::Client(_) | HostKind::Broker(_)))
    }

    /// Hosts acting as brokers: they sent `welcome` to someone, and do not just forward
    /// it (proxies and relays do).
    pub fn broker_hosts(&self) -> BTreeSet<&'a str> {
        self.ix
            .welcomers()
            .into_iter()
            .filter(|h| !self.forwards(h))
            .collect()
    }

    /// The largest message broker `host` accepts, if it is a broker under test.
    pub fn max_message(&self, host: &str) -> Option<usize> {
        self.broker_impls()
            .find(|(h, _)| *h == host)
            .map(|(_, s)| s.max_message)
    }

    /// How long broker `host` lets a silent connection live, if it is a broker under test.
    pub fn idle_timeout(&self, host: &str) -> Option<Duration> {
        self.broker_impls()
            .find(|(h, _)| *h == host)
            .map(|(_, s)| s.idle_timeout)
    }

    // -- Trace queries.

    pub fn rx(&self) -> impl Iterator<Item = Rx<'a>> + '_ {
        self.ix.rx()
    }

    /// Every event of `host`, with its index.
    pub fn of<'s>(&'s self, host: &str) -> impl Iterator<Item = (usize, &'a Event)> + 's {
        self.ix.of(host)
    }

    /// Registration sessions at broker `b`.
    pub fn sessions(&self, b: &str) -> &Sessions {
        self.ix.sessions(b)
    }

    // -- Excuses and scopes.

    /// Was `host` crashed or bounced during the run (its end state is not the whole story)?
    pub fn disturbed(&self, host: &str) -> bool {
        self.finals
            .get(host)
            .is_some_and(|f| f.restarted || !f.running)
    }

    /// Was `host` running at the end (its driver could report its state)?
    pub fn running_at_end(&self, host: &str) -> bool {
        self.finals.get(host).is_some_and(|f| f.running)
    }

    /// Did `peer` receive a message matching `pred` from `from` in `[t0, t1]`?
    pub fn received_by(
        &self,
        peer: &str,
        from: &str,
        t0: Duration,
        t1: Duration,
        pred: impl Fn(&Message) -> bool,
    ) -> Option<usize> {
        self.ix
            .rx_to(peer)
            .find(|r| r.from == from && r.at >= t0 && r.at <= t1 && pred(r.msg))
            .map(|r| r.i)
    }

    /// Did `from` react toward `peer` with a message matching `pred` in `[t0, t1]`? A link
    /// between them that was held, cut or crashed meanwhile excuses a missing reaction
    /// (it may have been sent and delayed or lost): the network's fault, not the host's.
    pub fn reacted(
        &self,
        peer: &str,
        from: &str,
        t0: Duration,
        t1: Duration,
        pred: impl Fn(&Message) -> bool,
    ) -> bool {
        self.received_by(peer, from, t0, t1, pred).is_some()
            || self.link_faulted(peer, from, t0, t1)
    }

    /// Was the link between `a` and `b` cut or held at some time in `[t0, t1]` (a
    /// `partition`, `partition_oneway` or `hold` not yet repaired or released)? A one-way
    /// cut counts for the whole link: a request lost one way loses its answer the other.
    pub fn link_cut_during(&self, a: &str, b: &str, t0: Duration, t1: Duration) -> bool {
        // Per direction, as turmoil keeps it: [a -> b, b -> a]. `partition`/`hold` cut
        // both, `repair`/`release` restore both, the one-way faults one (event host first).
        let mut cut = [false; 2];
        for (_, e) in self.ix.faults() {
            let EventKind::Fault { fault, other } = &e.kind else {
                continue;
            };
            let pair = (e.host.as_str(), other.as_deref().unwrap_or(""));
            if pair != (a, b) && pair != (b, a) {
                continue;
            }
            if e.at > t1 {
                break;
            }
            let dir = usize::from(pair != (a, b));
            let was = cut != [false; 2];
            match fault {
                FaultKind::Partition | FaultKind::Hold => cut = [true; 2],
                FaultKind::Repair | FaultKind::Release => cut = [false; 2],
                FaultKind::PartitionOneway => cut[dir] = true,
                FaultKind::RepairOneway => cut[dir] = false,
                _ => {}
            }
            if was && cut == [false; 2] && e.at >= t0 {
                return true;
            }
        }
        cut != [false; 2]
    }

    pub fn link_faulted(&self, a: &str, b: &str, t0: Duration, t1: Duration) -> bool {
        self.ix.faults().any(|(_, e)| match &e.kind {
            EventKind::Fault { fault, other } => {
                let pair = (e.host.as_str(), other.as_deref().unwrap_or(""));
                let ours = pair == (a, b) || pair == (b, a);
                let crash = *fault == FaultKind::Crash && (e.host == a || e.host == b);
                (ours || crash) && e.at <= t1 && (e.at >= t0 || fault.disturbs_link())
            }
            _ => false,
        })
    }

    /// When `peer`'s registered connection to broker `b` closed at or after `t`.
    pub fn closed_at(&self, b: &str, peer: &str, t: Duration) -> Option<Duration> {
        self.sessions(b)
            .closes
            .iter()
            .find(|c| c.host == peer && c.at >= t)
            .map(|c| c.at)
    }

    /// The connection `host` is registered on at broker `b` at time `t`, if known.
    pub fn live_conn(&self, b: &str, host: &str, t: Duration) -> Option<u16> {
        self.sessions(b)
            .welcomes
            .iter()
            .rev()
            .find(|w| w.host == host && w.at <= t)?
            .conn
    }
}

/// A violation of `rule` (see [`super::rule!`] for a checked id).
pub fn v(rule: RuleId, at: Duration, events: Vec<usize>, diagnosis: String) -> Violation {
    Violation {
        rule: rule.as_str(),
        at,
        events,
        diagnosis,
    }
}

/// Error codes a broker uses to refuse a peer's own message (not responses to requests).
pub const REFUSALS: &[&str] = &[
    code::NOT_ASSIGNED,
    code::DUPLICATE_REQUEST,
    code::NOT_REGISTERED,
    code::MALFORMED,
    code::TOO_LARGE,
    code::UNKNOWN_CHANNEL,
    code::UNKNOWN_CLIENT,
    code::QUEUE_FULL,
];

pub fn is_response_frame(m: &Message) -> bool {
    m.dir() == Some(Dir::Response) || matches!(m, Message::Error { req: Some(_), .. })
}

pub fn ends_response(m: &Message) -> bool {
    matches!(
        m,
        Message::Start {
            dir: Dir::Response,
            end: true,
            ..
        } | Message::End {
            dir: Dir::Response,
            ..
        } | Message::Error { req: Some(_), .. }
    )
}
