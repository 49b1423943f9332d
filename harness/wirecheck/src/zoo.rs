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
    run_zoo_with(corpus, flaws, jobs, &|_| {})
}

/// How many runs [`run_zoo`] makes: each scenario on the reference and with each flaw.
pub fn zoo_runs(corpus: &[Scenario], flaws: &[Flaw]) -> usize {
    corpus.len() * (flaws.len() + 1)
}

/// [`run_zoo`], calling `progress` after each run with what it ran (the flaw, `None`
/// for the correct reference) and its report.
pub fn run_zoo_with(
    corpus: &[Scenario],
    flaws: &[Flaw],
    jobs: usize,
    progress: &(dyn Fn(ZooRun) + Sync),
) -> Zoo {
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
                    ..RunOptions::default()
                };
                let report = run(&corpus[i], &opts);
                tracing::debug!(
                    scenario = %report.name,
                    flaw = flaw.map_or("none", |f| f.name()),
                    verdict = report.verdict(),
                    "zoo run"
                );
                progress(ZooRun {
                    flaw,
                    report: &report,
                });
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((flaw, i, report));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(f, i, _)| (*f, *i));
    let runs: Vec<Run> = results
        .iter()
        .map(|(flaw, i, report)| Run {
            flaw: *flaw,
            scenario: *i,
            outcome: RunOutcome::of(report),
        })
        .collect();
    tally(corpus.len(), flaws, &runs)
}

/// One run of the zoo, as [`run_zoo_with`] reports it when it ends.
pub struct ZooRun<'a> {
    pub flaw: Option<Flaw>,
    pub report: &'a Report,
}

/// What the kill matrix needs of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutcome {
    pub name: String,
    pub verdict: Verdict,
    /// Rules broken unexpectedly.
    pub rules: Vec<&'static str>,
    /// A step or expectation failed.
    pub by_expectation: bool,
    pub wakeups: u64,
}

impl RunOutcome {
    pub fn of(r: &Report) -> Self {
        RunOutcome {
            name: r.name.clone(),
            verdict: r.grade(),
            rules: r.broken_rules(),
            by_expectation: !r.failures.is_empty(),
            wakeups: wakeups(r),
        }
    }
}

/// One run of scenario number `scenario` of the corpus, against `flaw` (`None`: the
/// correct reference).
#[derive(Clone, Debug)]
pub struct Run {
    pub flaw: Option<Flaw>,
    pub scenario: usize,
    pub outcome: RunOutcome,
}

/// Builds the kill matrix from every run. A flawed run kills its flaw only if its verdict
/// is not OK *and* the same scenario is OK on the correct reference: a scenario that fails
/// anyway proves nothing about the flaw.
pub fn tally(scenarios: usize, flaws: &[Flaw], runs: &[Run]) -> Zoo {
    let reference_ok: BTreeMap<usize, bool> = runs
        .iter()
        .filter(|r| r.flaw.is_none())
        .map(|r| (r.scenario, r.outcome.verdict == Verdict::Ok))
        .collect();
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
    for run in runs {
        let o = &run.outcome;
        match run.flaw {
            None => {
                reference_wakeups += o.wakeups;
                if o.verdict != Verdict::Ok {
                    reference_failures.push((o.name.clone(), o.verdict.as_str().to_owned()));
                }
            }
            Some(f) => {
                let Some(row) = rows.get_mut(&f) else {
                    continue;
                };
                row.wakeups += o.wakeups;
                let counts = reference_ok.get(&run.scenario).copied().unwrap_or(false);
                if o.verdict != Verdict::Ok && counts {
                    row.kills.push(Kill {
                        scenario: o.name.clone(),
                        verdict: o.verdict,
                        rules: o.rules.clone(),
                        by_expectation: o.by_expectation,
                    });
                }
            }
        }
    }
    Zoo {
        scenarios,
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
         A flaw is *killed* when at least one scenario's verdict is not OK while the same scenario\n\
         is OK on the correct reference (a scenario that fails anyway proves nothing). *Checkers\n\
         only*: every killing scenario's own steps and expectations held, so only the automatic\n\
         rule checkers caught it.\n\n",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(flaw: Option<Flaw>, scenario: usize, verdict: Verdict, rules: &[&'static str]) -> Run {
        Run {
            flaw,
            scenario,
            outcome: RunOutcome {
                name: format!("s{scenario}"),
                verdict,
                rules: rules.to_vec(),
                by_expectation: false,
                wakeups: 1,
            },
        }
    }

    #[test]
    fn a_kill_counts_only_where_the_reference_passes() {
        let f = Flaw::Broadcast;
        let runs = vec![
            run(None, 0, Verdict::Ok, &[]),
            run(None, 1, Verdict::Failed, &["BRK-2"]),
            run(None, 2, Verdict::Ok, &[]),
            // Fails on the reference too: not a kill.
            run(Some(f), 1, Verdict::Failed, &["BRK-2"]),
            // OK on the reference, FAILED with the flaw: a kill.
            run(Some(f), 2, Verdict::Failed, &["BRK-3"]),
            // OK both ways: not a kill.
            run(Some(f), 0, Verdict::Ok, &[]),
        ];
        let z = tally(3, &[f], &runs);
        assert_eq!(
            z.reference_failures,
            vec![("s1".to_owned(), "FAILED".to_owned())]
        );
        assert_eq!(z.rows.len(), 1);
        let kills: Vec<&str> = z.rows[0]
            .kills
            .iter()
            .map(|k| k.scenario.as_str())
            .collect();
        assert_eq!(kills, vec!["s2"]);
        assert_eq!(z.rows[0].rules(), vec!["BRK-3"]);
        assert_eq!((z.reference_wakeups, z.rows[0].wakeups), (3, 3));
    }

    #[test]
    fn a_flaw_killed_only_where_the_reference_fails_survives() {
        let f = Flaw::NoBackoff;
        let runs = vec![
            run(None, 0, Verdict::NonStrict, &["CONN-2"]),
            run(Some(f), 0, Verdict::NonStrict, &["CONN-2"]),
        ];
        let z = tally(1, &[f], &runs);
        assert_eq!(z.survivors(), vec![f]);
        assert!(summary(&z).contains("0 killed"), "{}", summary(&z));
    }
}
