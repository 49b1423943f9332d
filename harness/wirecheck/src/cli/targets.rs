//! `wirecheck run --target FILE`: the scenarios against external targets in real time.

use super::progress::Progress;
use super::run::{Ran, Selected};
use super::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use wirecheck::model::Scenario;
use wirecheck::reports::{shown_run, Case, CaseVerdict};
use wirecheck::targets::run::{retry_failed, run_matrix, Grade, TargetOptions};
use wirecheck::targets::{self, flaws, table};

/// The target options and job count the flags ask for (2 jobs unless `--jobs`).
pub(super) fn run_options(args: &Args) -> (TargetOptions, usize) {
    let opts = TargetOptions {
        hosts: args.hosts.clone(),
        seed: args.seed,
        wall_limit: args.wall_limit,
    };
    (opts, if args.jobs_set { args.jobs } else { 2 })
}

pub(super) fn cmd_run_targets(args: &Args, selected: &Selected) -> (ExitCode, Vec<Ran>) {
    let fail = |code: u8| (ExitCode::from(code), Vec::new());
    if !args.flaws.is_empty() {
        eprintln!(
            "error: --flaw switches on bugs of the reference; it does not apply to --target runs"
        );
        return fail(2);
    }
    let mut targets = Vec::new();
    for t in &args.targets {
        match targets::load_file(t) {
            Ok(t) => targets.push(Arc::new(t)),
            Err(e) => {
                eprintln!("{e}");
                return fail(2);
            }
        }
    }
    let scenarios: Vec<Scenario> = selected.scenarios.iter().map(|(_, s)| s.clone()).collect();
    let invalid: Vec<&str> = selected.invalid.iter().map(|i| i.error.as_str()).collect();
    if let Some(hosts) = &args.hosts {
        let known = scenarios
            .iter()
            .any(|s| s.hosts.iter().any(|h| hosts.contains(&h.name)));
        if !known {
            eprintln!(
                "error: --hosts {}: no scenario has such a host",
                hosts.join(",")
            );
            return fail(2);
        }
    }
    let (opts, jobs) = run_options(args);
    let started = Instant::now();
    let verbose = args.verbose;
    let runs = scenarios.len() * targets.len() * args.repeat.max(1);
    let progress = Progress::new("runs", runs as u64);
    let mut cells = run_matrix(&scenarios, &targets, &opts, jobs, args.repeat, &|r| {
        let line = format!(
            "{} × {}: {} ({:.2}s)",
            r.scenario,
            r.target,
            r.grade.label(),
            r.wall.as_secs_f64()
        );
        tracing::debug!(scenario = %r.scenario, target = %r.target, grade = r.grade.label(), wall_ms = r.wall.as_millis() as u64, "target run");
        if verbose {
            progress.eprintln(&format!("  {line}"));
        }
        progress.inc(&line);
    });
    drop(progress);
    let flaky = if args.retry_failed {
        retry_failed(&scenarios, &targets, &mut cells, &opts)
    } else {
        Vec::new()
    };
    if args.markdown {
        print!("{}", table::markdown(&cells));
    } else {
        print!("{}", table::render(&cells));
    }
    for f in &flaky {
        println!("FLAKY: {f} failed, then passed when run again alone");
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
    let files = selected.file_of();
    let mut cases: Vec<Ran> = cells
        .iter()
        .filter_map(|runs| {
            let file = runs
                .first()
                .and_then(|r| files.get(r.scenario.as_str()))
                .map_or_else(PathBuf::new, |f| f.to_path_buf());
            let report = shown_run(runs).and_then(|r| r.report.clone());
            Some(Ran::new(Case::from_target(file, runs)?, report))
        })
        .collect();
    for t in &targets {
        for i in &selected.invalid {
            let case = Case::invalid(&t.name, i.name.clone(), i.file.clone(), i.error.clone());
            cases.push(Ran::new(case, None));
        }
    }
    (super::run::exit_code(&cases, CaseVerdict::is_bad), cases)
}

/// `wirecheck zoo --target FILE`: the kill matrix of the target's own flaws.
pub(super) fn cmd_zoo_targets(args: &Args, root: &Path) -> ExitCode {
    let scenarios = match wirecheck::catalog::load_corpus(root) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (opts, jobs) = run_options(args);
    let mut bad = false;
    for file in &args.targets {
        let mut target = match targets::load_file(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        if !args.flaw_names.is_empty() {
            if let Some(unknown) = args
                .flaw_names
                .iter()
                .find(|n| !target.flaws.contains_key(*n))
            {
                let known: Vec<&String> = target.flaws.keys().collect();
                eprintln!(
                    "error: target {} has no flaw `{unknown}`; its flaws are: {}",
                    target.name,
                    known
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return ExitCode::from(2);
            }
            target.flaws.retain(|n, _| args.flaw_names.contains(n));
        }
        if target.flaws.is_empty() {
            eprintln!(
                "error: {} lists no `flaws:`; see docs/targets.md, \"Flaws\"",
                file.display()
            );
            return ExitCode::from(2);
        }
        let target = Arc::new(target);
        let started = Instant::now();
        let progress = Progress::new("runs of the correct target", scenarios.len() as u64);
        let mut baseline = run_matrix(
            &scenarios,
            std::slice::from_ref(&target),
            &opts,
            jobs,
            1,
            &|r| progress.inc(&format!("{}: {}", r.scenario, r.grade.label())),
        );
        drop(progress);
        if args.retry_failed {
            for f in retry_failed(
                &scenarios,
                std::slice::from_ref(&target),
                &mut baseline,
                &opts,
            ) {
                println!("FLAKY: {f} failed, then passed when run again alone");
            }
        }
        let sum = table::summary(&baseline);
        let progress = Progress::new("runs with a flaw", 0);
        let rows = flaws::flaw_matrix(
            &scenarios,
            &baseline,
            &target,
            &opts,
            jobs,
            !args.all,
            &|r| {
                progress.inc(&format!(
                    "{} × {}: {}",
                    r.scenario,
                    r.target,
                    r.grade.label()
                ))
            },
        );
        drop(progress);
        if args.markdown {
            print!("{}", flaws::markdown(&target, &rows));
        } else {
            println!("correct target {}: {}", target.name, sum.line());
            print!("{}", flaws::render(&target, &rows));
            println!(
                "({:.1}s wall, {jobs} jobs)",
                started.elapsed().as_secs_f64()
            );
        }
        if sum.bad > 0 {
            bad = true;
            for runs in &baseline {
                if let Some(r) = runs.iter().find(|r| r.grade.is_bad()) {
                    eprintln!("\n{}", r.explain());
                }
            }
        }
        bad |= rows.iter().any(|r| !r.killed());
    }
    if bad {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
