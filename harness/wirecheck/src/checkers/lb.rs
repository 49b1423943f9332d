//! Relay rules on its connections (LB-1..4): one reader per client socket, one backend
//! link per client, rate-limited failover, and where a client goes. They judge the
//! scenario's `relay` hosts from what each one recorded: its typed relay events
//! ([`RelayLife`]), the closes of its client connections, and faults that restarted it.

use super::input::{v, Input, PROMPT, SLACK};
use super::verdict::Findings;
use crate::model::RelaySpec;
use crate::render::fmt_clock;
use crate::trace::{Event, EventKind, FaultKind, Lifecycle, Peer, RelayLife};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// One event of a relay's lane, as the LB checkers read it.
pub(super) enum Item<'a> {
    Relay(&'a RelayLife),
    /// A client connection ended (the relay only reports closes of client connections).
    Closed(&'a Peer),
    /// The relay's process ended or started again: it forgot everything.
    Restart,
}

/// The relay's events that the LB checkers read, in trace order.
pub(super) fn walk<'a>(
    input: &'a Input,
    relay: &'a str,
) -> impl Iterator<Item = (usize, &'a Event, Item<'a>)> + 'a {
    input.of(relay).filter_map(|(i, e)| {
        let item = match &e.kind {
            EventKind::Life(Lifecycle::Relay(r)) => Item::Relay(r),
            EventKind::Life(Lifecycle::ConnClosed { peer, .. }) => Item::Closed(peer),
            EventKind::Fault {
                fault: FaultKind::Crash | FaultKind::Bounce,
                ..
            } => Item::Restart,
            _ => return None,
        };
        Some((i, e, item))
    })
}

/// The client a relay event is about, if any.
pub(super) fn client_of(r: &RelayLife) -> Option<&Peer> {
    match r {
        RelayLife::Reader { client, .. }
        | RelayLife::Dial { client, .. }
        | RelayLife::Linked { client, .. }
        | RelayLife::Ready { client, .. }
        | RelayLife::Unlinked { client, .. }
        | RelayLife::GaveUp { client, .. } => Some(client),
        RelayLife::Health { .. } => None,
    }
}

/// How precisely a relay's own timing is judged: a tick, plus slack for real time.
fn tolerance() -> Duration {
    Duration::from_millis(1) + SLACK
}

/// LB-1: a client socket never has two running readers.
pub(super) fn one_reader(input: &Input, out: &mut Findings) {
    for (relay, _) in input.relay_hosts() {
        // Client → (reader → the event that started it).
        let mut running: BTreeMap<&Peer, BTreeMap<u32, usize>> = BTreeMap::new();
        for (i, e, item) in walk(input, relay) {
            match item {
                Item::Restart => running.clear(),
                Item::Relay(RelayLife::Reader {
                    client,
                    reader,
                    running: true,
                }) => {
                    let readers = running.entry(client).or_default();
                    if let Some((other, &oi)) = readers.iter().next() {
                        out.push(v(
                            rule!("LB-1"),
                            e.at,
                            vec![oi, i],
                            format!(
                                "{relay} started reader {reader} of {client} while reader {other} still read that socket"
                            ),
                        ));
                    }
                    readers.insert(*reader, i);
                }
                Item::Relay(RelayLife::Reader {
                    client,
                    reader,
                    running: false,
                }) => {
                    if let Some(r) = running.get_mut(client) {
                        r.remove(reader);
                    }
                }
                _ => {}
            }
        }
    }
}

/// LB-2: a client never has two backend links at once.
pub(super) fn one_link(input: &Input, out: &mut Findings) {
    for (relay, _) in input.relay_hosts() {
        // Client → (link → its dial event and backend).
        let mut open: BTreeMap<&Peer, BTreeMap<u64, (usize, &str)>> = BTreeMap::new();
        for (i, e, item) in walk(input, relay) {
            match item {
                Item::Restart => open.clear(),
                Item::Relay(RelayLife::Dial {
                    client,
                    link,
                    backend,
                    ..
                }) => {
                    let links = open.entry(client).or_default();
                    if let Some((other, &(oi, ob))) = links.iter().next() {
                        out.push(v(
                            rule!("LB-2"),
                            e.at,
                            vec![oi, i],
                            format!(
                                "{relay} dialed {backend} for {client} (link {link}) while its link {other} to {ob} was still open"
                            ),
                        ));
                    }
                    links.insert(*link, (i, backend.as_str()));
                }
                Item::Relay(RelayLife::Unlinked { client, link, .. }) => {
                    if let Some(l) = open.get_mut(client) {
                        l.remove(link);
                    }
                }
                _ => {}
            }
        }
    }
}

/// A client's failover history, as LB-3 and LB-4 follow it.
#[derive(Default)]
struct Moves {
    /// Failover attempts (dials with attempt ≥ 1): event index and time, oldest first.
    attempts: VecDeque<(usize, Duration)>,
    /// Failed attempts since the client was last served.
    failures: u32,
    /// The current link and whether it has served the client.
    link: Option<(u64, bool)>,
    /// The client has no link since this event and time (a loss or a failed attempt).
    stranded: Option<(usize, Duration)>,
    /// Its links dialing or open (LB-4 follows them: a client is stranded when the last
    /// one ends).
    open: BTreeSet<u64>,
}

impl Moves {
    /// The earliest time the rate limit lets the next attempt go, after `from`.
    fn next_allowed(&self, spec: &RelaySpec, from: Duration) -> Duration {
        let mut at = from;
        if let Some(&(_, last)) = self.attempts.back() {
            at = at.max(last + spec.min_gap);
        }
        let max = spec.max_attempts.max(1) as usize;
        if self.attempts.len() >= max {
            at = at.max(self.attempts[self.attempts.len() - max].1 + spec.window);
        }
        at
    }
}

/// LB-3: failover attempts per client at least `min_gap` apart, at most `max_attempts` per
/// `window`; no attempt after `max_attempts` failed in a row, and no giving up before.
pub(super) fn failover_rate(input: &Input, out: &mut Findings) {
    let tol = tolerance();
    for (relay, spec) in input.relay_hosts() {
        let max = spec.max_attempts.max(1);
        let mut moves: BTreeMap<&Peer, Moves> = BTreeMap::new();
        for (i, e, item) in walk(input, relay) {
            let Item::Relay(r) = item else {
                if let Item::Restart = item {
                    moves.clear();
                }
                continue;
            };
            let Some(client) = client_of(r) else { continue };
            let m = moves.entry(client).or_default();
            match r {
                RelayLife::Dial {
                    attempt, backend, ..
                } if *attempt >= 1 => {
                    if m.failures >= max {
                        out.push(v(
                            rule!("LB-3"),
                            e.at,
                            vec![i],
                            format!(
                                "{relay} tried {backend} for {client} after {} failed failover attempts in a row (it gives up after {max})",
                                m.failures
                            ),
                        ));
                    }
                    if let Some(&(li, last)) = m.attempts.back() {
                        if e.at + tol < last + spec.min_gap {
                            out.push(v(
                                rule!("LB-3"),
                                e.at,
                                vec![li, i],
                                format!(
                                    "{relay}'s failover attempt {attempt} for {client} came {} after the previous one (minimum gap {})",
                                    fmt_clock(e.at - last).trim(),
                                    fmt_clock(spec.min_gap).trim()
                                ),
                            ));
                        }
                    }
                    let n = max as usize;
                    if m.attempts.len() >= n {
                        let (fi, first) = m.attempts[m.attempts.len() - n];
                        if e.at + tol < first + spec.window {
                            out.push(v(
                                rule!("LB-3"),
                                e.at,
                                vec![fi, i],
                                format!(
                                    "{relay} made {} failover attempts for {client} within {} (limit {n} per {})",
                                    n + 1,
                                    fmt_clock(e.at - first).trim(),
                                    fmt_clock(spec.window).trim()
                                ),
                            ));
                        }
                    }
                    m.attempts.push_back((i, e.at));
                }
                RelayLife::Ready { .. } => m.failures = 0,
                RelayLife::Unlinked { .. } => {
                    // A link that ends before it served its client was a failed attempt.
                    if !matches!(m.link, Some((_, true))) {
                        m.failures += 1;
                    }
                    m.link = None;
                }
                RelayLife::GaveUp { attempts, .. } if *attempts < max => out.push(v(
                    rule!("LB-3"),
                    e.at,
                    vec![i],
                    format!(
                        "{relay} gave up on {client} after {attempts} failed failover attempts (it may give up only after {max})"
                    ),
                )),
                _ => {}
            }
            match r {
                RelayLife::Dial { link, .. } => m.link = Some((*link, false)),
                RelayLife::Ready { link, .. } => m.link = Some((*link, true)),
                _ => {}
            }
        }
    }
}

/// LB-4: every dial goes to the first backend the relay holds healthy, in the configured
/// order (any, when it holds none healthy); a client left without a link gets its next
/// attempt as soon as the rate limit allows, or is closed.
pub(super) fn placement(input: &Input, out: &mut Findings) {
    for (relay, spec) in input.relay_hosts() {
        let mut down: BTreeSet<&str> = BTreeSet::new();
        let mut moves: BTreeMap<&Peer, Moves> = BTreeMap::new();
        let judge_stranded = |m: &Moves, client: &Peer, now: Duration, out: &mut Findings| {
            let Some((si, since)) = m.stranded else {
                return;
            };
            let due = m.next_allowed(spec, since) + PROMPT;
            if now > due {
                out.push(v(
                    rule!("LB-4"),
                    due,
                    vec![si],
                    format!(
                        "{relay} left {client} without a backend from {} on: no failover attempt by {} and the client was not closed",
                        fmt_clock(since).trim(),
                        fmt_clock(due).trim()
                    ),
                ));
            }
        };
        // Clients whose connection ended (a port may serve a later connection again).
        let mut closed: BTreeSet<&Peer> = BTreeSet::new();
        for (i, e, item) in walk(input, relay) {
            match item {
                Item::Restart => {
                    down.clear();
                    moves.clear();
                    closed.clear();
                }
                Item::Closed(client) => {
                    closed.insert(client);
                    if let Some(m) = moves.remove(client) {
                        judge_stranded(&m, client, e.at, out);
                    }
                }
                Item::Relay(RelayLife::Reader {
                    client,
                    reader: 1,
                    running: true,
                }) => {
                    closed.remove(client);
                }
                Item::Relay(RelayLife::Health { backend, up }) => {
                    if *up {
                        down.remove(backend.as_str());
                    } else {
                        down.insert(backend.as_str());
                    }
                }
                Item::Relay(RelayLife::Dial {
                    client,
                    backend,
                    attempt,
                    link,
                }) => {
                    let want = spec.backends.iter().find(|b| !down.contains(b.as_str()));
                    if let Some(want) = want.filter(|w| *w != backend) {
                        out.push(v(
                            rule!("LB-4"),
                            e.at,
                            vec![i],
                            format!(
                                "{relay} sent {client} to {backend} ({}) but holds {want} healthy and first in its order",
                                if *attempt == 0 {
                                    "a new client".to_owned()
                                } else {
                                    format!("failover attempt {attempt}")
                                }
                            ),
                        ));
                    }
                    let m = moves.entry(client).or_default();
                    judge_stranded(m, client, e.at, out);
                    m.stranded = None;
                    if *attempt >= 1 {
                        m.attempts.push_back((i, e.at));
                    }
                    m.open.insert(*link);
                }
                // The client's last link ended while the client stays: it has no backend.
                Item::Relay(RelayLife::Unlinked { client, link, .. })
                    if !closed.contains(client) =>
                {
                    let m = moves.entry(client).or_default();
                    m.open.remove(link);
                    if m.open.is_empty() && m.stranded.is_none() {
                        m.stranded = Some((i, e.at));
                    }
                }
                _ => {}
            }
        }
        for (client, m) in &moves {
            judge_stranded(m, client, input.end, out);
        }
    }
}
