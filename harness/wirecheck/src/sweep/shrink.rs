//! Shrinking a failing seed's plan: whole groups of steps (a request with its
//! cancellation, a fault with its heal) and proxy rules are removed while the run still
//! breaks the same rule, in halving chunks then one by one (delta debugging). The
//! generator's proptest shrinking (`gen.rs`) works on values drawn by a strategy; a plan
//! is drawn from a seed, so it is minimised directly, by the same idea.

use super::SeedResult;
use crate::chaos::{Plan, KEEP};
use crate::model::{Action, HostKind, Scenario};
use crate::runner::{run, Report, RunOptions};
use std::collections::BTreeSet;
use std::time::Duration;
use wirecheck_core::flaws::Flaws;

/// A shrunk plan and its run.
pub struct Shrunk {
    pub plan: Plan,
    pub report: Report,
    /// Runs spent shrinking.
    pub runs: u32,
}

/// Does the scripted scenario of `plan` still break `rule`?
fn breaks(base: &Scenario, plan: &Plan, flaws: &Flaws, rule: &str) -> Option<Report> {
    let s = plan.scenario(base);
    let r = run(
        &s,
        &RunOptions {
            seed: None,
            flaws: flaws.clone(),
            ..Default::default()
        },
    );
    SeedResult::of(plan.seed, &r)
        .broke
        .iter()
        .any(|b| b == rule)
        .then_some(r)
}

/// Ends the plan soon after its last step: the latest deadline of its requests, or its
/// last step, plus half a second.
fn tighten(plan: &mut Plan) {
    let mut last = Duration::ZERO;
    for t in &plan.steps {
        let end = match &t.action {
            Action::Request { call, .. } => t.at + call.timeout.unwrap_or_default(),
            _ => t.at,
        };
        last = last.max(end);
    }
    plan.end = plan.end.min(last + Duration::from_millis(500));
}

fn without(plan: &Plan, gone: &BTreeSet<u32>) -> Plan {
    let mut p = plan.clone();
    p.steps.retain(|t| !gone.contains(&t.group));
    tighten(&mut p);
    p
}

/// Shrinks `plan`, which breaks `rule` under `flaws`, within `budget` runs.
pub fn shrink(
    base: &Scenario,
    plan: Plan,
    flaws: &Flaws,
    rule: &str,
    budget: u32,
) -> Option<Shrunk> {
    let mut runs = 1;
    let mut report = breaks(base, &plan, flaws, rule)?;
    let mut plan = plan;
    let try_plan = |candidate: Plan, runs: &mut u32, plan: &mut Plan, report: &mut Report| {
        *runs += 1;
        if let Some(r) = breaks(base, &candidate, flaws, rule) {
            *plan = candidate;
            *report = r;
            true
        } else {
            false
        }
    };
    // Steps, by group.
    let mut chunk = {
        let groups: BTreeSet<u32> = plan
            .steps
            .iter()
            .map(|t| t.group)
            .filter(|g| *g != KEEP)
            .collect();
        groups.len().div_ceil(2).max(1)
    };
    loop {
        let groups: Vec<u32> = {
            let set: BTreeSet<u32> = plan
                .steps
                .iter()
                .map(|t| t.group)
                .filter(|g| *g != KEEP)
                .collect();
            set.into_iter().collect()
        };
        if groups.is_empty() {
            break;
        }
        let mut removed = false;
        let mut i = 0;
        while i < groups.len() && runs < budget {
            let gone: BTreeSet<u32> = groups[i..(i + chunk).min(groups.len())]
                .iter()
                .copied()
                .collect();
            // A group already gone (an earlier chunk of this pass) is simply skipped.
            if try_plan(without(&plan, &gone), &mut runs, &mut plan, &mut report) {
                removed = true;
            }
            i += chunk;
        }
        if runs >= budget || (chunk == 1 && !removed) {
            break;
        }
        if !removed {
            chunk = chunk.div_ceil(2);
        }
    }
    // Proxy rules, one by one.
    let rules_of = |p: &Plan| {
        p.hosts.iter().enumerate().find_map(|(i, h)| match &h.kind {
            HostKind::Proxy(spec) => Some((i, spec.rules.len())),
            _ => None,
        })
    };
    let mut r = 0;
    while let Some((px, n)) = rules_of(&plan) {
        if r >= n || runs >= budget {
            break;
        }
        let mut candidate = plan.clone();
        if let HostKind::Proxy(spec) = &mut candidate.hosts[px].kind {
            spec.rules.remove(r);
        }
        if !try_plan(candidate, &mut runs, &mut plan, &mut report) {
            r += 1;
        }
    }
    Some(Shrunk { plan, report, runs })
}
