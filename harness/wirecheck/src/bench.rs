//! Speed figures (`wirecheck bench`, BENCHMARKS.md): the scripted catalog's simulated time
//! against the wall and CPU time it takes, jumping over idle time and stepping every tick,
//! and the scenario generator's cases per second. Everything runs serially on the calling
//! thread, so a figure is per core.

use crate::gen;
use crate::model::Scenario;
use crate::runner::{run, RunOptions};
use crate::world::Pace;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::time::{Duration, Instant};

/// Wall and CPU time of one measured stretch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spent {
    pub wall: Duration,
    /// CPU time of the measuring thread (what other load on the machine barely changes).
    pub cpu: Duration,
}

impl Spent {
    /// Measures `f`.
    pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Spent) {
        let (wall, cpu) = (Instant::now(), thread_cpu());
        let out = f();
        let spent = Spent {
            wall: wall.elapsed(),
            cpu: thread_cpu().saturating_sub(cpu),
        };
        (out, spent)
    }
}

/// One round of the whole catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogRound {
    pub pace: Pace,
    pub scenarios: usize,
    /// Scenarios whose verdict was not OK (a speed figure over failing runs means little).
    pub failed: Vec<String>,
    pub simulated: Duration,
    /// Steps the world took (ticks and jumps).
    pub steps: u64,
    pub spent: Spent,
}

impl CatalogRound {
    /// Simulated time per wall time.
    pub fn ratio(&self) -> f64 {
        ratio(self.simulated, self.spent.wall)
    }

    /// Simulated time per CPU time.
    pub fn cpu_ratio(&self) -> f64 {
        ratio(self.simulated, self.spent.cpu)
    }
}

/// Runs every scenario once with `pace`, one after the other.
pub fn catalog_round(scenarios: &[Scenario], pace: Pace) -> CatalogRound {
    let opts = RunOptions {
        pace,
        ..RunOptions::default()
    };
    let mut round = CatalogRound {
        pace,
        scenarios: scenarios.len(),
        failed: Vec::new(),
        simulated: Duration::ZERO,
        steps: 0,
        spent: Spent::default(),
    };
    for s in scenarios {
        let (report, spent) = Spent::measure(|| run(s, &opts));
        round.simulated += report.sim_time;
        round.steps += report.steps;
        round.spent.wall += spent.wall;
        round.spent.cpu += spent.cpu;
        if !report.passed() {
            round.failed.push(s.name.clone());
        }
    }
    round
}

/// `rounds` rounds of the catalog with each pace, alternating (so load that comes and
/// goes on the machine hits both alike); per pace, the round with the least wall time.
pub fn catalog(scenarios: &[Scenario], paces: &[Pace], rounds: u32) -> Vec<CatalogRound> {
    let mut best: Vec<Option<CatalogRound>> = vec![None; paces.len()];
    for _ in 0..rounds.max(1) {
        for (i, pace) in paces.iter().enumerate() {
            let r = catalog_round(scenarios, *pace);
            if best[i].as_ref().is_none_or(|b| r.spent.wall < b.spent.wall) {
                best[i] = Some(r);
            }
        }
    }
    best.into_iter().flatten().collect()
}

/// The generator's throughput: `cases` random scenarios made, loaded, run and judged.
#[derive(Clone, Debug, PartialEq)]
pub struct FuzzRun {
    pub pace: Pace,
    pub cases: u32,
    /// Cases that did not pass (each is a finding for `wirecheck fuzz` to shrink).
    pub failed: u32,
    pub simulated: Duration,
    pub spent: Spent,
}

impl FuzzRun {
    pub fn cases_per_sec(&self) -> f64 {
        f64::from(self.cases) / self.spent.wall.as_secs_f64().max(1e-9)
    }

    pub fn cases_per_cpu_sec(&self) -> f64 {
        f64::from(self.cases) / self.spent.cpu.as_secs_f64().max(1e-9)
    }
}

/// Runs the generator's first `cases` cases from `seed` (the cases `wirecheck fuzz --seed`
/// draws, without its shrinking, which only a failure starts) with `pace`.
pub fn fuzz(cases: u32, seed: u64, pace: Pace) -> FuzzRun {
    let opts = RunOptions {
        pace,
        ..RunOptions::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = gen::scenarios();
    let mut out = FuzzRun {
        pace,
        cases,
        failed: 0,
        simulated: Duration::ZERO,
        spent: Spent::default(),
    };
    for _ in 0..cases {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            out.failed += 1;
            continue;
        };
        let g = tree.current();
        let ((passed, simulated), spent) = Spent::measure(|| match gen::load(&g) {
            Ok(s) => {
                let r = run(&s, &opts);
                (r.passed(), r.sim_time)
            }
            Err(_) => (false, Duration::ZERO),
        });
        out.failed += u32::from(!passed);
        out.simulated += simulated;
        out.spent.wall += spent.wall;
        out.spent.cpu += spent.cpu;
    }
    out
}

fn ratio(simulated: Duration, spent: Duration) -> f64 {
    simulated.as_secs_f64() / spent.as_secs_f64().max(1e-9)
}

/// CPU time consumed by this thread so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_time_counts_work_on_this_thread_only() {
        let (_, spent) = Spent::measure(|| {
            let mut x = 0u64;
            for i in 0..5_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x)
        });
        assert!(spent.cpu > Duration::ZERO, "{spent:?}");
        let (_, idle) = Spent::measure(|| std::thread::sleep(Duration::from_millis(30)));
        assert!(idle.wall >= Duration::from_millis(30));
        assert!(
            idle.cpu < Duration::from_millis(15),
            "sleeping costs no CPU: {idle:?}"
        );
    }

    #[test]
    fn a_round_adds_up_its_scenarios() {
        let s = crate::scenario::load_str(
            "about: An idle broker.\nrules: [BRK-12]\nhosts:\n  broker: { broker: {} }\nscript:\n  - wait: 2s\n",
            std::path::Path::new("bench/idle.yaml"),
        )
        .expect("loads");
        let two = [s.clone(), s];
        let tick = catalog_round(&two, Pace::EveryTick);
        let skip = catalog_round(&two, Pace::SkipIdle);
        assert_eq!(tick.scenarios, 2);
        assert!(tick.failed.is_empty() && skip.failed.is_empty());
        // Each run: the 2 s wait and 1 s of settling.
        assert_eq!(tick.simulated, Duration::from_secs(6));
        assert_eq!(skip.simulated, tick.simulated);
        assert_eq!(tick.steps, 6_000, "one step per millisecond");
        assert!(
            skip.steps < 100,
            "an idle broker is jumped over: {} steps",
            skip.steps
        );
        assert!(tick.ratio() > 0.0 && skip.cpu_ratio() > 0.0);
    }
}
