//! Chaos scenarios: a `workload:` and a `nemesis:` ([`crate::model::chaos`]) drawn from
//! the seed into a [`Plan`] — the hosts they add and every timed step — and the plan
//! turned into an ordinary scripted scenario the runner executes. Faults are the script's
//! own steps (`partition`, `crash`, ...), applied through the `World` like any other.
//!
//! Pure: no runner, no world. `crate::sweep` runs plans, shrinks them and writes them out
//! ([`yaml`]) as scripted regression files.

mod draw;
mod plan;
pub mod yaml;

pub use draw::{draw, reconnect, tag, HEARTBEAT, PROXY, START};
pub use plan::{Plan, Timed, KEEP};

use crate::model::Scenario;

/// The plan `scenario`'s workload and nemesis draw for `seed`; `None` for a scripted
/// scenario.
pub fn plan(scenario: &Scenario, seed: u64) -> Option<Plan> {
    scenario
        .chaos
        .as_ref()
        .map(|c| draw(c, &scenario.network, seed))
}

/// What runs: the scripted scenario the plan for `seed` makes of `scenario`, or
/// `scenario` itself when it has no workload.
pub fn expand(scenario: &Scenario, seed: u64) -> (Scenario, Option<Plan>) {
    match plan(scenario, seed) {
        Some(p) => (p.scenario(scenario), Some(p)),
        None => (scenario.clone(), None),
    }
}

#[cfg(test)]
mod tests;
