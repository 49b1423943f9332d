//! JUnit XML (`--junit FILE`), written with quick-junit: one `<testsuite>` per target,
//! one `<testcase>` per scenario (`classname` = target, `name` = scenario).
//!
//! FAILED, NON-STRICT and FLAKY cases are `<failure>`s (type = the verdict, message = the
//! verdict, rules and first line of the diagnosis, body = the whole diagnosis with its
//! trace); INVALID and ERROR are `<error>`s; UNIMPLEMENTED and N/A are `<skipped>` with
//! the reason; INFORMATIONAL (failed only as the target documents) passes, with the
//! documentation's note and the diagnosis in `<system-out>`. NON-STRICT is a failure here although it does not set exit code 1: JUnit
//! has no "passed with warnings".

use super::{headline, Case, CaseVerdict};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;

/// The JUnit XML of `cases`, suites in target order of first appearance.
pub fn render(cases: &[Case]) -> String {
    let mut order: Vec<&str> = Vec::new();
    let mut by_target: BTreeMap<&str, Vec<&Case>> = BTreeMap::new();
    for c in cases {
        if !by_target.contains_key(c.target.as_str()) {
            order.push(&c.target);
        }
        by_target.entry(&c.target).or_default().push(c);
    }
    let mut report = Report::new("wirecheck");
    for target in order {
        let mut suite = TestSuite::new(target);
        for c in &by_target[target] {
            suite.add_test_case(case(c));
        }
        let time = by_target[target].iter().map(|c| c.wall).sum();
        suite.set_time(time);
        report.add_test_suite(suite);
    }
    report.set_time(cases.iter().map(|c| c.wall).sum());
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- wirecheck could not serialise the report: {e} -->\n"))
}

fn case(c: &Case) -> TestCase {
    let status = match c.verdict {
        CaseVerdict::Ok | CaseVerdict::Informational => TestCaseStatus::success(),
        v if v.is_skip() => {
            let mut s = TestCaseStatus::skipped();
            s.set_type(v.label());
            s.set_message(headline(c));
            s
        }
        v => {
            let kind = match v {
                CaseVerdict::Invalid | CaseVerdict::Error => NonSuccessKind::Error,
                _ => NonSuccessKind::Failure,
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_type(v.label());
            s.set_message(headline(c));
            s.set_description(c.diagnosis.clone());
            s
        }
    };
    let mut t = TestCase::new(c.scenario.clone(), status);
    t.set_classname(c.target.clone());
    if c.verdict == CaseVerdict::Informational {
        // Passed, with what the target documents as intended and what the run showed.
        t.set_system_out(format!("{}\n{}", headline(c), c.diagnosis));
    }
    t.set_time(c.wall);
    t
}
