//! Seed sweeps of a chaos scenario: the scenario once per seed of a range (or of one
//! partition of it), in parallel jobs, each judged by every checker; failures grouped by
//! the rule they broke, with their seeds. A failing seed is shrunk ([`shrink`]) to a
//! scripted scenario written as a regression file ([`regress`]).
//!
//! Splitting work across machines is a seed range (`--seeds 10000..20000`) or a partition
//! (`--partition 2/4`: every 4th seed from the 2nd), nothing more.

pub mod regress;
pub mod shrink;

use crate::model::Scenario;
use crate::runner::{run, Report, RunOptions};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wirecheck_core::flaws::Flaws;

/// Seeds `start..end` (end excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    pub start: u64,
    pub end: u64,
}

impl Seeds {
    /// `N` (seeds `0..N`) or `A..B`.
    pub fn parse(text: &str) -> Result<Seeds, String> {
        let num = |s: &str| {
            s.trim()
                .replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("`{s}` is not a whole number"))
        };
        let seeds = match text.split_once("..") {
            Some((a, b)) => Seeds {
                start: num(a)?,
                end: num(b)?,
            },
            None => Seeds {
                start: 0,
                end: num(text)?,
            },
        };
        if seeds.end <= seeds.start {
            return Err(format!(
                "`{text}` names no seed: write a count (`1000`) or a range with its end above its start (`10000..20000`)"
            ));
        }
        Ok(seeds)
    }
}

impl fmt::Display for Seeds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// Part `k` of `n` (1-based): the seeds whose offset in the range is `k-1` modulo `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub k: u64,
    pub n: u64,
}

impl Partition {
    pub fn parse(text: &str) -> Result<Partition, String> {
        let bad = || format!("`{text}` is not a partition: write K/N with 1 <= K <= N, e.g. `2/4`");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (k, n) = (
            k.trim().parse::<u64>().map_err(|_| bad())?,
            n.trim().parse::<u64>().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Partition { k, n })
    }
}

/// The seeds a sweep runs, in order.
pub fn seed_list(seeds: Seeds, part: Option<Partition>) -> Vec<u64> {
    (seeds.start..seeds.end)
        .filter(|s| part.is_none_or(|p| (s - seeds.start) % p.n == p.k - 1))
        .collect()
}

/// What one seed's run came to.
#[derive(Clone, Debug)]
pub struct SeedResult {
    pub seed: u64,
    /// Rules broken unexpectedly, and `step` when a step failed.
    pub broke: Vec<String>,
    pub sim: Duration,
    /// How many times the world let time pass (ticks, and jumps over idle time).
    pub steps: u64,
}

impl SeedResult {
    fn of(seed: u64, r: &Report) -> SeedResult {
        let mut broke: Vec<String> = r.broken_rules().iter().map(|s| s.to_string()).collect();
        if !r.failures.is_empty() {
            broke.push(STEP.to_string());
        }
        SeedResult {
            seed,
            broke,
            sim: r.sim_time,
            steps: r.steps,
        }
    }
}

/// The failure key of a run whose step failed (no rule named).
pub const STEP: &str = "step";

/// A sweep's outcome.
#[derive(Debug, Default)]
pub struct Summary {
    pub run: u64,
    /// Rule (or [`STEP`]) → the seeds that broke it, in order.
    pub failures: BTreeMap<String, Vec<u64>>,
    /// Seeds that failed (any rule).
    pub failed: Vec<u64>,
    pub wall: Duration,
    pub sim: Duration,
    /// World steps over all seeds (see [`SeedResult::steps`]).
    pub steps: u64,
}

impl Summary {
    pub fn seeds_per_sec(&self) -> f64 {
        self.run as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    fn add(&mut self, r: SeedResult) {
        self.run += 1;
        self.sim += r.sim;
        self.steps += r.steps;
        if !r.broke.is_empty() {
            self.failed.push(r.seed);
        }
        for rule in r.broke {
            self.failures.entry(rule).or_default().push(r.seed);
        }
    }
}

/// Runs `scenario` once per seed on `jobs` threads; `each` sees every result as it comes
/// (in completion order) with the summary so far. Results are summed in seed order.
pub fn sweep(
    scenario: &Scenario,
    seeds: &[u64],
    jobs: usize,
    flaws: &Flaws,
    each: &mut dyn FnMut(&SeedResult, &Summary),
) -> Summary {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<SeedResult>();
    let mut summary = Summary::default();
    let mut done: Vec<SeedResult> = Vec::with_capacity(seeds.len());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                let opts = RunOptions {
                    seed: Some(seed),
                    flaws: flaws.clone(),
                    ..Default::default()
                };
                let report = run(scenario, &opts);
                if tx.send(SeedResult::of(seed, &report)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut live = Summary::default();
        for r in rx {
            live.add(r.clone());
            live.wall = started.elapsed();
            each(&r, &live);
            done.push(r);
        }
    });
    done.sort_by_key(|r| r.seed);
    for r in done {
        summary.add(r);
    }
    summary.wall = started.elapsed();
    summary
}

/// Runs one seed (for shrinking and replay).
pub fn run_seed(scenario: &Scenario, seed: u64, flaws: &Flaws) -> Report {
    run(
        scenario,
        &RunOptions {
            seed: Some(seed),
            flaws: flaws.clone(),
            ..Default::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_and_partitions() {
        assert_eq!(Seeds::parse("5"), Ok(Seeds { start: 0, end: 5 }));
        assert_eq!(
            Seeds::parse("10000..20000"),
            Ok(Seeds {
                start: 10000,
                end: 20000
            })
        );
        assert!(Seeds::parse("5..5").is_err());
        assert!(Seeds::parse("x").is_err());
        assert!(Partition::parse("0/3").is_err());
        assert!(Partition::parse("4/3").is_err());
        let s = Seeds { start: 10, end: 20 };
        let parts: Vec<Vec<u64>> = (1..=3)
            .map(|k| seed_list(s, Some(Partition { k, n: 3 })))
            .collect();
        assert_eq!(parts[0], vec![10, 13, 16, 19]);
        assert_eq!(parts[1], vec![11, 14, 17]);
        let mut all: Vec<u64> = parts.concat();
        all.sort_unstable();
        assert_eq!(
            all,
            seed_list(s, None),
            "the partitions cover the range once"
        );
    }
}
