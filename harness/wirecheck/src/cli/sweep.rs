//! `wirecheck sweep FILE --seeds N|A..B [--partition K/N] [--jobs J]`: progress on stderr
//! (`Progress`: a bar on a terminal, plain lines otherwise), then the summary and, per broken rule,
//! the first failing seed shrunk and written as a regression scenario.

use super::args::SweepArgs;
use super::progress::Progress;
use super::summary::corpus_root;
use super::{flaw_set, Args};
use std::process::ExitCode;
use std::time::Instant;
use wirecheck::sweep::{self, regress, seed_list, shrink, Summary};
use wirecheck::{chaos, scenario};

/// Seeds listed per rule in the summary.
const LISTED: usize = 10;

pub(super) fn cmd_sweep(args: &Args, a: &SweepArgs) -> ExitCode {
    let s = match scenario::load_file(&a.file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if s.chaos.is_none() {
        eprintln!(
            "error: {} has no `workload:`: a sweep draws each seed's run from the scenario's workload and nemesis\n  hint: add `workload: {{ broker: <broker host> }}` (README, \"Chaos sweeps\"), or run a scripted scenario with `wirecheck run {} --seed N`",
            a.file.display(),
            a.file.display()
        );
        return ExitCode::from(2);
    }
    let flaws = flaw_set(&args.flaws);
    let seeds = seed_list(a.seeds, a.partition);
    if seeds.is_empty() {
        eprintln!(
            "error: partition {:?} of seeds {} is empty\n  hint: use fewer partitions than seeds",
            a.partition, a.seeds
        );
        return ExitCode::from(2);
    }
    println!(
        "sweep {}: seeds {}{}, {} seeds, {} jobs, flaws: {}",
        s.name,
        a.seeds,
        a.partition
            .map_or(String::new(), |p| format!(" part {}/{}", p.k, p.n)),
        seeds.len(),
        args.jobs,
        if args.flaws.is_empty() {
            "none (the correct reference)".to_string()
        } else {
            args.flaws
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let summary = with_progress(seeds.len() as u64, |each| {
        sweep::sweep(&s, &seeds, args.jobs, &flaws, each)
    });
    print_summary(&summary);
    if summary.failures.is_empty() {
        return ExitCode::SUCCESS;
    }
    if !a.no_shrink {
        let out = a
            .out
            .clone()
            .unwrap_or_else(|| corpus_root().join("regressions"));
        for (rule, seeds) in &summary.failures {
            let seed = seeds[0];
            let plan = chaos::plan(&s, seed).expect("a chaos scenario draws a plan");
            let started = Instant::now();
            match shrink::shrink(&s, plan, &flaws, rule, a.shrink_budget) {
                None => println!(
                    "{rule}: seed {seed} did not fail again alone (nondeterminism?): not shrunk"
                ),
                Some(sh) => {
                    println!(
                        "\n{rule}: seed {seed} shrunk to {} steps in {} runs ({:.1}s):",
                        sh.plan.steps.len(),
                        sh.runs,
                        started.elapsed().as_secs_f64()
                    );
                    print!("{}", sh.report.findings());
                    match regress::write(&s, &sh, rule, &flaws, &out) {
                        Ok(file) => {
                            println!("wrote {}", file.display());
                            if !flaws.is_empty() {
                                let clean = wirecheck::runner::run(
                                    &scenario::load_file(&file)
                                        .expect("a written regression loads"),
                                    &Default::default(),
                                );
                                println!(
                                    "  on the correct reference it {} (a regression must pass there and fail under the flaw)",
                                    clean.verdict()
                                );
                            }
                            println!("  replay: wirecheck show {}", file.display());
                        }
                        Err(e) => eprintln!(
                            "error: cannot write the regression under {}: {e}",
                            out.display()
                        ),
                    }
                }
            }
        }
    }
    ExitCode::FAILURE
}

/// Runs `work`, showing progress on stderr ([`Progress`]: a bar on a terminal, else a
/// line per tenth of the seeds), with the failures so far and the seeds/s.
fn with_progress<T>(
    total: u64,
    work: impl FnOnce(&mut dyn FnMut(&sweep::SeedResult, &Summary)) -> T,
) -> T {
    let progress = Progress::new("seeds", total);
    work(&mut |_, sum| {
        progress.inc_noting(&format!(
            "{} failed, {:.1} seeds/s",
            sum.failed.len(),
            sum.seeds_per_sec()
        ))
    })
}

fn print_summary(s: &Summary) {
    println!(
        "ran {} seeds in {:.2}s: {:.1} seeds/s; {:.0}s simulated ({:.0}x real time), {} world steps a seed",
        s.run,
        s.wall.as_secs_f64(),
        s.seeds_per_sec(),
        s.sim.as_secs_f64(),
        s.sim.as_secs_f64() / s.wall.as_secs_f64().max(1e-9),
        s.steps / s.run.max(1)
    );
    if s.failures.is_empty() {
        println!("no failures");
        return;
    }
    println!("{} seeds failed; by rule:", s.failed.len());
    for (rule, seeds) in &s.failures {
        let mut list: Vec<String> = seeds.iter().take(LISTED).map(u64::to_string).collect();
        if seeds.len() > LISTED {
            list.push(format!("… ({} more)", seeds.len() - LISTED));
        }
        let what = if rule == sweep::STEP {
            "a step failed"
        } else {
            rule.as_str()
        };
        println!("  {what:<14} {:>6} seeds: {}", seeds.len(), list.join(", "));
    }
}
