//! The rule catalog: which checkers judge each rule and which scenarios exercise it.
//! `wirecheck rules`, `wirecheck explain` and the coverage test all read it from here.

use crate::checkers::CHECKERS;
use crate::model::Scenario;
use crate::{corpus, scenario};
use std::collections::BTreeMap;
use std::path::Path;
use wirecheck_core::rules::{Rule, RULES};

/// One rule with its checkers and covering scenarios.
pub struct Entry {
    pub rule: &'static Rule,
    pub checkers: Vec<&'static str>,
    /// Scenarios listing the rule in `rules:`.
    pub scenarios: Vec<String>,
    /// Scenarios showing the rule's checker fire (`expect_violations:`).
    pub violations: Vec<String>,
}

/// Loads every scenario under `root`; load errors are returned as text.
pub fn load_corpus(root: &Path) -> Result<Vec<Scenario>, String> {
    let files =
        corpus::discover(root).map_err(|e| format!("cannot read {}: {e}", root.display()))?;
    files
        .iter()
        .map(|f| scenario::load_file(f).map_err(|e| e.to_string()))
        .collect()
}

pub fn catalog(corpus: &[Scenario]) -> Vec<Entry> {
    RULES
        .iter()
        .map(|rule| {
            let checkers = CHECKERS
                .iter()
                .filter(|c| c.rules.iter().any(|r| r.as_str() == rule.id))
                .map(|c| c.name)
                .collect();
            let pick = |f: &dyn Fn(&Scenario) -> bool| {
                corpus
                    .iter()
                    .filter(|s| f(s))
                    .map(|s| s.name.clone())
                    .collect::<Vec<_>>()
            };
            Entry {
                rule,
                checkers,
                scenarios: pick(&|s| s.rules.iter().any(|r| r == rule.id)),
                violations: pick(&|s| s.expect_violations.iter().any(|r| r == rule.id)),
            }
        })
        .collect()
}

/// The coverage table `wirecheck rules` prints.
pub fn coverage_table(entries: &[Entry]) -> String {
    let mut s = format!(
        "{:<7} {:<6} {:>9} {:>9} {:>10}  {}\n",
        "rule", "level", "checkers", "scenarios", "shown-fire", "requirement"
    );
    for e in entries {
        s.push_str(&format!(
            "{:<7} {:<6} {:>9} {:>9} {:>10}  {}\n",
            e.rule.id,
            e.rule.level.as_str(),
            e.checkers.len(),
            e.scenarios.len(),
            e.violations.len(),
            e.rule.requirement
        ));
    }
    let uncovered: Vec<&str> = entries
        .iter()
        .filter(|e| e.scenarios.is_empty())
        .map(|e| e.rule.id)
        .collect();
    let checked = entries.iter().filter(|e| !e.checkers.is_empty()).count();
    s.push_str(&format!(
        "\n{} rules, {} judged by a checker ({} checkers), {} covered by a scenario{}\n",
        entries.len(),
        checked,
        CHECKERS.len(),
        entries.len() - uncovered.len(),
        if uncovered.is_empty() {
            String::new()
        } else {
            format!("; NOT covered: {}", uncovered.join(", "))
        }
    ));
    s
}

/// `wirecheck explain RULE`.
pub fn explain(entries: &[Entry], id: &str) -> Option<String> {
    let e = entries
        .iter()
        .find(|e| e.rule.id.eq_ignore_ascii_case(id))?;
    let list = |v: &[String]| {
        if v.is_empty() {
            "  (none)\n".to_owned()
        } else {
            v.iter()
                .map(|s| format!("  scenarios/{s}.yaml\n"))
                .collect()
        }
    };
    let checkers: BTreeMap<_, _> = CHECKERS
        .iter()
        .filter(|c| c.rules.iter().any(|r| r.as_str() == e.rule.id))
        .map(|c| (c.name, c.rules))
        .collect();
    let mut s = format!(
        "{} ({})\n\n{}\n\nWhy: {}\n\nJudged on every run by: {}\n\nScenarios exercising it:\n{}\nScenarios showing its checker fire (expect_violations):\n{}",
        e.rule.id,
        e.rule.level.as_str(),
        e.rule.requirement,
        e.rule.why,
        if checkers.is_empty() {
            "no automatic checker (only the scenarios' expectations)".to_owned()
        } else {
            checkers.keys().copied().collect::<Vec<_>>().join(", ")
        },
        list(&e.scenarios),
        list(&e.violations),
    );
    s.push('\n');
    Some(s)
}
