//! The command lines users copy stay valid: every `wirecheck ...` line of the CI example
//! (`ci/examples/`), and of the code blocks of README.md and docs/reports.md, parses with
//! the current clap definitions; the example workflow runs with `--target`, `--junit`,
//! `--json` and `--html` and uploads the folder the HTML report is written to; the
//! example target file loads.

use super::args::Cli;
use clap::Parser;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Shell words of `line` (quotes removed), up to a redirection, pipe, `&&`, `;` or comment.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => out.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    let end = out
        .iter()
        .position(|w| {
            w.starts_with('>')
                || w.starts_with("2>")
                || w.starts_with('#')
                || matches!(w.as_str(), "|" | "&&" | "||" | ";")
        })
        .unwrap_or(out.len());
    out.truncate(end);
    out
}

/// The arguments of every wirecheck invocation in `lines`: after a word `wirecheck` (or a
/// path ending in `/wirecheck`), or after `-p wirecheck --` in a `cargo run` line.
fn invocations<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut joined = String::new();
    for line in lines {
        if let Some(head) = line.trim_end().strip_suffix('\\') {
            joined.push_str(head);
            joined.push(' ');
            continue;
        }
        joined.push_str(line);
        let w = words(&joined);
        joined.clear();
        for (i, word) in w.iter().enumerate() {
            if word != "wirecheck" && !word.ends_with("/wirecheck") {
                continue;
            }
            let package = i > 0 && matches!(w[i - 1].as_str(), "-p" | "--package");
            let rest = &w[i + 1..];
            let args = match (package, rest.first().map(String::as_str)) {
                (true, Some("--")) => &rest[1..],
                (true, _) => continue,
                (false, _) => rest,
            };
            if !args.is_empty() {
                found.push(args.to_vec());
            }
        }
    }
    found
}

/// The lines inside ``` fences of a Markdown text.
fn code_lines(md: &str) -> Vec<&str> {
    let mut inside = false;
    let mut out = Vec::new();
    for l in md.lines() {
        if l.trim_start().starts_with("```") {
            inside = !inside;
        } else if inside {
            out.push(l);
        }
    }
    out
}

fn parse(args: &[String]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("wirecheck".to_string()).chain(args.iter().cloned()))
}

const WORKFLOW: &str = "ci/examples/github-actions/wirecheck.yml";

/// The workflow as YAML, and the shell lines of its steps' `run:`s.
fn workflow() -> (serde_json::Value, Vec<String>) {
    let doc: serde_json::Value =
        serde_saphyr::from_str(&read(WORKFLOW)).expect("the workflow is YAML");
    let steps = doc["jobs"]["wirecheck"]["steps"]
        .as_array()
        .expect("jobs.wirecheck.steps")
        .clone();
    let lines = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .flat_map(|r| r.lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    (doc, lines)
}

#[test]
fn every_documented_command_line_parses() {
    let mut sources: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    let (_, run_lines) = workflow();
    sources.push((
        WORKFLOW.into(),
        invocations(run_lines.iter().map(String::as_str)),
    ));
    for md in ["ci/examples/README.md", "README.md", "docs/reports.md"] {
        let text = read(md);
        sources.push((md.into(), invocations(code_lines(&text).into_iter())));
    }
    for (file, cmds) in &sources {
        assert!(!cmds.is_empty(), "{file}: no wirecheck command line found");
        for args in cmds {
            if let Err(e) = parse(args) {
                panic!(
                    "{file}: `wirecheck {}` does not parse:\n{e}",
                    args.join(" ")
                );
            }
        }
    }
}

#[test]
fn the_extraction_finds_commands_and_rejects_wrong_flags() {
    let cmds = invocations(
        [
            "cargo run --release -p wirecheck -- run scenarios --include 'mux/*' > out.txt",
            "wirecheck/target/release/wirecheck run a \\",
            "  --target t.yaml --junit x.xml",
            "cargo build -p wirecheck --locked",
            "name: wirecheck",
        ]
        .into_iter(),
    );
    assert_eq!(
        cmds,
        [
            vec!["run", "scenarios", "--include", "mux/*"],
            vec!["run", "a", "--target", "t.yaml", "--junit", "x.xml"],
        ]
    );
    assert!(parse(&cmds[1]).is_ok());
    let wrong: Vec<String> = ["run", "a", "--junit-xml", "x"].map(String::from).to_vec();
    assert!(parse(&wrong).is_err(), "an unknown flag must not parse");
}

#[test]
fn the_workflow_runs_against_a_target_and_uploads_the_html_report() {
    let (doc, run_lines) = workflow();
    let runs: Vec<Cli> = invocations(run_lines.iter().map(String::as_str))
        .iter()
        .map(|a| parse(a).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let full = runs
        .iter()
        .find_map(|c| match &c.command {
            super::args::Command::Run(r)
                if r.junit.is_some() && r.json.is_some() && r.html.is_some() =>
            {
                Some(r)
            }
            _ => None,
        })
        .expect("a `wirecheck run` with --junit, --json and --html");
    assert_eq!(
        full.target.targets.len(),
        1,
        "it runs against the user's target"
    );
    let html = full.html.as_ref().unwrap();
    // The step that uploads the artifact uploads the folder the reports are written to.
    let steps = doc["jobs"]["wirecheck"]["steps"]
        .as_array()
        .expect("jobs.wirecheck.steps");
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("an upload-artifact step");
    assert_eq!(upload["if"], "always()", "uploaded when scenarios fail too");
    let path = upload["with"]["path"].as_str().unwrap();
    for f in [
        html,
        full.junit.as_ref().unwrap(),
        full.json.as_ref().unwrap(),
    ] {
        assert!(
            f.starts_with(path),
            "{} is not under the uploaded {path}",
            f.display()
        );
    }
    // The example target file is a valid target file.
    let target = repo().join("ci/examples/github-actions/wirecheck-target.yaml");
    let t = wirecheck::targets::load_file(&target).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        full.target.targets[0].file_name(),
        target.file_name(),
        "the workflow uses the example target file's name"
    );
    assert_eq!(t.name, "my-broker");
}
