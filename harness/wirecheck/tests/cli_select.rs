//! What the command line does for a newcomer and for CI: the one `name:` rule (whatever
//! the current directory and command), `--include`/`--exclude`/`--list`/`--dry-run`,
//! `--junit`/`--json` report files, `show --format json`, help from clap for every
//! subcommand, completions and the documented exit codes.

use std::path::{Path, PathBuf};
#[path = "support/cli.rs"]
mod cli_support;
use cli_support::wirecheck;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A scratch folder `<tmp>/<tag>/scenarios/` with copies of the frozen CLI fixtures, the
/// good one edited by `edit` (its `name:` line, say).
fn scratch(tag: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("wirecheck-cli-select-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for rel in ["mux/duplicate-response.yaml", "broker/receiver-gone.yaml"] {
        let dest = dir.join("scenarios").join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let text =
            std::fs::read_to_string(repo().join("fixtures/cli/scenarios").join(rel)).unwrap();
        let text = if rel.starts_with("mux") {
            edit(text)
        } else {
            text
        };
        std::fs::write(dest, text).unwrap();
    }
    dir
}

#[test]
fn the_name_rule_does_not_depend_on_the_directory_or_the_command() {
    let dir = scratch("names", |t| t);
    // From inside `scenarios/`, naming only the area (this used to fail with
    // "expected `duplicate-response`"), and from inside the area with `show`.
    let (code, out, err) = wirecheck(&dir.join("scenarios"), &["run", "mux"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("mux/duplicate-response"), "{out}");
    let (code, out, err) = wirecheck(
        &dir.join("scenarios/mux"),
        &["show", "duplicate-response.yaml"],
    );
    assert_eq!(code, 0, "{out}{err}");
    // A tail of the path is accepted; no `name:` at all derives it from the path.
    let dir = scratch("tail", |t| {
        t.replace("name: mux/duplicate-response", "name: duplicate-response")
    });
    let (code, out, err) = wirecheck(&dir, &["run", "scenarios"]);
    assert_eq!(code, 0, "{out}{err}");
    let dir = scratch("none", |t| t.replace("name: mux/duplicate-response\n", ""));
    let (code, out, err) = wirecheck(&dir, &["run", "scenarios/mux/duplicate-response.yaml"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("mux/duplicate-response "),
        "derived name shown:\n{out}"
    );
}

#[test]
fn a_wrong_name_is_the_same_load_error_in_run_and_show_with_the_fix() {
    let dir = scratch("wrong", |t| {
        t.replace("name: mux/duplicate-response", "name: mux/readme-example")
    });
    let (code, out, err) = wirecheck(&dir, &["show", "scenarios/mux/duplicate-response.yaml"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("duplicate-response.yaml:1:7: error: scenario name `mux/readme-example` does not match its file"),
        "{err}"
    );
    assert!(
        err.contains("write `name: mux/duplicate-response`"),
        "{err}"
    );
    assert!(err.contains("delete the `name:` line"), "{err}");
    let (code, out, err) = wirecheck(&dir.join("scenarios"), &["run", "mux"]);
    assert_eq!(code, 2, "a load error is exit 2:\n{out}{err}");
    assert!(out.contains("INVALID"), "{out}");
    assert!(
        err.contains("write `name: mux/duplicate-response`"),
        "{err}"
    );
}

#[test]
fn two_files_with_one_name_are_invalid() {
    let dir = scratch("dup", |t| t);
    let copy = dir.join("scenarios/other/duplicate-response.yaml");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let text = std::fs::read_to_string(dir.join("scenarios/mux/duplicate-response.yaml")).unwrap();
    std::fs::write(
        &copy,
        text.replace("name: mux/duplicate-response", "name: duplicate-response"),
    )
    .unwrap();
    std::fs::write(
        dir.join("scenarios/mux/duplicate-response.yaml"),
        text.replace("name: mux/duplicate-response", "name: duplicate-response"),
    )
    .unwrap();
    let (code, out, err) = wirecheck(&dir, &["run", "scenarios"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("is also the name of"), "{err}");
}

#[test]
fn include_exclude_list_and_dry_run() {
    let root = repo();
    let (code, out, err) = wirecheck(
        &root,
        &[
            "run",
            "scenarios",
            "--list",
            "--include",
            "mux/*",
            "--exclude",
            "*timeout*",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let names: Vec<&str> = out.lines().collect();
    assert!(names.len() > 3, "{out}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("mux/") && !n.contains("timeout")),
        "{out}"
    );
    assert!(names.contains(&"mux/duplicate-response"), "{out}");
    let (code, out, err) = wirecheck(&root, &["run", "scenarios", "--include", "nothing/*"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("matches the selection") && err.contains("--list"),
        "{err}"
    );
    let (code, out, err) = wirecheck(&root, &["run", "scenarios", "--include", "mux/["]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("--include `mux/[` is not a valid glob"),
        "{err}"
    );
    // --dry-run against a target names what would run and why the rest would not.
    let (code, out, err) = wirecheck(
        &root,
        &[
            "run",
            "scenarios",
            "--dry-run",
            "--include",
            "{mux/duplicate-response,broker/receiver-gone}",
            "--target",
            "fixtures/targets/refbroker.yaml",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("broker/receiver-gone  (scenarios/broker/receiver-gone.yaml)"),
        "{out}"
    );
    assert!(out.contains("  refbroker: runs"), "{out}");
    assert!(
        out.contains("  refbroker: N/A"),
        "mux/duplicate-response has no broker host:\n{out}"
    );
    assert!(!out.contains(" OK "), "nothing ran:\n{out}");
}

#[test]
fn junit_and_json_reports_say_what_the_table_says() {
    let dir = scratch("reports", |t| t.replace("ok: pong }", "ok: pang }"));
    let junit = dir.join("out.xml");
    let json = dir.join("out.json");
    let (code, out, err) = wirecheck(
        &dir,
        &[
            "run",
            "scenarios",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let report =
        quick_junit::Report::deserialize_from_str(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert_eq!(report.tests, 2, "{xml}");
    assert_eq!(report.failures, 1, "{xml}");
    let suite = &report.test_suites[0];
    assert_eq!(suite.name.as_str(), "reference");
    let failed = suite
        .test_cases
        .iter()
        .find(|c| c.name.as_str() == "mux/duplicate-response")
        .expect("a testcase per scenario");
    match &failed.status {
        quick_junit::TestCaseStatus::NonSuccess {
            kind,
            message,
            ty,
            description,
            ..
        } => {
            assert_eq!(*kind, quick_junit::NonSuccessKind::Failure);
            assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("FAILED"));
            assert!(
                message.as_ref().unwrap().as_str().starts_with("FAILED"),
                "{xml}"
            );
            let d = description.as_ref().unwrap().as_str();
            assert!(
                d.contains("expected ok \"pang\", got ok \"pong\"") && d.contains("Trace:"),
                "{d}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["summary"]["cases"], 2);
    assert_eq!(v["summary"]["failed"], 1);
    let cell = &v["targets"]["reference"]["mux/duplicate-response"];
    assert_eq!(cell["verdict"], "FAILED");
    assert_eq!(cell["runs"], 1);
    assert!(
        cell["seed"].is_u64() && cell["sim_ms"].is_u64() && cell["wall_ms"].is_u64(),
        "{cell}"
    );
    assert!(
        cell["diagnosis"].as_str().unwrap().contains("pang"),
        "{cell}"
    );
    let ok = &v["targets"]["reference"]["broker/receiver-gone"];
    assert_eq!(ok["verdict"], "OK");
    assert!(
        ok["diagnosis"].is_null() && ok["rules_broken"] == serde_json::json!([]),
        "{ok}"
    );
    // A report that cannot be written is a usage-level error, named.
    let (code, _, err) = wirecheck(
        &dir,
        &["run", "scenarios", "--json", "/nonexistent/dir/x.json"],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot write the JSON report to /nonexistent/dir/x.json"),
        "{err}"
    );
}

#[test]
fn show_format_json_has_the_violations_with_their_trace_events() {
    let (code, out, err) = wirecheck(
        &repo(),
        &[
            "show",
            "fixtures/cli/scenarios/broker/receiver-gone.yaml",
            "--flaw",
            "receiver-loss-silent",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(v["verdict"], "FAILED");
    assert!(
        v["rules_broken"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "BRK-6"),
        "{v}"
    );
    let viol = v["violations"].as_array().unwrap();
    assert!(
        viol.iter()
            .any(|x| x["rule"] == "BRK-6" && x["expected"] == false),
        "{v}"
    );
    assert!(
        v["diagram"].as_str().unwrap().contains("receiver-gone"),
        "{v}"
    );
}

#[test]
fn every_subcommand_has_help_and_the_exit_codes_are_documented() {
    let root = repo();
    for sub in [
        "run",
        "show",
        "rules",
        "explain",
        "zoo",
        "fuzz",
        "bench",
        "completions",
    ] {
        let (code, out, err) = wirecheck(&root, &[sub, "--help"]);
        assert_eq!(code, 0, "{sub}: {err}");
        assert!(
            out.contains(&format!("Usage: wirecheck {sub}")),
            "{sub}:\n{out}"
        );
    }
    let (code, out, _) = wirecheck(&root, &["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Exit codes:") && out.contains("2  usage error"),
        "{out}"
    );
    let (code, _, err) = wirecheck(&root, &[]);
    assert_eq!(code, 2, "no subcommand is a usage error: {err}");
    let (code, _, err) = wirecheck(&root, &["run", "--repeat", "0"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = wirecheck(
        &root,
        &["run", "--pace", "every-tick", "--target", "t.yaml"],
    );
    assert_eq!(code, 2, "--pace has no meaning in real time: {err}");
    assert!(err.contains("--pace") && err.contains("real time"), "{err}");
    let (code, out, _) = wirecheck(&root, &["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("wirecheck") && out.contains("--include"),
        "{}",
        &out[..out.len().min(400)]
    );
}
