//! What a run produced: failures, violations, the trace, the counters, and the verdict.

use crate::checkers::{render_skips, Skip, Violation};
use crate::model::Loc;
use crate::render::{fmt_time, Diagram};
use crate::trace::Event;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use wirecheck_core::rules::Level;

/// One way a run failed: what, where in the file, and when in simulated time.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub loc: Option<Loc>,
    /// The step or expectation, as written (`app.result r1`).
    pub step: String,
    pub at: Duration,
    pub what: String,
    pub hint: Option<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.loc {
            write!(f, "{loc}: ")?;
        }
        write!(
            f,
            "`{}` failed at {}: {}",
            self.step,
            fmt_time(self.at),
            self.what
        )?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct Report {
    pub name: String,
    pub seed: u64,
    pub failures: Vec<Failure>,
    /// Every rule violation the checkers found (expected ones included).
    pub violations: Vec<Violation>,
    /// Checkers that could not judge a host (a fact its driver does not report).
    pub skipped: Vec<Skip>,
    /// Rules the scenario expects to be violated.
    pub expected: Vec<String>,
    pub events: Vec<Event>,
    /// Final counters per host (host → name → value), in host order.
    pub counters: Vec<(String, BTreeMap<String, u64>)>,
    /// Hosts in lane order, with their kind's label.
    pub hosts: Vec<(String, &'static str)>,
    /// The sequence diagram plus final counters: what the snapshot holds.
    pub diagram: String,
    pub sim_time: Duration,
    pub wall_time: Duration,
    /// What a chaos scenario's workload and nemesis drew for this seed, one parameter a
    /// line (empty for a scripted scenario).
    pub drawn: Vec<String>,
    /// How many times the world let time pass (each a tick, or a jump over idle time).
    pub steps: u64,
}

/// Autobahn-style grading of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No failure, no unexpected violation.
    Ok,
    /// Only SHOULD rules were broken (unexpectedly).
    NonStrict,
    /// A step or expectation failed, a MUST rule was broken, or an expected violation
    /// did not happen.
    Failed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::NonStrict => "NON-STRICT",
            Verdict::Failed => "FAILED",
        }
    }
}

impl Report {
    /// Violations of rules the scenario did not declare in `expect_violations`.
    pub fn unexpected(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| !self.expected.iter().any(|e| e == v.rule))
    }

    pub fn grade(&self) -> Verdict {
        if !self.failures.is_empty() || self.unexpected().any(|v| v.level() == Level::Must) {
            Verdict::Failed
        } else if self.unexpected().next().is_some() {
            Verdict::NonStrict
        } else {
            Verdict::Ok
        }
    }

    pub fn passed(&self) -> bool {
        self.grade() == Verdict::Ok
    }

    pub fn verdict(&self) -> &'static str {
        self.grade().as_str()
    }

    /// Rule ids broken unexpectedly, sorted, for summaries.
    pub fn broken_rules(&self) -> Vec<&'static str> {
        let set: std::collections::BTreeSet<&'static str> =
            self.unexpected().map(|v| v.rule).collect();
        set.into_iter().collect()
    }

    /// Every failure and unexpected violation, one paragraph each, then the diagram.
    pub fn explain(&self) -> String {
        let mut s = self.findings();
        if !self.passed() {
            s.push_str("\nTrace:\n");
            s.push_str(&self.text(true));
        }
        s
    }

    /// The verdict line, then every failure and unexpected violation (no diagram).
    pub fn findings(&self) -> String {
        let mut s = format!(
            "scenario {} (seed {}): {}\n",
            self.name,
            self.seed,
            self.verdict()
        );
        for f in &self.failures {
            s.push_str(&format!("{f}\n"));
        }
        for v in self.unexpected() {
            s.push_str(&format!(
                "rule violated: {v}\n  hint: `wirecheck explain {}` says what the rule requires; the trace events are numbered in the diagram\n",
                v.rule
            ));
        }
        s
    }
}

impl Report {
    /// The snapshot text: header, diagram, final counters, violations. `numbered` puts
    /// each event's trace number in front of its line (what `[trace #n]` refers to).
    pub fn text(&self, numbered: bool) -> String {
        let (seed, events, counters, violations) =
            (self.seed, &self.events, &self.counters, &self.violations);
        let mut s = format!("# {} (seed {seed})\n", self.name);
        for (name, label) in &self.hosts {
            s.push_str(&format!("# {name}: {label}\n"));
        }
        for line in &self.drawn {
            s.push_str(&format!("# {line}\n"));
        }
        s.push('\n');
        let lanes = self.hosts.iter().map(|(h, _)| h.clone()).collect();
        let diagram = Diagram::new(lanes);
        s.push_str(&if numbered {
            diagram.render_numbered(events)
        } else {
            diagram.render(events)
        });
        s.push_str("\nfinal:\n");
        for (host, c) in counters {
            let list: Vec<String> = c.iter().map(|(k, v)| format!("{k}={v}")).collect();
            if list.is_empty() {
                s.push_str(&format!("  {host}: (not running)\n"));
            } else {
                s.push_str(&format!("  {host}: {}\n", list.join(" ")));
            }
        }
        if !violations.is_empty() {
            s.push_str("\nviolations:\n");
            for v in violations {
                let tag = if self.expected.iter().any(|e| e == v.rule) {
                    "expected"
                } else {
                    "UNEXPECTED"
                };
                s.push_str(&format!("  [{tag}] {v}\n"));
            }
        }
        s.push_str(&render_skips(&self.skipped));
        s
    }
}
