//! What long commands print besides their results, without a terminal (as in CI and in
//! these tests): plain progress lines on stderr, one per tenth of the work and none for
//! small runs; diagnostics through `tracing` only when `RUST_LOG` asks, on stderr; stdout
//! (the results) unchanged either way. (The bar itself needs a terminal: `progress.rs`
//! is tried by hand under tmux.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wirecheck(args: &[&str], rust_log: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirecheck"));
    cmd.args(args).current_dir(repo()).env_remove("RUST_LOG");
    if let Some(v) = rust_log {
        cmd.env("RUST_LOG", v);
    }
    let out = cmd.output().expect("run wirecheck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_a_terminal_progress_is_ten_plain_lines_on_stderr() {
    let (code, out, err) = wirecheck(&["run", "scenarios", "--include", "jsonrpc/*"], None);
    assert_eq!(code, 0, "{out}{err}");
    let total: usize = out
        .lines()
        .last()
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the closing `N passed, 0 failed` line");
    assert!(total >= 20, "the JSON-RPC corpus has {total} scenarios");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert_eq!(lines.len(), 10, "{err}");
    assert!(
        lines[9].starts_with(&format!("progress: {total}/{total} scenarios (100%, ")),
        "{err}"
    );
    assert_eq!(
        lines.len(),
        err.lines().count(),
        "nothing else on stderr:\n{err}"
    );
    assert!(!out.contains("progress"), "results only on stdout:\n{out}");

    // A small run prints no progress at all.
    let (code, out, err) = wirecheck(&["run", "fixtures/cli/scenarios"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err, "", "{err}");
}

#[test]
fn rust_log_turns_on_diagnostics_on_stderr_only() {
    let args = ["run", "fixtures/cli/scenarios/mux"];
    let (code, quiet_out, quiet_err) = wirecheck(&args, None);
    assert_eq!(code, 0, "{quiet_out}{quiet_err}");
    assert_eq!(quiet_err, "");
    let (code, out, err) = wirecheck(&args, Some("wirecheck=debug"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("DEBUG")
            && err.contains("ran in simulation")
            && err.contains("scenario=mux/duplicate-response"),
        "{err}"
    );
    assert!(err.contains("discovered scenario files"), "{err}");
    // The same table (wall times aside) and nothing from the logs on stdout.
    let table = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(table(&out), table(&quiet_out));
    assert!(!out.contains("DEBUG"), "{out}");

    // A filter that does not parse is named, and the run goes on with the default.
    let (code, out, err) = wirecheck(&args, Some("wirecheck=["));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.starts_with("warning: RUST_LOG=\"wirecheck=[\" is not a log filter"),
        "{err}"
    );
    assert!(err.contains("hint: e.g. RUST_LOG=wirecheck=debug"), "{err}");
}
