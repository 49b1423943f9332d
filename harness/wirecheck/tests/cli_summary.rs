//! `wirecheck rules` and `wirecheck explain` answer even when a corpus file is broken,
//! and name the broken file (they used to exit 2 with no output); `wirecheck bench`
//! measures only a whole catalog.

use std::path::{Path, PathBuf};
#[path = "support/cli.rs"]
mod cli_support;
use cli_support::wirecheck;
use std::process::Command;

/// A scratch working directory whose `scenarios/` holds one good scenario (a frozen copy
/// under fixtures/cli/) and one file that does not load.
fn scratch() -> PathBuf {
    scratch_named("summary")
}

/// [`scratch`] under its own name: tests run in parallel.
fn scratch_named(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wirecheck-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let root = dir.join("scenarios");
    std::fs::create_dir_all(root.join("mux")).unwrap();
    let good = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/cli/scenarios/mux/duplicate-response.yaml");
    std::fs::copy(good, root.join("mux/duplicate-response.yaml")).unwrap();
    std::fs::write(root.join("mux/broken.yaml"), "name: mux/broken\nabout: [\n").unwrap();
    dir
}

#[test]
fn rules_and_explain_answer_and_list_the_files_that_failed() {
    let dir = scratch();
    let (code, out, err) = wirecheck(&dir, &["rules"]);
    assert_eq!(code, 2, "a load error is exit 2\n{out}{err}");
    assert!(
        out.contains("MUX-4"),
        "the coverage table is printed:\n{out}"
    );
    assert!(
        err.contains("1 scenario file(s) failed to load") && err.contains("broken.yaml:"),
        "the broken file is named with its location:\n{err}"
    );

    let (code, out, err) = wirecheck(&dir, &["explain", "MUX-4"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("MUX-4"), "the rule is explained:\n{out}");
    assert!(
        out.contains("mux/duplicate-response"),
        "scenarios that did load are listed:\n{out}"
    );
    assert!(err.contains("broken.yaml:"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A failing `show` prints the diagram once (numbered, for the `[trace #n]` references),
/// and the findings, not the diagram a second time.
#[test]
fn failing_show_prints_the_diagram_once() {
    let good = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/cli/scenarios/mux/duplicate-response.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_wirecheck"))
        .args([
            "show",
            good.to_str().unwrap(),
            "--flaw",
            "duplicate-redelivered",
        ])
        .output()
        .expect("run wirecheck");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let both = format!("{stdout}{stderr}");
    let headers = both
        .lines()
        .filter(|l| l.trim_start().starts_with("time "))
        .count();
    assert_eq!(headers, 1, "one diagram:\n{both}");
    assert!(stderr.contains("rule violated:"), "{stderr}");
    assert!(
        stdout.lines().any(|l| l.starts_with("    0 ")),
        "numbered:\n{stdout}"
    );
}

#[test]
fn bench_measures_both_paces_and_refuses_a_catalog_with_broken_files() {
    let dir = scratch_named("bench");
    // The broken file makes the figures not those of the whole catalog: refused.
    let (code, out, err) = wirecheck(&dir, &["bench", "--rounds", "1", "--fuzz-cases", "0"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("mux/broken.yaml") && err.contains("--exclude"),
        "{err}"
    );
    let (code, out, err) = wirecheck(
        &dir,
        &[
            "bench",
            "--rounds",
            "1",
            "--fuzz-cases",
            "1",
            "--exclude",
            "mux/broken",
            "--markdown",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Scripted catalog: 1 scenarios"), "{out}");
    for row in ["| `every-tick` |", "| `skip-idle` |"] {
        assert_eq!(
            out.matches(row).count(),
            2,
            "a catalog and a generator row: {out}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
