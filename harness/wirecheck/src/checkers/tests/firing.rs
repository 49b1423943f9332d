//! Every checker is proven to fire, and rule ids are the rule table's.
//!
//! A proof for a (checker, rule) pair is one of: a synthetic case below that makes that
//! checker alone report that rule; a corpus scenario whose `expect_violations` names the
//! rule and that passes; a zoo kill naming the rule (from `docs/zoo.md`, which the zoo test
//! keeps current).

use super::*;
use std::collections::BTreeSet;
use std::path::Path;

/// Builds one synthetic case.
type MakeCase = fn() -> Case;

/// Every synthetic case, by name.
const CASES: &[(&str, MakeCase)] = &[
    (
        "broadcast_and_misrouted_response",
        cases::broadcast_and_misrouted_response,
    ),
    (
        "registration_without_welcome_and_leaks",
        cases::registration_without_welcome_and_leaks,
    ),
    ("reconnect_storm", cases::reconnect_storm),
    ("heartbeat_silence", cases::heartbeat_silence),
    (
        "late_calls_unanswered_requests_slow_registration_and_oversize",
        cases::late_calls_unanswered_requests_slow_registration_and_oversize,
    ),
    ("clean_exchange", cases::clean_exchange),
    (
        "result_from_another_response",
        client_cases::result_from_another_response,
    ),
    ("uncounted_stray", client_cases::uncounted_stray),
    (
        "loss_leaves_call_waiting",
        client_cases::loss_leaves_call_waiting,
    ),
    ("send_error_swallowed", client_cases::send_error_swallowed),
    (
        "second_reader_reported",
        client_cases::second_reader_reported,
    ),
    (
        "request_lost_during_registration",
        client_cases::request_lost_during_registration,
    ),
    ("never_reconnects", client_cases::never_reconnects),
    (
        "relay_keeps_client_side_open",
        client_cases::relay_keeps_client_side_open,
    ),
    (
        "assignment_left_behind",
        broker_cases::assignment_left_behind,
    ),
    ("inconsistent_broker", broker_cases::inconsistent_broker),
    ("id_kept_after_close", broker_cases::id_kept_after_close),
    (
        "healthy_reader_cut_off",
        broker_cases::healthy_reader_cut_off,
    ),
    ("push_crosses_receive", || {
        broker_cases::push_crosses_receive(50)
    }),
    ("clean_move", relay_cases::clean_move),
    (
        "second_reader_after_failover",
        relay_cases::second_reader_after_failover,
    ),
    ("second_link", relay_cases::second_link),
    ("failover_storm", relay_cases::failover_storm),
    (
        "sent_to_a_down_backend",
        relay_cases::sent_to_a_down_backend,
    ),
    ("in_flight_dropped", relay_cases::in_flight_dropped),
    ("stale_counts", relay_cases::stale_counts),
    ("link_outlives_client", relay_cases::link_outlives_client),
    (
        "answers_of_other_requests",
        history_cases::answers_of_other_requests,
    ),
    (
        "request_at_two_receivers",
        history_cases::request_at_two_receivers,
    ),
    ("slow_after_heal", history_cases::slow_after_heal),
    ("misbehaving_server", jsonrpc_cases::misbehaving_server),
    ("stray_kills_client", jsonrpc_cases::stray_kills_client),
    (
        "notification_sent_with_id",
        jsonrpc_cases::notification_sent_with_id,
    ),
];

/// (checker, rule) pairs each synthetic case makes fire, with the case's name.
fn unit_proofs() -> BTreeMap<(&'static str, &'static str), &'static str> {
    let mut out = BTreeMap::new();
    for (name, case) in CASES {
        let c = case();
        for checker in CHECKERS {
            for v in c.findings(checker).violations {
                out.entry((checker.name, v.rule)).or_insert(*name);
            }
        }
    }
    out
}

/// Rules named by a kill in `docs/zoo.md`'s matrix ("rules named" column).
fn zoo_rules() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/zoo.md");
    let doc = std::fs::read_to_string(&path).expect("docs/zoo.md");
    doc.lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('|').nth(5))
        .flat_map(|rules| rules.split(',').map(|r| r.trim().to_owned()))
        .filter(|r| !r.is_empty())
        .collect()
}

/// Rules shown firing by a corpus scenario that names them in `expect_violations`. Each
/// such scenario passes only if its checkers report exactly those rules, and
/// `tests/scenarios.rs` requires every corpus scenario to pass (as `tests/zoo.rs` keeps
/// `docs/zoo.md` current), so this test reads the corpus without running it: the checkers
/// do not depend on the runner, even in tests.
fn corpus_rules() -> BTreeMap<String, String> {
    let (corpus, failed) = crate::corpus::load_all(&crate::corpus::default_root()).expect("corpus");
    assert!(
        failed.is_empty(),
        "corpus files that do not load: {failed:?}"
    );
    let mut out = BTreeMap::new();
    for s in corpus.iter().filter(|s| !s.expect_violations.is_empty()) {
        for r in &s.expect_violations {
            out.entry(r.clone()).or_insert_with(|| s.name.clone());
        }
    }
    out
}

#[test]
fn every_checker_is_proven_to_fire() {
    let units = unit_proofs();
    let corpus = corpus_rules();
    let zoo = zoo_rules();
    assert!(
        zoo.contains("BRK-1"),
        "docs/zoo.md has no rules column? {zoo:?}"
    );
    let mut table = String::new();
    let mut missing = Vec::new();
    for c in CHECKERS {
        for r in c.rules.iter().map(|r| r.as_str()) {
            let mut proofs = Vec::new();
            if let Some(case) = units.get(&(c.name, r)) {
                proofs.push(format!("unit case {case}"));
            }
            if let Some(s) = corpus.get(r) {
                proofs.push(format!("scenario {s}"));
            }
            if zoo.contains(r) {
                proofs.push("zoo kill".to_owned());
            }
            if proofs.is_empty() {
                missing.push(format!("{} ({r})", c.name));
            }
            table.push_str(&format!("| {} | {r} | {} |\n", c.name, proofs.join("; ")));
        }
    }
    eprintln!("{table}");
    assert!(
        missing.is_empty(),
        "checkers never shown to fire: {}\nhint: add a synthetic case to checkers/tests (and to CASES), \
         or a scenario under scenarios/checkers/ with expect_violations\n{table}",
        missing.join(", ")
    );
}

#[test]
fn a_checker_reports_only_the_rules_it_declares() {
    for (name, case) in CASES {
        let c = case();
        for checker in CHECKERS {
            for v in c.findings(checker).violations {
                assert!(
                    checker.rules.iter().any(|r| r.as_str() == v.rule),
                    "{} reported {} on case {name}, which it does not declare",
                    checker.name,
                    v.rule
                );
                assert!(wirecheck_core::rules::rule(v.rule).is_some(), "{}", v.rule);
            }
        }
    }
}

#[test]
fn the_checker_table_names_rules_of_the_rule_table_once() {
    let mut seen = BTreeSet::new();
    for c in CHECKERS {
        assert!(!c.rules.is_empty(), "{} judges no rule", c.name);
        for r in c.rules {
            assert!(wirecheck_core::rules::rule(r.as_str()).is_some(), "{r}");
            assert_eq!(r.rule().id, r.as_str());
            assert!(seen.insert(*r), "{r} is judged by two checkers");
        }
    }
    let names: BTreeSet<&str> = CHECKERS.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), CHECKERS.len(), "checker names are unique");
}

#[test]
#[should_panic(expected = "not a rule id")]
fn an_unknown_rule_id_is_refused() {
    // At run time it panics; in `rule!` (a const block) it is a compile error.
    let _ = RuleId::new(std::hint::black_box("MUX-99"));
}

#[test]
fn each_case_is_named_once() {
    let names: BTreeSet<&str> = CASES.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.len(), CASES.len());
    // The clean exchange fires nothing.
    assert!(cases::clean_exchange().run().is_empty());
}
