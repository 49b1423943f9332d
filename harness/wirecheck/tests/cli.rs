//! The `wirecheck` command line: exit codes and the messages a user meets.
//!
//! Runs use frozen copies of corpus scenarios under `fixtures/cli/scenarios/`, so that
//! the `file:line:col` positions asserted here do not move when the corpus changes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn wirecheck(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wirecheck"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("run wirecheck");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The frozen copy of a scenario, relative to the repository root.
fn fixture(rel: &str) -> String {
    format!("fixtures/cli/scenarios/{rel}")
}

/// A scratch `scenarios/` folder holding the fixture `rel` edited by `edit`.
fn scratch(tag: &str, rel: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let root = std::env::temp_dir()
        .join(format!("wirecheck-cli-{tag}-{}", std::process::id()))
        .join("scenarios");
    let _ = std::fs::remove_dir_all(&root);
    let dest = root.join(rel);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(fixture(rel));
    let text = std::fs::read_to_string(&src)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", src.display()));
    let edited = edit(text.clone());
    assert!(
        tag == "ok" || edited != text,
        "the edit of {tag} changed nothing"
    );
    std::fs::write(dest, edited).unwrap();
    root
}

#[test]
fn run_passes_a_good_scenario_and_prints_the_table() {
    let (code, out) = wirecheck(&["run", &fixture("mux")]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("mux/duplicate-response") && out.contains(" OK "),
        "{out}"
    );
    assert!(out.trim_end().ends_with("1 passed, 0 failed"), "{out}");
}

#[test]
fn run_fails_with_the_step_location_and_what_happened() {
    let root = scratch("fail", "mux/duplicate-response.yaml", |t| {
        t.replace(
            "app.result: { id: r1, ok: pong }",
            "app.result: { id: r1, ok: pang }",
        )
    });
    let (code, out) = wirecheck(&["run", root.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED"), "{out}");
    assert!(
        out.contains("duplicate-response.yaml:18:5: `app.result r1` failed at"),
        "{out}"
    );
    assert!(
        out.contains("expected ok \"pang\", got ok \"pong\""),
        "{out}"
    );
}

#[test]
fn a_malformed_file_is_invalid_with_file_line_col_and_a_hint() {
    let root = scratch("bad", "mux/duplicate-response.yaml", |t| {
        t.replace("server.send: { welcome", "sever.send: { welcome")
    });
    let (code, out) = wirecheck(&["run", root.to_str().unwrap()]);
    assert_eq!(code, 2, "a load error is exit code 2:\n{out}");
    assert!(out.contains("INVALID"), "{out}");
    assert!(
        out.contains("duplicate-response.yaml:12:5: error: unknown host `sever`"),
        "{out}"
    );
    assert!(out.contains("did you mean `server`?"), "{out}");
}

#[test]
fn a_flaw_turns_the_same_scenario_red_naming_the_rule() {
    let (code, out) = wirecheck(&[
        "run",
        &fixture("broker/receiver-gone.yaml"),
        "--flaw",
        "receiver-loss-silent",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BRK-6"), "{out}");
    let (code, out) = wirecheck(&["run", &fixture("broker/receiver-gone.yaml")]);
    assert_eq!(code, 0, "without the flaw it passes:\n{out}");
}

#[test]
fn explain_rules_and_usage_errors() {
    let (code, out) = wirecheck(&["explain", "BRK-6"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("receiver_gone") && out.contains("scenarios/broker/receiver-gone.yaml"),
        "{out}"
    );
    let (code, out) = wirecheck(&["explain", "BRK-99"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no rule `BRK-99`"), "{out}");
    let (code, out) = wirecheck(&["run", "--flaw", "nope"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("unknown flaw `nope`"), "{out}");
    let (code, out) = wirecheck(&["frobnicate"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("unrecognized subcommand 'frobnicate'") && out.contains("Usage:"),
        "{out}"
    );
}
