//! Documentation that is generated from code must match the code.

use std::path::Path;

fn read(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

#[test]
fn protocol_md_rule_table_matches_the_code() {
    let doc = read("PROTOCOL.md");
    let updated = wirecheck::docs::update_block(&doc)
        .expect("PROTOCOL.md lost its `<!-- rules:begin` / `<!-- rules:end -->` markers");
    assert!(
        doc == updated,
        "PROTOCOL.md's rule table is stale.\nhint: regenerate the block with `cargo run -p wirecheck -- rules --markdown` \
         and paste it between the markers"
    );
    for r in wirecheck_core::rules::RULES {
        assert!(doc.contains(&format!("| {} |", r.id)), "{} missing", r.id);
    }
}

#[test]
fn update_block_replaces_only_the_block() {
    let doc = format!(
        "intro\n{}\nold table\n{}\noutro\n",
        wirecheck::docs::BEGIN,
        wirecheck::docs::END
    );
    let out = wirecheck::docs::update_block(&doc).unwrap();
    assert!(out.starts_with("intro\n") && out.ends_with("\noutro\n"));
    assert!(!out.contains("old table") && out.contains("| MUX-1 | MUST |"));
    assert!(wirecheck::docs::update_block("no markers").is_none());
}
