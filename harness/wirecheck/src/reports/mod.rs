//! Results of `wirecheck run` as files: one [`Case`] per scenario per target, written as
//! JUnit XML ([`junit`]) or a JSON index ([`json`]) for CI dashboards, or as a static
//! HTML report ([`html`]) for people; and one run as JSON or as a Mermaid diagram
//! ([`mermaid`]) for `wirecheck show`.
//!
//! A case is built from what the runner produced (a simulation [`Report`] or a target
//! cell's [`TargetRun`]s) and holds only what the report files say, so both writers see
//! the same verdicts as the table on stdout.

pub mod html;
pub mod json;
pub mod junit;
pub mod mermaid;

use crate::runner::{Report, Verdict};
use crate::targets::run::{flaky, Grade, TargetRun};
use std::path::PathBuf;
use std::time::Duration;

/// The target name simulation runs are filed under.
pub const REFERENCE: &str = "reference";

/// A case's verdict, as in the summary table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CaseVerdict {
    Ok,
    NonStrict,
    Failed,
    /// Failed only as the target's documentation says it behaves (not counted as bad).
    Informational,
    /// The file did not load (bad YAML, a name that does not match the file, ...).
    Invalid,
    /// The target misbehaved (did not start, crashed, hung).
    Error,
    /// The scenario needs a capability the target lacks.
    Unimplemented,
    /// The scenario has no host of the target's role, or another protocol.
    NotApplicable,
    /// Repeats of the cell ended differently.
    Flaky,
}

impl CaseVerdict {
    /// Every verdict, in the order of the enum (the JSON index's schema lists their labels).
    pub const ALL: [CaseVerdict; 9] = [
        CaseVerdict::Ok,
        CaseVerdict::NonStrict,
        CaseVerdict::Failed,
        CaseVerdict::Informational,
        CaseVerdict::Invalid,
        CaseVerdict::Error,
        CaseVerdict::Unimplemented,
        CaseVerdict::NotApplicable,
        CaseVerdict::Flaky,
    ];

    pub fn label(self) -> &'static str {
        match self {
            CaseVerdict::Ok => "OK",
            CaseVerdict::NonStrict => "NON-STRICT",
            CaseVerdict::Failed => "FAILED",
            CaseVerdict::Informational => "INFORMATIONAL",
            CaseVerdict::Invalid => "INVALID",
            CaseVerdict::Error => "ERROR",
            CaseVerdict::Unimplemented => "UNIMPLEMENTED",
            CaseVerdict::NotApplicable => "N/A",
            CaseVerdict::Flaky => "FLAKY",
        }
    }

    /// Counts towards exit code 1 (the same cases the closing `N failed` line counts).
    pub fn is_bad(self) -> bool {
        matches!(
            self,
            CaseVerdict::Failed | CaseVerdict::Invalid | CaseVerdict::Error | CaseVerdict::Flaky
        )
    }

    /// Not run at all: the scenario does not apply to the target.
    pub fn is_skip(self) -> bool {
        matches!(
            self,
            CaseVerdict::Unimplemented | CaseVerdict::NotApplicable
        )
    }
}

impl From<Verdict> for CaseVerdict {
    fn from(v: Verdict) -> CaseVerdict {
        match v {
            Verdict::Ok => CaseVerdict::Ok,
            Verdict::NonStrict => CaseVerdict::NonStrict,
            Verdict::Failed => CaseVerdict::Failed,
        }
    }
}

impl From<&Grade> for CaseVerdict {
    fn from(g: &Grade) -> CaseVerdict {
        match g {
            Grade::Ok => CaseVerdict::Ok,
            Grade::NonStrict => CaseVerdict::NonStrict,
            Grade::Failed => CaseVerdict::Failed,
            Grade::Informational(_) => CaseVerdict::Informational,
            Grade::Unimplemented(_) => CaseVerdict::Unimplemented,
            Grade::Error(_) => CaseVerdict::Error,
            Grade::NotApplicable => CaseVerdict::NotApplicable,
        }
    }
}

/// One scenario against one target (or the reference, in simulation).
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub target: String,
    pub scenario: String,
    pub file: PathBuf,
    pub verdict: CaseVerdict,
    /// Rule ids broken unexpectedly (of the first bad run when repeated).
    pub rules: Vec<String>,
    /// Wall time, summed over repeats.
    pub wall: Duration,
    /// Simulated (or, against a target, real) time the scenario ran.
    pub sim_time: Option<Duration>,
    pub seed: Option<u64>,
    /// How many times it ran (`--repeat`).
    pub runs: usize,
    /// Why it is not OK: the findings with the trace, the load error, the target's error,
    /// or the missing capabilities. Empty when OK.
    pub diagnosis: String,
}

impl Case {
    /// A simulation run of `file` against the reference.
    pub fn simulated(file: PathBuf, report: &Report) -> Case {
        let verdict = CaseVerdict::from(report.grade());
        Case {
            target: REFERENCE.to_string(),
            scenario: report.name.clone(),
            file,
            verdict,
            rules: rules_of(report),
            wall: report.wall_time,
            sim_time: Some(report.sim_time),
            seed: Some(report.seed),
            runs: 1,
            diagnosis: if verdict == CaseVerdict::Ok {
                String::new()
            } else {
                report.explain()
            },
        }
    }

    /// A file that did not load, filed under `target`.
    pub fn invalid(target: &str, scenario: String, file: PathBuf, error: String) -> Case {
        Case {
            target: target.to_string(),
            scenario,
            file,
            verdict: CaseVerdict::Invalid,
            rules: Vec::new(),
            wall: Duration::ZERO,
            sim_time: None,
            seed: None,
            runs: 0,
            diagnosis: error,
        }
    }

    /// One cell of a target run: its repeats, FLAKY when they differ.
    pub fn from_target(file: PathBuf, runs: &[TargetRun]) -> Option<Case> {
        let first = runs.first()?;
        let shown = shown_run(runs)?;
        let verdict = if flaky(runs) {
            CaseVerdict::Flaky
        } else {
            CaseVerdict::from(&shown.grade)
        };
        let diagnosis = match &shown.grade {
            Grade::Ok | Grade::NotApplicable if verdict != CaseVerdict::Flaky => String::new(),
            Grade::Unimplemented(why) => why.clone(),
            Grade::Informational(note) => match &shown.report {
                Some(r) => format!("{note}\n{}", r.explain()),
                None => note.clone(),
            },
            _ => shown.explain(),
        };
        Some(Case {
            target: first.target.clone(),
            scenario: first.scenario.clone(),
            file,
            verdict,
            rules: shown.report.as_ref().map(rules_of).unwrap_or_default(),
            wall: runs.iter().map(|r| r.wall).sum(),
            sim_time: shown.report.as_ref().map(|r| r.sim_time),
            seed: shown.report.as_ref().map(|r| r.seed),
            runs: runs.len(),
            diagnosis,
        })
    }
}

/// The run of a (repeated) cell that its case reports: the first bad or NON-STRICT run,
/// else the first.
pub fn shown_run(runs: &[TargetRun]) -> Option<&TargetRun> {
    runs.iter()
        .find(|r| r.grade.is_bad() || r.grade == Grade::NonStrict)
        .or(runs.first())
}

fn rules_of(r: &Report) -> Vec<String> {
    r.broken_rules().into_iter().map(str::to_string).collect()
}

/// The first line of a diagnosis, for a JUnit `message` attribute.
pub(crate) fn headline(c: &Case) -> String {
    let mut s = c.verdict.label().to_string();
    if !c.rules.is_empty() {
        s.push_str(": ");
        s.push_str(&c.rules.join(" "));
    }
    if let Some(line) = c.diagnosis.lines().find(|l| !l.trim().is_empty()) {
        s.push_str(" — ");
        s.push_str(line.trim());
    }
    s
}
