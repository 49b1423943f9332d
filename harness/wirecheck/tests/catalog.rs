//! Coverage by construction: every rule is exercised by at least one scenario, and every
//! rule a scenario expects to see broken is judged by a checker. (That every checker has
//! been shown to fire, by a scenario, a zoo kill or a synthetic case, is the unit test
//! `checkers::tests::firing::every_checker_is_proven_to_fire`.)

use wirecheck::catalog::{catalog, load_corpus};
use wirecheck::corpus::default_root;

#[test]
fn every_rule_is_covered_by_a_scenario() {
    let corpus = load_corpus(&default_root()).expect("the corpus loads");
    let entries = catalog(&corpus);
    let uncovered: Vec<&str> = entries
        .iter()
        .filter(|e| e.scenarios.is_empty())
        .map(|e| e.rule.id)
        .collect();
    assert!(
        uncovered.is_empty(),
        "rules with no scenario listing them in `rules:`: {}\nhint: add a scenario under scenarios/ that exercises each (see `wirecheck rules`)",
        uncovered.join(", ")
    );
}

#[test]
fn expect_violations_name_rules_a_checker_judges() {
    let corpus = load_corpus(&default_root()).expect("the corpus loads");
    let checked = wirecheck::checkers::checked_rules();
    for s in &corpus {
        for r in &s.expect_violations {
            assert!(
                checked.contains(r.as_str()),
                "{} expects {r} to be violated, but no checker judges {r}",
                s.name
            );
        }
    }
}
