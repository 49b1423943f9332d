//! Runs a scenario: builds the world and its hosts, executes the script step by step
//! between ticks, checks expectations and the rules, and returns a [`Report`].
//!
//! The script runs *outside* the world: the runner steps it one tick at a time and,
//! between ticks, issues commands to host drivers, applies faults, and inspects results.
//! Everything is deterministic for a given seed in the simulated world: turmoil's RNG, the
//! hosts' RNGs (derived from the seed), ordered maps and `biased` selects.

mod expect;
mod report;
mod steps;

pub use expect::matches;
pub use report::{Failure, Report, Verdict};
pub use steps::step_label;

use crate::checkers::{check_all, HostFinal, Input};
use crate::hosts::{driver_for, Cmd, CmdError, Counters, Ctx, Driver, HostCtl};
use crate::model::{Action, Frame, Scenario};
use crate::render::{fmt_clock, fmt_time};
use crate::trace::{Event, EventKind, FaultKind, Trace};
use crate::world::sim::SimWorld;
use crate::world::{Pace, World};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wirecheck_core::flaws::Flaws;
use wirecheck_core::rng::SplitMix64;

/// Simulated time the runner lets pass after the last step before final checks.
pub const SETTLE: Duration = Duration::from_secs(1);
/// How long a host may take to acknowledge a command.
const ACK_LIMIT: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Zoo flaws to switch on in every reference host (empty: the correct reference).
    pub flaws: Flaws,
    /// How the simulated world lets time pass (jumping over idle stretches by default).
    pub pace: Pace,
}

/// One host as the runner holds it: its mailbox/reports and its driver.
struct Host {
    ctl: Arc<HostCtl>,
    driver: Arc<dyn Driver>,
}

struct Runner<'w> {
    world: Box<dyn World + 'w>,
    hosts: BTreeMap<String, Host>,
    trace: Trace,
    limit: Duration,
    /// Names bound by `first` steps: alias → the host that received the message.
    aliases: BTreeMap<String, String>,
    /// Steps the world took.
    steps: u64,
}

/// Runs `scenario` in the simulated world, to completion (or to its first failing step).
pub fn run(scenario: &Scenario, opts: &RunOptions) -> Report {
    let seed = opts.seed.unwrap_or(scenario.seed);
    // The runner enforces `duration` itself, with a clear message; this is a backstop.
    let world = SimWorld::new(
        seed,
        &scenario.network,
        scenario.duration + SETTLE + Duration::from_secs(60),
        opts.pace,
    );
    run_in(Box::new(world), scenario, seed, opts)
}

/// Runs `scenario` in `world`.
pub fn run_in(
    world: Box<dyn World + '_>,
    scenario: &Scenario,
    seed: u64,
    opts: &RunOptions,
) -> Report {
    run_with(world, scenario, seed, opts, &|h| driver_for(&h.kind))
}

/// Runs `scenario` in `world` with the driver `drivers` picks for each host (an external
/// target's driver for the hosts it replaces, the reference's for the others).
pub fn run_with(
    world: Box<dyn World + '_>,
    scenario: &Scenario,
    seed: u64,
    opts: &RunOptions,
    drivers: &dyn Fn(&crate::model::Host) -> Arc<dyn Driver>,
) -> Report {
    let wall = Instant::now();
    // A workload and a nemesis are drawn from the seed into hosts and steps first.
    let (expanded, plan) = crate::chaos::expand(scenario, seed);
    let scenario = &expanded;
    let mut world = world;
    let trace = Trace::new(world.clock());
    let net = world.net();
    let mut hosts = BTreeMap::new();
    for host in &scenario.hosts {
        let ctl = HostCtl::new(&host.name);
        let driver = drivers(host);
        let ctx = Ctx {
            ctl: ctl.clone(),
            trace: trace.clone(),
            net: net.clone(),
            seed: SplitMix64::derive(seed, &host.name).next_u64(),
            flaws: opts.flaws.clone(),
            protocol: scenario.protocol,
        };
        let d = driver.clone();
        world.add_host(&host.name, Box::new(move || d.software(ctx.clone())));
        hosts.insert(host.name.clone(), Host { ctl, driver });
    }
    let mut r = Runner {
        world,
        hosts,
        trace: trace.clone(),
        limit: scenario.duration,
        aliases: BTreeMap::new(),
        steps: 0,
    };

    let mut failures = Vec::new();
    for step in &scenario.script {
        if let Err(f) = r.execute(&step.action) {
            let mut f = *f;
            f.loc = Some(step.loc.clone());
            f.step = step_label(&step.action);
            failures.push(f);
            break;
        }
    }
    // Let the world settle, so late effects are in the trace and the checkers can judge
    // what follows a failed step too (its own failure is reported already).
    let until = r.now() + SETTLE;
    if let Err(f) = r.advance_until(until, |_| false) {
        if failures.is_empty() {
            let mut f = *f;
            f.step = "settle after the script".into();
            failures.push(f);
        }
    }
    let counters = r.counters(scenario);
    if failures.is_empty() {
        failures.extend(expect::check_expectations(scenario, &counters, r.now()));
    }

    let events = trace.events();
    let finals = r.finals(scenario, &counters);
    let decoded = (scenario.protocol == crate::model::Protocol::JsonRpc2)
        .then(|| crate::trace::jsonrpc::decode(&events));
    let checked = check_all(&match &decoded {
        Some(d) => Input::with_rpc(scenario, &events, &finals, r.now(), d),
        None => Input::new(scenario, &events, &finals, r.now()),
    });
    let (violations, skipped) = (checked.violations, checked.skipped);
    for rule in &scenario.expect_violations {
        if !violations.iter().any(|v| v.rule == rule) {
            failures.push(Failure {
                loc: Some(scenario.name_loc.clone()),
                step: "expect_violations".into(),
                at: r.now(),
                what: format!("the scenario expects {rule} to be violated, but no checker reported it"),
                hint: Some(format!(
                    "either the misbehaviour did not happen (check the trace) or the checker for {rule} missed it"
                )),
            });
        }
    }
    let mut report = Report {
        name: scenario.name.clone(),
        seed,
        failures,
        violations,
        skipped,
        expected: scenario.expect_violations.clone(),
        events,
        counters,
        hosts: scenario
            .hosts
            .iter()
            .map(|h| (h.name.clone(), h.kind.label()))
            .collect(),
        diagram: String::new(),
        sim_time: r.now(),
        wall_time: Duration::ZERO,
        drawn: plan.map(|p| p.describe()).unwrap_or_default(),
        steps: r.steps,
    };
    report.diagram = report.text(false);
    report.wall_time = wall.elapsed();
    report
}

/// How the runner lets time pass.
#[derive(Clone, Copy)]
enum Moves {
    /// One tick.
    Tick,
    /// As far as the world can tell that nothing happens.
    Jump,
}

/// What a step returns; failures are boxed to keep the happy path small.
type Step<T> = Result<T, Box<Failure>>;

fn fail(at: Duration, what: impl Into<String>) -> Box<Failure> {
    Box::new(Failure {
        loc: None,
        step: String::new(),
        at,
        what: what.into(),
        hint: None,
    })
}

impl Runner<'_> {
    fn now(&self) -> Duration {
        self.world.now()
    }

    fn host(&self, name: &str) -> Step<&Host> {
        self.hosts
            .get(name)
            .ok_or_else(|| fail(self.now(), format!("no host `{name}`")))
    }

    /// Lets time pass towards `until`: one tick, or with `Moves::Jump` as far as the world
    /// can tell nothing happens (never past `until` or the duration limit).
    fn tick(&mut self, moves: Moves, until: Duration) -> Step<()> {
        if self.now() >= self.limit {
            let mut f = fail(
                self.now(),
                format!(
                    "the scenario reached its duration limit ({})",
                    fmt_time(self.limit)
                ),
            );
            f.hint = Some("raise `duration:` at the top of the file, or shorten waits".into());
            return Err(f);
        }
        self.steps += 1;
        match moves {
            Moves::Tick => self.world.step(),
            Moves::Jump => self.world.advance(until.min(self.limit)),
        }
        .map_err(|e| fail(self.now(), format!("a host's software failed: {}", e.0)))
    }

    /// Lets time pass until `done` holds (returns true) or time reaches `until` (false).
    /// `done` is asked after every step; hosts change only when they act, and the world
    /// only jumps over time in which none can, so it sees every change a tick-by-tick run
    /// would.
    fn advance_until(&mut self, until: Duration, done: impl FnMut(&Self) -> bool) -> Step<bool> {
        self.pass_time(Moves::Jump, until, done)
    }

    /// As [`Self::advance_until`], one tick at a time: while a command may still be
    /// waiting to wake its host, which the world cannot see.
    fn tick_until(&mut self, until: Duration, done: impl FnMut(&Self) -> bool) -> Step<bool> {
        self.pass_time(Moves::Tick, until, done)
    }

    fn pass_time(
        &mut self,
        moves: Moves,
        until: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Step<bool> {
        loop {
            if done(self) {
                return Ok(true);
            }
            if self.now() >= until {
                return Ok(false);
            }
            self.tick(moves, until)?;
        }
    }

    fn fault(&mut self, fault: FaultKind, a: &str, b: Option<&str>) {
        self.world.fault(fault, a, b);
        self.trace.push(Event {
            at: self.now(),
            host: a.to_owned(),
            kind: EventKind::Fault {
                fault,
                other: b.map(str::to_owned),
            },
        });
    }

    /// Sends a command and ticks until the host acknowledges it. A host that has not
    /// started yet, or a scripted peer whose connection is still opening, is waited for
    /// (up to `ACK_LIMIT`).
    fn command(&mut self, host: &str, cmd: Cmd) -> Step<()> {
        let until = self.now() + ACK_LIMIT;
        let ctl = self.host(host)?.ctl.clone();
        self.advance_until(until, |_| ctl.state().starts > 0)?;
        loop {
            let mut ack = ctl
                .command(cmd.clone())
                .map_err(|e| fail(self.now(), e.to_string()))?;
            let mut reply = None;
            self.tick_until(until, |_| match ack.try_recv() {
                Ok(r) => {
                    reply = Some(r);
                    true
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => false,
                Err(_) => {
                    reply = Some(Err(CmdError::Stopped {
                        host: host.to_owned(),
                    }));
                    true
                }
            })?;
            match reply {
                Some(Ok(())) => return Ok(()),
                Some(Err(e)) if e.retryable() && self.now() < until => {
                    self.tick(Moves::Tick, until)?;
                }
                Some(Err(e)) => return Err(fail(self.now(), e.to_string())),
                None => {
                    return Err(fail(
                        self.now(),
                        format!("host `{host}` did not act within {}", fmt_time(ACK_LIMIT)),
                    ))
                }
            }
        }
    }

    fn execute(&mut self, action: &Action) -> Step<()> {
        let resolved = self.resolve(action);
        match &resolved {
            Action::Wait(d) => {
                let until = self.now() + *d;
                self.advance_until(until, |_| false).map(|_| ())
            }
            Action::Partition { a, b } => {
                self.fault(FaultKind::Partition, a, Some(b));
                Ok(())
            }
            Action::Repair { a, b } => {
                self.fault(FaultKind::Repair, a, Some(b));
                Ok(())
            }
            Action::PartitionOneway { from, to } => {
                self.fault(FaultKind::PartitionOneway, from, Some(to));
                Ok(())
            }
            Action::RepairOneway { from, to } => {
                self.fault(FaultKind::RepairOneway, from, Some(to));
                Ok(())
            }
            Action::Latency { a, b, min, max } => {
                let (min, max) = (*min, *max);
                self.fault(FaultKind::Latency { min, max }, a, Some(b));
                Ok(())
            }
            Action::Hold { a, b } => {
                self.fault(FaultKind::Hold, a, Some(b));
                Ok(())
            }
            Action::Release { a, b } => {
                self.fault(FaultKind::Release, a, Some(b));
                Ok(())
            }
            Action::Crash { host } => {
                let h = self.host(host)?;
                let (ctl, driver) = (h.ctl.clone(), h.driver.clone());
                self.fault(FaultKind::Crash, host, None);
                // A crashed host has no state left to inspect.
                driver.crashed();
                ctl.mark_crashed();
                Ok(())
            }
            Action::Bounce { host } => {
                self.fault(FaultKind::Bounce, host, None);
                Ok(())
            }
            Action::Heal { .. } => {
                // A mark in the trace, not a fault the world applies.
                self.trace.push(Event {
                    at: self.now(),
                    host: String::new(),
                    kind: EventKind::Fault {
                        fault: FaultKind::Heal,
                        other: None,
                    },
                });
                Ok(())
            }
            Action::Connect { host, id } => self.command(host, Cmd::Connect { id: id.clone() }),
            Action::Request { host, call } => self.command(host, Cmd::Request(call.clone())),
            Action::Batch { host, batch } => self.command(host, Cmd::Batch(batch.clone())),
            Action::Notify { host, notify } => self.command(host, Cmd::Notify(notify.clone())),
            Action::Cancel { host, id } => self.command(host, Cmd::Cancel { id: id.clone() }),
            Action::Disconnect { host } => self.command(host, Cmd::Disconnect),
            Action::Serve { host, serve } => self.command(host, Cmd::Serve(serve.clone())),
            Action::Send { host, frame } => {
                let frame = self.wire_frame(frame)?;
                self.command(host, Cmd::Send(frame))
            }
            Action::ScriptedConnect { host } => self.command(host, Cmd::ScriptedConnect),
            Action::ScriptedClose { host } => self.command(host, Cmd::Close),
            Action::ProxyRelease { host } => self.command(host, Cmd::Release),
            Action::SendTo { host, to, frame } => {
                let frame = self.wire_frame(frame)?;
                self.command(host, Cmd::SendTo(to.clone(), frame))
            }
            Action::Result {
                host,
                id,
                expect,
                within,
            } => self.check_result(host, id, expect, *within),
            Action::Expect {
                host,
                pattern,
                within,
            } => self.expect_frame(host, pattern, *within),
            Action::Counters { expect, within } => self.await_counters(expect, *within),
            Action::First {
                of,
                pattern,
                within,
                alias,
            } => {
                let host = self.expect_any(of, pattern, *within)?;
                self.aliases.insert(alias.clone(), host);
                Ok(())
            }
        }
    }

    /// `action` with the names `first` steps bound replaced by their hosts (only scripted
    /// peers' steps can name an alias: the loader checks it).
    fn resolve(&self, action: &Action) -> Action {
        let r = |h: &String| self.aliases.get(h).unwrap_or(h).clone();
        match action {
            Action::Send { host, frame } => Action::Send {
                host: r(host),
                frame: frame.clone(),
            },
            Action::SendTo { host, to, frame } => Action::SendTo {
                host: r(host),
                to: r(to),
                frame: frame.clone(),
            },
            Action::Expect {
                host,
                pattern,
                within,
            } => Action::Expect {
                host: r(host),
                pattern: pattern.clone(),
                within: *within,
            },
            Action::ScriptedClose { host } => Action::ScriptedClose { host: r(host) },
            Action::ScriptedConnect { host } => Action::ScriptedConnect { host: r(host) },
            Action::Counters { expect, within } => {
                let mut expect = expect.clone();
                expect.host = r(&expect.host);
                Action::Counters {
                    expect,
                    within: *within,
                }
            }
            other => other.clone(),
        }
    }

    /// The frame as sent: a JSON-RPC item's `call: r1` becomes the wire id r1's request
    /// carried, as the trace shows it so far.
    fn wire_frame(&self, frame: &Frame) -> Step<Frame> {
        let Frame::Rpc(rpc) = frame else {
            return Ok(frame.clone());
        };
        let events = self.trace.events();
        let bindings = crate::trace::jsonrpc::decode(&events).bindings;
        for item in &rpc.items {
            if let Some(c) = &item.call {
                if bindings.wire_id(&c.client, &c.call).is_none() {
                    let mut f = fail(
                        self.now(),
                        format!(
                            "`call: {}`: no request of `{}`'s call `{}` has arrived yet",
                            c.call, c.client, c.call
                        ),
                    );
                    f.hint = Some(format!(
                        "a response can only carry the wire id once the request was received: put `expect: {{ request: {{ call: {} }} }}` before this step",
                        c.call
                    ));
                    return Err(f);
                }
            }
        }
        Ok(Frame::Raw(rpc.text(|c| {
            bindings
                .wire_id(&c.client, &c.call)
                .map(|(_, id)| id.to_value())
        })))
    }

    /// Counters of every host, in host order.
    fn counters(&self, scenario: &Scenario) -> Vec<(String, Counters)> {
        scenario
            .hosts
            .iter()
            .map(|h| {
                let host = &self.hosts[&h.name];
                (h.name.clone(), host.driver.counters(&host.ctl))
            })
            .collect()
    }

    /// What each host looks like at the end, for the checkers.
    fn finals(
        &self,
        scenario: &Scenario,
        counters: &[(String, Counters)],
    ) -> BTreeMap<String, HostFinal> {
        scenario
            .hosts
            .iter()
            .map(|h| {
                let host = &self.hosts[&h.name];
                let (running, restarted) = {
                    let st = host.ctl.state();
                    (!st.crashed, st.starts > 1 || st.crashed)
                };
                // A crashed host has nothing left to report.
                let facts = if running {
                    host.driver.facts()
                } else {
                    Default::default()
                };
                let f = HostFinal {
                    running,
                    restarted,
                    pending_ids: facts.pending_ids,
                    broker_requests: facts.broker_requests,
                    broker_invariants: facts.broker_invariants,
                    relay: facts.relay,
                    counters: counters
                        .iter()
                        .find(|(n, _)| n == &h.name)
                        .map(|(_, c)| c.clone())
                        .unwrap_or_default(),
                };
                (h.name.clone(), f)
            })
            .collect()
    }
}

/// `fmt_clock` re-exported for the CLI's table.
pub fn clock(d: Duration) -> String {
    fmt_clock(d)
}
