//! The bug zoo: runs the scenario catalog against the reference and against each known flaw
//! (`wirecheck_core::flaws`), and builds the kill matrix: which scenarios catch each flaw,
//! and which rules they name.

use crate::model::Scenario;
use crate::runner::{run, Report, RunOptions, Verdict};
use std::collections::BTreeMap;
use std::sync::Mutex;
use wirecheck_core::flaws::{Flaw, Flaws};

/// One scenario that caught a flaw.
#[derive(Clone, Debug, PartialEq)]
pub struct Kill {
    pub scenario: String,
    pub verdict: Verdict,
    /// Rules the checkers reported broken (unexpectedly).
    pub rules: Vec<&'static str>,
    /// A step or expectation of the scenario failed too.
    pub by_expectation: bool,
}

impl Kill {
    /// Caught by the automatic checkers alone: the scenario's own steps and expectations all held.
    pub fn checker_only(&self) -> bool {
        !self.by_expectation
    }
}

#[derive(Clone, Debug)]
pub struct FlawRow {
    pub flaw: Flaw,
    pub kills: Vec<Kill>,
    /// Sum of the brokers' `wakeups` counters over the corpus.
    pub wakeups: u64,
}

impl FlawRow {
    pub fn killed(&self) -> bool {
        !self.kills.is_empty()
    }

    /// Every rule any kill named, sorted.
    pub fn rules(&self) -> Vec<&'static str> {
        let mut r: Vec<&'static str> = self.kills.iter().flat_map(|k| k.rules.clone()).collect();
        r.sort_by_key(|id| rule_order(id));
        r.dedup();
        r
    }

    /// Caught only by checkers: no killing scenario failed on its own expectations.
    pub fn checker_only(&self) -> bool {
        self.killed() && self.kills.iter().all(Kill::checker_only)
    }
}

fn rule_order(id: &str) -> (usize, &str) {
    let pos = wirecheck_core::rules::RULES
        .iter()
        .position(|r| r.id == id)
        .unwrap_or(usize::MAX);
    (pos, id)
}

#[derive(Clone, Debug)]
pub struct Zoo {
    pub scenarios: usize,
    /// Scenarios the correct reference does not pass (must be empty).
    pub reference_failures: Vec<(String, String)>,
    pub reference_wakeups: u64,
    pub rows: Vec<FlawRow>,
}

impl Zoo {
    pub fn survivors(&self) -> Vec<Flaw> {
        self.rows
            .iter()
            .filter(|r| !r.killed())
            .map(|r| r.flaw)
            .collect()
    }
}

fn wakeups(r: &Report) -> u64 {
    r.counters
        .iter()
        .filter_map(|(_, c)| c.get("wakeups"))
        .sum()
}

/// Runs the corpus against the reference and each of `flaws` on `jobs` threads.
pub fn run_zoo(corpus: &[Scenario], flaws: &[Flaw], jobs: usize) -> Zoo {
    let mut work: Vec<(Option<Flaw>, usize)> = Vec::new();
    for i in 0..corpus.len() {
        work.push((None, i));
        for f in flaws {
            work.push((Some(*f), i));
        }
    }
    let queue = Mutex::new(work.into_iter());
    let results: Mutex<Vec<(Option<Flaw>, usize, Report)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some((flaw, i)) = next else { break };
                let opts = RunOptions {
                    seed: None,
                    flaws: flaw.map(Flaws::one).unwrap_or_default(),
                };
                let report = run(&corpus[i], &opts);
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((flaw, i, report));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(f, i, _)| (*f, *i));

    let mut reference_failures = Vec::new();
    let mut reference_wakeups = 0;
    let mut rows: BTreeMap<Flaw, FlawRow> = flaws
        .iter()
        .map(|f| {
            (
                *f,
                FlawRow {
                    flaw: *f,
                    kills: Vec::new(),
                    wakeups: 0,
                },
            )
        })
        .collect();
    for (flaw, _, report) in &results {
        match flaw {
            None => {
                reference_wakeups += wakeups(report);
                if !report.passed() {
                    reference_failures.push((report.name.clone(), report.verdict().to_owned()));
                }
            }
            Some(f) => {
                let row = rows.get_mut(f).expect("row per flaw");
                row.wakeups += wakeups(report);
                if !report.passed() {
                    row.kills.push(Kill {
                        scenario: report.name.clone(),
                        verdict: report.grade(),
                        rules: report.broken_rules(),
                        by_expectation: !report.failures.is_empty(),
                    });
                }
            }
        }
    }
    Zoo {
        scenarios: corpus.len(),
        reference_failures,
        reference_wakeups,
        rows: flaws.iter().filter_map(|f| rows.remove(f)).collect(),
    }
}

/// Summary line: flaws, killed, kill rate.
pub fn summary(z: &Zoo) -> String {
    let killed = z.rows.iter().filter(|r| r.killed()).count();
    let rate = if z.rows.is_empty() {
        100.0
    } else {
        100.0 * killed as f64 / z.rows.len() as f64
    };
    let checker_only = z.rows.iter().filter(|r| r.checker_only()).count();
    format!(
        "{} flaws, {killed} killed ({rate:.0}%), {checker_only} caught only by automatic checkers; reference: {} of {} scenarios OK",
        z.rows.len(),
        z.scenarios - z.reference_failures.len(),
        z.scenarios
    )
}

/// The kill matrix as text for a terminal.
pub fn render_text(z: &Zoo) -> String {
    let mut s = String::new();
    for row in &z.rows {
        let status = if row.killed() { "killed" } else { "SURVIVED" };
        s.push_str(&format!(
            "{:<26} {:<8} {:>2} scenario(s)  rules: {}{}\n",
            row.flaw.name(),
            status,
            row.kills.len(),
            row.rules().join(" "),
            if row.checker_only() {
                "  (checkers only)"
            } else {
                ""
            }
        ));
        for k in &row.kills {
            s.push_str(&format!(
                "    {:<44} {:<10} {}{}\n",
                k.scenario,
                k.verdict.as_str(),
                k.rules.join(" "),
                if k.by_expectation {
                    " +expectation"
                } else {
                    ""
                }
            ));
        }
    }
    if let Some(row) = z.rows.iter().find(|r| r.flaw == Flaw::PollingReceivers) {
        s.push_str(&format!(
            "\nbroker wake-ups over the corpus: reference {}, polling-receivers {}\n",
            z.reference_wakeups, row.wakeups
        ));
    }
    for (name, verdict) in &z.reference_failures {
        s.push_str(&format!("REFERENCE FAILS {name}: {verdict}\n"));
    }
    s.push_str(&summary(z));
    s.push('\n');
    s
}

/// The kill matrix as the markdown of `docs/zoo.md`.
pub fn render_markdown(z: &Zoo) -> String {
    let mut s = String::from(
        "# Bug zoo: kill matrix\n\n\
         Generated by `cargo run -p wirecheck -- zoo --markdown > docs/zoo.md`; a test fails when it\n\
         is stale. Each flaw is a known production bug reproduced as a switchable flaw of the\n\
         reference (`harness/core/src/flaws.rs`); the whole scenario catalog runs against each one.\n\
         A flaw is *killed* when at least one scenario's verdict is not OK. *Checkers only*: every\n\
         killing scenario's own steps and expectations held, so only the automatic rule checkers\n\
         caught it.\n\n",
    );
    s.push_str(&format!("{}\n\n", summary(z)));
    s.push_str("| flaw | side | what it does | killed by | rules named | checkers only |\n|---|---|---|---|---|---|\n");
    for row in &z.rows {
        let by: Vec<String> = row
            .kills
            .iter()
            .map(|k| format!("`{}`", k.scenario))
            .collect();
        let by = if by.len() > 4 {
            format!("{} and {} more", by[..4].join(", "), by.len() - 4)
        } else if by.is_empty() {
            "**SURVIVED**".to_owned()
        } else {
            by.join(", ")
        };
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            row.flaw.name(),
            row.flaw.side().as_str(),
            row.flaw.description(),
            by,
            row.rules().join(", "),
            if row.checker_only() { "yes" } else { "" }
        ));
    }
    if let Some(row) = z.rows.iter().find(|r| r.flaw == Flaw::PollingReceivers) {
        s.push_str(&format!(
            "\nThe cost of polling, in simulated broker wake-ups over the whole corpus: reference {}, `polling-receivers` {}.\n",
            z.reference_wakeups, row.wakeups
        ));
    }
    s
}
