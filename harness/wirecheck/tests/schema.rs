//! The JSON Schemas in `schemas/` are what the vocabulary generates, and every corpus
//! scenario's first line points editors at the scenario schema. (`ci/schema.sh` validates
//! the corpus and the target files against the schemas, and checks they reject the
//! malformed fixtures whose defect is a matter of shape.)

use std::path::{Path, PathBuf};
use wirecheck::schema::{self, header_for, SCENARIO_SCHEMA_FILE};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bless() -> bool {
    std::env::var_os("WIRECHECK_BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

#[test]
fn schema_files_match_the_vocabulary() {
    for (file, schema) in [
        (SCENARIO_SCHEMA_FILE, schema::scenario()),
        ("schemas/target.schema.json", schema::target()),
        (
            "schemas/report-index.schema.json",
            wirecheck::reports::json::schema(),
        ),
    ] {
        let want = schema::render(&schema);
        let p = repo().join(file);
        if bless() {
            std::fs::write(&p, &want).unwrap();
            continue;
        }
        let got = std::fs::read_to_string(&p).unwrap_or_default();
        assert!(
            got == want,
            "{file} is stale.\nhint: regenerate it with `bash ci/regen-docs.sh` (or `wirecheck schema > {file}`)"
        );
    }
}

#[test]
fn every_corpus_scenario_points_editors_at_the_schema() {
    let files = wirecheck::corpus::discover(&repo().join("scenarios")).expect("corpus");
    assert!(files.len() > 50, "found {} scenario files", files.len());
    let mut wrong = Vec::new();
    for f in &files {
        let want = header_for(f).expect("the repository has the schema file");
        let text = std::fs::read_to_string(f).unwrap();
        if !text.starts_with(&want) {
            wrong.push(f.display().to_string());
        }
    }
    assert!(
        wrong.is_empty(),
        "scenario files whose first line is not their `# yaml-language-server: $schema=…` line:\n{}\nhint: `wirecheck new AREA/NAME` writes it; its path is relative to the file's folder",
        wrong.join("\n")
    );
}

#[test]
fn the_header_is_relative_to_the_file_or_absent() {
    let d = std::env::temp_dir().join(format!("wirecheck-schema-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("scenarios/mux")).unwrap();
    assert_eq!(header_for(&d.join("scenarios/mux/x.yaml")), None);
    std::fs::create_dir_all(d.join("schemas")).unwrap();
    std::fs::write(d.join(SCENARIO_SCHEMA_FILE), "{}").unwrap();
    assert_eq!(
        header_for(&d.join("scenarios/mux/x.yaml")).as_deref(),
        Some("# yaml-language-server: $schema=../../schemas/scenario.schema.json\n")
    );
    let _ = std::fs::remove_dir_all(&d);
}
