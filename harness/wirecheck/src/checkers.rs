//! Rule checkers over the trace (Jepsen-style history checks). They run on every scenario
//! run, whatever the scenario asserts, and report [`Violation`]s naming the rule, the trace
//! events involved and a one-line diagnosis.
//!
//! Roles are defined by behaviour, not by host kind:
//! - **client rules** (MUX, AUTH-1..3, CONN) judge reference `client` hosts;
//! - **broker rules** (BRK, AUTH-4, AUTH-5) judge every host that accepted a registration
//!   (sent `welcome`) and is not a proxy: reference brokers, and scripted servers playing a
//!   broker (so a scripted misbehaving broker shows that the checkers fire).
//!
//! Everything is judged per hop, from `Recv` events: what a host received from a peer is
//! what that peer sent on that connection (a proxy in between is itself the peer).

use crate::model::{FailKind, HostKind, Outcome, Scenario};
use crate::render::fmt_clock;
use crate::trace::{Call, Event, EventKind, FaultKind, Lifecycle, RegError};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::Duration;
use wirecheck_core::rules::{rule, Level};
use wirecheck_core::wire::{code, Dir, Message};

/// How long a broker may take to react (answer an error, send `cancel`, ...).
pub const PROMPT: Duration = Duration::from_secs(1);
/// Timing tolerance for deadlines measured on both sides of a tick.
pub const SLACK: Duration = Duration::from_millis(20);

/// One broken rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    pub rule: &'static str,
    pub at: Duration,
    /// Indices into the trace of the events involved.
    pub events: Vec<usize>,
    pub diagnosis: String,
}

impl Violation {
    pub fn level(&self) -> Level {
        rule(self.rule).map_or(Level::Must, |r| r.level)
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} at {}: {}",
            self.level().as_str(),
            self.rule,
            fmt_clock(self.at).trim(),
            self.diagnosis
        )?;
        if !self.events.is_empty() {
            let ids: Vec<String> = self.events.iter().map(|i| format!("#{i}")).collect();
            write!(f, " [trace {}]", ids.join(" "))?;
        }
        Ok(())
    }
}

/// What a host looked like at the end of the run (after the quiet period).
#[derive(Clone, Debug, Default)]
pub struct HostFinal {
    /// The host's software was running at the end (not crashed).
    pub running: bool,
    /// The host was crashed or bounced at some point (counters restarted).
    pub restarted: bool,
    /// Client: ids in the pending map.
    pub pending_ids: Vec<String>,
    /// Client: counters by name.
    pub counters: BTreeMap<String, u64>,
    /// Reference broker: request ids it still holds.
    pub broker_requests: Option<Vec<String>>,
    /// Reference broker: structural invariant violation, if any.
    pub broker_invariants: Option<String>,
}

/// Everything a checker may look at.
pub struct Input<'a> {
    pub scenario: &'a Scenario,
    pub events: &'a [Event],
    pub finals: &'a BTreeMap<String, HostFinal>,
    /// Simulated time at the end of the run.
    pub end: Duration,
}

/// A named check of one or more rules.
pub struct Checker {
    pub name: &'static str,
    pub rules: &'static [&'static str],
    pub check: fn(&Input) -> Vec<Violation>,
}

/// Every checker, run on every scenario.
pub const CHECKERS: &[Checker] = &[
    Checker {
        name: "responses-match-requests",
        rules: &["MUX-2"],
        check: mux_correlation,
    },
    Checker {
        name: "at-most-once-results",
        rules: &["MUX-3"],
        check: mux_at_most_once,
    },
    Checker {
        name: "stray-frames-counted",
        rules: &["MUX-4"],
        check: mux_strays_counted,
    },
    Checker {
        name: "no-pending-leak",
        rules: &["MUX-5"],
        check: mux_no_leak,
    },
    Checker {
        name: "disconnect-fails-all",
        rules: &["MUX-6"],
        check: mux_disconnect_fails_all,
    },
    Checker {
        name: "send-errors-surface",
        rules: &["MUX-7"],
        check: mux_send_errors,
    },
    Checker {
        name: "calls-end-by-deadline",
        rules: &["MUX-8"],
        check: mux_deadlines,
    },
    Checker {
        name: "requests-answered",
        rules: &["MUX-9", "AUTH-3"],
        check: mux_requests_answered,
    },
    Checker {
        name: "registration-only-on-welcome",
        rules: &["AUTH-1"],
        check: auth_welcome_only,
    },
    Checker {
        name: "registration-timeout",
        rules: &["AUTH-2"],
        check: auth_timeout,
    },
    Checker {
        name: "nothing-before-hello",
        rules: &["AUTH-4"],
        check: auth_nothing_before_hello,
    },
    Checker {
        name: "no-client-id-takeover",
        rules: &["AUTH-5"],
        check: auth_no_takeover,
    },
    Checker {
        name: "heartbeat-detects-partition",
        rules: &["CONN-1"],
        check: conn_heartbeat,
    },
    Checker {
        name: "reconnect-backoff",
        rules: &["CONN-2"],
        check: conn_backoff,
    },
    Checker {
        name: "reconnect-rate-limit",
        rules: &["CONN-3"],
        check: conn_rate_limit,
    },
    Checker {
        name: "failover-order",
        rules: &["CONN-4"],
        check: conn_failover_order,
    },
    Checker {
        name: "reconnect-liveness",
        rules: &["CONN-5"],
        check: conn_reconnects,
    },
    Checker {
        name: "relay-closes-both-sides",
        rules: &["CONN-6"],
        check: conn_relay_closes,
    },
    Checker {
        name: "requests-go-to-waiting-receivers",
        rules: &["BRK-1"],
        check: brk_credits,
    },
    Checker {
        name: "one-receiver-in-order",
        rules: &["BRK-2", "BRK-3"],
        check: brk_one_receiver,
    },
    Checker {
        name: "responses-to-sender-only",
        rules: &["BRK-4", "BRK-8"],
        check: brk_responses,
    },
    Checker {
        name: "unassign-on-end",
        rules: &["BRK-5"],
        check: brk_unassigned,
    },
    Checker {
        name: "receiver-loss",
        rules: &["BRK-6"],
        check: brk_receiver_gone,
    },
    Checker {
        name: "sender-loss",
        rules: &["BRK-7"],
        check: brk_sender_gone,
    },
    Checker {
        name: "bad-input-answered",
        rules: &["BRK-10", "BRK-11"],
        check: brk_bad_input,
    },
    Checker {
        name: "broker-state-freed",
        rules: &["BRK-12"],
        check: brk_state_freed,
    },
];

/// Runs every checker; violations sorted by time, then rule.
pub fn check_all(input: &Input) -> Vec<Violation> {
    let mut v: Vec<Violation> = CHECKERS.iter().flat_map(|c| (c.check)(input)).collect();
    v.sort_by(|a, b| (a.at, a.rule, &a.diagnosis).cmp(&(b.at, b.rule, &b.diagnosis)));
    v.dedup();
    v
}

/// Rule ids that at least one checker judges.
pub fn checked_rules() -> BTreeSet<&'static str> {
    CHECKERS
        .iter()
        .flat_map(|c| c.rules.iter().copied())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Helpers

fn v(rule: &'static str, at: Duration, events: Vec<usize>, diagnosis: String) -> Violation {
    Violation {
        rule,
        at,
        events,
        diagnosis,
    }
}

/// A received, decoded message.
struct Rx<'a> {
    i: usize,
    at: Duration,
    host: &'a str,
    from: &'a str,
    /// The connection (peer port) when `host` accepted it.
    conn: Option<u16>,
    msg: &'a Message,
}

impl Input<'_> {
    fn client_hosts(&self) -> impl Iterator<Item = (&str, &crate::model::ClientSpec)> {
        self.scenario.hosts.iter().filter_map(|h| match &h.kind {
            HostKind::Client(c) => Some((h.name.as_str(), c)),
            _ => None,
        })
    }

    fn is_proxy(&self, host: &str) -> bool {
        self.scenario
            .hosts
            .iter()
            .any(|h| h.name == host && matches!(h.kind, HostKind::Proxy(_)))
    }

    /// Hosts acting as brokers: they sent `welcome` to someone, and are not proxies.
    fn broker_hosts(&self) -> BTreeSet<&str> {
        self.rx()
            .filter(|r| matches!(r.msg, Message::Welcome { .. }))
            .map(|r| r.from)
            .filter(|h| !self.is_proxy(h))
            .collect()
    }

    fn rx(&self) -> impl Iterator<Item = Rx<'_>> {
        self.events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match &e.kind {
                EventKind::Recv {
                    from,
                    conn,
                    msg: Some(msg),
                    ..
                } => Some(Rx {
                    i,
                    at: e.at,
                    host: &e.host,
                    from,
                    conn: *conn,
                    msg,
                }),
                _ => None,
            })
    }

    /// Every event of `host`, with its index.
    fn of<'a>(&'a self, host: &'a str) -> impl Iterator<Item = (usize, &'a Event)> + 'a {
        self.events
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.host == host)
    }

    /// Was `host` crashed or bounced during the run?
    fn disturbed(&self, host: &str) -> bool {
        self.finals
            .get(host)
            .is_some_and(|f| f.restarted || !f.running)
    }

    /// Did `peer` receive a message matching `pred` from `from` in `[t0, t1]`?
    fn received_by(
        &self,
        peer: &str,
        from: &str,
        t0: Duration,
        t1: Duration,
        pred: impl Fn(&Message) -> bool,
    ) -> Option<usize> {
        self.rx()
            .find(|r| r.host == peer && r.from == from && r.at >= t0 && r.at <= t1 && pred(r.msg))
            .map(|r| r.i)
    }

    /// Did `from` react toward `peer` with a message matching `pred` in `[t0, t1]`? A link
    /// between them that was held, cut or crashed meanwhile excuses a missing reaction
    /// (it may have been sent and delayed or lost): the network's fault, not the host's.
    fn reacted(
        &self,
        peer: &str,
        from: &str,
        t0: Duration,
        t1: Duration,
        pred: impl Fn(&Message) -> bool,
    ) -> bool {
        self.received_by(peer, from, t0, t1, pred).is_some()
            || link_faulted(self, peer, from, t0, t1)
    }

    /// When `peer`'s registered connection to broker `b` closed at or after `t`.
    fn closed_at(&self, b: &str, peer: &str, t: Duration) -> Option<Duration> {
        self.sessions(b)
            .closes
            .iter()
            .find(|c| c.host == peer && c.at >= t)
            .map(|c| c.at)
    }

    /// Registration sessions at broker `b` (see [`Sessions`]).
    fn sessions(&self, b: &str) -> Sessions {
        let mut s = Sessions::default();
        let mut hello: BTreeMap<String, Option<u16>> = BTreeMap::new();
        // Registered connections: (host, connection) pairs.
        let mut live: BTreeSet<(String, Option<u16>)> = BTreeSet::new();
        for (i, e) in self.events.iter().enumerate() {
            match &e.kind {
                EventKind::Recv {
                    from,
                    conn,
                    msg: Some(Message::Hello { .. }),
                    ..
                } if e.host == b => {
                    hello.insert(from.clone(), *conn);
                }
                EventKind::Recv {
                    from,
                    conn: rx_conn,
                    msg: Some(Message::Welcome { client }),
                    ..
                } if from == b => {
                    // The receiver names its connection when it can (a proxy knows its
                    // upstream port); otherwise it is the host's latest `hello`.
                    let conn = rx_conn.or_else(|| hello.get(&e.host).copied().flatten());
                    live.insert((e.host.clone(), conn));
                    s.welcomes.push(Welcome {
                        i,
                        at: e.at,
                        host: e.host.clone(),
                        conn,
                        client: client.clone(),
                    });
                }
                EventKind::Fault {
                    fault: FaultKind::Crash,
                    ..
                } if e.host == b => {
                    // A crashed broker forgets every connection.
                    for (host, conn) in std::mem::take(&mut live) {
                        s.closes.push(Close {
                            i,
                            at: e.at,
                            host,
                            conn,
                            registered: true,
                        });
                    }
                    hello.clear();
                }
                EventKind::Life(Lifecycle::ConnClosed { peer, .. }) if e.host == b => {
                    let (host, conn) = (peer.host.clone(), peer.conn);
                    let key = live
                        .iter()
                        .find(|(h, c)| *h == host && (c.is_none() || conn.is_none() || *c == conn))
                        .cloned();
                    let registered = key.is_some();
                    if let Some(k) = key {
                        live.remove(&k);
                    }
                    s.closes.push(Close {
                        i,
                        at: e.at,
                        host,
                        conn,
                        registered,
                    });
                }
                _ => {}
            }
        }
        s.closes.retain(|c| c.registered);
        s.all_closes = s.closes.len();
        s
    }

    /// The connection `host` is registered on at broker `b` at time `t`, if known.
    fn live_conn(&self, b: &str, host: &str, t: Duration) -> Option<u16> {
        let s = self.sessions(b);
        let w = s
            .welcomes
            .iter()
            .rev()
            .find(|w| w.host == host && w.at <= t)?;
        w.conn
    }
}

/// Registration sessions at one broker: who was welcomed on which connection, and which
/// closes ended a registered connection (a refused duplicate's close does not).
#[derive(Default)]
struct Sessions {
    welcomes: Vec<Welcome>,
    closes: Vec<Close>,
    all_closes: usize,
}

struct Welcome {
    i: usize,
    at: Duration,
    host: String,
    conn: Option<u16>,
    client: String,
}

struct Close {
    i: usize,
    at: Duration,
    host: String,
    conn: Option<u16>,
    registered: bool,
}

/// Error codes a broker uses to refuse a peer's own message (not responses to requests).
const REFUSALS: &[&str] = &[
    code::NOT_ASSIGNED,
    code::DUPLICATE_REQUEST,
    code::NOT_REGISTERED,
    code::MALFORMED,
    code::TOO_LARGE,
    code::UNKNOWN_CHANNEL,
    code::UNKNOWN_CLIENT,
];

fn is_response_frame(m: &Message) -> bool {
    m.dir() == Some(Dir::Response) || matches!(m, Message::Error { req: Some(_), .. })
}

fn ends_response(m: &Message) -> bool {
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

/// Request calls of a client: id → (call event index, call time, deadline, result).
struct CallInfo {
    call: usize,
    at: Duration,
    deadline: Option<Duration>,
    result: Option<(usize, Duration, Outcome)>,
}

fn request_calls(input: &Input, host: &str) -> BTreeMap<String, CallInfo> {
    let mut calls: BTreeMap<String, CallInfo> = BTreeMap::new();
    for (i, e) in input.of(host) {
        match &e.kind {
            EventKind::Call {
                id,
                call: Call::Request { .. },
                deadline,
            } => {
                calls.insert(
                    id.clone(),
                    CallInfo {
                        call: i,
                        at: e.at,
                        deadline: *deadline,
                        result: None,
                    },
                );
            }
            EventKind::Result { id, outcome } => {
                if let Some(c) = calls.get_mut(id) {
                    if c.result.is_none() {
                        c.result = Some((i, e.at, outcome.clone()));
                    }
                }
            }
            _ => {}
        }
    }
    calls
}

// ---------------------------------------------------------------------------------------
// Client rules

/// MUX-2: a successful result carries the first complete response for that id.
fn mux_correlation(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for (host, _) in input.client_hosts() {
        let calls = request_calls(input, host);
        for (id, c) in &calls {
            let Some((ri, rat, outcome)) = &c.result else {
                continue;
            };
            let expected = first_response(input, host, id, c.at, *rat);
            let ok_body = match outcome {
                Outcome::Ok(b) => Some(b),
                _ => None,
            };
            let err_code = match outcome {
                Outcome::Error(c) => Some(c),
                _ => None,
            };
            match (&expected, ok_body, err_code) {
                (None, Some(_), _) | (None, _, Some(_)) => out.push(v(
                    "MUX-2",
                    *rat,
                    vec![c.call, *ri],
                    format!("{host}'s call {id} ended `{outcome}` but no complete response for {id} had arrived"),
                )),
                (Some((fi, Ok(body))), Some(got), _) if body != got => out.push(v(
                    "MUX-2",
                    *rat,
                    vec![c.call, *fi, *ri],
                    format!("{host}'s call {id} got {got:?} but the first response for {id} carried {body:?}"),
                )),
                (Some((fi, Err(code))), _, Some(got)) if code != got => out.push(v(
                    "MUX-2",
                    *rat,
                    vec![c.call, *fi, *ri],
                    format!("{host}'s call {id} got error {got} but the peer answered error {code}"),
                )),
                (Some((fi, first)), Some(_), _) if first.is_err() => out.push(v(
                    "MUX-2",
                    *rat,
                    vec![c.call, *fi, *ri],
                    format!("{host}'s call {id} succeeded but the first answer for {id} was an error"),
                )),
                _ => {}
            }
        }
    }
    out
}

/// The first complete response (`Ok(body)`) or error (`Err(code)`) for `id` received by
/// `host` in `[from, to]`.
fn first_response(
    input: &Input,
    host: &str,
    id: &str,
    from: Duration,
    to: Duration,
) -> Option<(usize, Result<String, String>)> {
    // The peer the request went to: its answer must come back over that hop.
    let hop = input
        .rx()
        .find(|r| {
            r.from == host
                && r.at >= from
                && r.msg.req() == Some(id)
                && matches!(
                    r.msg,
                    Message::Start {
                        dir: Dir::Request,
                        ..
                    }
                )
        })
        .map(|r| r.host);
    let mut partial: Option<(String, u64)> = None;
    for r in input.rx() {
        if r.host != host || r.at < from || r.at > to || r.msg.req() != Some(id) {
            continue;
        }
        if hop.is_some_and(|h| h != r.from) {
            continue;
        }
        match r.msg {
            Message::Start {
                dir: Dir::Response,
                body,
                end,
                ..
            } => {
                if *end {
                    return Some((r.i, Ok(body.clone())));
                }
                partial.get_or_insert((body.clone(), 0));
            }
            Message::Chunk {
                dir: Dir::Response,
                seq,
                data,
                ..
            } => {
                if let Some((b, next)) = &mut partial {
                    if *seq == *next {
                        b.push_str(data);
                        *next += 1;
                    } else {
                        return Some((r.i, Err("protocol".into())));
                    }
                }
            }
            Message::End {
                dir: Dir::Response, ..
            } => {
                if let Some((b, _)) = partial.take() {
                    return Some((r.i, Ok(b)));
                }
            }
            Message::Error { code, .. } => return Some((r.i, Err(code.clone()))),
            _ => {}
        }
    }
    None
}

/// MUX-3: no call ends twice.
fn mux_at_most_once(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for (host, _) in input.client_hosts() {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, e) in input.of(host) {
            if let EventKind::Result { id, .. } = &e.kind {
                if let Some(&first) = seen.get(id.as_str()) {
                    out.push(v(
                        "MUX-3",
                        e.at,
                        vec![first, i],
                        format!("{host}'s call {id} completed a second time"),
                    ));
                } else {
                    seen.insert(id, i);
                }
            }
        }
    }
    out
}

/// MUX-4: frames for ids that are not pending are counted as dropped.
fn mux_strays_counted(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for (host, _) in input.client_hosts() {
        if input.disturbed(host) {
            continue;
        }
        let Some(f) = input.finals.get(host) else {
            continue;
        };
        let calls = request_calls(input, host);
        let served: BTreeSet<&str> = input
            .rx()
            .filter(|r| r.host == host && r.msg.dir() == Some(Dir::Request))
            .filter_map(|r| r.msg.req())
            .collect();
        let mut strays = Vec::new();
        for r in input
            .rx()
            .filter(|r| r.host == host && is_response_frame(r.msg))
        {
            let id = r.msg.req().unwrap_or_default();
            if served.contains(id) {
                continue;
            }
            let pending = calls.get(id).is_some_and(|c| {
                r.at >= c.at && c.result.as_ref().is_none_or(|(_, at, _)| r.at < *at)
            });
            // A frame that arrives in the tick its call ended may be the one that ended it.
            let ending = calls.get(id).is_some_and(|c| {
                c.result
                    .as_ref()
                    .is_some_and(|(_, at, _)| r.at == *at && !strays.iter().any(|(_, s)| *s == id))
            });
            if !pending && !ending {
                strays.push((r.i, id));
            }
        }
        let counted = ["duplicates_dropped", "late_dropped", "unknown_dropped"]
            .iter()
            .map(|k| f.counters.get(*k).copied().unwrap_or(0))
            .sum::<u64>();
        if (counted as usize) < strays.len() {
            out.push(v(
                "MUX-4",
                input.end,
                strays.iter().map(|(i, _)| *i).collect(),
                format!(
                    "{host} received {} frame(s) for ids that were not pending but counted only {counted} as dropped",
                    strays.len()
                ),
            ));
        }
    }
    out
}

/// MUX-5: at the end, the pending map holds exactly the calls still running.
fn mux_no_leak(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for (host, _) in input.client_hosts() {
        if input.disturbed(host) {
            continue;
        }
        let Some(f) = input.finals.get(host) else {
            continue;
        };
        let calls = request_calls(input, host);
        for id in &f.pending_ids {
            if let Some(c) = calls.get(id) {
                if let Some((ri, _, outcome)) = &c.result {
                    out.push(v(
                        "MUX-5",
                        input.end,
                        vec![c.call, *ri],
                        format!("{host}'s call {id} ended `{outcome}` but {id} is still in its pending map"),
                    ));
                }
            }
        }
    }
    out
}

/// MUX-6: when a connection is lost, every request in flight fails `disconnected` at once.
fn mux_disconnect_fails_all(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for (host, _) in input.client_hosts() {
        let calls = request_calls(input, host);
        for (di, e) in input.of(host) {
            let EventKind::Life(Lifecycle::Disconnected { .. }) = &e.kind else {
                continue;
            };
            for (id, c) in &calls {
                // In flight: called before the loss, and not ended before it (by trace order:
                // an answer delivered in the same tick, before the loss, counts as ended).
                let in_flight = c.call < di && c.result.as_ref().is_none_or(|(ri, _, _)| *ri > di);
                if !in_flight {
                    continue;
                }
                match &c.result {
                    Some((_, at, Outcome::Fails(FailKind::Disconnected))) if *at <= e.at + SLACK => {}
                    Some((ri, at, o)) => out.push(v(
                        "MUX-6",
                        *at,
                        vec![di, *ri],
                        format!(
                            "{host}'s call {id} was in flight when the connection was lost at {} but ended `{o}` at {}",
                            fmt_clock(e.at).trim(),
                            fmt_clock(*at).trim()
                        ),
                    )),
                    None if input.end > e.at + SLACK => out.push(v(
                        "MUX-6",
                        e.at,
                        vec![c.call, di],
                        format!("{host}'s call {id} was in flight when the connection was lost and never failed"),
                    )),
                    None => {}
                }
            }
        }
    }
    out
}

/// MUX-7: a request made while the client has no registered connection cannot be sent,
/// and the caller must learn that at once (`not_connected` or `send_failed`), not by timeout.
fn mux_send_errors(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for (host, _) in input.client_hosts() {
        let mut registered = false;
        for (i, e) in input.of(host) {
            match &e.kind {
                EventKind::Life(Lifecycle::Registered { .. }) => registered = true,
                EventKind::Life(
                    Lifecycle::Disconnected { .. }
                    | Lifecycle::Connecting { .. }
                    | Lifecycle::Stopped { .. },
                ) => registered = false,
                EventKind::Call {
                    id,
                    call: Call::Request { .. },
                    ..
                } if !registered => {
                    let calls = request_calls(input, host);
                    let Some(c) = calls.get(id) else { continue };
                    let prompt = matches!(&c.result, Some((_, at, Outcome::Fails(
                        FailKind::NotConnected | FailKind::SendFailed | FailKind::Disconnected
                    ))) if *at <= e.at + SLACK);
                    if !prompt && (c.result.is_some() || input.end > e.at + SLACK) {
                        out.push(v(
                            "MUX-7",
                            e.at,
                            vec![i],
                            format!(
                                "{host}'s call {id} was made with no registered connection but the caller was not told at once (it ended {})",
                                c.result
                                    .as_ref()
                                    .map(|(_, at, o)| format!("`{o}` at {}", fmt_clock(*at).trim()))
                                    .unwrap_or_else(|| "never".into())
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// MUX-8: every request ends by its timeout, and a timed-out request is cancelled toward
/// the peer.
fn mux_deadlines(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for (host, _) in input.client_hosts() {
        if input.disturbed(host) {
            continue;
        }
        for (id, c) in request_calls(input, host) {
            let Some(deadline) = c.deadline else { continue };
            match &c.result {
                Some((ri, at, _)) if *at > deadline + SLACK => out.push(v(
                    "MUX-8",
                    *at,
                    vec![c.call, *ri],
                    format!(
                        "{host}'s call {id} ended at {}, after its deadline {}",
                        fmt_clock(*at).trim(),
                        fmt_clock(deadline).trim()
                    ),
                )),
                None if input.end > deadline + SLACK => out.push(v(
                    "MUX-8",
                    deadline,
                    vec![c.call],
                    format!(
                        "{host}'s call {id} was still running at the end, past its deadline {}",
                        fmt_clock(deadline).trim()
                    ),
                )),
                Some((ri, at, Outcome::Fails(FailKind::Timeout))) => {
                    // The peer that got the request must get `cancel`, unless the link died.
                    let peer = input
                        .rx()
                        .find(|r| {
                            r.from == host
                                && r.msg.req() == Some(id.as_str())
                                && matches!(r.msg, Message::Start { .. })
                        })
                        .map(|r| r.host.to_owned());
                    let Some(peer) = peer else { continue };
                    let lost = input.of(host).any(|(_, e)| {
                        matches!(e.kind, EventKind::Life(Lifecycle::Disconnected { .. }))
                            && e.at >= *at
                            && e.at <= *at + PROMPT
                    }) || link_faulted(input, host, &peer, c.at, *at + PROMPT);
                    if !lost
                        && input.end > *at + PROMPT
                        && input
                            .received_by(
                                &peer,
                                host,
                                *at,
                                *at + PROMPT,
                                |m| matches!(m, Message::Cancel { req } if req == &id),
                            )
                            .is_none()
                    {
                        out.push(v(
                            "MUX-8",
                            *at,
                            vec![c.call, *ri],
                            format!("{host}'s call {id} timed out but {peer} never received `cancel {id}`"),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Was the link between `a` and `b` partitioned or held at some point in `[t0, t1]`?
fn link_faulted(input: &Input, a: &str, b: &str, t0: Duration, t1: Duration) -> bool {
    input.events.iter().any(|e| match &e.kind {
        EventKind::Fault { fault, other } => {
            let pair = (e.host.as_str(), other.as_deref().unwrap_or(""));
            let ours = pair == (a, b) || pair == (b, a);
            let crash = *fault == FaultKind::Crash && (e.host == a || e.host == b);
            (ours || crash) && e.at <= t1 && (e.at >= t0 || fault.disturbs_link())
        }
        _ => false,
    })
}

/// MUX-9 / AUTH-3: requests delivered on a served channel get an answer.
fn mux_requests_answered(input: &Input) -> Vec<Violation> {
    use crate::model::Reply;
    let mut out = Vec::new();
    for (host, spec) in input.client_hosts() {
        if input.disturbed(host) {
            continue;
        }
        let serving: BTreeMap<&str, &crate::model::ServeSpec> =
            spec.serve.iter().map(|s| (s.channel.as_str(), s)).collect();
        let windows = registration_windows(input, host);
        for r in input.rx().filter(|r| r.host == host) {
            let Message::Start {
                req,
                channel,
                dir: Dir::Request,
                ..
            } = r.msg
            else {
                continue;
            };
            let Some(s) = serving.get(channel.as_str()) else {
                continue;
            };
            if s.reply == Reply::Ignore {
                continue;
            }
            // Only a request that arrived whole can be answered: its `end` (or `end: true`).
            let whole_at = match r.msg {
                Message::Start { end: true, .. } => Some(r.at),
                _ => input
                    .rx()
                    .find(|e| {
                        e.host == host
                            && e.at >= r.at
                            && matches!(e.msg, Message::End { req: q, dir: Dir::Request } if q == req)
                    })
                    .map(|e| e.at),
            };
            let Some(whole_at) = whole_at else { continue };
            let due = whole_at + s.delay + PROMPT;
            if input.end <= due {
                continue;
            }
            let answered = input.reacted(r.from, host, r.at, input.end, |m| {
                m.req() == Some(req.as_str()) && is_response_frame(m)
            });
            let excused = input.rx().any(|c| {
                c.host == host
                    && c.at >= r.at
                    && matches!(c.msg, Message::Cancel { req: x } if x == req)
            }) || input.of(host).any(|(_, e)| {
                e.at >= r.at
                    && matches!(
                        e.kind,
                        EventKind::Life(Lifecycle::Disconnected { .. })
                            | EventKind::Life(Lifecycle::Stopped { .. })
                    )
            });
            if !answered && !excused {
                let during = windows
                    .iter()
                    .any(|(a, b)| r.at >= *a && r.at <= *b + PROMPT);
                out.push(v(
                    if during { "AUTH-3" } else { "MUX-9" },
                    r.at,
                    vec![r.i],
                    format!(
                        "{host} got request {req} on served channel {channel}{} and never answered it",
                        if during { " while registering" } else { "" }
                    ),
                ));
            }
        }
    }
    out
}

/// `[Connecting, Registered]` intervals of a client.
fn registration_windows(input: &Input, host: &str) -> Vec<(Duration, Duration)> {
    let mut out = Vec::new();
    let mut open = None;
    for (_, e) in input.of(host) {
        match &e.kind {
            EventKind::Life(Lifecycle::Connecting { .. }) => open = Some(e.at),
            EventKind::Life(Lifecycle::Registered { .. }) => {
                if let Some(a) = open.take() {
                    out.push((a, e.at));
                }
            }
            _ => {}
        }
    }
    out
}

/// AUTH-1: a client registers only after receiving `welcome` with its own id.
fn auth_welcome_only(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for (host, spec) in input.client_hosts() {
        let mut since = Duration::ZERO;
        let mut attempt_i = 0;
        for (i, e) in input.of(host) {
            match &e.kind {
                EventKind::Life(Lifecycle::Connecting { .. }) => {
                    since = e.at;
                    attempt_i = i;
                }
                EventKind::Life(Lifecycle::Registered { to: addr }) => {
                    let welcomed = input.rx().any(|r| {
                        r.host == host
                            && r.at >= since
                            && r.at <= e.at
                            && matches!(r.msg, Message::Welcome { client } if client == &spec.id)
                    });
                    if !welcomed {
                        out.push(v(
                            "AUTH-1",
                            e.at,
                            vec![attempt_i, i],
                            format!("{host} considered itself registered with {addr} without receiving `welcome {}`", spec.id),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// AUTH-2: a registration attempt ends within the registration timeout.
fn auth_timeout(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for (host, spec) in input.client_hosts() {
        let mut open: Option<(usize, Duration)> = None;
        for (i, e) in input.of(host) {
            match &e.kind {
                EventKind::Life(Lifecycle::Connecting { .. }) => open = Some((i, e.at)),
                EventKind::Life(
                    Lifecycle::Registered { .. } | Lifecycle::RegistrationFailed { .. },
                ) => {
                    if let Some((ci, at)) = open.take() {
                        if e.at > at + spec.register_timeout + SLACK {
                            out.push(v(
                                "AUTH-2",
                                e.at,
                                vec![ci, i],
                                format!(
                                    "{host}'s registration attempt took {} (timeout {})",
                                    fmt_clock(e.at - at).trim(),
                                    fmt_clock(spec.register_timeout).trim()
                                ),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some((ci, at)) = open {
            if !input.disturbed(host) && input.end > at + spec.register_timeout + SLACK {
                out.push(v(
                    "AUTH-2",
                    at + spec.register_timeout,
                    vec![ci],
                    format!(
                        "{host}'s registration attempt never ended (timeout {})",
                        fmt_clock(spec.register_timeout).trim()
                    ),
                ));
            }
        }
    }
    out
}

/// AUTH-4: a broker answers anything but `hello` before registration with `not_registered`.
fn auth_nothing_before_hello(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for b in input.broker_hosts() {
        let mut hello_seen: BTreeSet<(&str, Option<u16>)> = BTreeSet::new();
        let mut items: Vec<usize> = Vec::new();
        for r in input.rx().filter(|r| r.host == b) {
            if matches!(r.msg, Message::Hello { .. }) {
                hello_seen.insert((r.from, r.conn));
            } else if !hello_seen.contains(&(r.from, r.conn)) {
                items.push(r.i);
            }
        }
        for i in items {
            let e = &input.events[i];
            let EventKind::Recv {
                from, msg: Some(m), ..
            } = &e.kind
            else {
                continue;
            };
            if input.end <= e.at + PROMPT || input.disturbed(b) {
                continue;
            }
            let refused = input.reacted(
                from,
                b,
                e.at,
                e.at + PROMPT,
                |r| matches!(r, Message::Error { code: c, .. } if c == code::NOT_REGISTERED),
            );
            if !refused {
                out.push(v(
                    "AUTH-4",
                    e.at,
                    vec![i],
                    format!("{b} got `{}` from {from} before registration and did not answer `error not_registered`", m.kind()),
                ));
            }
        }
    }
    out
}

/// AUTH-5: a broker never welcomes a client id that is live on another connection.
fn auth_no_takeover(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for b in input.broker_hosts() {
        let s = input.sessions(b);
        // Merge welcomes and registered closes in trace order.
        let mut owner: BTreeMap<&str, &Welcome> = BTreeMap::new();
        let mut wi = s.welcomes.iter().peekable();
        let mut ci = s.closes.iter().peekable();
        loop {
            let take_close = match (wi.peek(), ci.peek()) {
                (Some(w), Some(c)) => c.i < w.i,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (None, None) => break,
            };
            if take_close {
                let c = ci.next().expect("peeked");
                owner.retain(|_, w| !(w.host == c.host && (c.conn.is_none() || w.conn == c.conn)));
                continue;
            }
            let w = wi.next().expect("peeked");
            match owner.get(w.client.as_str()) {
                Some(prev) if prev.host != w.host || prev.conn != w.conn => out.push(v(
                    "AUTH-5",
                    w.at,
                    vec![prev.i, w.i],
                    format!(
                        "{b} welcomed {} as `{}` while `{}` was live on {}",
                        w.host, w.client, w.client, prev.host
                    ),
                )),
                _ => {
                    owner.insert(&w.client, w);
                }
            }
        }
    }
    out
}

/// CONN-1: a registered client that hears nothing for its heartbeat timeout declares the
/// connection dead by then. (Faults need not be modelled: a partition that loses nothing
/// breaks nothing, while one that swallows frames shows up as silence.)
fn conn_heartbeat(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for (host, spec) in input.client_hosts() {
        let Some(hb) = &spec.heartbeat else { continue };
        if input.disturbed(host) {
            continue;
        }
        let limit = hb.timeout + SLACK;
        // (index of the last frame, its time) while registered.
        let mut heard: Option<(usize, Duration)> = None;
        let late = |at: Duration, last: (usize, Duration), now: Option<usize>| {
            let mut evs = vec![last.0];
            evs.extend(now);
            v(
                "CONN-1",
                at,
                evs,
                format!(
                    "{host} heard nothing from {} on but was still connected {} later (heartbeat timeout {})",
                    fmt_clock(last.1).trim(),
                    fmt_clock(at - last.1).trim(),
                    fmt_clock(hb.timeout).trim()
                ),
            )
        };
        for (i, e) in input.of(host) {
            match &e.kind {
                EventKind::Life(Lifecycle::Registered { .. }) => heard = Some((i, e.at)),
                EventKind::Recv { .. } => {
                    if let Some(last) = heard {
                        if e.at > last.1 + limit {
                            out.push(late(e.at, last, Some(i)));
                        }
                        heard = Some((i, e.at));
                    }
                }
                EventKind::Life(Lifecycle::Disconnected { .. } | Lifecycle::Stopped { .. }) => {
                    if let Some(last) = heard.take() {
                        if e.at > last.1 + limit {
                            out.push(late(e.at, last, Some(i)));
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(last) = heard {
            if input.end > last.1 + limit {
                out.push(late(input.end, last, None));
            }
        }
    }
    out
}

/// CONN-2: attempts after a loss, or after a whole round of failed attempts, wait at least
/// the backoff `min(cap, base·2ⁿ)`.
fn conn_backoff(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for (host, spec) in input.client_hosts() {
        let Some(rc) = &spec.reconnect else { continue };
        let backoff = |n: u32| rc.base.saturating_mul(1u32 << n.min(30)).min(rc.cap);
        let mut n = 0u32;
        let mut idx = 0usize;
        let mut lower: Option<(usize, Duration)> = None;
        for (i, e) in input.of(host) {
            match &e.kind {
                EventKind::Life(Lifecycle::Registered { .. }) => {
                    n = 0;
                    idx = 0;
                }
                EventKind::Life(Lifecycle::Disconnected { .. }) => {
                    lower = Some((i, e.at + backoff(n)));
                    n += 1;
                    idx = 0;
                }
                EventKind::Life(Lifecycle::RegistrationFailed { .. }) => {
                    idx += 1;
                    if idx >= spec.connect.len() {
                        idx = 0;
                        lower = Some((i, e.at + backoff(n)));
                        n += 1;
                    }
                }
                EventKind::Life(Lifecycle::Connecting { attempt, .. }) => {
                    if let Some((li, min)) = lower.take() {
                        if e.at + Duration::from_millis(1) < min {
                            out.push(v(
                                "CONN-2",
                                e.at,
                                vec![li, i],
                                format!(
                                    "{host}'s attempt {attempt} came at {}, before its backoff allowed ({})",
                                    fmt_clock(e.at).trim(),
                                    fmt_clock(min).trim()
                                ),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn attempts<'a>(input: &'a Input, host: &'a str) -> Vec<(usize, Duration, &'a str, u64)> {
    input
        .of(host)
        .filter_map(|(i, e)| match &e.kind {
            EventKind::Life(Lifecycle::Connecting { to, attempt }) => {
                Some((i, e.at, to.host.as_str(), *attempt))
            }
            _ => None,
        })
        .collect()
}

/// CONN-3: at most `max_attempts` attempts per `window`, at least `min_gap` apart.
fn conn_rate_limit(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for (host, spec) in input.client_hosts() {
        let Some(rc) = &spec.reconnect else { continue };
        let tries = attempts(input, host);
        let tol = Duration::from_millis(1);
        for w in tries.windows(2) {
            let ((ai, at, _, _), (bi, bt, _, n)) = (w[0], w[1]);
            if bt + tol < at + rc.min_gap {
                out.push(v(
                    "CONN-3",
                    bt,
                    vec![ai, bi],
                    format!(
                        "{host}'s attempt {n} came {} after the previous one (minimum gap {})",
                        fmt_clock(bt - at).trim(),
                        fmt_clock(rc.min_gap).trim()
                    ),
                ));
            }
        }
        let max = rc.max_attempts as usize;
        for (k, &(bi, bt, _, n)) in tries.iter().enumerate() {
            if k >= max {
                let (ai, at, _, _) = tries[k - max];
                if bt + tol < at + rc.window {
                    out.push(v(
                        "CONN-3",
                        bt,
                        vec![ai, bi],
                        format!(
                            "{host} made {} attempts within {} (limit {max} per {})",
                            max + 1,
                            fmt_clock(bt - at).trim(),
                            fmt_clock(rc.window).trim()
                        ),
                    ));
                    let _ = n;
                }
            }
        }
    }
    out
}

/// CONN-4: attempts follow the configured address order.
fn conn_failover_order(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for (host, spec) in input.client_hosts() {
        let mut expected = 0usize;
        for (i, e) in input.of(host) {
            match &e.kind {
                EventKind::Life(Lifecycle::Registered { .. } | Lifecycle::Disconnected { .. }) => {
                    expected = 0;
                }
                EventKind::Life(Lifecycle::RegistrationFailed { to, .. }) => {
                    let h = to.host.as_str();
                    let pos = spec.connect.iter().position(|c| c == h).unwrap_or(0);
                    expected = (pos + 1) % spec.connect.len().max(1);
                }
                EventKind::Life(Lifecycle::Connecting { to, attempt }) => {
                    let h = to.host.as_str();
                    let want = spec.connect.get(expected).map(String::as_str).unwrap_or("");
                    if h != want {
                        out.push(v(
                            "CONN-4",
                            e.at,
                            vec![i],
                            format!("{host}'s attempt {attempt} went to {h}, but the failover order says {want}"),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// CONN-5: after losing its connection, a reconnecting client tries again in time.
fn conn_reconnects(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for (host, spec) in input.client_hosts() {
        let Some(rc) = &spec.reconnect else { continue };
        if input.disturbed(host) {
            continue;
        }
        let limit =
            rc.cap.mul_f64(1.0 + rc.jitter) + rc.window + rc.min_gap + Duration::from_secs(1);
        let evs: Vec<(usize, &Event)> = input.of(host).collect();
        for (k, (i, e)) in evs.iter().enumerate() {
            let EventKind::Life(
                Lifecycle::Disconnected { .. } | Lifecycle::RegistrationFailed { .. },
            ) = &e.kind
            else {
                continue;
            };
            let refused = matches!(
                &e.kind,
                EventKind::Life(Lifecycle::RegistrationFailed {
                    error: RegError::Refused { .. },
                    ..
                })
            );
            let closed_by_user = evs.iter().any(|(_, c)| {
                matches!(
                    &c.kind,
                    EventKind::Call {
                        call: Call::Disconnect,
                        ..
                    }
                ) && c.at <= e.at
            });
            if refused || closed_by_user {
                continue;
            }
            let next = evs[k + 1..]
                .iter()
                .find(|(_, n)| matches!(n.kind, EventKind::Life(Lifecycle::Connecting { .. })));
            let deadline = e.at + limit;
            if next.is_none() && input.end > deadline {
                out.push(v(
                    "CONN-5",
                    deadline,
                    vec![*i],
                    format!(
                        "{host} lost its connection at {} and never tried to reconnect (reconnect is enabled)",
                        fmt_clock(e.at).trim()
                    ),
                ));
            }
        }
    }
    out
}

/// CONN-6: when a proxy's upstream ends, the clients behind it lose their connection at
/// once (not at their heartbeat timeout).
fn conn_relay_closes(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for h in &input.scenario.hosts {
        let HostKind::Proxy(p) = &h.kind else {
            continue;
        };
        for (i, e) in input.of(&h.name) {
            let EventKind::Life(Lifecycle::ConnClosed { peer, .. }) = &e.kind else {
                continue;
            };
            // `target:port`: the upstream of the proxied connection from client port `port`.
            let (upstream, port) = (peer.host.as_str(), peer.conn);
            if upstream != p.target || input.end <= e.at + PROMPT {
                continue;
            }
            let behind = port.and_then(|port| {
                input
                    .rx()
                    .find(|r| r.host == h.name && r.conn == Some(port) && r.at <= e.at)
                    .map(|r| r.from)
            });
            for (client, _) in input.client_hosts() {
                if behind.is_some_and(|b| b != client) {
                    continue;
                }
                // Was `client` registered through this proxy when the upstream ended?
                let mut through = false;
                for (_, c) in input.of(client).filter(|(_, c)| c.at <= e.at) {
                    match &c.kind {
                        EventKind::Life(Lifecycle::Registered { to }) => {
                            through = to.host == h.name;
                        }
                        EventKind::Life(Lifecycle::Disconnected { .. }) => through = false,
                        _ => {}
                    }
                }
                if !through || input.disturbed(client) {
                    continue;
                }
                let noticed = input.of(client).any(|(_, c)| {
                    c.at >= e.at
                        && c.at <= e.at + PROMPT
                        && matches!(c.kind, EventKind::Life(Lifecycle::Disconnected { .. }))
                });
                if !noticed {
                    out.push(v(
                        "CONN-6",
                        e.at,
                        vec![i],
                        format!(
                            "{}'s upstream {} ended but {client}'s connection through it stayed open",
                            h.name, p.target
                        ),
                    ));
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Broker rules

/// Per broker: request id → who sent it and who received its start from the broker.
struct Routing<'a> {
    sender: BTreeMap<&'a str, (&'a str, usize, Duration)>,
    /// The connection the request came in on (the sender's port), when known.
    sender_conn: BTreeMap<&'a str, Option<u16>>,
    receivers: BTreeMap<&'a str, Vec<(&'a str, usize, Duration)>>,
}

fn routing<'a>(input: &'a Input, b: &str) -> Routing<'a> {
    let mut r = Routing {
        sender: BTreeMap::new(),
        sender_conn: BTreeMap::new(),
        receivers: BTreeMap::new(),
    };
    for x in input.rx() {
        if let Message::Start {
            req,
            dir: Dir::Request,
            ..
        } = x.msg
        {
            if x.host == b {
                r.sender.entry(req).or_insert((x.from, x.i, x.at));
                r.sender_conn.entry(req).or_insert(x.conn);
            } else if x.from == b {
                r.receivers
                    .entry(req)
                    .or_default()
                    .push((x.host, x.i, x.at));
            }
        }
    }
    r
}

/// BRK-1: a receiver gets a request only against an outstanding `receive`, and gets it
/// as soon as both the request and that `receive` are at the broker (no polling).
fn brk_credits(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    let budget = input.scenario.network.max_latency + SLACK + Duration::from_millis(10);
    for b in input.broker_hosts() {
        let sessions = input.sessions(b);
        let start_at: BTreeMap<&str, Duration> = input
            .rx()
            .filter(|x| {
                x.host == b
                    && matches!(
                        x.msg,
                        Message::Start {
                            dir: Dir::Request,
                            ..
                        }
                    )
            })
            .filter_map(|x| Some((x.msg.req()?, x.at)))
            .collect();
        // Outstanding `receive`s per (receiver, connection, channel), oldest first.
        let mut credits: BTreeMap<(&str, Option<u16>, &str), VecDeque<Duration>> = BTreeMap::new();
        let mut closes = sessions.closes.iter().peekable();
        for r in input.rx() {
            while let Some(c) = closes.peek() {
                if c.i > r.i {
                    break;
                }
                credits.retain(|(h, conn, _), _| {
                    !(*h == c.host && (c.conn.is_none() || *conn == c.conn))
                });
                closes.next();
            }
            match r.msg {
                Message::Receive { channel } if r.host == b => {
                    credits
                        .entry((r.from, r.conn, channel))
                        .or_default()
                        .push_back(r.at);
                }
                Message::Start {
                    req,
                    channel,
                    dir: Dir::Request,
                    ..
                } if r.from == b => {
                    let conn = input.live_conn(b, r.host, r.at);
                    let asked = credits
                        .entry((r.host, conn, channel))
                        .or_default()
                        .pop_front();
                    let Some(asked) = asked else {
                        out.push(v(
                            "BRK-1",
                            r.at,
                            vec![r.i],
                            format!(
                                "{b} pushed request {req} to {} which had no outstanding `receive {channel}`",
                                r.host
                            ),
                        ));
                        continue;
                    };
                    let Some(&arrived) = start_at.get(req.as_str()) else {
                        continue;
                    };
                    let ready = arrived.max(asked);
                    // A held or cut link delays delivery, not the broker's decision.
                    let link_slowed = link_faulted(input, b, r.host, ready, r.at);
                    if let Some(took) =
                        r.at.checked_sub(ready)
                            .filter(|t| *t > budget && !link_slowed)
                    {
                        out.push(v(
                            "BRK-1",
                            r.at,
                            vec![r.i],
                            format!(
                                "{b} held request {req} for {} after {} was waiting on `{channel}` (polling?)",
                                fmt_clock(took).trim(),
                                r.host
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// BRK-2, BRK-3: one receiver per request; its frames reach only it, in order.
fn brk_one_receiver(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for b in input.broker_hosts() {
        let r = routing(input, b);
        for (req, rx) in &r.receivers {
            if rx.len() > 1 {
                let names: Vec<&str> = rx.iter().map(|x| x.0).collect();
                out.push(v(
                    "BRK-2",
                    rx[1].2,
                    rx.iter().map(|x| x.1).collect(),
                    format!(
                        "{b} delivered request {req} to {} receivers: {}",
                        rx.len(),
                        names.join(", ")
                    ),
                ));
            }
        }
        // Request chunk/end frames: only to the assignee, in the order the broker got them.
        let mut state: BTreeMap<&str, usize> = BTreeMap::new();
        let mut sent_frames: BTreeMap<&str, Vec<(usize, &Message)>> = BTreeMap::new();
        for x in input.rx().filter(|x| x.host == b) {
            if matches!(
                x.msg,
                Message::Chunk {
                    dir: Dir::Request,
                    ..
                } | Message::End {
                    dir: Dir::Request,
                    ..
                }
            ) && r
                .sender
                .get(x.msg.req().unwrap_or_default())
                // Frames that arrived before the request's start were refused, not queued.
                .is_some_and(|s| s.0 == x.from && s.1 < x.i)
            {
                sent_frames
                    .entry(x.msg.req().unwrap_or_default())
                    .or_default()
                    .push((x.i, x.msg));
            }
        }
        for x in input.rx().filter(|x| x.from == b) {
            let req = match x.msg {
                Message::Chunk {
                    req,
                    dir: Dir::Request,
                    ..
                }
                | Message::End {
                    req,
                    dir: Dir::Request,
                } => req.as_str(),
                _ => continue,
            };
            let assignee = r.receivers.get(req).and_then(|v| v.first()).map(|x| x.0);
            if assignee != Some(x.host) {
                out.push(v(
                    "BRK-3",
                    x.at,
                    vec![x.i],
                    format!(
                        "{b} sent a frame of request {req} to {}, which {}",
                        x.host,
                        match assignee {
                            Some(a) => format!("is not its assigned receiver ({a})"),
                            None => "never received its start".into(),
                        }
                    ),
                ));
                continue;
            }
            // In order: the k-th frame delivered is the k-th frame the broker received from
            // the sender (whatever the sender or the network did to them before).
            let k = state.entry(req).or_insert(0);
            let sent = sent_frames.get(req).and_then(|v| v.get(*k));
            match sent {
                Some((_, m)) if *m == x.msg => *k += 1,
                other => {
                    out.push(v(
                        "BRK-3",
                        x.at,
                        vec![x.i],
                        format!(
                            "{b} delivered `{}` of request {req} to {} as frame {} of the stream, where the sender's frame {} was {}",
                            wirecheck_core::wire::summary(x.msg),
                            x.host,
                            *k + 1,
                            *k + 1,
                            other
                                .map(|(_, m)| format!("`{}`", wirecheck_core::wire::summary(m)))
                                .unwrap_or_else(|| "never received".into())
                        ),
                    ));
                    *k += 1;
                }
            }
        }
    }
    out
}

/// BRK-4, BRK-8: response frames reach only the original sender, and only those the
/// assigned receiver sent; others are refused with `not_assigned`.
fn brk_responses(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for b in input.broker_hosts() {
        let r = routing(input, b);
        let assignee = |req: &str| r.receivers.get(req).and_then(|v| v.first()).map(|x| x.0);
        // Frames the broker accepted from assignees, per request: count of each summary.
        let mut accepted: BTreeMap<(&str, String), i64> = BTreeMap::new();
        for x in input.rx() {
            if !is_response_frame(x.msg) {
                continue;
            }
            let req = x.msg.req().unwrap_or_default();
            if x.host == b {
                if assignee(req) == Some(x.from) {
                    *accepted
                        .entry((req, wirecheck_core::wire::summary(x.msg)))
                        .or_default() += 1;
                } else if input.end > x.at + PROMPT && !input.disturbed(b) {
                    // A response from a non-assignee: must be refused.
                    let refused = input
                        .reacted(x.from, b, x.at, x.at + PROMPT, |m| {
                            matches!(m, Message::Error { req: Some(q), code: c, .. } if q == req && c == code::NOT_ASSIGNED)
                        })
                        ;
                    if !refused
                        && matches!(
                            x.msg,
                            Message::Start { .. } | Message::Chunk { .. } | Message::End { .. }
                        )
                    {
                        out.push(v(
                            "BRK-8",
                            x.at,
                            vec![x.i],
                            format!(
                                "{b} took a response for {req} from {}, which is not its assigned receiver, without answering `not_assigned`",
                                x.from
                            ),
                        ));
                    }
                }
            } else if x.from == b {
                if matches!(x.msg, Message::Error { code: c, .. } if REFUSALS.contains(&c.as_str()))
                {
                    continue; // the broker refusing something of this peer's, not a response
                }
                let sender = r.sender.get(req).map(|s| s.0);
                if sender.is_some_and(|s| s != x.host) {
                    out.push(v(
                        "BRK-4",
                        x.at,
                        vec![x.i],
                        format!(
                            "{b} delivered a response for {req} to {}, but {req} was sent by {}",
                            x.host,
                            sender.unwrap_or("?")
                        ),
                    ));
                    continue;
                }
                if sender.is_none() || assignee(req).is_none() {
                    continue; // answered by the broker itself (`$info`, a scripted broker)
                }
                if matches!(x.msg, Message::Error { .. }) {
                    continue; // broker-originated errors (receiver_gone...) are not forwarded frames
                }
                let key = (req, wirecheck_core::wire::summary(x.msg));
                let left = accepted.entry(key).or_default();
                if *left <= 0 {
                    out.push(v(
                        "BRK-8",
                        x.at,
                        vec![x.i],
                        format!("{b} delivered a response frame for {req} to {} that its assigned receiver never sent", x.host),
                    ));
                } else {
                    *left -= 1;
                }
            }
        }
    }
    out
}

/// BRK-5: requests whose response ended (or that were cancelled) are gone from the broker.
fn brk_unassigned(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    for b in input.broker_hosts() {
        let Some(held) = input.finals.get(b).and_then(|f| f.broker_requests.clone()) else {
            continue;
        };
        let r = routing(input, b);
        for req in held {
            let Some((sender, si, _)) = r.sender.get(req.as_str()) else {
                continue;
            };
            let ended = input.rx().find(|x| {
                x.host == b
                    && x.msg.req() == Some(req.as_str())
                    && ((ends_response(x.msg)
                        && r.receivers
                            .get(req.as_str())
                            .and_then(|v| v.first())
                            .map(|y| y.0)
                            == Some(x.from))
                        || (matches!(x.msg, Message::Cancel { .. }) && x.from == *sender))
            });
            if let Some(x) = ended {
                out.push(v(
                    "BRK-5",
                    input.end,
                    vec![*si, x.i],
                    format!(
                        "{b} still holds request {req} after it ended at {}",
                        fmt_clock(x.at).trim()
                    ),
                ));
            }
        }
    }
    out
}

/// Requests assigned by `b` whose response had not ended by `t`.
/// An assignment that was open at some moment: request, sender and receiver with the
/// connections they use at the broker (when known).
struct Open<'a> {
    req: &'a str,
    sender: &'a str,
    sender_conn: Option<u16>,
    rcv: &'a str,
    rcv_conn: Option<u16>,
}

fn open_assignments<'a>(input: &'a Input, r: &Routing<'a>, b: &str, t: Duration) -> Vec<Open<'a>> {
    let mut out = Vec::new();
    for (req, rx) in &r.receivers {
        let Some(&(rcv, _, assigned_at)) = rx.first() else {
            continue;
        };
        let Some(&(sender, _, _)) = r.sender.get(req) else {
            continue;
        };
        if assigned_at > t {
            continue;
        }
        // Ended by: the receiver's answer, the sender's cancel, a cancel or an error from the
        // broker (receiver_gone...), or the receiver's connection closing.
        let finished = input.rx().any(|x| {
            x.at <= t
                && x.msg.req() == Some(req)
                && ((x.host == b && x.from == rcv && ends_response(x.msg))
                    || (x.host == b && x.from == sender && matches!(x.msg, Message::Cancel { .. }))
                    || (x.host == rcv && x.from == b && matches!(x.msg, Message::Cancel { .. }))
                    || (x.host == sender && x.from == b && matches!(x.msg, Message::Error { .. })))
        }) || input.closed_at(b, rcv, assigned_at).is_some_and(|c| c < t);
        if !finished {
            out.push(Open {
                req,
                sender,
                sender_conn: r.sender_conn.get(req).copied().flatten(),
                rcv,
                rcv_conn: input.live_conn(b, rcv, assigned_at),
            });
        }
    }
    out
}

/// BRK-6: a receiver's loss is reported to the sender as `receiver_gone`.
fn brk_receiver_gone(input: &Input) -> Vec<Violation> {
    peer_loss(input, true)
}

/// BRK-7: a sender's loss cancels its requests toward their receivers.
fn brk_sender_gone(input: &Input) -> Vec<Violation> {
    peer_loss(input, false)
}

/// When one side of an open assignment leaves, the broker must tell the other side
/// within `PROMPT`: the sender gets `error receiver_gone` (receiver lost) or the receiver
/// gets `cancel` (sender lost). Skipped when the other side leaves too.
fn peer_loss(input: &Input, receiver_lost: bool) -> Vec<Violation> {
    let mut out = Vec::new();
    for b in input.broker_hosts() {
        let r = routing(input, b);
        for c in input.sessions(b).closes {
            let (i, peer) = (c.i, c.host.as_str());
            let at = input.events[i].at;
            for o in open_assignments(input, &r, b, at) {
                let (req, sender, rcv) = (o.req, o.sender, o.rcv);
                let (lost, lost_conn, other) = if receiver_lost {
                    (rcv, o.rcv_conn, sender)
                } else {
                    (sender, o.sender_conn, rcv)
                };
                // The connection that closed must be the one the request used.
                let same_conn = c.conn.is_none() || lost_conn.is_none() || c.conn == lost_conn;
                if lost != peer || !same_conn || other == peer || input.end <= at + PROMPT {
                    continue;
                }
                if input
                    .closed_at(b, other, at)
                    .is_some_and(|c| c <= at + PROMPT)
                {
                    continue;
                }
                let told = input.reacted(other, b, at, at + PROMPT, |m| match m {
                    Message::Error {
                        req: Some(q),
                        code: c,
                        ..
                    } if receiver_lost => q == req && c == code::RECEIVER_GONE,
                    Message::Cancel { req: q } if !receiver_lost => q == req,
                    _ => false,
                });
                if told {
                    continue;
                }
                let within = fmt_clock(PROMPT);
                out.push(if receiver_lost {
                    v(
                        "BRK-6",
                        at,
                        vec![i],
                        format!("{rcv} left holding {req}, but {b} did not tell {sender} `receiver_gone` within {}", within.trim()),
                    )
                } else {
                    v(
                        "BRK-7",
                        at,
                        vec![i],
                        format!("{sender} left with {req} in flight, but {b} did not send `cancel {req}` to {rcv} within {}", within.trim()),
                    )
                });
            }
        }
    }
    out
}

/// BRK-10, BRK-11: malformed or oversized input is answered with an error.
fn brk_bad_input(input: &Input) -> Vec<Violation> {
    let mut out = Vec::new();
    let brokers = input.broker_hosts();
    for (i, e) in input.events.iter().enumerate() {
        let EventKind::Recv {
            from, text, msg, ..
        } = &e.kind
        else {
            continue;
        };
        if !brokers.contains(e.host.as_str())
            || input.disturbed(&e.host)
            || input.end <= e.at + PROMPT
        {
            continue;
        }
        let max = input.scenario.hosts.iter().find_map(|h| match &h.kind {
            HostKind::Broker(s) if h.name == e.host => Some(s.max_message),
            _ => None,
        });
        let (rule, want) = if max.is_some_and(|m| text.len() > m) {
            ("BRK-10", code::TOO_LARGE)
        } else if msg.is_none() {
            ("BRK-11", code::MALFORMED)
        } else {
            continue;
        };
        let answered = input.reacted(
            from,
            &e.host,
            e.at,
            e.at + PROMPT,
            |m| matches!(m, Message::Error { code: c, .. } if c == want),
        );
        // Nobody to answer if the peer's connection went away right after.
        let gone = input.of(&e.host).any(|(_, c)| {
            c.at >= e.at
                && c.at <= e.at + PROMPT
                && matches!(&c.kind, EventKind::Life(Lifecycle::ConnClosed { peer, .. }) if peer.host == *from)
        });
        if !answered && !gone {
            out.push(v(
                rule,
                e.at,
                vec![i],
                format!(
                    "{} got {} input from {from} and did not answer `error {want}`",
                    e.host,
                    if rule == "BRK-10" {
                        "oversized"
                    } else {
                        "malformed"
                    }
                ),
            ));
        }
    }
    out
}

/// BRK-12: the reference broker's structure is consistent and holds nothing of closed
/// connections.
fn brk_state_freed(input: &Input) -> Vec<Violation> {
    input
        .finals
        .iter()
        .filter_map(|(host, f)| {
            let why = f.broker_invariants.as_ref()?;
            Some(v("BRK-12", input.end, vec![], format!("{host}: {why}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientSpec, Host, Loc, Network};

    fn scenario(hosts: Vec<(&str, HostKind)>) -> Scenario {
        Scenario {
            name: "t".into(),
            name_loc: Loc::default(),
            about: String::new(),
            rules: vec![],
            seed: 0,
            network: Network::default(),
            duration: Duration::from_secs(60),
            hosts: hosts
                .into_iter()
                .map(|(n, kind)| Host {
                    name: n.into(),
                    kind,
                    loc: Loc::default(),
                })
                .collect(),
            script: vec![],
            expect: vec![],
            expect_violations: vec![],
            file: Default::default(),
        }
    }

    fn client(id: &str, connect: &[&str]) -> HostKind {
        HostKind::Client(ClientSpec {
            id: id.into(),
            token: None,
            connect: connect.iter().map(|s| s.to_string()).collect(),
            autoconnect: true,
            register_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            heartbeat: None,
            reconnect: Some(Default::default()),
            serve: vec![],
        })
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn recv(at: u64, host: &str, from: &str, m: Message) -> Event {
        Event {
            at: ms(at),
            host: host.into(),
            kind: EventKind::Recv {
                from: from.into(),
                conn: None,
                text: m.encode(),
                msg: Some(m),
            },
        }
    }

    fn ep(host: &str) -> crate::trace::Endpoint {
        crate::trace::Endpoint {
            host: host.into(),
            port: 7300,
        }
    }

    fn req_call() -> Call {
        Call::Request {
            channel: "jobs".into(),
            body: String::new(),
            chunks: 0,
            timeout: None,
        }
    }

    fn life(at: u64, host: &str, l: Lifecycle) -> Event {
        Event {
            at: ms(at),
            host: host.into(),
            kind: EventKind::Life(l),
        }
    }

    fn run(s: &Scenario, events: &[Event], finals: BTreeMap<String, HostFinal>) -> Vec<Violation> {
        check_all(&Input {
            scenario: s,
            events,
            finals: &finals,
            end: ms(60_000),
        })
    }

    fn start(req: &str, dir: Dir, body: &str) -> Message {
        Message::Start {
            req: req.into(),
            channel: "jobs".into(),
            dir,
            body: body.into(),
            end: true,
        }
    }

    fn rules_of(v: &[Violation]) -> Vec<&'static str> {
        v.iter().map(|x| x.rule).collect()
    }

    #[test]
    fn broadcast_and_misrouted_response_fire() {
        let s = scenario(vec![
            ("b", HostKind::Scripted(crate::model::ScriptedSpec::Server)),
            ("s", client("s", &["b"])),
            ("w1", client("w1", &["b"])),
            ("w2", client("w2", &["b"])),
        ]);
        let ev = vec![
            recv(1, "s", "b", Message::Welcome { client: "s".into() }),
            recv(
                2,
                "b",
                "w1",
                Message::Receive {
                    channel: "jobs".into(),
                },
            ),
            recv(
                2,
                "b",
                "w2",
                Message::Receive {
                    channel: "jobs".into(),
                },
            ),
            recv(3, "b", "s", start("r1", Dir::Request, "x")),
            recv(4, "w1", "b", start("r1", Dir::Request, "x")),
            recv(4, "w2", "b", start("r1", Dir::Request, "x")),
            recv(5, "b", "w1", start("r1", Dir::Response, "y")),
            recv(6, "w2", "b", start("r1", Dir::Response, "y")),
        ];
        let v = run(&s, &ev, BTreeMap::new());
        let r = rules_of(&v);
        assert!(r.contains(&"BRK-2"), "{v:#?}");
        assert!(r.contains(&"BRK-4"), "{v:#?}");
        assert!(v
            .iter()
            .any(|x| x.rule == "BRK-2" && x.events == vec![4, 5]));
    }

    #[test]
    fn registration_without_welcome_and_leaks_fire() {
        let s = scenario(vec![
            ("b", HostKind::Broker(Default::default())),
            ("app", client("app", &["b"])),
        ]);
        let ev = vec![
            life(
                0,
                "app",
                Lifecycle::Connecting {
                    to: ep("b"),
                    attempt: 1,
                },
            ),
            recv(
                2,
                "app",
                "b",
                Message::Error {
                    req: None,
                    code: "unauthorized".into(),
                    message: String::new(),
                },
            ),
            life(2, "app", Lifecycle::Registered { to: ep("b") }),
            Event {
                at: ms(3),
                host: "app".into(),
                kind: EventKind::Call {
                    id: "r1".into(),
                    call: req_call(),
                    deadline: Some(ms(1003)),
                },
            },
            Event {
                at: ms(1003),
                host: "app".into(),
                kind: EventKind::Result {
                    id: "r1".into(),
                    outcome: Outcome::Fails(FailKind::Timeout),
                },
            },
            Event {
                at: ms(1004),
                host: "app".into(),
                kind: EventKind::Result {
                    id: "r1".into(),
                    outcome: Outcome::Ok("x".into()),
                },
            },
        ];
        let finals = BTreeMap::from([(
            "app".to_string(),
            HostFinal {
                running: true,
                pending_ids: vec!["r1".into()],
                ..Default::default()
            },
        )]);
        let v = run(&s, &ev, finals);
        let r = rules_of(&v);
        for rule in ["AUTH-1", "MUX-3", "MUX-5"] {
            assert!(r.contains(&rule), "{rule} missing from {v:#?}");
        }
    }

    #[test]
    fn reconnect_storm_fires_backoff_rate_limit_and_order() {
        let s = scenario(vec![
            ("p", HostKind::Broker(Default::default())),
            ("q", HostKind::Broker(Default::default())),
            ("app", client("app", &["p", "q"])),
        ]);
        let ev = vec![
            life(
                0,
                "app",
                Lifecycle::Connecting {
                    to: ep("p"),
                    attempt: 1,
                },
            ),
            life(5, "app", Lifecycle::Registered { to: ep("p") }),
            life(
                100,
                "app",
                Lifecycle::Disconnected {
                    reason: "x".into(),
                    failed: 0,
                },
            ),
            life(
                101,
                "app",
                Lifecycle::Connecting {
                    to: ep("q"),
                    attempt: 2,
                },
            ),
        ];
        let v = run(&s, &ev, BTreeMap::new());
        let r = rules_of(&v);
        for rule in ["CONN-2", "CONN-3", "CONN-4"] {
            assert!(r.contains(&rule), "{rule} missing from {v:#?}");
        }
    }

    #[test]
    fn silence_past_the_heartbeat_timeout_fires_conn1() {
        let mut spec = client("app", &["b"]);
        if let HostKind::Client(c) = &mut spec {
            c.heartbeat = Some(crate::model::HeartbeatSpec {
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(3),
            });
        }
        let s = scenario(vec![
            ("b", HostKind::Broker(Default::default())),
            ("app", spec),
        ]);
        let ev = vec![
            recv(
                1,
                "b",
                "app",
                Message::Hello {
                    client: "app".into(),
                    token: None,
                },
            ),
            recv(
                2,
                "app",
                "b",
                Message::Welcome {
                    client: "app".into(),
                },
            ),
            life(2, "app", Lifecycle::Registered { to: ep("b") }),
            recv(1000, "app", "b", Message::Pong { nonce: 1 }),
            // Nothing for 9s, and no disconnect: the heartbeat should have fired at ~4s.
            recv(10_000, "app", "b", Message::Pong { nonce: 9 }),
        ];
        let v = run(&s, &ev, BTreeMap::new());
        // The 9s gap, and the silence after the last frame until the end of the run.
        assert_eq!(rules_of(&v), vec!["CONN-1", "CONN-1"], "{v:#?}");
        assert_eq!(v[0].events, vec![3, 4]);
    }

    #[test]
    fn late_calls_unanswered_requests_slow_registration_and_oversize_fire() {
        let mut app = client("app", &["b"]);
        if let HostKind::Client(c) = &mut app {
            c.serve = vec![crate::model::ServeSpec {
                channel: "jobs".into(),
                reply: crate::model::Reply::Echo,
                delay: Duration::ZERO,
                chunks: 0,
                concurrency: 1,
            }];
        }
        let broker = HostKind::Broker(crate::model::BrokerSpec {
            max_message: 16,
            ..Default::default()
        });
        let s = scenario(vec![
            ("b", broker),
            ("app", app),
            ("p", client("p", &["b"])),
        ]);
        let big = Message::Receive {
            channel: "x".repeat(40),
        };
        let ev = vec![
            life(
                0,
                "app",
                Lifecycle::Connecting {
                    to: ep("b"),
                    attempt: 1,
                },
            ),
            recv(
                1,
                "b",
                "app",
                Message::Hello {
                    client: "app".into(),
                    token: None,
                },
            ),
            recv(
                1,
                "b",
                "p",
                Message::Hello {
                    client: "p".into(),
                    token: None,
                },
            ),
            recv(2, "p", "b", Message::Welcome { client: "p".into() }),
            // Registered 20s after connecting, with a 10s registration timeout: AUTH-2.
            recv(
                20_000,
                "app",
                "b",
                Message::Welcome {
                    client: "app".into(),
                },
            ),
            life(20_000, "app", Lifecycle::Registered { to: ep("b") }),
            // A call that outlives its deadline: MUX-8.
            Event {
                at: ms(20_002),
                host: "app".into(),
                kind: EventKind::Call {
                    id: "r1".into(),
                    call: req_call(),
                    deadline: Some(ms(21_002)),
                },
            },
            // An oversized message the broker never answers: BRK-10.
            recv(20_003, "b", "p", big),
            // A whole request delivered to a serving client (well after registration),
            // never answered: MUX-9.
            recv(25_000, "app", "b", start("q1", Dir::Request, "x")),
            Event {
                at: ms(30_000),
                host: "app".into(),
                kind: EventKind::Result {
                    id: "r1".into(),
                    outcome: Outcome::Fails(FailKind::Timeout),
                },
            },
        ];
        let v = run(&s, &ev, BTreeMap::new());
        let r = rules_of(&v);
        for rule in ["AUTH-2", "MUX-9", "MUX-8", "BRK-10"] {
            assert!(r.contains(&rule), "{rule} missing from {v:#?}");
        }
    }

    #[test]
    fn clean_exchange_has_no_violations() {
        let s = scenario(vec![
            ("b", HostKind::Broker(Default::default())),
            ("app", client("app", &["b"])),
            ("w", client("w", &["b"])),
        ]);
        let ev = vec![
            life(
                0,
                "app",
                Lifecycle::Connecting {
                    to: ep("b"),
                    attempt: 1,
                },
            ),
            recv(
                1,
                "b",
                "app",
                Message::Hello {
                    client: "app".into(),
                    token: None,
                },
            ),
            recv(
                1,
                "b",
                "w",
                Message::Hello {
                    client: "w".into(),
                    token: None,
                },
            ),
            recv(
                2,
                "app",
                "b",
                Message::Welcome {
                    client: "app".into(),
                },
            ),
            life(2, "app", Lifecycle::Registered { to: ep("b") }),
            recv(
                3,
                "b",
                "w",
                Message::Receive {
                    channel: "jobs".into(),
                },
            ),
            Event {
                at: ms(3),
                host: "app".into(),
                kind: EventKind::Call {
                    id: "r1".into(),
                    call: req_call(),
                    deadline: Some(ms(1003)),
                },
            },
            recv(4, "b", "app", start("r1", Dir::Request, "x")),
            recv(5, "w", "b", start("r1", Dir::Request, "x")),
            recv(6, "b", "w", start("r1", Dir::Response, "y")),
            recv(7, "app", "b", start("r1", Dir::Response, "y")),
            Event {
                at: ms(7),
                host: "app".into(),
                kind: EventKind::Result {
                    id: "r1".into(),
                    outcome: Outcome::Ok("y".into()),
                },
            },
        ];
        let v = run(&s, &ev, BTreeMap::new());
        assert!(v.is_empty(), "{v:#?}");
    }
}
