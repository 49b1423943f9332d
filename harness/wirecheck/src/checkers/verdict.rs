//! What checkers produce: violations of typed rule ids, and hosts they could not judge.
//! Depends on nothing else in `checkers` (the families and `input.rs` build on it).

use crate::render::fmt_clock;
use std::fmt;
use std::time::Duration;
use wirecheck_core::rules::{rule as rule_by_id, Level, Rule, RULES};

/// The id of a rule of `wirecheck_core::rules::RULES`; only constructible for ids that exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleId(&'static str);

impl RuleId {
    /// Panics (at compile time in a `const` context, see [`rule!`]) if `id` is not a rule.
    pub const fn new(id: &'static str) -> RuleId {
        assert!(known(id), "not a rule id of wirecheck_core::rules::RULES");
        RuleId(id)
    }

    pub const fn as_str(self) -> &'static str {
        self.0
    }

    pub fn rule(self) -> &'static Rule {
        rule_by_id(self.0).expect("RuleId is checked on construction")
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

const fn known(id: &str) -> bool {
    let mut k = 0;
    while k < RULES.len() {
        if str_eq(RULES[k].id, id) {
            return true;
        }
        k += 1;
    }
    false
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// A rule id of `wirecheck_core::rules` (built from a [`RuleId`]).
    pub rule: &'static str,
    pub at: Duration,
    /// Indices into the trace of the events involved.
    pub events: Vec<usize>,
    pub diagnosis: String,
}

impl Violation {
    pub fn level(&self) -> Level {
        rule_by_id(self.rule).map_or(Level::Must, |r| r.level)
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} at {}: {}",
            self.level().as_str(),
            self.rule,
            fmt_clock(self.at).trim(),
            self.diagnosis
        )?;
        if !self.events.is_empty() {
            let ids: Vec<String> = self.events.iter().map(|i| format!("#{i}")).collect();
            write!(f, " [trace {}]", ids.join(" "))?;
        }
        Ok(())
    }
}

/// A checker that did not judge a host because the host's driver did not report a fact
/// the checker needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    pub checker: &'static str,
    pub host: String,
    pub reason: String,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} not judged for {}: {}",
            self.checker, self.host, self.reason
        )
    }
}

/// What one checker found: violations, and hosts it could not judge.
#[derive(Debug, Default)]
pub struct Findings {
    pub(super) violations: Vec<Violation>,
    pub(super) skipped: Vec<(String, String)>,
}

impl Findings {
    pub fn push(&mut self, v: Violation) {
        self.violations.push(v);
    }

    /// This checker could not judge `host`: `reason` says which fact was missing.
    pub fn skip(&mut self, host: &str, reason: impl Into<String>) {
        self.skipped.push((host.to_owned(), reason.into()));
    }
}

/// The result of [`super::check_all`].
#[derive(Debug, Default)]
pub struct Checked {
    /// Sorted by time, then rule, then diagnosis; duplicates removed.
    pub violations: Vec<Violation>,
    /// In checker-table order, then host order.
    pub skipped: Vec<Skip>,
}
