//! Running scenarios against targets in the real-time world: one run per scenario per
//! target (per repeat), in parallel jobs, graded OK / NON-STRICT / FAILED / INFORMATIONAL
//! (failed only as the target documents) / UNIMPLEMENTED / ERROR (the target misbehaved) /
//! N/A (no host of the target's role to replace).

use super::apply::client_missing;
use super::{applicability, Applicability, Target};
use crate::hosts::external::{ExternalBroker, ExternalClient};
use crate::hosts::{driver_for, Driver};
use crate::model::Scenario;
use crate::runner::{run_with, Report, RunOptions, Verdict, SETTLE};

/// The latency the checkers allow a message in a real-time run (loopback plus scheduling
/// jitter on a loaded machine).
const REAL_LATENCY_BOUND: std::time::Duration = std::time::Duration::from_millis(50);
use crate::world::real::RealWorld;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wirecheck_core::rng::SplitMix64;

/// Extra wall-clock time a run may take beyond the scenario's `duration` (and settling).
pub const WALL_SLACK: Duration = Duration::from_secs(10);

/// How a scenario went against a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grade {
    Ok,
    NonStrict,
    Failed,
    /// Failed only as the target's own documentation says it behaves (`documented:`;
    /// the note says what and where). Reported, not counted as a failure.
    Informational(String),
    /// The scenario needs something the target lacks (the reasons).
    Unimplemented(String),
    /// The target misbehaved (did not start, exited, never became ready, crashed, hung).
    Error(String),
    /// The scenario has no host of the target's role.
    NotApplicable,
}

impl Grade {
    pub fn label(&self) -> &'static str {
        match self {
            Grade::Ok => "OK",
            Grade::NonStrict => "NON-STRICT",
            Grade::Failed => "FAILED",
            Grade::Informational(_) => "INFORMATIONAL",
            Grade::Unimplemented(_) => "UNIMPLEMENTED",
            Grade::Error(_) => "ERROR",
            Grade::NotApplicable => "N/A",
        }
    }

    /// Counts as a failure of the run (exit code 1).
    pub fn is_bad(&self) -> bool {
        matches!(self, Grade::Failed | Grade::Error(_))
    }
}

/// Options of a target run.
#[derive(Clone, Debug, Default)]
pub struct TargetOptions {
    /// Replace only these hosts (default: every host of the target's role).
    pub hosts: Option<Vec<String>>,
    /// Overrides the scenario's seed (hosts' RNGs; the real world itself is not seeded).
    pub seed: Option<u64>,
    /// Wall-clock limit per scenario (default: its duration + settling + [`WALL_SLACK`]).
    pub wall_limit: Option<Duration>,
}

/// One run of one scenario against one target.
#[derive(Clone, Debug)]
pub struct TargetRun {
    pub scenario: String,
    pub target: String,
    pub grade: Grade,
    /// Expectations not judged (counters of the black box).
    pub skipped: Vec<String>,
    pub report: Option<Report>,
    pub wall: Duration,
    /// Where the target's processes listened (free again once the run is over).
    pub addresses: Vec<std::net::SocketAddr>,
}

impl TargetRun {
    /// What went wrong, for the end of the output (empty when nothing did).
    pub fn explain(&self) -> String {
        let head = format!("scenario {} against target {}", self.scenario, self.target);
        match &self.grade {
            Grade::Error(e) => format!("{head}: ERROR: {e}"),
            Grade::Failed | Grade::NonStrict => match &self.report {
                Some(r) => format!("{head}:\n{}", r.explain()),
                None => head,
            },
            _ => String::new(),
        }
    }
}

/// A replaced host's external process, whichever its role.
#[derive(Clone)]
enum Ext {
    Broker(Arc<ExternalBroker>),
    Client(Arc<ExternalClient>),
}

impl Ext {
    fn error(&self) -> Option<String> {
        match self {
            Ext::Broker(e) => e.error(),
            Ext::Client(e) => e.error(),
        }
    }
    fn tail(&self) -> String {
        match self {
            Ext::Broker(e) => e.tail(),
            Ext::Client(e) => e.tail(),
        }
    }
    fn command(&self) -> Option<String> {
        match self {
            Ext::Broker(e) => e.command(),
            Ext::Client(e) => e.command(),
        }
    }
    fn stop(&self) {
        match self {
            Ext::Broker(e) => e.stop(),
            Ext::Client(e) => e.stop(),
        }
    }
    fn driver(&self) -> Arc<dyn Driver> {
        match self {
            Ext::Broker(e) => Arc::new(e.clone()),
            Ext::Client(e) => Arc::new(e.clone()),
        }
    }
}

/// Why `scenario` would not be run against `target` (N/A or UNIMPLEMENTED with the
/// missing capabilities), or `None` when it would: what `--dry-run` prints.
pub fn plan(scenario: &Scenario, target: &Target, opts: &TargetOptions) -> Option<Grade> {
    not_run(&applicability(scenario, target, opts.hosts.as_deref()))
}

fn not_run(app: &Applicability) -> Option<Grade> {
    if app.replaced.is_empty() && app.clients.is_empty() {
        Some(Grade::NotApplicable)
    } else if !app.missing.is_empty() {
        Some(Grade::Unimplemented(app.missing.join("; ")))
    } else {
        None
    }
}

/// Runs `scenario` once against `target` over loopback.
pub fn run_against(scenario: &Scenario, target: &Arc<Target>, opts: &TargetOptions) -> TargetRun {
    let started = Instant::now();
    let app = applicability(scenario, target, opts.hosts.as_deref());
    let mut out = TargetRun {
        scenario: scenario.name.clone(),
        target: target.name.clone(),
        grade: Grade::NotApplicable,
        skipped: app.skipped.clone(),
        report: None,
        wall: Duration::ZERO,
        addresses: Vec::new(),
    };
    if let Some(grade) = not_run(&app) {
        tracing::debug!(scenario = %scenario.name, target = %target.name, grade = grade.label(), "not run");
        out.grade = grade;
        return out;
    }
    let error = |host: &str, what: &str, ext: Option<&Ext>| {
        let mut s = format!(
            "target `{}` (scenario `{}`, host `{host}`): {what}",
            target.name, scenario.name
        );
        if let Some(e) = ext {
            if let Some(c) = e.command() {
                s.push_str(&format!("\n  command: {c}"));
            }
            s.push_str(&format!("\n  last output:\n{}", e.tail()));
        }
        s
    };
    let seed = opts.seed.unwrap_or(scenario.seed);
    let mut externals: BTreeMap<String, Ext> = BTreeMap::new();
    for (host, spec) in &app.replaced {
        match ExternalBroker::new(target.clone(), host, spec.clone()) {
            Ok(e) => {
                out.addresses.push(e.address());
                externals.insert(host.clone(), Ext::Broker(Arc::new(e)));
            }
            Err(e) => {
                out.grade = Grade::Error(error(host, &e, None));
                return out;
            }
        }
    }
    for (host, spec) in &app.clients {
        let host_seed = SplitMix64::derive(seed, host).next_u64();
        match ExternalClient::new(target.clone(), host, spec.clone(), host_seed) {
            Ok(e) => {
                externals.insert(host.clone(), Ext::Client(Arc::new(e)));
            }
            Err(e) => {
                out.grade = Grade::Error(error(host, &e, None));
                return out;
            }
        }
    }
    let stop_all = |x: &BTreeMap<String, Ext>| x.values().for_each(Ext::stop);
    let mut missing = Vec::new();
    for (host, ext) in &externals {
        let prepared = match ext {
            Ext::Broker(e) => e.prepare(),
            Ext::Client(e) => e.prepare().map(|hello| {
                let spec = app.clients.iter().filter(|(h, _)| h == host).cloned();
                let spec: Vec<_> = spec.collect();
                missing.extend(client_missing(scenario, &spec, &hello.capabilities));
            }),
        };
        if let Err(e) = prepared {
            out.grade = Grade::Error(error(host, &e, Some(ext)));
            stop_all(&externals);
            out.wall = started.elapsed();
            return out;
        }
    }
    if !missing.is_empty() {
        missing.dedup();
        stop_all(&externals);
        out.grade = Grade::Unimplemented(missing.join("; "));
        out.wall = started.elapsed();
        return out;
    }
    let mut s = scenario.clone();
    s.expect.retain(|e| !externals.contains_key(&e.host));
    // Real time does not model the scenario's latency: loopback delivers in anything from
    // 0 up to what scheduling jitter adds. The checkers must assume that, not `network:`.
    s.network.min_latency = std::time::Duration::ZERO;
    s.network.max_latency = s.network.max_latency.max(REAL_LATENCY_BOUND);
    let limit = opts
        .wall_limit
        .unwrap_or(scenario.duration + SETTLE + WALL_SLACK);
    let world = RealWorld::new(limit);
    let limit_hit = world.limit_flag();
    let drivers = |h: &crate::model::Host| -> Arc<dyn Driver> {
        match externals.get(&h.name) {
            Some(e) => e.driver(),
            None => driver_for(&h.kind),
        }
    };
    let run_opts = RunOptions {
        seed: Some(seed),
        ..RunOptions::default()
    };
    let report = run_with(Box::new(world), &s, seed, &run_opts, &drivers);
    stop_all(&externals);
    let unsupported = externals.values().find_map(|x| match x {
        Ext::Client(c) => c.unsupported(),
        Ext::Broker(_) => None,
    });
    out.grade = if let Some((host, ext, e)) = externals
        .iter()
        .find_map(|(h, x)| x.error().map(|e| (h, x, e)))
    {
        Grade::Error(error(host, &e, Some(ext)))
    } else if let Some(why) = unsupported {
        Grade::Unimplemented(why)
    } else if limit_hit.load(Ordering::SeqCst) {
        Grade::Error(format!(
            "target `{}` (scenario `{}`): wall-clock limit exceeded ({:.1}s); the run was stopped",
            target.name,
            scenario.name,
            limit.as_secs_f64()
        ))
    } else {
        match (report.grade(), target.documented.get(&scenario.name)) {
            (Verdict::Ok, _) => Grade::Ok,
            (Verdict::NonStrict | Verdict::Failed, Some(d)) if d.covers(&report.broken_rules()) => {
                Grade::Informational(d.note())
            }
            (Verdict::NonStrict, _) => Grade::NonStrict,
            (Verdict::Failed, _) => Grade::Failed,
        }
    };
    out.report = Some(report);
    out.wall = started.elapsed();
    out
}

/// Every (scenario, target) pair, `repeat` times, on `jobs` threads. Results are in input
/// order: per scenario, per target, the runs of each repeat.
pub fn run_matrix(
    scenarios: &[Scenario],
    targets: &[Arc<Target>],
    opts: &TargetOptions,
    jobs: usize,
    repeat: usize,
    progress: &(dyn Fn(&TargetRun) + Sync),
) -> Vec<Vec<TargetRun>> {
    let cells: Vec<(usize, usize)> = (0..scenarios.len())
        .flat_map(|s| (0..targets.len()).map(move |t| (s, t)))
        .collect();
    let work: Vec<usize> = (0..cells.len() * repeat.max(1)).collect();
    let results: Mutex<Vec<Vec<Option<TargetRun>>>> =
        Mutex::new(vec![vec![None; repeat.max(1)]; cells.len()]);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&w) = work.get(i) else { break };
                let (cell, rep) = (w % cells.len(), w / cells.len());
                let (s, t) = cells[cell];
                let r = run_against(&scenarios[s], &targets[t], opts);
                progress(&r);
                results.lock().unwrap_or_else(|p| p.into_inner())[cell][rep] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|runs| runs.into_iter().flatten().collect())
        .collect()
}

/// Did the repeats of one cell end differently?
pub fn flaky(runs: &[TargetRun]) -> bool {
    runs.windows(2)
        .any(|w| w[0].grade.label() != w[1].grade.label())
}

/// Runs each failed (or ERROR, or NON-STRICT) cell of `cells` once more, alone (one job),
/// and keeps the second verdict when it passes. Returns the scenarios whose verdict changed:
/// real time is not deterministic, and a verdict that does not hold when run alone is
/// FLAKY, reported as such rather than as a failure.
pub fn retry_failed(
    scenarios: &[Scenario],
    targets: &[Arc<Target>],
    cells: &mut [Vec<TargetRun>],
    opts: &TargetOptions,
) -> Vec<String> {
    let mut flaky = Vec::new();
    for runs in cells.iter_mut() {
        let Some(i) = runs
            .iter()
            .position(|r| r.grade.is_bad() || r.grade == Grade::NonStrict)
        else {
            continue;
        };
        let (Some(s), Some(t)) = (
            scenarios.iter().find(|s| s.name == runs[i].scenario),
            targets.iter().find(|t| t.name == runs[i].target),
        ) else {
            continue;
        };
        let again = run_against(s, t, opts);
        if !again.grade.is_bad() && again.grade != Grade::NonStrict {
            flaky.push(format!("{} × {}", s.name, t.name));
            runs[i] = again;
        }
    }
    flaky
}
