//! Every `scenarios/**/*.yaml` as its own test, named by its path below `scenarios/`
//! (`cargo test -- broker/` filters). Each scenario test loads, runs, checks the verdict and
//! compares the trace diagram with its insta snapshot under `snapshots/`. A second trial per
//! scenario, `determinism::<name>`, runs it twice, once jumping over idle time (as every
//! run does) and once stepping every tick, and requires byte-identical traces: the runs
//! are deterministic, and the jumps change no event's time or order.

use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use wirecheck::runner::{run, RunOptions};
use wirecheck::world::Pace;
use wirecheck::{corpus, scenario};

fn root() -> PathBuf {
    corpus::default_root()
}

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../snapshots")
}

fn load(path: &Path) -> Result<wirecheck::model::Scenario, Failed> {
    let s = scenario::load_file(path).map_err(|e| Failed::from(e.to_string()))?;
    scenario::check_name(&s, &root()).map_err(|e| Failed::from(e.to_string()))?;
    Ok(s)
}

fn scenario_trial(path: PathBuf) -> Result<(), Failed> {
    let s = load(&path)?;
    let report = run(&s, &RunOptions::default());
    if !report.passed() {
        return Err(report.explain().into());
    }
    let snap_name = s.name.replace('/', "__");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(snapshot_dir());
    settings.set_prepend_module_to_snapshot(false);
    settings.set_input_file(&path);
    settings.set_omit_expression(true);
    settings.set_description(s.about.trim());
    let diagram = report.diagram.clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(snap_name.as_str(), diagram));
    }));
    outcome.map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Failed::from(format!(
            "the trace of {} differs from snapshots/{snap_name}.snap: {msg}\n\
             hint: review with `cargo insta review` (or accept with INSTA_UPDATE=always cargo test) if the change is intended",
            s.name
        ))
    })
}

fn determinism_trial(path: PathBuf) -> Result<(), Failed> {
    let s = load(&path)?;
    let a = run(&s, &RunOptions::default());
    let b = run(
        &s,
        &RunOptions {
            pace: Pace::EveryTick,
            ..RunOptions::default()
        },
    );
    let hint = "hint: either the run is not deterministic, or a host timer was not announced to the world (host software takes its timers from wirecheck_reference::time)";
    if a.diagram != b.diagram {
        let line = a
            .diagram
            .lines()
            .zip(b.diagram.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        return Err(format!(
            "two runs of {} with seed {} differ (first difference at diagram line {}):\n  skipping idle time: {}\n  every tick:         {}\n{hint}",
            s.name,
            a.seed,
            line + 1,
            a.diagram.lines().nth(line).unwrap_or(""),
            b.diagram.lines().nth(line).unwrap_or("")
        )
        .into());
    }
    if a.events != b.events {
        let n = a
            .events
            .iter()
            .zip(&b.events)
            .position(|(x, y)| x != y)
            .unwrap_or(a.events.len().min(b.events.len()));
        return Err(format!(
            "two runs of {} with seed {} draw the same diagram but differ at trace event #{n}:\n  skipping idle time: {:?}\n  every tick:         {:?}\n{hint}",
            s.name,
            a.seed,
            a.events.get(n),
            b.events.get(n)
        )
        .into());
    }
    Ok(())
}

/// Every `.snap` under `snapshots/` belongs to a scenario (a renamed or deleted scenario
/// must take its snapshot along).
fn stale_snapshots(names: &[String]) -> Result<(), Failed> {
    let dir = snapshot_dir();
    let mut stale = Vec::new();
    for entry in
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?
    {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        if let Some(stem) = file.strip_suffix(".snap") {
            if !names.iter().any(|n| n.replace('/', "__") == stem) {
                stale.push(file.to_owned());
            }
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "snapshots without a scenario: {}\nhint: delete them (their scenario was renamed or removed)",
            stale.join(", ")
        )
        .into())
    }
}

fn main() {
    let args = Arguments::from_args();
    let root = root();
    let files = corpus::discover(&root).unwrap_or_default();
    let mut trials = Vec::new();
    if files.is_empty() {
        trials.push(Trial::test("corpus_is_not_empty", move || {
            Err(format!("no scenario files under {}", root.display()).into())
        }));
    }
    let names: Vec<String> = files
        .iter()
        .map(|f| scenario::expected_name(&corpus::default_root(), f))
        .collect();
    trials.push(Trial::test("snapshots_have_scenarios", move || {
        stale_snapshots(&names)
    }));
    for path in files {
        let name = scenario::expected_name(&corpus::default_root(), &path);
        let p = path.clone();
        trials.push(Trial::test(name.clone(), move || scenario_trial(p)));
        trials.push(Trial::test(format!("determinism::{name}"), move || {
            determinism_trial(path)
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}
