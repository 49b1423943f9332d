//! `wirecheck rules`, `explain`, `zoo` and `fuzz`: commands over the whole corpus.

use super::progress::Progress;
use super::{flaw_set, targets, Args};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use wirecheck::gen::SearchStep;
use wirecheck::{catalog, corpus, scenario, zoo};
use wirecheck_core::flaws::Flaw;

pub(super) fn cmd_rules(markdown: bool) -> ExitCode {
    if markdown {
        print!("{}", wirecheck::docs::rules_markdown());
        return ExitCode::SUCCESS;
    }
    let Some((corpus, failed)) = load_for_summary() else {
        return ExitCode::from(2);
    };
    print!("{}", catalog::coverage_table(&catalog::catalog(&corpus)));
    summary_exit(&failed)
}

/// The corpus for `rules` and `explain`: what loads, and the files that did not (listed on
/// stderr). `None` when the folder itself cannot be read.
fn load_for_summary() -> Option<(Vec<wirecheck::model::Scenario>, Vec<scenario::LoadError>)> {
    let root = corpus_root();
    match corpus::load_all(&root) {
        Ok(loaded) => Some(loaded),
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", root.display());
            None
        }
    }
}

/// Lists the files that failed to load (left out of the answer above) and picks the exit
/// code: 0 when everything loaded, 2 (a load error) otherwise.
fn summary_exit(failed: &[scenario::LoadError]) -> ExitCode {
    if failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "\nerror: {} scenario file(s) failed to load and are left out of the answer above:",
        failed.len()
    );
    for e in failed {
        eprintln!("{e}\n");
    }
    eprintln!("hint: fix them (`wirecheck show FILE` shows one error at a time), then ask again");
    ExitCode::from(2)
}

pub(super) fn cmd_explain(rule: &str) -> ExitCode {
    let Some((corpus, failed)) = load_for_summary() else {
        return ExitCode::from(2);
    };
    match catalog::explain(&catalog::catalog(&corpus), rule) {
        Some(text) => {
            print!("{text}");
            summary_exit(&failed)
        }
        None => {
            let ids: Vec<&str> = wirecheck_core::rules::RULES.iter().map(|r| r.id).collect();
            eprintln!(
                "error: no rule `{rule}`
hint: rules are {}",
                ids.join(", ")
            );
            ExitCode::from(2)
        }
    }
}

pub(super) fn cmd_zoo(args: Args) -> ExitCode {
    if !args.targets.is_empty() {
        return targets::cmd_zoo_targets(&args, &corpus_root());
    }
    let corpus = match catalog::load_corpus(&corpus_root()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let flaws: Vec<Flaw> = if args.flaws.is_empty() {
        Flaw::ALL.to_vec()
    } else {
        args.flaws.clone()
    };
    let started = Instant::now();
    let progress = Progress::new("zoo runs", zoo::zoo_runs(&corpus, &flaws) as u64);
    let z = zoo::run_zoo_with(&corpus, &flaws, args.jobs, &|r| {
        let flaw = r.flaw.map_or("reference", |f| f.name());
        progress.inc(&format!(
            "{} × {flaw}: {}",
            r.report.name,
            r.report.verdict()
        ));
    });
    drop(progress);
    if args.markdown {
        print!("{}", zoo::render_markdown(&z));
    } else {
        print!("{}", zoo::render_text(&z));
        println!(
            "({:.1}s wall, {} jobs)",
            started.elapsed().as_secs_f64(),
            args.jobs
        );
    }
    if z.survivors().is_empty() && z.reference_failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

pub(super) fn cmd_fuzz(
    args: &Args,
    cases: u32,
    seed: Option<u64>,
    out: Option<PathBuf>,
) -> ExitCode {
    let out = out.unwrap_or_else(|| corpus_root().join("regressions"));
    let seed = seed.unwrap_or(20261122);
    let started = Instant::now();
    let opts = wirecheck::runner::RunOptions {
        flaws: flaw_set(&args.flaws),
        ..Default::default()
    };
    let progress = Progress::new("generated scenarios", u64::from(cases));
    let shrinks = std::cell::Cell::new(0u32);
    let found = wirecheck::gen::search_with(cases, seed, &opts, &out, &|step| match step {
        SearchStep::Case => progress.inc(""),
        SearchStep::Shrink => {
            shrinks.set(shrinks.get() + 1);
            progress.set_message(format!("shrinking a failing case: {} runs", shrinks.get()));
        }
    });
    drop(progress);
    match found {
        Ok(n) => {
            println!(
                "{n} generated scenarios, all OK with every checker on ({:.1}s wall, seed {seed})",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(found) => {
            eprintln!("{}", found.reason);
            eprintln!(
                "\na generated scenario failed; shrunk and written to {}\nhint: it is an ordinary scenario now: `wirecheck show {}`; `cargo test` replays it until the bug is fixed",
                found.file.display(),
                found.file.display()
            );
            ExitCode::FAILURE
        }
    }
}

/// `scenarios/` in the current directory, else the workspace's.
pub(super) fn corpus_root() -> PathBuf {
    let here = PathBuf::from("scenarios");
    if here.is_dir() {
        here
    } else {
        corpus::default_root()
    }
}
