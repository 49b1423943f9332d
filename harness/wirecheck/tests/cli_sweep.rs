//! `wirecheck sweep`: seeds and partitions, the summary, and a failing seed shrunk to a
//! regression file that replays (fails under its flaw, passes on the correct reference).

use std::path::{Path, PathBuf};
#[path = "support/cli.rs"]
mod cli_support;
use cli_support::wirecheck;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wirecheck-sweep-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_partition_runs_its_share_of_the_range_on_the_correct_reference() {
    let (code, out, err) = wirecheck(
        &repo(),
        &[
            "sweep",
            "scenarios/chaos/workload-calm.yaml",
            "--seeds",
            "10..20",
            "--partition",
            "2/4",
            "--jobs",
            "2",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    // Seeds 11, 15, 19: every 4th from the 2nd.
    assert!(
        out.contains("seeds 10..20 part 2/4, 3 seeds"),
        "the header names the share:\n{out}"
    );
    assert!(out.contains("ran 3 seeds"), "{out}");
    assert!(out.contains("no failures"), "{out}");
    assert!(
        !err.contains("progress:"),
        "no progress lines under 20 seeds:\n{err}"
    );
}

#[test]
fn bad_seeds_and_partitions_are_usage_errors() {
    for (args, says) in [
        (&["--seeds", "20..10"][..], "names no seed"),
        (&["--partition", "5/4"][..], "is not a partition"),
    ] {
        let mut all = vec!["sweep", "scenarios/chaos/workload-calm.yaml"];
        all.extend_from_slice(args);
        let (code, out, err) = wirecheck(&repo(), &all);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // A scripted scenario has nothing to draw.
    let (code, _, err) = wirecheck(
        &repo(),
        &[
            "sweep",
            "scenarios/mux/duplicate-response.yaml",
            "--seeds",
            "1",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has no `workload:`"), "{err}");
}

#[test]
fn a_failing_seed_is_shrunk_to_a_regression_that_replays() {
    // A folder like the repository's: the file gets its name below `scenarios/` and the
    // editor line pointing at `schemas/`.
    let root = scratch("shrink");
    std::fs::create_dir_all(root.join("schemas")).unwrap();
    std::fs::copy(
        repo().join("schemas/scenario.schema.json"),
        root.join("schemas/scenario.schema.json"),
    )
    .unwrap();
    let dir = root.join("scenarios/regressions");
    let (code, out, err) = wirecheck(
        &repo(),
        &[
            "sweep",
            "scenarios/chaos/nemesis-standard.yaml",
            "--seeds",
            "1",
            "--jobs",
            "1",
            "--flaw",
            "no-unassign",
            "--out",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "a failing seed is exit 1\n{out}{err}");
    assert!(out.contains("BRK-5"), "the rule is named:\n{out}");
    let written: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let file = written
        .iter()
        .find(|p| p.to_string_lossy().contains("brk-5"))
        .unwrap_or_else(|| panic!("a BRK-5 regression is written: {written:?}\n{out}"));
    let text = std::fs::read_to_string(file).unwrap();
    assert!(
        text.starts_with("# yaml-language-server: $schema=../../schemas/scenario.schema.json\n"),
        "the editor line comes first:\n{text}"
    );
    assert!(
        !text.contains("workload:"),
        "the plan is written out:\n{text}"
    );
    assert!(
        text.contains("\nname: regressions/nemesis-standard-brk-5-0\n"),
        "{text}"
    );
    let f = file.to_str().unwrap();
    let (code, out, err) = wirecheck(&repo(), &["run", f, "--flaw", "no-unassign"]);
    assert_eq!(code, 1, "it still fails under the flaw\n{out}{err}");
    assert!(out.contains("BRK-5"), "{out}");
    let (code, out, err) = wirecheck(&repo(), &["run", f]);
    assert_eq!(code, 0, "it passes on the correct reference\n{out}{err}");
    let _ = std::fs::remove_dir_all(&root);
}
