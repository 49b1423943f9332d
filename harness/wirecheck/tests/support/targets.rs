//! Helpers shared by the black-box test binaries (`blackbox.rs`: broker targets,
//! `blackbox_client.rs`: client adapters): building the reference binaries, running the
//! catalog against a target with one retry, temporary target files, and checks that a
//! bad target leaves nothing behind.
#![allow(dead_code)] // not every including test uses every helper

use libtest_mimic::Failed;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wirecheck::corpus;
use wirecheck::model::Scenario;
use wirecheck::targets::run::{
    retry_failed, run_against, run_matrix, Grade, TargetOptions, TargetRun,
};
use wirecheck::targets::{self, table, Target};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds a binary of `wirecheck-reference` from this source tree, so the target runs the
/// current code.
pub fn build_reference(bin: &str) -> Result<(), Failed> {
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args(["build", "-q", "-p", "wirecheck-reference", "--bin", bin]);
    // The same profile as this test binary, so `{target_dir}` finds what was just built.
    if targets::target_dir().ends_with("release") {
        cmd.arg("--release");
    }
    let out = cmd
        .current_dir(repo())
        .output()
        .map_err(|e| Failed::from(format!("cannot run cargo: {e}")))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build of {bin} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

/// A target file of the repository (`fixtures/targets/...`).
pub fn fixture_target(rel: &str) -> Result<Arc<Target>, Failed> {
    let t = targets::load_file(&repo().join(rel)).map_err(|e| Failed::from(e.to_string()))?;
    Ok(Arc::new(t))
}

pub fn catalog() -> Result<Vec<Scenario>, Failed> {
    let (ok, failed) = corpus::load_all(&corpus::default_root()).map_err(|e| e.to_string())?;
    if !failed.is_empty() || ok.is_empty() {
        return Err(format!("the corpus does not load: {} errors", failed.len()).into());
    }
    Ok(ok)
}

/// The whole catalog against `t`: every applicable scenario must pass and at least 80 %
/// of the scenarios with a host of its role must be applicable. Real time is not
/// deterministic: a scenario that fails is run once more, alone (`retry_failed`); a
/// verdict that then differs is printed as FLAKY rather than failing CI, one that fails
/// twice fails.
pub fn catalog_passes(t: Arc<Target>, jobs: usize) -> Result<Vec<Vec<TargetRun>>, Failed> {
    let scenarios = catalog()?;
    let started = Instant::now();
    let opts = TargetOptions::default();
    let targets = [t.clone()];
    let mut cells = run_matrix(&scenarios, &targets, &opts, jobs, 1, &|_| {});
    let first: Vec<String> = cells
        .iter()
        .flatten()
        .filter(|r| r.grade.is_bad() || r.grade == Grade::NonStrict)
        .map(TargetRun::explain)
        .collect();
    for f in retry_failed(&scenarios, &targets, &mut cells, &opts) {
        println!("FLAKY: {f} failed once, then passed when run alone");
    }
    let sum = table::summary(&cells);
    println!("{}", table::render(&cells));
    println!("{}", sum.line());
    println!(
        "{} catalog: {:.1}s wall with {jobs} jobs",
        t.name,
        started.elapsed().as_secs_f64()
    );
    for f in &first {
        println!("first failure:\n{f}");
    }
    let bad: Vec<String> = cells
        .iter()
        .flatten()
        .filter(|r| r.grade.is_bad() || r.grade == Grade::NonStrict)
        .map(TargetRun::explain)
        .collect();
    if !bad.is_empty() {
        return Err(format!(
            "{} applicable scenario(s) did not pass:\n{}",
            bad.len(),
            bad.join("\n\n")
        )
        .into());
    }
    if sum.applicable * 100 < sum.with_role * 80 {
        return Err(format!("applicability below 80%: {}", sum.line()).into());
    }
    Ok(cells)
}

/// One broker and one client `app` that registers, then `script` (YAML step lines), then
/// `wait` of real time.
pub fn registering_scenario(name: &str, script: &str, wait: &str) -> Scenario {
    let src = format!(
        "name: {name}\nabout: a client registers\nrules: [AUTH-1]\nhosts:\n  broker: {{ broker: {{}} }}\n  app: {{ client: {{ connect: [broker], heartbeat: off }} }}\nscript:\n  - app.result: {{ id: connect, ok: welcome, within: 10s }}\n{script}  - wait: {wait}\n"
    );
    wirecheck::scenario::load_str(&src, Path::new("blackbox.yaml"))
        .expect("the test scenario loads")
}

/// Writes a target file to a temporary folder and loads it.
pub fn load_target(name: &str, src: &str) -> Arc<Target> {
    let dir = std::env::temp_dir().join(format!("wirecheck-blackbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.yaml"));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(src.as_bytes()))
        .expect("write target");
    Arc::new(targets::load_file(&path).unwrap_or_else(|e| panic!("{e}")))
}

/// Processes whose command line contains `marker`.
pub fn survivors(marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) {
                out.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
    }
    out
}

pub fn marker(what: &str) -> String {
    format!("wirecheck-marker-{what}-{}", std::process::id())
}

/// Runs `scenario` against `t` and checks an ERROR naming target and scenario and
/// containing each of `want`; and that nothing of the target is left running.
pub fn expect_error(
    t: &Arc<Target>,
    s: &Scenario,
    opts: &TargetOptions,
    marker: &str,
    want: &[&str],
) -> Result<(), Failed> {
    let r = run_against(s, t, opts);
    let Grade::Error(e) = &r.grade else {
        return Err(format!("expected ERROR, got {:?}: {}", r.grade, r.explain()).into());
    };
    for w in [t.name.as_str(), s.name.as_str()].iter().chain(want) {
        if !e.contains(w) {
            return Err(format!("the error does not mention `{w}`:\n{e}").into());
        }
    }
    let left = survivors(marker);
    if !left.is_empty() {
        return Err(format!("processes left behind: {left:?}").into());
    }
    for a in &r.addresses {
        if std::net::TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok() {
            return Err(format!("{a} still accepts connections after the run").into());
        }
    }
    Ok(())
}
