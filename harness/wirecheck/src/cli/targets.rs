//! `wirecheck run --target FILE`: the scenarios against external targets in real time.

use super::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use wirecheck::scenario;
use wirecheck::targets::run::{run_matrix, Grade, TargetOptions};
use wirecheck::targets::{self, table};

pub(super) fn cmd_run_targets(
    args: &Args,
    files: &[PathBuf],
    name_root: fn(&Path) -> PathBuf,
) -> ExitCode {
    if !args.flaws.is_empty() {
        eprintln!(
            "error: --flaw switches on bugs of the reference; it does not apply to --target runs"
        );
        return ExitCode::from(2);
    }
    let mut targets = Vec::new();
    for t in &args.targets {
        match targets::load_file(t) {
            Ok(t) => targets.push(Arc::new(t)),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut scenarios = Vec::new();
    let mut invalid = Vec::new();
    for f in files {
        match scenario::load_file(f)
            .and_then(|s| scenario::check_name(&s, &name_root(f)).map(|_| s))
        {
            Ok(s) => scenarios.push(s),
            Err(e) => invalid.push(e.to_string()),
        }
    }
    if let Some(hosts) = &args.hosts {
        let known = scenarios
            .iter()
            .any(|s| s.hosts.iter().any(|h| hosts.contains(&h.name)));
        if !known {
            eprintln!(
                "error: --hosts {}: no scenario has such a host",
                hosts.join(",")
            );
            return ExitCode::from(2);
        }
    }
    let opts = TargetOptions {
        hosts: args.hosts.clone(),
        seed: args.seed,
        wall_limit: args.wall_limit,
    };
    let jobs = if args.jobs_set { args.jobs } else { 2 };
    let started = Instant::now();
    let verbose = args.verbose;
    let cells = run_matrix(&scenarios, &targets, &opts, jobs, args.repeat, &|r| {
        if verbose {
            eprintln!(
                "  {} × {}: {} ({:.2}s)",
                r.scenario,
                r.target,
                r.grade.label(),
                r.wall.as_secs_f64()
            );
        }
    });
    if args.markdown {
        print!("{}", table::markdown(&cells));
    } else {
        print!("{}", table::render(&cells));
    }
    let sum = table::summary(&cells);
    println!(
        "\n{} scenarios × {} target(s), {} run(s) each, in {:.1}s wall ({jobs} jobs)",
        scenarios.len(),
        targets.len(),
        args.repeat,
        started.elapsed().as_secs_f64()
    );
    println!("{}", sum.line());
    let bad = sum.bad + invalid.len();
    println!("{} passed, {} failed", cells.len() - sum.bad, bad);
    for e in &invalid {
        eprintln!("\n{e}");
    }
    for runs in &cells {
        if let Some(r) = runs
            .iter()
            .find(|r| r.grade.is_bad() || r.grade == Grade::NonStrict)
        {
            eprintln!("\n{}", r.explain());
        }
    }
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
