//! The run drawn for people, through the command line: `run --html DIR` (in simulation
//! and against a target) writes a report folder whose index links every case's page, and
//! `show --format mermaid` prints a Mermaid sequenceDiagram with the violation's events
//! highlighted. (The pages' structure is tested in `html_report.rs`, the rendering in a
//! browser by `ci/html-report.sh`.)

use std::path::{Path, PathBuf};
use std::process::Command;
#[path = "support/cli.rs"]
mod cli_support;
use cli_support::wirecheck;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "wirecheck-cli-pictures-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `href`s of the index's matrix cells.
fn cell_links(index: &str) -> Vec<String> {
    index
        .split("<td class=\"cell ")
        .skip(1)
        .filter_map(|cell| {
            let href = cell.split("href=\"").nth(1)?;
            Some(href.split('"').next()?.to_string())
        })
        .collect()
}

#[test]
fn run_html_writes_an_index_linking_a_page_per_case() {
    let dir = scratch("sim");
    let report = dir.join("nested/report");
    let (code, out, err) = wirecheck(
        &repo(),
        &[
            "run",
            "fixtures/cli/scenarios",
            "--flaw",
            "receiver-loss-silent",
            "--html",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "a scenario fails with the flaw\n{out}{err}");
    assert!(
        err.contains(&format!(
            "HTML report: {}",
            report.join("index.html").display()
        )),
        "{err}"
    );
    let index = std::fs::read_to_string(report.join("index.html")).unwrap();
    let links = cell_links(&index);
    assert_eq!(
        links,
        [
            "cases/reference/broker__receiver-gone.html",
            "cases/reference/mux__duplicate-response.html"
        ]
    );
    assert!(
        index.contains(r#"<td class="cell v-failed" data-verdict="FAILED">"#),
        "{index}"
    );
    for l in &links {
        let page = std::fs::read_to_string(report.join(l)).unwrap();
        assert!(page.contains(r#"<svg class="trace""#), "{l}");
        // The scenario file's text is on its page.
        assert!(page.contains(r#"<span class="no">1</span>name: "#), "{l}");
    }
    let failed = std::fs::read_to_string(report.join(&links[0])).unwrap();
    assert!(
        failed.contains(r#"<g class="ev hl k-life" id="ev-17">"#),
        "{failed}"
    );
    assert!(failed.contains(r##"<a href="#ev-17">#17</a>"##));

    // A folder that cannot be made is a usage error naming it.
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (code, _, err) = wirecheck(
        &repo(),
        &[
            "run",
            "fixtures/cli/scenarios/mux",
            "--html",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("error: cannot write the HTML report to"),
        "{err}"
    );
    assert!(err.contains("hint: --html takes a folder"), "{err}");
}

/// Against the reference broker binary as a black box (its BRK-6 flaw switched on through
/// the environment the target inherits): the page draws the real-time trace.
#[test]
fn run_html_against_a_target() {
    let built = Command::new(env!("CARGO"))
        .args([
            "build",
            "-q",
            "-p",
            "wirecheck-reference",
            "--bin",
            "wirecheck-broker",
        ])
        .current_dir(repo())
        .status()
        .unwrap();
    assert!(built.success());
    let dir = scratch("target");
    let out = Command::new(env!("CARGO_BIN_EXE_wirecheck"))
        .args([
            "run",
            "fixtures/cli/scenarios",
            "--target",
            "fixtures/targets/refbroker.yaml",
            "--html",
        ])
        .arg(&dir)
        .env("WIRECHECK_FLAW", "receiver-loss-silent")
        .current_dir(repo())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert_eq!(
        cell_links(&index),
        [
            "cases/refbroker/broker__receiver-gone.html",
            "cases/refbroker/mux__duplicate-response.html"
        ]
    );
    assert!(
        index.contains(r#"data-verdict="FAILED""#) && index.contains(r#"data-verdict="N/A""#),
        "{index}"
    );
    let page =
        std::fs::read_to_string(dir.join("cases/refbroker/broker__receiver-gone.html")).unwrap();
    assert!(page.contains("target <b>refbroker</b>"), "{page}");
    assert!(
        page.contains(r#"<svg class="trace""#) && page.contains(r#"class="ev hl"#),
        "{page}"
    );
    let na =
        std::fs::read_to_string(dir.join("cases/refbroker/mux__duplicate-response.html")).unwrap();
    assert!(
        na.contains(r#"class="verdict v-na""#) && !na.contains("<svg"),
        "{na}"
    );
}

/// A `;` that does not end an entity code (`#59;`).
fn has_bare_semicolon(line: &str) -> bool {
    line.match_indices(';').any(|(i, _)| {
        let before = &line[..i];
        let digits = before.len() - before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        digits == 0 || !before[..before.len() - digits].ends_with('#')
    })
}

#[test]
fn show_mermaid_draws_the_run_with_the_violation_in_a_red_rect() {
    let file = "fixtures/cli/scenarios/broker/receiver-gone.yaml";
    let args = [
        "show",
        file,
        "--format",
        "mermaid",
        "--flaw",
        "receiver-loss-silent",
    ];
    let (code, out, err) = wirecheck(&repo(), &args);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(wirecheck(&repo(), &args).1, out, "same run, same text");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "sequenceDiagram");
    assert_eq!(
        lines[2..5],
        [
            "    participant h0 as broker (broker)",
            "    participant h1 as worker (client)",
            "    participant h2 as app (client)"
        ]
    );
    assert!(
        out.contains("    h1->>h0: #35;4 0.004s hello worker\n"),
        "{out}"
    );
    assert!(
        out.contains("    Note over h1: #35;16 0.507s FAULT crash worker\n"),
        "{out}"
    );
    let at = lines.iter().position(|l| l.contains("#35;17 ")).unwrap();
    assert_eq!(lines[at - 1], "    rect rgb(255, 206, 203)");
    assert_eq!(lines[at + 1], "    end");
    assert!(
        out.contains("    Note over h0,h2: [UNEXPECTED] MUST BRK-6 at 0.507s: "),
        "{out}"
    );
    // Every line is a statement Mermaid's sequence grammar has, and blocks close.
    let mut depth = 0i32;
    for l in &lines[1..] {
        let t = l.trim_start();
        let known = t.starts_with("%% ")
            || t.starts_with("participant h")
            || t.starts_with("Note ")
            || t.starts_with("rect rgb(")
            || t == "end"
            || t.split_once("->>").is_some_and(|(from, rest)| {
                from.starts_with('h') && rest.starts_with('h') && rest.contains(": ")
            });
        assert!(known, "not a sequenceDiagram statement: {l}");
        assert!(
            t.starts_with("%%") || !has_bare_semicolon(t),
            "a bare `;` ends a Mermaid statement: {l}"
        );
        depth += i32::from(t.starts_with("rect ")) - i32::from(t == "end");
        assert!(depth >= 0);
    }
    assert_eq!(depth, 0);

    let (code, out, err) = wirecheck(
        &repo(),
        &[
            "show",
            "fixtures/cli/scenarios/mux/duplicate-response.yaml",
            "--format",
            "mermaid",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("sequenceDiagram\n") && !out.contains("rect "),
        "{out}"
    );
    assert!(
        out.contains("%% final app: cancelled=0 completed=1 "),
        "{out}"
    );
}
