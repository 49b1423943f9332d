//! Runs a scenario: builds the turmoil world, executes the script step by step between
//! simulation ticks, checks expectations, and returns a [`Report`] with the trace.
//!
//! The script runs *outside* the simulation: the runner steps the sim one tick at a time
//! and, between ticks, issues commands to host drivers, applies faults, and inspects
//! results. Everything is deterministic for a given seed: turmoil's RNG, the hosts' RNGs
//! (derived from the seed), ordered maps and `biased` selects.

use crate::checkers::{check_all, render_skips, HostFinal, Input, Skip, Violation};
use crate::model::{Action, FramePattern, HostKind, Loc, Outcome, Scenario};
use crate::render::{fmt_clock, fmt_time, Diagram};
use crate::trace::{Event, EventKind, FaultKind, Trace};
use crate::world::{host_software, Cmd, Ctx, HostCtl, RETRY};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use turmoil::Sim;
use wirecheck_core::flaws::Flaws;
use wirecheck_core::rng::SplitMix64;
use wirecheck_core::rules::Level;

/// Simulated time the runner lets pass after the last step before final checks.
pub const SETTLE: Duration = Duration::from_secs(1);
/// How long a host may take to acknowledge a command.
const ACK_LIMIT: Duration = Duration::from_secs(1);
const TICK: Duration = Duration::from_millis(1);

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Zoo flaws to switch on in every reference host (empty: the correct reference).
    pub flaws: Flaws,
}

/// One way a run failed: what, where in the file, and when in simulated time.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub loc: Option<Loc>,
    /// The step or expectation, as written (`app.result r1`).
    pub step: String,
    pub at: Duration,
    pub what: String,
    pub hint: Option<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.loc {
            write!(f, "{loc}: ")?;
        }
        write!(
            f,
            "`{}` failed at {}: {}",
            self.step,
            fmt_time(self.at),
            self.what
        )?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct Report {
    pub name: String,
    pub seed: u64,
    pub failures: Vec<Failure>,
    /// Every rule violation the checkers found (expected ones included).
    pub violations: Vec<Violation>,
    /// Checkers that could not judge a host (a fact its driver does not report).
    pub skipped: Vec<Skip>,
    /// Rules the scenario expects to be violated.
    pub expected: Vec<String>,
    pub events: Vec<Event>,
    /// Final counters per host (host → name → value), in host order.
    pub counters: Vec<(String, BTreeMap<String, u64>)>,
    /// The sequence diagram plus final counters: what the snapshot holds.
    pub diagram: String,
    pub sim_time: Duration,
    pub wall_time: Duration,
}

/// Autobahn-style grading of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No failure, no unexpected violation.
    Ok,
    /// Only SHOULD rules were broken (unexpectedly).
    NonStrict,
    /// A step or expectation failed, a MUST rule was broken, or an expected violation
    /// did not happen.
    Failed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::NonStrict => "NON-STRICT",
            Verdict::Failed => "FAILED",
        }
    }
}

impl Report {
    /// Violations of rules the scenario did not declare in `expect_violations`.
    pub fn unexpected(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| !self.expected.iter().any(|e| e == v.rule))
    }

    pub fn grade(&self) -> Verdict {
        if !self.failures.is_empty() || self.unexpected().any(|v| v.level() == Level::Must) {
            Verdict::Failed
        } else if self.unexpected().next().is_some() {
            Verdict::NonStrict
        } else {
            Verdict::Ok
        }
    }

    pub fn passed(&self) -> bool {
        self.grade() == Verdict::Ok
    }

    pub fn verdict(&self) -> &'static str {
        self.grade().as_str()
    }

    /// Rule ids broken unexpectedly, sorted, for summaries.
    pub fn broken_rules(&self) -> Vec<&'static str> {
        let set: std::collections::BTreeSet<&'static str> =
            self.unexpected().map(|v| v.rule).collect();
        set.into_iter().collect()
    }

    /// Every failure and unexpected violation, one paragraph each, then the diagram.
    pub fn explain(&self) -> String {
        let mut s = format!(
            "scenario {} (seed {}): {}\n",
            self.name,
            self.seed,
            self.verdict()
        );
        for f in &self.failures {
            s.push_str(&format!("{f}\n"));
        }
        for v in self.unexpected() {
            s.push_str(&format!(
                "rule violated: {v}\n  hint: `wirecheck explain {}` says what the rule requires; the trace events are numbered below\n",
                v.rule
            ));
        }
        if !self.passed() {
            s.push_str("\nTrace:\n");
            s.push_str(&numbered(&self.diagram));
        }
        s
    }
}

/// The diagram with trace event numbers in front of event lines (for `[trace #n]`).
fn numbered(diagram: &str) -> String {
    let mut out = String::new();
    let mut n = 0usize;
    let mut in_events = false;
    for line in diagram.lines() {
        if line.trim_start().starts_with("time ") {
            in_events = true;
            out.push_str(&format!("      {line}\n"));
            continue;
        }
        if in_events && line.is_empty() {
            in_events = false;
        }
        if in_events {
            out.push_str(&format!("{n:>5} {line}\n"));
            n += 1;
        } else {
            out.push_str(&format!("{line}\n"));
        }
    }
    out
}

struct Runner<'a> {
    sim: Sim<'a>,
    ctls: BTreeMap<String, Arc<HostCtl>>,
    trace: Trace,
    limit: Duration,
    /// Counters taken by `counters()`, reused by `finals()`.
    last_counters: Vec<(String, BTreeMap<String, u64>)>,
}

/// Runs `scenario` to completion (or to its first failing step).
pub fn run(scenario: &Scenario, opts: &RunOptions) -> Report {
    let wall = Instant::now();
    let seed = opts.seed.unwrap_or(scenario.seed);
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .tick_duration(TICK)
        .min_message_latency(scenario.network.min_latency)
        .max_message_latency(scenario.network.max_latency)
        // The runner enforces `duration` itself, with a clear message; this is a backstop.
        .simulation_duration(scenario.duration + SETTLE + Duration::from_secs(60))
        .build();
    let trace = Trace::new(std::sync::Arc::new(|| {
        turmoil::sim_elapsed().unwrap_or_default()
    }));
    let mut ctls = BTreeMap::new();
    for host in &scenario.hosts {
        let ctl = HostCtl::new(&host.name);
        ctls.insert(host.name.clone(), ctl.clone());
        let ctx = Ctx {
            ctl,
            trace: trace.clone(),
            seed: SplitMix64::derive(seed, &host.name).next_u64(),
            flaws: opts.flaws.clone(),
        };
        let kind = host.kind.clone();
        sim.host(host.name.as_str(), move || {
            host_software(&kind, ctx.clone())
        });
    }
    let mut r = Runner {
        sim,
        ctls,
        trace: trace.clone(),
        limit: scenario.duration,
        last_counters: Vec::new(),
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
    let until = r.sim.elapsed() + SETTLE;
    if let Err(f) = r.advance_until(until, |_| false) {
        if failures.is_empty() {
            let mut f = *f;
            f.step = "settle after the script".into();
            failures.push(f);
        }
    }
    let counters = r.counters(scenario);
    r.last_counters = counters.clone();
    if failures.is_empty() {
        failures.extend(check_expectations(scenario, &counters, r.sim.elapsed()));
    }

    let events = trace.events();
    let finals = r.finals(scenario);
    let checked = check_all(&Input::new(scenario, &events, &finals, r.sim.elapsed()));
    let (violations, skipped) = (checked.violations, checked.skipped);
    for rule in &scenario.expect_violations {
        if !violations.iter().any(|v| v.rule == rule) {
            failures.push(Failure {
                loc: Some(scenario.name_loc.clone()),
                step: "expect_violations".into(),
                at: r.sim.elapsed(),
                what: format!("the scenario expects {rule} to be violated, but no checker reported it"),
                hint: Some(format!(
                    "either the misbehaviour did not happen (check the trace) or the checker for {rule} missed it"
                )),
            });
        }
    }
    let mut diagram = render_report(scenario, seed, &events, &counters, &violations);
    diagram.push_str(&render_skips(&skipped));
    Report {
        name: scenario.name.clone(),
        seed,
        failures,
        violations,
        skipped,
        expected: scenario.expect_violations.clone(),
        events,
        counters,
        diagram,
        sim_time: r.sim.elapsed(),
        wall_time: wall.elapsed(),
    }
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
        self.sim.elapsed()
    }

    fn ctl(&self, host: &str) -> Step<&Arc<HostCtl>> {
        self.ctls
            .get(host)
            .ok_or_else(|| fail(self.now(), format!("no host `{host}`")))
    }

    /// One tick of the simulation.
    fn tick(&mut self) -> Step<()> {
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
        self.sim
            .step()
            .map(|_| ())
            .map_err(|e| fail(self.now(), format!("a host's software failed: {e}")))
    }

    /// Ticks until `done` holds (returns true) or simulated time reaches `until` (false).
    fn advance_until(
        &mut self,
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
            self.tick()?;
        }
    }

    fn fault(&self, fault: FaultKind, a: &str, b: Option<&str>) {
        self.trace.push(Event {
            at: self.now(),
            host: a.to_owned(),
            kind: EventKind::Fault {
                fault,
                other: b.map(str::to_owned),
            },
        });
    }

    /// Sends a command and ticks until the host acknowledges it.
    /// Sends a command and ticks until the host acknowledges it. A host that has not
    /// started yet, or a scripted peer whose connection is still opening, is waited for
    /// (up to `ACK_LIMIT`).
    fn command(&mut self, host: &str, cmd: Cmd) -> Step<()> {
        let until = self.now() + ACK_LIMIT;
        let ctl = self.ctl(host)?.clone();
        self.advance_until(until, |_| ctl.state().starts > 0)?;
        loop {
            let mut ack = ctl.command(cmd.clone()).map_err(|e| fail(self.now(), e))?;
            let mut reply = None;
            self.advance_until(until, |_| match ack.try_recv() {
                Ok(r) => {
                    reply = Some(r);
                    true
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => false,
                Err(_) => {
                    reply = Some(Err(format!("host `{host}` stopped before acting")));
                    true
                }
            })?;
            match reply {
                Some(Ok(())) => return Ok(()),
                Some(Err(e)) if e.starts_with(RETRY) && self.now() < until => {
                    self.tick()?;
                }
                Some(Err(e)) => {
                    return Err(fail(self.now(), e.trim_start_matches(RETRY).to_owned()))
                }
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
        match action {
            Action::Wait(d) => {
                let until = self.now() + *d;
                self.advance_until(until, |_| false).map(|_| ())
            }
            Action::Partition { a, b } => {
                self.sim.partition(a.as_str(), b.as_str());
                self.fault(FaultKind::Partition, a, Some(b));
                Ok(())
            }
            Action::Repair { a, b } => {
                self.sim.repair(a.as_str(), b.as_str());
                self.fault(FaultKind::Repair, a, Some(b));
                Ok(())
            }
            Action::Hold { a, b } => {
                self.sim.hold(a.as_str(), b.as_str());
                self.fault(FaultKind::Hold, a, Some(b));
                Ok(())
            }
            Action::Release { a, b } => {
                self.sim.release(a.as_str(), b.as_str());
                self.fault(FaultKind::Release, a, Some(b));
                Ok(())
            }
            Action::Crash { host } => {
                self.sim.crash(host.as_str());
                // A crashed host has no state left to inspect.
                let mut st = self.ctl(host)?.state();
                st.broker = None;
                st.client = None;
                st.crashed = true;
                drop(st);
                self.fault(FaultKind::Crash, host, None);
                Ok(())
            }
            Action::Bounce { host } => {
                self.sim.bounce(host.as_str());
                self.fault(FaultKind::Bounce, host, None);
                Ok(())
            }
            Action::Connect { host, id } => self.command(host, Cmd::Connect { id: id.clone() }),
            Action::Request { host, call } => self.command(host, Cmd::Request(call.clone())),
            Action::Cancel { host, id } => self.command(host, Cmd::Cancel { id: id.clone() }),
            Action::Disconnect { host } => self.command(host, Cmd::Disconnect),
            Action::Serve { host, serve } => self.command(host, Cmd::Serve(serve.clone())),
            Action::Send { host, frame } => self.command(host, Cmd::Send(frame.clone())),
            Action::ScriptedConnect { host } => self.command(host, Cmd::ScriptedConnect),
            Action::ScriptedClose { host } => self.command(host, Cmd::Close),
            Action::ProxyRelease { host } => self.command(host, Cmd::Release),
            Action::SendTo { host, to, frame } => {
                self.command(host, Cmd::SendTo(to.clone(), frame.clone()))
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
        }
    }

    fn check_result(
        &mut self,
        host: &str,
        id: &str,
        expect: &Outcome,
        within: Duration,
    ) -> Step<()> {
        let ctl = self.ctl(host)?.clone();
        let until = self.now() + within;
        let arrived = self.advance_until(until, |_| ctl.state().results.contains_key(id))?;
        if !arrived {
            let mut f = fail(
                self.now(),
                format!("no result for `{id}` within {}", fmt_time(within)),
            );
            f.hint = Some(format!(
                "the call is still running; raise `within:` if it is slow, or check the trace for where its answer went{}",
                ctl.state()
                    .client
                    .as_ref()
                    .map(|c| format!(" (pending now: {:?})", c.pending_ids()))
                    .unwrap_or_default()
            ));
            return Err(f);
        }
        let (at, got) = ctl.state().results[id].clone();
        if &got == expect {
            Ok(())
        } else {
            Err(fail(
                self.now(),
                format!("expected {}, got {} (at {})", expect, got, fmt_time(at)),
            ))
        }
    }

    fn expect_frame(&mut self, host: &str, pattern: &FramePattern, within: Duration) -> Step<()> {
        let ctl = self.ctl(host)?.clone();
        let until = self.now() + within;
        let found = self.advance_until(until, |_| {
            let mut st = ctl.state();
            let hit = st.inbox.iter().position(|(_, t)| matches(pattern, t));
            if let Some(i) = hit {
                st.inbox.remove(i);
            }
            hit.is_some()
        })?;
        if found {
            return Ok(());
        }
        let st = ctl.state();
        let seen: Vec<String> = st.inbox.iter().map(|(_, t)| t.clone()).collect();
        let mut f = fail(
            self.now(),
            format!(
                "no `{}` matching {} arrived within {}",
                pattern.kind,
                serde_json::to_string(&pattern.fields).unwrap_or_default(),
                fmt_time(within)
            ),
        );
        f.hint = Some(if seen.is_empty() {
            "nothing unmatched arrived; check the trace for where the message went".into()
        } else {
            format!("unmatched messages received: {}", seen.join(", "))
        });
        Err(f)
    }

    /// Final counters of every host, in host order.
    fn counters(&self, scenario: &Scenario) -> Vec<(String, BTreeMap<String, u64>)> {
        scenario
            .hosts
            .iter()
            .map(|h| {
                let st = self.ctls[&h.name].state();
                let mut c = BTreeMap::new();
                match &h.kind {
                    HostKind::Client(_) => {
                        if let Some(client) = &st.client {
                            let s = client.stats();
                            for (k, v) in [
                                ("pending", s.pending.pending),
                                ("completed", s.pending.completed),
                                ("timed_out", s.pending.timed_out),
                                ("cancelled", s.pending.cancelled),
                                ("duplicates_dropped", s.pending.duplicates_dropped),
                                ("late_dropped", s.pending.late_dropped),
                                ("unknown_dropped", s.pending.unknown_dropped),
                                ("reconnects", s.reconnects),
                                ("disconnects", s.disconnects),
                                ("registrations", s.registrations),
                                ("served", s.served),
                            ] {
                                c.insert(k.to_owned(), v);
                            }
                        }
                    }
                    HostKind::Broker(_) => {
                        if let Some(b) = &st.broker {
                            let s = b.stats();
                            for (k, v) in [
                                ("connections", s.connections),
                                ("clients", s.clients),
                                ("requests", s.requests),
                                ("queued", s.queued),
                                ("waiting", s.waiting),
                                ("assignments", s.assignments),
                                ("rejected", s.rejected),
                                ("wakeups", s.wakeups),
                            ] {
                                c.insert(k.to_owned(), v);
                            }
                        }
                    }
                    HostKind::Scripted(_) => {
                        c.insert("received".into(), st.received);
                        c.insert("connections".into(), st.connections);
                    }
                    HostKind::Proxy(_) => {
                        c.insert("connections".into(), st.connections);
                        for (k, v) in &st.proxy {
                            c.insert(k.clone(), *v);
                        }
                    }
                }
                (h.name.clone(), c)
            })
            .collect()
    }

    /// What each host looks like at the end, for the checkers.
    fn finals(&self, scenario: &Scenario) -> BTreeMap<String, HostFinal> {
        scenario
            .hosts
            .iter()
            .map(|h| {
                let st = self.ctls[&h.name].state();
                let mut f = HostFinal {
                    running: !st.crashed,
                    restarted: st.starts > 1 || st.crashed,
                    ..HostFinal::default()
                };
                // The reference drivers report every optional fact while the host runs.
                match (&h.kind, &st.client) {
                    (_, Some(c)) => f.pending_ids = Some(c.pending_ids()),
                    // A client that never started has an empty pending map.
                    (HostKind::Client(_), None) if !st.crashed => f.pending_ids = Some(vec![]),
                    _ => {}
                }
                if let Some(b) = &st.broker {
                    f.broker_requests = Some(b.request_ids());
                    f.broker_invariants = Some(b.check_invariants());
                }
                drop(st);
                if let Some((_, c)) = self.counters_of(&h.name) {
                    f.counters = c;
                }
                (h.name.clone(), f)
            })
            .collect()
    }

    fn counters_of(&self, host: &str) -> Option<(String, BTreeMap<String, u64>)> {
        self.last_counters.iter().find(|(h, _)| h == host).cloned()
    }
}

fn check_expectations(
    scenario: &Scenario,
    counters: &[(String, BTreeMap<String, u64>)],
    at: Duration,
) -> Vec<Failure> {
    let mut out = Vec::new();
    for e in &scenario.expect {
        let actual = counters.iter().find(|(h, _)| h == &e.host).map(|(_, c)| c);
        for (name, want) in &e.counters {
            let got = actual.and_then(|c| c.get(name)).copied();
            if got != Some(*want) {
                out.push(Failure {
                    loc: Some(e.loc.clone()),
                    step: format!("expect {}.{name}", e.host),
                    at,
                    what: match got {
                        Some(g) => format!("expected {name} = {want}, got {g}"),
                        None => format!(
                            "`{}` has no counter `{name}` (was the host running at the end?)",
                            e.host
                        ),
                    },
                    hint: None,
                });
            }
        }
    }
    out
}

/// Does received `text` match `pattern` (same `type`, every listed field equal)?
pub fn matches(pattern: &FramePattern, text: &str) -> bool {
    let Ok(serde_json::Value::Object(obj)) = serde_json::from_str::<serde_json::Value>(text) else {
        return false;
    };
    obj.get("type").and_then(|t| t.as_str()) == Some(pattern.kind.as_str())
        && pattern
            .fields
            .iter()
            .all(|(k, v)| obj.get(k).is_some_and(|got| json_eq(got, v)))
}

/// JSON equality that treats `5` and `5.0` alike (YAML and JSON disagree on numbers).
fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The step as a short label: `app.result r1`, `partition app broker`.
pub fn step_label(a: &Action) -> String {
    match a {
        Action::Wait(d) => format!("wait {}", fmt_time(*d)),
        Action::Partition { a, b } => format!("partition {a} {b}"),
        Action::Repair { a, b } => format!("repair {a} {b}"),
        Action::Hold { a, b } => format!("hold {a} {b}"),
        Action::Release { a, b } => format!("release {a} {b}"),
        Action::Crash { host } => format!("crash {host}"),
        Action::Bounce { host } => format!("bounce {host}"),
        Action::Connect { host, id } => format!("{host}.connect {id}"),
        Action::Request { host, call } => format!("{host}.request {}", call.id),
        Action::Cancel { host, id } => format!("{host}.cancel {id}"),
        Action::Disconnect { host } => format!("{host}.disconnect"),
        Action::Serve { host, serve } => format!("{host}.serve {}", serve.channel),
        Action::Result { host, id, .. } => format!("{host}.result {id}"),
        Action::Send { host, .. } => format!("{host}.send"),
        Action::Expect { host, pattern, .. } => format!("{host}.expect {}", pattern.kind),
        Action::ScriptedConnect { host } => format!("{host}.connect"),
        Action::ScriptedClose { host } => format!("{host}.close"),
        Action::ProxyRelease { host } => format!("{host}.release"),
        Action::SendTo { host, to, .. } => format!("{host}.send to {to}"),
    }
}

/// The snapshot text: header, diagram, final counters, violations.
fn render_report(
    scenario: &Scenario,
    seed: u64,
    events: &[Event],
    counters: &[(String, BTreeMap<String, u64>)],
    violations: &[Violation],
) -> String {
    let mut s = format!("# {} (seed {seed})\n", scenario.name);
    for h in &scenario.hosts {
        s.push_str(&format!("# {}: {}\n", h.name, h.kind.label()));
    }
    s.push('\n');
    let lanes = scenario.hosts.iter().map(|h| h.name.clone()).collect();
    s.push_str(&Diagram::new(lanes).render(events));
    s.push_str("\nfinal:\n");
    for (host, c) in counters {
        let list: Vec<String> = c.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if list.is_empty() {
            s.push_str(&format!("  {host}: (not running)\n"));
        } else {
            s.push_str(&format!("  {host}: {}\n", list.join(" ")));
        }
    }
    if !violations.is_empty() {
        s.push_str("\nviolations:\n");
        for v in violations {
            let tag = if scenario.expect_violations.iter().any(|e| e == v.rule) {
                "expected"
            } else {
                "UNEXPECTED"
            };
            s.push_str(&format!("  [{tag}] {v}\n"));
        }
    }
    s
}

/// `fmt_clock` re-exported for the CLI's table.
pub fn clock(d: Duration) -> String {
    fmt_clock(d)
}
