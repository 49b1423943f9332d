//! The bug zoo in CI: every known flaw must be caught by the catalog, the correct reference
//! must pass every scenario, and docs/zoo.md must show the current kill matrix.

use std::path::Path;
use wirecheck::catalog::load_corpus;
use wirecheck::corpus::default_root;
use wirecheck::zoo::{render_markdown, render_text, run_zoo};
use wirecheck_core::flaws::Flaw;

#[test]
fn every_flaw_is_killed_and_the_matrix_is_current() {
    let corpus = load_corpus(&default_root()).expect("the corpus loads");
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let zoo = run_zoo(&corpus, Flaw::ALL, jobs);
    let text = render_text(&zoo);
    assert!(
        zoo.reference_failures.is_empty(),
        "the correct reference fails scenarios: {:?}\n{text}",
        zoo.reference_failures
    );
    let survivors = zoo.survivors();
    assert!(
        survivors.is_empty(),
        "flaws no scenario catches: {survivors:?}\nhint: add a scenario (or a checker) that fails when the flaw is on; try `wirecheck run scenarios --flaw NAME`\n{text}"
    );
    for row in &zoo.rows {
        assert!(
            !row.rules().is_empty(),
            "flaw {} is caught, but no scenario names a broken rule (only expectations failed)\n{text}",
            row.flaw
        );
    }
    assert!(
        zoo.rows.iter().any(|r| r.checker_only()),
        "no flaw is caught by the automatic checkers alone\n{text}"
    );
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/zoo.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap_or_default();
    let fresh = render_markdown(&zoo);
    if doc != fresh {
        if std::env::var_os("WIRECHECK_UPDATE_DOCS").is_some() {
            std::fs::write(&doc_path, &fresh).expect("write docs/zoo.md");
        } else {
            panic!(
                "docs/zoo.md is stale.\nhint: regenerate it with `cargo run --release -p wirecheck -- zoo --markdown > docs/zoo.md` \
                 (or run this test with WIRECHECK_UPDATE_DOCS=1)\n--- expected ---\n{fresh}"
            );
        }
    }
}
