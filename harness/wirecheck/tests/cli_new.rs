//! `wirecheck new AREA/NAME`: a starting scenario that runs from any directory, never
//! written over an existing file, refused for a bad name.

#[path = "support/cli.rs"]
mod cli_support;

use cli_support::wirecheck;
use std::path::PathBuf;

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wirecheck-new-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn new_writes_scenarios_that_run_in_both_protocols() {
    let d = scratch("ok");
    let (code, out, err) = wirecheck(&d, &["new", "mux/my-case"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("wrote scenarios/mux/my-case.yaml"), "{out}");
    let (code, out, err) = wirecheck(&d, &["new", "jsonrpc/calls", "--protocol", "jsonrpc-2.0"]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(d.join("scenarios/jsonrpc/calls.yaml")).unwrap();
    assert!(text.contains("protocol: jsonrpc-2.0") && text.contains("name: jsonrpc/calls"));
    // Both run, by `run` over the folder and by `show` from inside it (one name rule).
    let (code, out, err) = wirecheck(&d, &["run", "scenarios"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 passed, 0 failed"), "{out}");
    let (code, out, err) = wirecheck(&d.join("scenarios"), &["show", "mux/my-case.yaml"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: OK"), "{out}");
}

#[test]
fn new_refuses_an_existing_file_and_a_bad_name() {
    let d = scratch("refuse");
    assert_eq!(wirecheck(&d, &["new", "mux/x"]).0, 0);
    std::fs::write(d.join("scenarios/mux/x.yaml"), "mine").unwrap();
    let (code, _, err) = wirecheck(&d, &["new", "mux/x"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exists already"), "{err}");
    assert_eq!(
        std::fs::read_to_string(d.join("scenarios/mux/x.yaml")).unwrap(),
        "mine",
        "an existing file is never overwritten"
    );
    for bad in ["x", "Mux/x", "mux/x.yaml"] {
        let (code, _, err) = wirecheck(&d, &["new", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("AREA/NAME"), "{bad}: {err}");
    }
}
