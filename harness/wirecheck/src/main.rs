//! The `wirecheck` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use wirecheck::runner::{clock, run, RunOptions};
use wirecheck::{catalog, corpus, scenario, zoo};
use wirecheck_core::flaws::{Flaw, Flaws};

const USAGE: &str = "\
wirecheck: run WebSocket multiplexer/broker scenarios in a deterministic simulation

usage:
  wirecheck run [PATH]... [--seed N] [--verbose] [--flaw NAME]...
      Run every scenario file under each PATH (files or folders, default `scenarios`)
      and print a summary table. Exit code 1 if any scenario fails, 2 on usage errors.
      --seed N     override every scenario's seed
      --verbose    print each scenario's sequence diagram
      --flaw NAME  switch on a known bug in the reference (see `wirecheck zoo`)
      --target FILE  (repeatable) run each scenario in real time over loopback
                   against the target FILE describes (see docs/targets.md), with
                   every host of its role (broker or client) replaced by the target
      --hosts A,B  with --target: replace only these hosts
      --jobs N     with --target: scenarios run in parallel (default 2)
      --repeat N   with --target: run each N times; differing verdicts are FLAKY
      --wall-limit SECS  with --target: wall-clock limit per scenario
                   (default: its duration + 11s)
      --retry-failed  with --target: run a failed scenario once more, alone; if it
                   then passes it is reported FLAKY instead of failed
  wirecheck show FILE [--seed N] [--flaw NAME]...
      Run one scenario and print its sequence diagram and final counters.
  wirecheck rules [--markdown]
      The coverage table: each rule, its level, how many checkers judge it, how
      many scenarios exercise it and how many show its checker firing.
      --markdown prints the rule table PROTOCOL.md embeds.
  wirecheck explain RULE
      What RULE requires, why, which checkers judge it and which scenarios cover it.
  wirecheck zoo [--flaw NAME]... [--markdown] [--jobs N]
      Run the catalog against the reference and against each known bug (flaw),
      print the kill matrix (flaw x scenarios that caught it, rules named).
      Exit code 1 if a flaw survives or the reference fails a scenario.
      --markdown prints docs/zoo.md.
  wirecheck zoo --target FILE [--flaw NAME]... [--all] [--jobs N] [--markdown]
                [--retry-failed]
      The same for a target's own flaws (`flaws:` in FILE, switched on with
      WIRECHECK_FLAW=NAME): the catalog against the correct target, then each flaw
      over the scenarios it passed, until the first kill (--all: every scenario).
      Exit code 1 if a flaw survives or the correct target fails a scenario.
  wirecheck fuzz [--cases N] [--seed S] [--flaw NAME]... [--out DIR]
      Generate N random scenarios (default 1000) and run each with every checker
      on. A failing case is shrunk and written as a YAML scenario to DIR
      (default scenarios/regressions/), which `cargo test` then replays.
  wirecheck help";

#[path = "cli/targets.rs"]
mod targets;

struct Args {
    paths: Vec<PathBuf>,
    cases: u32,
    out: Option<PathBuf>,
    seed: Option<u64>,
    verbose: bool,
    flaws: Vec<Flaw>,
    markdown: bool,
    jobs: usize,
    jobs_set: bool,
    targets: Vec<PathBuf>,
    hosts: Option<Vec<String>>,
    repeat: usize,
    wall_limit: Option<std::time::Duration>,
    /// `--flaw` names as given: the reference's flaws, or with `--target` the target's.
    flaw_names: Vec<String>,
    /// `zoo --target`: run every passed scenario for each flaw, not only to the first kill.
    all: bool,
    /// With `--target`: run a failed scenario once more alone; a pass then is FLAKY.
    retry_failed: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        paths: Vec::new(),
        cases: 1000,
        out: None,
        seed: None,
        verbose: false,
        flaws: Vec::new(),
        markdown: false,
        jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
        jobs_set: false,
        targets: Vec::new(),
        hosts: None,
        repeat: 1,
        wall_limit: None,
        flaw_names: Vec::new(),
        all: false,
        retry_failed: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seed" => {
                let v = it.next().ok_or("--seed needs a number")?;
                a.seed = Some(
                    v.parse()
                        .map_err(|_| format!("--seed wants a whole number, got `{v}`"))?,
                );
            }
            "--verbose" | "-v" => a.verbose = true,
            "--markdown" => a.markdown = true,
            "--flaw" => {
                let v = it.next().ok_or("--flaw needs a flaw name")?;
                a.flaw_names.push(v.clone());
            }
            "--all" => a.all = true,
            "--retry-failed" => a.retry_failed = true,
            "--cases" => {
                let v = it.next().ok_or("--cases needs a number")?;
                a.cases = v
                    .parse()
                    .map_err(|_| format!("--cases wants a whole number, got `{v}`"))?;
            }
            "--out" => a.out = Some(PathBuf::from(it.next().ok_or("--out needs a folder")?)),
            "--jobs" | "-j" => {
                let v = it.next().ok_or("--jobs needs a number")?;
                a.jobs = v
                    .parse()
                    .map_err(|_| format!("--jobs wants a whole number, got `{v}`"))?;
                a.jobs_set = true;
            }
            "--target" => a.targets.push(PathBuf::from(
                it.next().ok_or("--target needs a target file")?,
            )),
            "--hosts" => {
                let v = it
                    .next()
                    .ok_or("--hosts needs host names, e.g. `--hosts broker,backup`")?;
                a.hosts = Some(
                    v.split(',')
                        .map(|h| h.trim().to_owned())
                        .filter(|h| !h.is_empty())
                        .collect(),
                );
            }
            "--repeat" => {
                let v = it.next().ok_or("--repeat needs a number")?;
                a.repeat =
                    v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        format!("--repeat wants a whole number above 0, got `{v}`")
                    })?;
            }
            "--wall-limit" => {
                let v = it.next().ok_or("--wall-limit needs seconds")?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|n: &f64| *n > 0.0 && n.is_finite())
                    .ok_or_else(|| format!("--wall-limit wants seconds above 0, got `{v}`"))?;
                a.wall_limit = Some(std::time::Duration::from_secs_f64(secs));
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option `{flag}`")),
            path => a.paths.push(PathBuf::from(path)),
        }
    }
    if a.targets.is_empty() {
        for v in &a.flaw_names {
            let f = Flaw::from_name(v).ok_or_else(|| {
                let names: Vec<&str> = Flaw::ALL.iter().map(|f| f.name()).collect();
                format!("unknown flaw `{v}`; flaws are: {}", names.join(", "))
            })?;
            a.flaws.push(f);
        }
    }
    Ok(a)
}

/// The folder scenario names are relative to: the nearest ancestor named `scenarios`.
fn name_root(file: &Path) -> PathBuf {
    file.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "scenarios"))
        .map(Path::to_path_buf)
        .unwrap_or_else(|| file.parent().unwrap_or(Path::new(".")).to_path_buf())
}

fn cmd_run(args: Args) -> ExitCode {
    let roots = if args.paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        args.paths.clone()
    };
    let mut files = Vec::new();
    for root in &roots {
        match corpus::discover(root) {
            Ok(f) => files.extend(f),
            Err(e) => {
                eprintln!(
                    "error: cannot read {}: {e}\nhint: run from the repository root, or pass the scenarios folder",
                    root.display()
                );
                return ExitCode::from(2);
            }
        }
    }
    if files.is_empty() {
        eprintln!("error: no scenario files (*.yaml) under {roots:?}");
        return ExitCode::from(2);
    }
    if !args.targets.is_empty() {
        return targets::cmd_run_targets(&args, &files, name_root);
    }
    let opts = RunOptions {
        seed: args.seed,
        flaws: flaw_set(&args.flaws),
    };
    let started = Instant::now();
    let width = files
        .iter()
        .map(|f| scenario::expected_name(&name_root(f), f).len())
        .max()
        .unwrap_or(8)
        .max(8);
    println!(
        "{:<width$}  {:<10}  {:>9}  {:>9}  rules broken",
        "scenario", "verdict", "sim time", "wall time"
    );
    let mut failed = Vec::new();
    for file in &files {
        let display = scenario::expected_name(&name_root(file), file);
        let loaded = scenario::load_file(file)
            .and_then(|s| scenario::check_name(&s, &name_root(file)).map(|_| s));
        let s = match loaded {
            Ok(s) => s,
            Err(e) => {
                println!(
                    "{display:<width$}  {:<8}  {:>9}  {:>9}",
                    "INVALID", "-", "-"
                );
                failed.push(e.to_string());
                continue;
            }
        };
        let report = run(&s, &opts);
        println!(
            "{:<width$}  {:<10}  {:>9}  {:>7}ms  {}",
            s.name,
            report.verdict(),
            clock(report.sim_time).trim(),
            report.wall_time.as_millis(),
            report.broken_rules().join(" ")
        );
        if args.verbose {
            println!("{}", report.diagram);
        }
        if !report.passed() {
            failed.push(report.explain());
        }
    }
    let total = files.len();
    println!(
        "\n{total} scenarios in {:.2}s wall",
        started.elapsed().as_secs_f64()
    );
    // The plain closing line CI tools read.
    println!("{} passed, {} failed", total - failed.len(), failed.len());
    for f in &failed {
        eprintln!("\n{f}");
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn cmd_show(args: Args) -> ExitCode {
    if !args.targets.is_empty() {
        eprintln!(
            "error: `show` runs the simulation only; it does not take --target\n  hint: `wirecheck run FILE --target TARGET` runs it against the target and prints the trace when it does not pass"
        );
        return ExitCode::from(2);
    }
    let [file] = args.paths.as_slice() else {
        eprintln!("error: `show` takes exactly one scenario file\n\n{USAGE}");
        return ExitCode::from(2);
    };
    let s = match scenario::load_file(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let report = run(
        &s,
        &RunOptions {
            seed: args.seed,
            flaws: flaw_set(&args.flaws),
        },
    );
    if report.passed() {
        println!("{}", report.diagram);
        println!("verdict: OK");
        ExitCode::SUCCESS
    } else {
        // The diagram once, numbered, so `[trace #n]` in the findings can be looked up.
        println!("{}", report.text(true));
        eprintln!("{}", report.findings());
        ExitCode::FAILURE
    }
}

fn cmd_rules(markdown: bool) -> ExitCode {
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

fn cmd_explain(rule: Option<&PathBuf>) -> ExitCode {
    let Some(rule) = rule.and_then(|r| r.to_str()) else {
        eprintln!("error: `explain` takes a rule id, e.g. `wirecheck explain MUX-4`");
        return ExitCode::from(2);
    };
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

fn flaw_set(flaws: &[Flaw]) -> Flaws {
    let mut set = Flaws::none();
    for f in flaws {
        set = set.with(*f);
    }
    set
}

fn cmd_zoo(args: Args) -> ExitCode {
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
    let z = zoo::run_zoo(&corpus, &flaws, args.jobs);
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

fn cmd_fuzz(args: Args) -> ExitCode {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| corpus_root().join("regressions"));
    let seed = args.seed.unwrap_or(20261122);
    let started = Instant::now();
    match wirecheck::gen::search(args.cases, seed, &flaw_set(&args.flaws), &out) {
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
fn corpus_root() -> PathBuf {
    let here = PathBuf::from("scenarios");
    if here.is_dir() {
        here
    } else {
        corpus::default_root()
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        println!("{USAGE}");
        return ExitCode::from(2);
    };
    let parsed = match parse(rest) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match cmd.as_str() {
        "run" => cmd_run(parsed),
        "show" => cmd_show(parsed),
        "rules" => cmd_rules(rest.iter().any(|a| a == "--markdown")),
        "explain" => cmd_explain(parsed.paths.first()),
        "zoo" => cmd_zoo(parsed),
        "fuzz" => cmd_fuzz(parsed),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("error: unknown command `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
