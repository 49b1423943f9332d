//! Drawing a plan from a workload, a nemesis and a seed. Every draw comes from one
//! `SplitMix64::derive(seed, "chaos")` stream, in a fixed order, so a seed names a run.

use super::plan::{Plan, Timed, KEEP};
use crate::model::chaos::{ChaosSpec, FaultSort, MessageFault, Span};
use crate::model::{
    Action, ClientSpec, Corruption, HeartbeatSpec, Host, HostKind, Network, ProxyAction, ProxyDir,
    ProxyRule, ProxySpec, ReconnectSpec, Reply, RequestCall, ServeSpec,
};
use std::collections::BTreeMap;
use std::time::Duration;
use wirecheck_core::rng::SplitMix64;

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// When the first request may go: the clients have registered by then.
pub const START: Duration = ms(300);
/// Quiet after the last deadline before the run ends.
const TAIL: Duration = ms(500);
/// The proxy host the nemesis adds in front of the broker (for the senders).
pub const PROXY: &str = "px";

/// The heartbeat of every workload client: a dead connection is noticed within 1.5s.
pub const HEARTBEAT: HeartbeatSpec = HeartbeatSpec {
    interval: ms(500),
    timeout: ms(1500),
};

/// The reconnect settings of every workload client: quick, bounded, rate limited.
pub fn reconnect() -> ReconnectSpec {
    ReconnectSpec {
        base: ms(100),
        cap: ms(1000),
        jitter: 0.0,
        max_attempts: 20,
        window: ms(10_000),
        // Above `base`, so the rate limit binds on the first retries (CONN-3).
        min_gap: ms(250),
    }
}

/// The tag a request body starts with: who sent it and which request it is.
pub fn tag(sender: &str, id: &str) -> String {
    format!("{sender}/{id}|")
}

struct Rng(SplitMix64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.0.next_u64() % n
        }
    }
    fn count(&mut self, s: Span<u32>) -> u32 {
        s.min + self.below(u64::from(s.max - s.min) + 1) as u32
    }
    /// Whole milliseconds in `[min, max]` (sub-millisecond bounds are rounded down).
    fn time(&mut self, s: Span<Duration>) -> Duration {
        let (lo, hi) = (s.min.as_millis() as u64, s.max.as_millis() as u64);
        ms(lo + self.below(hi.saturating_sub(lo) + 1))
    }
    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len() as u64) as usize]
    }
}

/// The latency a `latency` fault sets on a link, drawn in whole milliseconds.
pub const LATENCY: Span<Duration> = Span {
    min: ms(20),
    max: ms(200),
};

/// The plan for `seed`: hosts, requests, faults and heal, in time order. A `latency`
/// fault heals by setting the link back to `network`'s latency.
pub fn draw(spec: &ChaosSpec, network: &Network, seed: u64) -> Plan {
    let w = &spec.workload;
    let mut rng = Rng(SplitMix64::derive(seed, "chaos"));
    let messages = spec.nemesis.as_ref().and_then(|n| n.messages.as_ref());
    let entry = if messages.is_some() {
        PROXY
    } else {
        w.broker.as_str()
    }
    .to_string();
    let client = |name: String, connect: &str, serve: Vec<ServeSpec>| Host {
        loc: w.loc.clone(),
        kind: HostKind::Client(ClientSpec {
            id: name.clone(),
            token: None,
            connect: vec![connect.to_string()],
            autoconnect: true,
            register_timeout: ms(1000),
            request_timeout: ms(2000),
            heartbeat: Some(HEARTBEAT),
            reconnect: Some(reconnect()),
            serve,
        }),
        name,
    };
    let mut hosts = Vec::new();
    for i in 0..w.receivers {
        let serve = ServeSpec {
            channel: w.channel.clone(),
            reply: Reply::Echo,
            delay: rng.time(w.reply_delay),
            chunks: rng.count(w.reply_chunks),
            concurrency: rng.count(w.concurrency),
        };
        // Receivers reach the broker directly: a message lost on a live connection to a
        // receiver (a `receive` credit, an assigned `start`) would stall it for good,
        // which no protocol rule forbids.
        hosts.push(client(format!("w{i}"), &w.broker, vec![serve]));
    }
    let senders: Vec<String> = (0..w.senders).map(|i| format!("s{i}")).collect();
    for s in &senders {
        hosts.push(client(s.clone(), &entry, Vec::new()));
    }
    let clients: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();

    // Request times first: they set the fault phase.
    let gap = Span {
        min: ms(0),
        max: ms(2000 / u64::from(w.rate)),
    };
    let mut times = Vec::new();
    let mut t = START;
    for _ in 0..w.requests {
        t += rng.time(gap);
        times.push(t);
    }
    let phase_end = t;

    let mut steps: Vec<Timed> = Vec::new();
    let mut group = 0u32;
    // Crash intervals (crash .. restart) per host, so no host is crashed twice at once
    // and no step is sent to a host that is down.
    let mut down: BTreeMap<String, Vec<(Duration, Duration)>> = BTreeMap::new();
    let mut faults_end = phase_end;
    if let Some(n) = &spec.nemesis {
        for _ in 0..n.faults {
            let sort = *rng.pick(&n.kinds);
            let at = START
                + rng.time(Span {
                    min: ms(0),
                    max: phase_end - START,
                });
            let end = at + rng.time(n.length);
            let mut push = |at, action| steps.push(Timed { at, group, action });
            match sort {
                FaultSort::Partition | FaultSort::Hold => {
                    let c = rng.pick(&clients).clone();
                    let to = entry_of(&c, &entry, &w.broker);
                    let (cut, heal) = if sort == FaultSort::Partition {
                        (
                            Action::Partition {
                                a: c.clone(),
                                b: to.clone(),
                            },
                            Action::Repair { a: c, b: to },
                        )
                    } else {
                        (
                            Action::Hold {
                                a: c.clone(),
                                b: to.clone(),
                            },
                            Action::Release { a: c, b: to },
                        )
                    };
                    push(at, cut);
                    push(end, heal);
                }
                FaultSort::OneWay => {
                    let c = rng.pick(&clients).clone();
                    let to = entry_of(&c, &entry, &w.broker);
                    // Drawn: which direction is cut (0: the client's messages are lost).
                    let (from, to) = if rng.below(2) == 0 { (c, to) } else { (to, c) };
                    push(
                        at,
                        Action::PartitionOneway {
                            from: from.clone(),
                            to: to.clone(),
                        },
                    );
                    push(end, Action::RepairOneway { from, to });
                }
                FaultSort::Latency => {
                    let c = rng.pick(&clients).clone();
                    let to = entry_of(&c, &entry, &w.broker);
                    let slow = rng.time(LATENCY);
                    push(
                        at,
                        Action::Latency {
                            a: c.clone(),
                            b: to.clone(),
                            min: slow,
                            max: slow,
                        },
                    );
                    push(
                        end,
                        Action::Latency {
                            a: c,
                            b: to,
                            min: network.min_latency,
                            max: network.max_latency,
                        },
                    );
                }
                FaultSort::Majority => {
                    let mut pool = clients.clone();
                    let k = pool.len() / 2 + 1;
                    let mut cut = Vec::new();
                    for _ in 0..k {
                        let i = rng.below(pool.len() as u64) as usize;
                        cut.push(pool.remove(i));
                    }
                    for c in &cut {
                        let to = entry_of(c, &entry, &w.broker);
                        push(
                            at,
                            Action::Partition {
                                a: c.clone(),
                                b: to,
                            },
                        );
                    }
                    for c in &cut {
                        let to = entry_of(c, &entry, &w.broker);
                        push(
                            end,
                            Action::Repair {
                                a: c.clone(),
                                b: to,
                            },
                        );
                    }
                }
                FaultSort::Crash | FaultSort::Bounce => {
                    let mut targets = vec![w.broker.clone()];
                    targets.extend(clients.iter().cloned());
                    let host = rng.pick(&targets).clone();
                    let until = if sort == FaultSort::Crash { end } else { at };
                    let spans = down.entry(host.clone()).or_default();
                    // A host is not crashed or restarted again while it is down.
                    if spans
                        .iter()
                        .any(|&(a, b)| at <= b + ms(1) && a <= until + ms(1))
                    {
                        continue;
                    }
                    spans.push((at, until));
                    if sort == FaultSort::Crash {
                        push(at, Action::Crash { host: host.clone() });
                        push(end, Action::Bounce { host });
                    } else {
                        push(at, Action::Bounce { host });
                    }
                }
            }
            faults_end = faults_end.max(end);
            group += 1;
        }
    }
    let is_down = |host: &str, from: Duration, to: Duration| {
        down.get(host)
            .is_some_and(|v| v.iter().any(|&(a, b)| from <= b + ms(1) && a <= to + ms(1)))
    };

    let mut last = faults_end;
    let mut n = 0u32;
    let mut request =
        |rng: &mut Rng, steps: &mut Vec<Timed>, group: u32, at, cancel: bool, min_timeout| {
            let id = format!("r{n}");
            n += 1;
            let up: Vec<&String> = senders.iter().filter(|s| !is_down(s, at, at)).collect();
            // Drawn even when no sender is up, so later draws do not shift.
            let pick = rng.below(up.len().max(1) as u64) as usize;
            let pad = rng.count(w.body) as usize;
            let chunks = rng.count(w.chunks);
            let timeout = rng.time(w.timeout).max(min_timeout);
            let cancel_at = (rng.0.next_f64() < w.cancel && cancel)
                .then(|| at + ms(rng.below(timeout.as_millis() as u64)));
            let info = rng.0.next_f64() < w.info && cancel;
            let Some(sender) = up.get(pick).map(|s| (*s).clone()) else {
                return at;
            };
            let call = if info {
                RequestCall {
                    body: sender.clone(),
                    id: id.clone(),
                    channel: "$info".to_string(),
                    chunks: Vec::new(),
                    timeout: Some(timeout),
                }
            } else {
                RequestCall {
                    body: format!("{}{}", tag(&sender, &id), "x".repeat(pad)),
                    id: id.clone(),
                    channel: w.channel.clone(),
                    chunks: (0..chunks).map(|c| format!("c{c}")).collect(),
                    timeout: Some(timeout),
                }
            };
            steps.push(Timed {
                at,
                group,
                action: Action::Request {
                    host: sender.clone(),
                    call,
                },
            });
            if let Some(c) = cancel_at.filter(|&c| !is_down(&sender, at, c)) {
                steps.push(Timed {
                    at: c,
                    group,
                    action: Action::Cancel { host: sender, id },
                });
            }
            at + timeout
        };
    for &at in &times {
        group += 1;
        last = last.max(request(&mut rng, &mut steps, group, at, true, ms(0)));
    }
    if let Some(nem) = &spec.nemesis {
        let heal_at = faults_end + nem.heal.settle;
        steps.push(Timed {
            at: heal_at,
            group: KEEP,
            action: Action::Heal {
                within: nem.heal.within,
            },
        });
        last = last.max(heal_at);
        let mut t = heal_at;
        for _ in 0..nem.heal.requests {
            t += rng.time(gap);
            group += 1;
            last = last.max(request(
                &mut rng,
                &mut steps,
                group,
                t,
                false,
                nem.heal.within,
            ));
        }
        if let Some(m) = messages {
            hosts.insert(
                0,
                proxy(&mut rng, &w.broker, &m.actions, m.rate, faults_end, w),
            );
        }
    }
    steps.sort_by_key(|t| t.at); // stable: equal times keep their drawing order
    Plan {
        seed,
        hosts,
        steps,
        end: last + TAIL,
        loc: w.loc.clone(),
    }
}

/// The host a client's link faults cut: the proxy for senders behind it, else the broker.
fn entry_of(client: &str, entry: &str, broker: &str) -> String {
    if client.starts_with('s') {
        entry.to_string()
    } else {
        broker.to_string()
    }
}

/// The chaos proxy: one rule per message fault and frame kind (drop and corrupt: `start`,
/// `end`; duplicate: `start`, `chunk`, `end`; reorder: `start`; delay and close: any
/// message; reorder and the `wrong_id` corruption downstream only; with corrupt, also
/// `welcome` made invalid JSON), each acting with
/// probability `rate` until `until`. No rule loses, alters or holds back a `chunk`: the
/// stream would still end, and nobody could tell (TCP never loses one), so no rule could
/// judge it.
fn proxy(
    rng: &mut Rng,
    broker: &str,
    actions: &[MessageFault],
    rate: f64,
    until: Duration,
    w: &crate::model::chaos::Workload,
) -> Host {
    let mut rules = Vec::new();
    let rule = |kind: Option<&str>, dir: Option<ProxyDir>, action| ProxyRule {
        dir,
        kind: kind.map(str::to_string),
        req: None,
        channel: None,
        nth: None,
        probability: Some(rate),
        from: Some(START),
        until: Some(until),
        action,
    };
    for a in actions {
        // Faults that would orphan a request upstream (a `start` re-identified or held
        // back while its chunks and `end` go on: nobody will ever end or cancel it, and
        // its receiver waits for good, which no rule forbids) act downstream only.
        let (kinds, down_only, action): (&[&str], bool, ProxyAction) = match a {
            MessageFault::Drop => (&["start", "end"], false, ProxyAction::Drop),
            MessageFault::Duplicate => (&["start", "chunk", "end"], false, ProxyAction::Duplicate),
            MessageFault::Reorder => (&["start"], true, ProxyAction::Reorder { window: 2 }),
            MessageFault::Corrupt => {
                let c = *rng.pick(&[
                    Corruption::InvalidJson,
                    Corruption::WrongId,
                    Corruption::Truncate,
                ]);
                (
                    &["start", "end"],
                    c == Corruption::WrongId,
                    ProxyAction::Corrupt(c),
                )
            }
            MessageFault::Delay => (
                &[],
                false,
                ProxyAction::Delay {
                    min: ms(10),
                    max: ms(200),
                },
            ),
            MessageFault::Close => (&[], false, ProxyAction::Close),
        };
        let dir = down_only.then_some(ProxyDir::Down);
        if *a == MessageFault::Corrupt {
            // A registering client must not take garbage for `welcome` (AUTH-1).
            rules.push(rule(
                Some("welcome"),
                Some(ProxyDir::Down),
                ProxyAction::Corrupt(Corruption::InvalidJson),
            ));
        }
        if kinds.is_empty() {
            rules.push(rule(None, dir, action));
        } else {
            for k in kinds {
                rules.push(rule(Some(k), dir, action.clone()));
            }
        }
    }
    Host {
        name: PROXY.to_string(),
        loc: w.loc.clone(),
        kind: HostKind::Proxy(ProxySpec {
            target: broker.to_string(),
            rules,
        }),
    }
}
