//! The kill matrix of a target's own flaws (`flaws:` in its file): the catalog run against
//! the correct target, then with each flaw switched on (`WIRECHECK_FLAW=name`). A flaw is
//! killed by a scenario the correct target passes and the flawed one fails; the rules the
//! checkers name are its diagnosis.

use super::run::{run_matrix, Grade, TargetOptions, TargetRun};
use super::{FlawSpec, Target};
use crate::model::Scenario;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable that switches a target's flaw on.
pub const FLAW_ENV: &str = "WIRECHECK_FLAW";

/// One scenario that caught a flaw.
#[derive(Clone, Debug)]
pub struct Kill {
    pub scenario: String,
    /// Rules the checkers reported broken.
    pub rules: Vec<&'static str>,
    /// A step or expectation of the scenario failed (not only a checker).
    pub by_expectation: bool,
}

/// What the catalog did to one flaw.
#[derive(Clone, Debug)]
pub struct FlawRow {
    pub name: String,
    pub spec: FlawSpec,
    pub kills: Vec<Kill>,
    /// Scenarios run with the flaw on.
    pub runs: usize,
    /// Runs that ended ERROR (the flawed target misbehaved as a process).
    pub errors: Vec<String>,
}

impl FlawRow {
    pub fn killed(&self) -> bool {
        !self.kills.is_empty()
    }

    /// Every rule a kill named, in rule-table order.
    pub fn rules(&self) -> Vec<&'static str> {
        let order = |id: &str| {
            wirecheck_core::rules::RULES
                .iter()
                .position(|r| r.id == id)
                .unwrap_or(usize::MAX)
        };
        let mut r: Vec<&'static str> = self.kills.iter().flat_map(|k| k.rules.clone()).collect();
        r.sort_by_key(|id| order(id));
        r.dedup();
        r
    }

    /// Rules the target file expects to catch the flaw that no kill named.
    pub fn unconfirmed(&self) -> Vec<String> {
        let named = self.rules();
        self.spec
            .rules
            .iter()
            .filter(|r| !named.contains(&r.as_str()))
            .cloned()
            .collect()
    }
}

/// `target` with flaw `name` switched on.
pub fn with_flaw(target: &Target, name: &str) -> Target {
    let mut t = target.clone();
    t.name = format!("{}+{name}", target.name);
    t.extra_env.insert(FLAW_ENV.into(), name.into());
    t
}

fn kill_of(run: &TargetRun) -> Option<Kill> {
    if run.grade != Grade::Failed && run.grade != Grade::NonStrict {
        return None;
    }
    let r = run.report.as_ref()?;
    let mut rules: Vec<&'static str> = r
        .violations
        .iter()
        .filter(|v| !r.expected.iter().any(|e| e == v.rule))
        .map(|v| v.rule)
        .collect();
    rules.sort_unstable();
    rules.dedup();
    Some(Kill {
        scenario: run.scenario.clone(),
        rules,
        by_expectation: !r.failures.is_empty(),
    })
}

/// Scenarios worth trying first for a flaw: those that cover the rules its author expects,
/// the quickest first (by the correct target's wall time).
fn by_promise<'a>(scenarios: &'a [(&'a Scenario, Duration)], spec: &FlawSpec) -> Vec<&'a Scenario> {
    let mut v = scenarios.to_vec();
    v.sort_by_key(|(s, wall)| (!s.rules.iter().any(|r| spec.rules.contains(r)), *wall));
    v.into_iter().map(|(s, _)| s).collect()
}

/// Runs every flaw of `target` over the scenarios the correct target passed (`baseline`:
/// one run per scenario, as [`run_matrix`] returns them). With `first_kill`, a flaw stops at
/// the first batch of `jobs` scenarios that kills it (the scenarios covering its expected
/// rules are tried first); otherwise every passed scenario is run.
pub fn flaw_matrix(
    scenarios: &[Scenario],
    baseline: &[Vec<TargetRun>],
    target: &Arc<Target>,
    opts: &TargetOptions,
    jobs: usize,
    first_kill: bool,
    progress: &(dyn Fn(&TargetRun) + Sync),
) -> Vec<FlawRow> {
    let passed: BTreeMap<&str, Duration> = baseline
        .iter()
        .filter_map(|runs| runs.first())
        .filter(|r| r.grade == Grade::Ok)
        .map(|r| (r.scenario.as_str(), r.wall))
        .collect();
    let candidates: Vec<(&Scenario, Duration)> = scenarios
        .iter()
        .filter_map(|s| passed.get(s.name.as_str()).map(|w| (s, *w)))
        .collect();
    let mut rows = Vec::new();
    for (name, spec) in &target.flaws {
        let flawed = Arc::new(with_flaw(target, name));
        let order = by_promise(&candidates, spec);
        let batch = if first_kill {
            jobs.max(1)
        } else {
            order.len().max(1)
        };
        let mut row = FlawRow {
            name: name.clone(),
            spec: spec.clone(),
            kills: Vec::new(),
            runs: 0,
            errors: Vec::new(),
        };
        for chunk in order.chunks(batch) {
            let chunk: Vec<Scenario> = chunk.iter().map(|s| (*s).clone()).collect();
            let cells = run_matrix(
                &chunk,
                std::slice::from_ref(&flawed),
                opts,
                jobs,
                1,
                progress,
            );
            for run in cells.iter().flatten() {
                row.runs += 1;
                if let Grade::Error(e) = &run.grade {
                    row.errors.push(e.clone());
                }
                row.kills.extend(kill_of(run));
            }
            if first_kill && row.killed() {
                break;
            }
        }
        rows.push(row);
    }
    rows
}

/// The kill matrix as text (`wirecheck zoo --target`).
pub fn render(target: &Target, rows: &[FlawRow]) -> String {
    let mut out = String::new();
    let killed = rows.iter().filter(|r| r.killed()).count();
    out.push_str(&format!(
        "flaws of target {}: {killed} of {} killed\n",
        target.name,
        rows.len()
    ));
    for r in rows {
        let status = if r.killed() { "killed" } else { "SURVIVED" };
        out.push_str(&format!(
            "\n  {:<24} {status} ({} run(s)); rules named: {}\n",
            r.name,
            r.runs,
            if r.rules().is_empty() {
                "-".to_owned()
            } else {
                r.rules().join(", ")
            }
        ));
        if !r.spec.about.is_empty() {
            out.push_str(&format!("    {}\n", r.spec.about));
        }
        for k in &r.kills {
            out.push_str(&format!(
                "    caught by {}: {}{}\n",
                k.scenario,
                if k.rules.is_empty() {
                    "no rule".to_owned()
                } else {
                    k.rules.join(", ")
                },
                if k.by_expectation {
                    " (and a failed step or expectation)"
                } else {
                    ""
                }
            ));
        }
        let un = r.unconfirmed();
        if r.killed() && !un.is_empty() {
            out.push_str(&format!(
                "    note: the target file expects {} too; no kill named it\n",
                un.join(", ")
            ));
        }
        for e in r.errors.iter().take(2) {
            out.push_str(&format!(
                "    ERROR run: {}\n",
                e.lines().next().unwrap_or("")
            ));
        }
    }
    out
}

/// The kill matrix as a Markdown table (docs/targets.md).
pub fn markdown(target: &Target, rows: &[FlawRow]) -> String {
    let mut out = format!(
        "| flaw of `{}` | what goes wrong | caught by | rules named |\n|---|---|---|---|\n",
        target.name
    );
    for r in rows {
        let by: Vec<String> = r
            .kills
            .iter()
            .map(|k| format!("`{}`", k.scenario))
            .collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            r.name,
            r.spec.about.replace('|', "\\|"),
            if by.is_empty() {
                "**survived**".to_owned()
            } else {
                by.join(", ")
            },
            r.rules().join(", ")
        ));
    }
    out
}
