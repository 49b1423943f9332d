//! Property test of the sans-IO `Relay` (LB-1..7): random sequences of what a driver can
//! report — clients connecting, sending (hello, receive, requests, answers) and closing;
//! dials succeeding or failing; open links lost or sending (welcome, refusals, responses,
//! requests, cancels); probe answers; time passing — fed to the machine, whose actions a
//! model driver carries out as the tokio driver does (a dial it is told to close is never
//! reported, a link it closes is never reported lost).
//!
//! After every step, from the actions and the machine's observables:
//! - `check_invariants()` is Ok;
//! - LB-1: each client connection gets exactly one `ReadClient`, ever;
//! - LB-2: a `Dial` is for a live client with no other link dialing or open;
//! - LB-3: a client's failover dials are at least `min_gap` apart and at most
//!   `max_attempts` per `window`;
//! - LB-4: every dial goes to the first backend the relay holds healthy (per its `Health`
//!   actions), when it holds one healthy;
//! - LB-6: each backend's count equals the driver's open links to it; and once no client
//!   is connected, the relay tracks no client, no link, nothing waiting, buffered or in
//!   flight, and every count is 0.
//!
//! Teeth: `each_flaw_is_caught` runs the same sequences with each relay flaw of the zoo
//! switched on and requires a failing case (each flaw breaks a property above).
//!
//! Case counts: `PROPTEST_CASES` overrides the default (512 sequences of 1..80 steps).

#[path = "support/mod.rs"]
mod support;

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use wirecheck_core::flaws::{Flaw, Flaws};
use wirecheck_core::relay::{Action, BackendNo, ClientNo, Frame, LinkNo, Relay, RelayConfig};
use wirecheck_core::wire::{code, Dir, Message};

const SLOTS: u8 = 3;
const BACKENDS: usize = 2;

#[derive(Clone, Debug)]
enum Sent {
    Hello,
    Receive,
    Start(u8, bool),
    End(u8),
    Cancel(u8),
    Answer(u8),
}

#[derive(Clone, Debug)]
enum Got {
    Welcome,
    Refused,
    Response(u8),
    Request(u8),
    Cancel(u8),
}

#[derive(Clone, Debug)]
enum Step {
    Open(u8),
    Close(u8),
    Send(u8, Sent),
    Up(u8),
    Fail(u8),
    Lose(u8),
    Backend(u8, Got),
    Probe(u8, bool),
    Wait(u16),
}

fn req(n: u8) -> String {
    format!("r{}", n % 3)
}

fn sent() -> impl Strategy<Value = Sent> {
    prop_oneof![
        Just(Sent::Hello),
        Just(Sent::Receive),
        (any::<u8>(), any::<bool>()).prop_map(|(r, e)| Sent::Start(r, e)),
        any::<u8>().prop_map(Sent::End),
        any::<u8>().prop_map(Sent::Cancel),
        any::<u8>().prop_map(Sent::Answer),
    ]
}

fn got() -> impl Strategy<Value = Got> {
    prop_oneof![
        3 => Just(Got::Welcome),
        1 => Just(Got::Refused),
        2 => any::<u8>().prop_map(Got::Response),
        2 => any::<u8>().prop_map(Got::Request),
        1 => any::<u8>().prop_map(Got::Cancel),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..SLOTS).prop_map(Step::Open),
        1 => (0..SLOTS).prop_map(Step::Close),
        4 => ((0..SLOTS), sent()).prop_map(|(s, m)| Step::Send(s, m)),
        4 => any::<u8>().prop_map(Step::Up),
        2 => any::<u8>().prop_map(Step::Fail),
        2 => any::<u8>().prop_map(Step::Lose),
        4 => (any::<u8>(), got()).prop_map(|(l, g)| Step::Backend(l, g)),
        1 => ((0..BACKENDS as u8), any::<bool>()).prop_map(|(b, ok)| Step::Probe(b, ok)),
        2 => (1u16..8000).prop_map(Step::Wait),
    ]
}

fn text(m: Message) -> Frame {
    Frame::Text(m.encode())
}

/// The model driver and what it has seen the relay do.
struct World {
    relay: Relay,
    now: Duration,
    slots: [Option<ClientNo>; SLOTS as usize],
    next_client: ClientNo,
    /// Links the driver is dialing / holds open: link → (client, backend).
    dialing: BTreeMap<LinkNo, (ClientNo, BackendNo)>,
    open: BTreeMap<LinkNo, (ClientNo, BackendNo)>,
    readers: BTreeMap<ClientNo, u32>,
    /// Failover dial times per client.
    attempts: BTreeMap<ClientNo, Vec<Duration>>,
    down: BTreeSet<BackendNo>,
}

impl World {
    fn new(flaws: Flaws) -> World {
        World {
            relay: Relay::new(RelayConfig {
                backends: vec!["p:1".into(), "s:1".into()],
                buffer: 4,
                flaws,
                ..RelayConfig::default()
            }),
            now: Duration::ZERO,
            slots: [None; SLOTS as usize],
            next_client: 1,
            dialing: BTreeMap::new(),
            open: BTreeMap::new(),
            readers: BTreeMap::new(),
            attempts: BTreeMap::new(),
            down: BTreeSet::new(),
        }
    }

    fn live(&self, c: ClientNo) -> bool {
        self.slots.contains(&Some(c))
    }

    /// Carries out `actions` as the driver does; `Err` names a broken property.
    fn apply(&mut self, actions: Vec<Action>) -> Result<(), String> {
        let policy = self.relay.config().failover.clone();
        for a in actions {
            match a {
                Action::ReadClient { client, .. } => {
                    let n = self.readers.entry(client).or_default();
                    *n += 1;
                    if *n > 1 {
                        return Err(format!("LB-1: reader {n} for client {client}"));
                    }
                }
                Action::Dial {
                    client,
                    link,
                    backend,
                    attempt,
                } => {
                    if !self.live(client) {
                        return Err(format!("LB-2: dial for client {client}, which is gone"));
                    }
                    let busy = self
                        .dialing
                        .values()
                        .chain(self.open.values())
                        .any(|(c, _)| *c == client);
                    if busy {
                        return Err(format!("LB-2: a second link for client {client}"));
                    }
                    let first = (0..BACKENDS).find(|b| !self.down.contains(b));
                    if first.is_some_and(|f| f != backend) {
                        return Err(format!(
                            "LB-4: client {client} sent to {backend}, first healthy is {first:?}"
                        ));
                    }
                    if attempt >= 1 {
                        let times = self.attempts.entry(client).or_default();
                        if let Some(last) = times.last() {
                            if self.now < *last + policy.min_gap {
                                return Err(format!(
                                    "LB-3: attempt {attempt} of client {client} {:?} after the last",
                                    self.now - *last
                                ));
                            }
                        }
                        let max = policy.max_attempts as usize;
                        if times.len() >= max && self.now < times[times.len() - max] + policy.window
                        {
                            return Err(format!("LB-3: too many attempts for client {client}"));
                        }
                        times.push(self.now);
                    }
                    self.dialing.insert(link, (client, backend));
                }
                Action::CloseLink { link, .. } => {
                    self.dialing.remove(&link);
                    self.open.remove(&link);
                }
                Action::CloseClient { client, .. } => {
                    for s in self.slots.iter_mut() {
                        if *s == Some(client) {
                            *s = None;
                        }
                    }
                }
                Action::Health { backend, up } => {
                    if up {
                        self.down.remove(&backend);
                    } else {
                        self.down.insert(backend);
                    }
                }
                Action::SendBackend { .. }
                | Action::SendClient { .. }
                | Action::Probe { .. }
                | Action::Ready { .. }
                | Action::Note(_) => {}
            }
        }
        Ok(())
    }

    fn nth(map: &BTreeMap<LinkNo, (ClientNo, BackendNo)>, i: u8) -> Option<LinkNo> {
        (!map.is_empty()).then(|| *map.keys().nth(i as usize % map.len()).unwrap())
    }

    fn step(&mut self, s: &Step) -> Result<(), String> {
        let now = self.now;
        let actions = match s {
            Step::Open(slot) => {
                if self.slots[*slot as usize].is_some() {
                    return Ok(());
                }
                let c = self.next_client;
                self.next_client += 1;
                self.slots[*slot as usize] = Some(c);
                self.relay.on_client_open(c, now)
            }
            Step::Close(slot) => {
                let Some(c) = self.slots[*slot as usize].take() else {
                    return Ok(());
                };
                self.relay.on_client_closed(c)
            }
            Step::Send(slot, m) => {
                let Some(c) = self.slots[*slot as usize] else {
                    return Ok(());
                };
                let m = match m {
                    Sent::Hello => Message::Hello {
                        client: format!("c{c}"),
                        token: None,
                    },
                    Sent::Receive => Message::Receive {
                        channel: "jobs".into(),
                    },
                    Sent::Start(r, end) => Message::Start {
                        req: req(*r),
                        channel: "jobs".into(),
                        dir: Dir::Request,
                        body: String::new(),
                        end: *end,
                    },
                    Sent::End(r) => Message::End {
                        req: req(*r),
                        dir: Dir::Request,
                    },
                    Sent::Cancel(r) => Message::Cancel { req: req(*r) },
                    Sent::Answer(r) => Message::Start {
                        req: format!("in{}", r % 3),
                        channel: String::new(),
                        dir: Dir::Response,
                        body: String::new(),
                        end: true,
                    },
                };
                self.relay.on_client_frame(c, 1, text(m))
            }
            Step::Up(i) => {
                let Some(link) = Self::nth(&self.dialing, *i) else {
                    return Ok(());
                };
                let v = self.dialing.remove(&link).unwrap();
                self.open.insert(link, v);
                self.relay.on_link_up(link)
            }
            Step::Fail(i) => {
                let Some(link) = Self::nth(&self.dialing, *i) else {
                    return Ok(());
                };
                self.dialing.remove(&link);
                self.relay.on_link_failed(link, now)
            }
            Step::Lose(i) => {
                let Some(link) = Self::nth(&self.open, *i) else {
                    return Ok(());
                };
                self.open.remove(&link);
                self.relay.on_link_lost(link, now)
            }
            Step::Backend(i, g) => {
                let Some(link) = Self::nth(&self.open, *i) else {
                    return Ok(());
                };
                let (c, _) = self.open[&link];
                let m = match g {
                    Got::Welcome => Message::Welcome {
                        client: format!("c{c}"),
                    },
                    Got::Refused => Message::error(None, code::CLIENT_ID_TAKEN, "taken"),
                    Got::Response(r) => Message::Start {
                        req: req(*r),
                        channel: String::new(),
                        dir: Dir::Response,
                        body: String::new(),
                        end: true,
                    },
                    Got::Request(r) => Message::Start {
                        req: format!("in{}", r % 3),
                        channel: "jobs".into(),
                        dir: Dir::Request,
                        body: String::new(),
                        end: true,
                    },
                    Got::Cancel(r) => Message::Cancel {
                        req: format!("in{}", r % 3),
                    },
                };
                self.relay.on_backend_frame(link, text(m), now)
            }
            Step::Probe(b, ok) => self.relay.on_probe(*b as usize, *ok, now),
            Step::Wait(ms) => {
                self.now += Duration::from_millis(u64::from(*ms));
                self.relay.on_time(self.now)
            }
        };
        self.apply(actions)?;
        self.check()
    }

    fn check(&self) -> Result<(), String> {
        self.relay
            .check_invariants()
            .map_err(|e| format!("invariant: {e}"))?;
        let s = self.relay.stats();
        for b in 0..BACKENDS {
            let open = self.open.values().filter(|(_, x)| *x == b).count() as u64;
            if s.counts[b] != open {
                return Err(format!(
                    "LB-6: backend {b} counted {} with {open} open",
                    s.counts[b]
                ));
            }
        }
        if self.slots.iter().all(Option::is_none) {
            let left = (s.clients, s.links, s.waiting, s.buffered, s.session_entries);
            if left != (0, 0, 0, 0, 0) {
                return Err(format!(
                    "LB-6: no client, yet (clients, links, waiting, buffered, in flight) = {left:?}"
                ));
            }
        }
        Ok(())
    }
}

fn run(flaws: &Flaws, steps: &[Step]) -> Result<(), String> {
    let mut w = World::new(flaws.clone());
    for (n, s) in steps.iter().enumerate() {
        w.step(s).map_err(|e| format!("step {n} {s:?}: {e}"))?;
    }
    // Every client leaves: nothing may stay behind.
    for slot in 0..SLOTS {
        w.step(&Step::Close(slot))
            .map_err(|e| format!("closing slot {slot}: {e}"))?;
    }
    Ok(())
}

fn sequences() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step(), 1..80)
}

proptest! {
    #![proptest_config(support::config(512))]

    #[test]
    fn the_relay_keeps_its_rules(steps in sequences()) {
        prop_assert!(run(&Flaws::none(), &steps).is_ok(), "{}", run(&Flaws::none(), &steps).unwrap_err());
    }
}

#[test]
fn each_flaw_is_caught() {
    for flaw in [
        Flaw::RelayTwoReaders,
        Flaw::RelayDuplicateHandlers,
        Flaw::RelayFailoverUnlimited,
        Flaw::RelayStaleState,
    ] {
        let flaws = Flaws::one(flaw);
        let mut runner = TestRunner::new(support::config(2000));
        let result = runner.run(&sequences(), |steps| {
            run(&flaws, &steps).map_err(TestCaseError::fail)
        });
        match result {
            Err(TestError::Fail(why, steps)) => {
                assert!(steps.len() <= 12, "{flaw}: shrunk to {} steps", steps.len());
                eprintln!("{flaw}: caught in {} steps: {why}", steps.len());
            }
            other => panic!("{flaw} was not caught: {other:?}"),
        }
    }
}
