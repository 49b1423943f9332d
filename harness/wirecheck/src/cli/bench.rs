//! `wirecheck bench`: the speed figures of BENCHMARKS.md, measured in one run.

use super::args::{BenchArgs, Selection};
use super::run::select;
use std::process::ExitCode;
use std::time::Duration;
use wirecheck::bench::{self, CatalogRound, FuzzRun};
use wirecheck::world::Pace;

pub(super) fn cmd_bench(a: &BenchArgs) -> ExitCode {
    let sel = Selection {
        include: a.include.clone(),
        exclude: a.exclude.clone(),
        ..Selection::default()
    };
    let selected = match select(&a.paths, &sel) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if !selected.invalid.is_empty() {
        for i in &selected.invalid {
            eprintln!("{}", i.error);
        }
        eprintln!(
            "error: {} scenario file(s) did not load; the figures would not be of the whole catalog\nhint: fix them, or leave them out with --exclude",
            selected.invalid.len()
        );
        return ExitCode::from(2);
    }
    let scenarios: Vec<_> = selected.scenarios.into_iter().map(|(_, s)| s).collect();
    let rounds = bench::catalog(&scenarios, &[Pace::EveryTick, Pace::SkipIdle], a.rounds);
    let seed = a.seed.unwrap_or(20261122);
    let fuzz: Vec<FuzzRun> = if a.fuzz_cases == 0 {
        Vec::new()
    } else {
        [Pace::EveryTick, Pace::SkipIdle]
            .into_iter()
            .map(|p| bench::fuzz(a.fuzz_cases, seed, p))
            .collect()
    };
    if a.markdown {
        print_markdown(&rounds, &fuzz, a.rounds, seed);
    } else {
        print_plain(&rounds, &fuzz, a.rounds, seed);
    }
    let failed: Vec<&String> = rounds.iter().flat_map(|r| &r.failed).collect();
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: scenarios did not pass while measured, so these figures are not of the normal runs: {}\nhint: `wirecheck run` them first",
            failed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        ExitCode::FAILURE
    }
}

fn pace(p: Pace) -> &'static str {
    match p {
        Pace::SkipIdle => "skip-idle",
        Pace::EveryTick => "every-tick",
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// The gain of the last row over the first (jumping over stepping), if both exist.
fn speedup(rounds: &[CatalogRound]) -> Option<f64> {
    let (first, last) = (rounds.first()?, rounds.last()?);
    Some(first.spent.wall.as_secs_f64() / last.spent.wall.as_secs_f64().max(1e-9))
}

fn print_plain(rounds: &[CatalogRound], fuzz: &[FuzzRun], n: u32, seed: u64) {
    if let Some(r) = rounds.first() {
        println!(
            "catalog: {} scenarios, {} simulated each round; serial, one thread; fastest of {n} round(s)",
            r.scenarios,
            secs(r.simulated)
        );
    }
    println!(
        "{:<11}  {:>9}  {:>9}  {:>10}  {:>9}  {:>10}",
        "pace", "steps", "wall", "sim/wall", "cpu", "sim/cpu"
    );
    for r in rounds {
        println!(
            "{:<11}  {:>9}  {:>9}  {:>9.0}x  {:>9}  {:>9.0}x",
            pace(r.pace),
            r.steps,
            secs(r.spent.wall),
            r.ratio(),
            secs(r.spent.cpu),
            r.cpu_ratio()
        );
    }
    if let Some(x) = speedup(rounds) {
        println!("skipping idle time: {x:.1}x less wall time");
    }
    if let Some(f) = fuzz.first() {
        println!("\ngenerator: {} cases from seed {seed}", f.cases);
        println!(
            "{:<11}  {:>9}  {:>9}  {:>10}  {:>10}  {:>6}",
            "pace", "simulated", "wall", "cases/s", "cases/cpu-s", "failed"
        );
        for f in fuzz {
            println!(
                "{:<11}  {:>9}  {:>9}  {:>10.1}  {:>11.1}  {:>6}",
                pace(f.pace),
                secs(f.simulated),
                secs(f.spent.wall),
                f.cases_per_sec(),
                f.cases_per_cpu_sec(),
                f.failed
            );
        }
    }
}

fn print_markdown(rounds: &[CatalogRound], fuzz: &[FuzzRun], n: u32, seed: u64) {
    if let Some(r) = rounds.first() {
        println!(
            "Scripted catalog: {} scenarios, {} simulated per round, run serially on one thread; fastest of {n} round(s) per pace.\n",
            r.scenarios,
            secs(r.simulated)
        );
    }
    println!("| pace | world steps | wall | simulated / wall | CPU | simulated / CPU |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in rounds {
        println!(
            "| `{}` | {} | {} | {:.0}× | {} | {:.0}× |",
            pace(r.pace),
            r.steps,
            secs(r.spent.wall),
            r.ratio(),
            secs(r.spent.cpu),
            r.cpu_ratio()
        );
    }
    if let Some(f) = fuzz.first() {
        println!(
            "\nGenerator (`wirecheck fuzz`): {} cases from seed {seed}, each made, loaded, run and judged by every checker.\n",
            f.cases
        );
        println!("| pace | simulated | wall | cases / s | cases / CPU s | not passed |");
        println!("|---|---:|---:|---:|---:|---:|");
        for f in fuzz {
            println!(
                "| `{}` | {} | {} | {:.1} | {:.1} | {} |",
                pace(f.pace),
                secs(f.simulated),
                secs(f.spent.wall),
                f.cases_per_sec(),
                f.cases_per_cpu_sec(),
                f.failed
            );
        }
    }
}
