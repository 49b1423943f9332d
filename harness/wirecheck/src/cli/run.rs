//! `wirecheck run` (selection, listing, the simulation table, report files) and
//! `wirecheck show`.

use super::args::{RunArgs, ShowFormat};
use super::progress::Progress;
use super::{flaw_set, targets, usage_error, Args};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use wirecheck::model::Scenario;
use wirecheck::reports::{self, Case, CaseVerdict, REFERENCE};
use wirecheck::runner::{clock, run, Report, RunOptions};
use wirecheck::select::Selection;
use wirecheck::{corpus, scenario};

/// One case of a run and, when it ran, the report its HTML page draws.
pub(super) struct Ran {
    pub case: Case,
    pub report: Option<Report>,
}

impl Ran {
    pub fn new(case: Case, report: Option<Report>) -> Ran {
        Ran { case, report }
    }
}

/// A selected file that did not load: its derived name, the file, the error.
pub(super) struct Invalid {
    pub name: String,
    pub file: PathBuf,
    pub error: String,
}

/// The selected scenarios (in path order) and the selected files that did not load.
pub(super) struct Selected {
    pub scenarios: Vec<(PathBuf, Scenario)>,
    pub invalid: Vec<Invalid>,
}

impl Selected {
    pub fn file_of(&self) -> BTreeMap<&str, &Path> {
        self.scenarios
            .iter()
            .map(|(f, s)| (s.name.as_str(), f.as_path()))
            .collect()
    }
}

/// Discovers, loads and selects. `Err` is the exit code of a usage or read error (printed).
pub(super) fn select(
    paths: &[PathBuf],
    sel: &super::args::Selection,
) -> Result<Selected, ExitCode> {
    let selection = Selection::new(&sel.include, &sel.exclude).map_err(|e| usage_error(&e))?;
    let mut files = Vec::new();
    for root in paths {
        match corpus::discover(root) {
            Ok(f) => files.extend(f),
            Err(e) => {
                eprintln!(
                    "error: cannot read {}: {e}\nhint: run from the repository root, or pass the scenarios folder",
                    root.display()
                );
                return Err(ExitCode::from(2));
            }
        }
    }
    if files.is_empty() {
        eprintln!("error: no scenario files (*.yaml) under {}", shown(paths));
        return Err(ExitCode::from(2));
    }
    let total = files.len();
    let mut out = Selected {
        scenarios: Vec::new(),
        invalid: Vec::new(),
    };
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in files {
        match scenario::load_file(&file) {
            Ok(s) if selection.matches(&s.name) => match seen.get(&s.name) {
                Some(first) => out.invalid.push(Invalid {
                    name: s.name.clone(),
                    error: format!(
                        "{}: error: scenario name `{}` is also the name of {}\n  hint: names identify scenarios in tables and report files: give one of them another `name:` (or delete both `name:` lines: names are then derived from the paths)",
                        s.name_loc,
                        s.name,
                        first.display()
                    ),
                    file,
                }),
                None => {
                    seen.insert(s.name.clone(), file.clone());
                    out.scenarios.push((file, s));
                }
            },
            Ok(_) => {}
            Err(e) => {
                let name = scenario::derived_name(&file);
                if selection.matches(&name) {
                    out.invalid.push(Invalid {
                        name,
                        file,
                        error: e.to_string(),
                    });
                }
            }
        }
    }
    if out.scenarios.is_empty() && out.invalid.is_empty() {
        eprintln!(
            "error: none of the {total} scenario files under {} matches the selection (--include {:?}, --exclude {:?})\nhint: `wirecheck run {} --list` lists every name; globs match whole names (`mux/*`, `*timeout*`)",
            shown(paths),
            sel.include,
            sel.exclude,
            shown(paths)
        );
        return Err(ExitCode::from(2));
    }
    Ok(out)
}

fn shown(paths: &[PathBuf]) -> String {
    let v: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    v.join(" ")
}

pub(super) fn cmd_run(args: Args, a: &RunArgs) -> ExitCode {
    let selected = match select(&args.paths, &a.select) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if a.select.list || a.select.dry_run {
        return list(&args, &selected, a.select.dry_run);
    }
    let (code, ran) = if args.targets.is_empty() {
        simulate(&args, &selected)
    } else {
        targets::cmd_run_targets(&args, &selected)
    };
    if let Err(e) = write_reports(&ran, a) {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    code
}

/// `--list` (names) and `--dry-run` (names, files, and per target whether it applies).
fn list(args: &Args, selected: &Selected, dry_run: bool) -> ExitCode {
    let mut targets = Vec::new();
    for t in &args.targets {
        match wirecheck::targets::load_file(t) {
            Ok(t) => targets.push(t),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    let opts = targets::run_options(args).0;
    for (file, s) in &selected.scenarios {
        if !dry_run {
            println!("{}", s.name);
            continue;
        }
        println!("{}  ({})", s.name, file.display());
        if targets.is_empty() {
            println!(
                "  {REFERENCE}: runs in simulation (seed {})",
                args.seed.unwrap_or(s.seed)
            );
        }
        for t in &targets {
            match wirecheck::targets::run::plan(s, t, &opts) {
                None => println!("  {}: runs", t.name),
                Some(g) => {
                    let why = match &g {
                        wirecheck::targets::run::Grade::Unimplemented(w) => format!(" ({w})"),
                        _ => " (no host of the target's role, or another protocol)".to_string(),
                    };
                    println!("  {}: {}{why}", t.name, g.label());
                }
            }
        }
    }
    for i in &selected.invalid {
        println!("{}  INVALID ({})", i.name, i.file.display());
        eprintln!("\n{}", i.error);
    }
    if selected.invalid.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn simulate(args: &Args, selected: &Selected) -> (ExitCode, Vec<Ran>) {
    let opts = RunOptions {
        seed: args.seed,
        flaws: flaw_set(&args.flaws),
        pace: args.pace,
    };
    let started = Instant::now();
    let width = selected
        .scenarios
        .iter()
        .map(|(_, s)| s.name.len())
        .chain(selected.invalid.iter().map(|i| i.name.len()))
        .max()
        .unwrap_or(8)
        .max(8);
    println!(
        "{:<width$}  {:<10}  {:>9}  {:>9}  rules broken",
        "scenario", "verdict", "sim time", "wall time"
    );
    let mut cases = Vec::new();
    let mut failed = Vec::new();
    let progress = Progress::new("scenarios", selected.scenarios.len() as u64);
    for (file, s) in &selected.scenarios {
        progress.set_message(s.name.clone());
        let report = run(s, &opts);
        tracing::debug!(
            scenario = %s.name,
            seed = report.seed,
            verdict = report.verdict(),
            sim_ms = report.sim_time.as_millis() as u64,
            wall_ms = report.wall_time.as_millis() as u64,
            events = report.events.len(),
            "ran in simulation"
        );
        progress.println(&format!(
            "{:<width$}  {:<10}  {:>9}  {:>7}ms  {}",
            s.name,
            report.verdict(),
            clock(report.sim_time).trim(),
            report.wall_time.as_millis(),
            report.broken_rules().join(" ")
        ));
        if args.verbose {
            progress.println(&report.diagram);
        }
        progress.inc(&s.name);
        if !report.passed() {
            failed.push(report.explain());
        }
        cases.push(Ran::new(
            Case::simulated(file.clone(), &report),
            Some(report),
        ));
    }
    drop(progress);
    for i in &selected.invalid {
        println!(
            "{:<width$}  {:<10}  {:>9}  {:>9}",
            i.name, "INVALID", "-", "-"
        );
        failed.push(i.error.clone());
        cases.push(Ran::new(
            Case::invalid(REFERENCE, i.name.clone(), i.file.clone(), i.error.clone()),
            None,
        ));
    }
    let total = cases.len();
    println!(
        "\n{total} scenarios in {:.2}s wall",
        started.elapsed().as_secs_f64()
    );
    // The plain closing line CI tools read.
    let bad = cases.iter().filter(|c| sim_bad(c.case.verdict)).count();
    println!("{} passed, {bad} failed", total - bad);
    for f in &failed {
        eprintln!("\n{f}");
    }
    (exit_code(&cases, sim_bad), cases)
}

/// In simulation NON-STRICT fails the run too: the reference is expected to keep every
/// SHOULD rule a scenario does not declare broken.
fn sim_bad(v: CaseVerdict) -> bool {
    v.is_bad() || v == CaseVerdict::NonStrict
}

/// 2 when a file did not load (a load error, even though the others ran), else 1 when a
/// case is `bad`, else 0.
pub(super) fn exit_code(cases: &[Ran], bad: fn(CaseVerdict) -> bool) -> ExitCode {
    if cases.iter().any(|c| c.case.verdict == CaseVerdict::Invalid) {
        ExitCode::from(2)
    } else if cases.iter().any(|c| bad(c.case.verdict)) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn write_reports(ran: &[Ran], a: &RunArgs) -> Result<(), String> {
    let write = |path: &Path, text: String, what: &str| {
        std::fs::write(path, text).map_err(|e| {
            format!(
                "error: cannot write the {what} report to {}: {e}\nhint: check that its folder exists and is writable",
                path.display()
            )
        })
    };
    let cases: Vec<Case> = ran.iter().map(|r| r.case.clone()).collect();
    if let Some(p) = &a.junit {
        write(p, reports::junit::render(&cases), "JUnit")?;
    }
    if let Some(p) = &a.json {
        write(p, reports::json::render(&cases), "JSON")?;
    }
    if let Some(dir) = &a.html {
        write_html(dir, ran)?;
        eprintln!("HTML report: {}", dir.join("index.html").display());
    }
    Ok(())
}

/// The HTML report into `dir`: pages for every case, with the scenario files' text.
fn write_html(dir: &Path, ran: &[Ran]) -> Result<(), String> {
    let mut sources: BTreeMap<&Path, Option<String>> = BTreeMap::new();
    for r in ran {
        let file = r.case.file.as_path();
        sources
            .entry(file)
            .or_insert_with(|| std::fs::read_to_string(file).ok());
    }
    let entries: Vec<reports::html::Entry> = ran
        .iter()
        .map(|r| reports::html::Entry {
            case: &r.case,
            report: r.report.as_ref(),
            source: sources
                .get(r.case.file.as_path())
                .and_then(|s| s.as_deref()),
        })
        .collect();
    for f in reports::html::render(&entries) {
        let path = dir.join(&f.path);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, f.text));
        written.map_err(|e| {
            format!(
                "error: cannot write the HTML report to {}: {e}\nhint: --html takes a folder; check that it can be created and written",
                path.display()
            )
        })?;
    }
    Ok(())
}

pub(super) fn cmd_show(args: Args, file: &Path, format: ShowFormat) -> ExitCode {
    if !args.targets.is_empty() {
        eprintln!(
            "error: `show` runs the simulation only; it does not take --target\n  hint: `wirecheck run FILE --target TARGET` runs it against the target and prints the trace when it does not pass"
        );
        return ExitCode::from(2);
    }
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
            pace: args.pace,
        },
    );
    if format == ShowFormat::Json {
        println!("{}", wirecheck::reports::json::report(&report));
    } else if format == ShowFormat::Mermaid {
        print!("{}", wirecheck::reports::mermaid::report(&report));
    } else if report.passed() {
        println!("{}", report.diagram);
        println!("verdict: OK");
    } else {
        // The diagram once, numbered, so `[trace #n]` in the findings can be looked up.
        println!("{}", report.text(true));
        eprintln!("{}", report.findings());
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
