//! The run table of a target run (scenario × target, with repeats) and its summary.

use super::run::{flaky, Grade, TargetRun};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Counts per verdict label, plus applicability figures.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub counts: BTreeMap<&'static str, usize>,
    /// Cells (scenario × target) with a host of the target's role.
    pub with_role: usize,
    /// Of those, cells not UNIMPLEMENTED.
    pub applicable: usize,
    pub flaky: usize,
    /// Cells whose (last) verdict is FAILED or ERROR, or that are flaky.
    pub bad: usize,
}

/// The verdict shown for a cell: its repeats' common verdict, or FLAKY with the counts.
pub fn cell_label(runs: &[TargetRun]) -> String {
    if !flaky(runs) {
        return runs.first().map_or("-", |r| r.grade.label()).to_owned();
    }
    let mut n: BTreeMap<&str, usize> = BTreeMap::new();
    for r in runs {
        *n.entry(r.grade.label()).or_default() += 1;
    }
    let parts: Vec<String> = n.iter().map(|(k, v)| format!("{k}×{v}")).collect();
    format!("FLAKY ({})", parts.join(" "))
}

fn note(r: &TargetRun) -> String {
    match &r.grade {
        Grade::Unimplemented(why) => why.clone(),
        Grade::Error(e) => e.lines().next().unwrap_or("").to_owned(),
        Grade::NotApplicable => "no host of the target's role".into(),
        Grade::Informational(doc) => {
            let rules = r
                .report
                .as_ref()
                .map(|r| r.broken_rules().join(" "))
                .unwrap_or_default();
            format!("{doc}; rules broken: {rules}")
        }
        Grade::Failed | Grade::NonStrict => {
            let rules = r
                .report
                .as_ref()
                .map(|r| r.broken_rules().join(" "))
                .unwrap_or_default();
            let mut s = if rules.is_empty() {
                String::new()
            } else {
                format!("rules broken: {rules}")
            };
            if !r.skipped.is_empty() {
                s.push_str(&format!(
                    "{}skipped {} counter expectation(s)",
                    if s.is_empty() { "" } else { "; " },
                    r.skipped.len()
                ));
            }
            s
        }
        Grade::Ok if !r.skipped.is_empty() => format!("not judged: {}", r.skipped.join(", ")),
        Grade::Ok => String::new(),
    }
}

/// One line per cell, then nothing else (see [`summary`]).
pub fn render(cells: &[Vec<TargetRun>]) -> String {
    let w = cells
        .iter()
        .filter_map(|c| c.first())
        .map(|r| r.scenario.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let tw = cells
        .iter()
        .filter_map(|c| c.first())
        .map(|r| r.target.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut s = format!(
        "{:<w$}  {:<tw$}  {:<13}  {:>7}  notes\n",
        "scenario", "target", "verdict", "wall"
    );
    for runs in cells {
        let Some(last) = runs.last() else { continue };
        let wall = if matches!(last.grade, Grade::NotApplicable | Grade::Unimplemented(_)) {
            "-".to_owned()
        } else {
            format!("{:.2}s", last.wall.as_secs_f64())
        };
        let _ = writeln!(
            s,
            "{:<w$}  {:<tw$}  {:<13}  {:>7}  {}",
            last.scenario,
            last.target,
            cell_label(runs),
            wall,
            note(last)
        );
    }
    s
}

/// Counts over the cells.
pub fn summary(cells: &[Vec<TargetRun>]) -> Summary {
    let mut sum = Summary::default();
    for runs in cells {
        let Some(last) = runs.last() else { continue };
        *sum.counts.entry(last.grade.label()).or_default() += 1;
        if last.grade != Grade::NotApplicable {
            sum.with_role += 1;
            if !matches!(last.grade, Grade::Unimplemented(_)) {
                sum.applicable += 1;
            }
        }
        let f = flaky(runs);
        sum.flaky += usize::from(f);
        sum.bad += usize::from(f || runs.iter().any(|r| r.grade.is_bad()));
    }
    sum
}

impl Summary {
    /// `applicable 40 of 42 scenarios with a broker host (95%); OK 40, ...`.
    pub fn line(&self) -> String {
        let pct = if self.with_role == 0 {
            0.0
        } else {
            100.0 * self.applicable as f64 / self.with_role as f64
        };
        let counts: Vec<String> = [
            "OK",
            "NON-STRICT",
            "FAILED",
            "INFORMATIONAL",
            "UNIMPLEMENTED",
            "ERROR",
            "N/A",
        ]
        .iter()
        .map(|k| format!("{k} {}", self.counts.get(k).copied().unwrap_or(0)))
        .collect();
        format!(
            "applicable: {} of {} runs with a host of the target's role ({pct:.0}%); {}; FLAKY {}",
            self.applicable,
            self.with_role,
            counts.join(", "),
            self.flaky
        )
    }
}

/// One line of what went wrong in a FAILED or NON-STRICT cell: the first violated
/// rule and its diagnosis, else the first failed step.
fn what_happened(r: &TargetRun) -> Option<String> {
    if !matches!(
        r.grade,
        Grade::Failed | Grade::NonStrict | Grade::Informational(_)
    ) {
        return None;
    }
    let report = r.report.as_ref()?;
    if let Some(v) = report.unexpected().next() {
        return Some(format!("{} {}", v.rule, v.diagnosis));
    }
    report
        .failures
        .first()
        .map(|f| format!("step `{}`: {}", f.step, f.what))
}

/// The matrix as markdown: one row per scenario, one column per target (docs/targets.md).
pub fn markdown(cells: &[Vec<TargetRun>]) -> String {
    let mut targets: Vec<&str> = Vec::new();
    let mut rows: Vec<(&str, Vec<String>)> = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    let mut findings: Vec<String> = Vec::new();
    let mut documented: Vec<String> = Vec::new();
    for runs in cells {
        let Some(last) = runs.last() else { continue };
        if !targets.contains(&last.target.as_str()) {
            targets.push(&last.target);
        }
        if rows.last().is_none_or(|(s, _)| *s != last.scenario) {
            rows.push((&last.scenario, Vec::new()));
        }
        let mut label = cell_label(runs);
        if let Grade::Unimplemented(why) = &last.grade {
            reasons.push(format!("- `{}` × {}: {why}", last.scenario, last.target));
            label = format!("UNIMPLEMENTED [{}]", reasons.len());
        }
        if let (Grade::Informational(doc), false) = (&last.grade, flaky(runs)) {
            documented.push(format!("`{}` × {}: {doc}", last.scenario, last.target));
            label = format!("INFORMATIONAL [I{}]", documented.len());
        }
        if let (Some(what), false) = (what_happened(last), flaky(runs)) {
            findings.push(format!("`{}` × {}: {what}", last.scenario, last.target));
            let rules = last
                .report
                .as_ref()
                .map(|r| r.broken_rules().join(" "))
                .unwrap_or_default();
            label = if rules.is_empty() {
                format!("{label} [F{}]", findings.len())
            } else {
                format!("{label} {rules} [F{}]", findings.len())
            };
        }
        if let Some((_, r)) = rows.last_mut() {
            r.push(label);
        }
    }
    let mut s = format!(
        "| scenario | {} |\n|---|{}\n",
        targets.join(" | "),
        "---|".repeat(targets.len())
    );
    for (name, r) in &rows {
        let _ = writeln!(s, "| `{name}` | {} |", r.join(" | "));
    }
    if !documented.is_empty() {
        s.push_str("\nINFORMATIONAL: the target's own documentation states the behaviour:\n\n");
        for (i, d) in documented.iter().enumerate() {
            let _ = writeln!(s, "- I{}. {d}", i + 1);
        }
    }
    if !findings.is_empty() {
        s.push_str("\nWhat happened in each FAILED, NON-STRICT or INFORMATIONAL cell:\n\n");
        for (i, f) in findings.iter().enumerate() {
            let _ = writeln!(s, "- F{}. {f}", i + 1);
        }
    }
    if !reasons.is_empty() {
        s.push_str("\nUNIMPLEMENTED, and why:\n\n");
        for (i, r) in reasons.iter().enumerate() {
            let _ = writeln!(s, "{}. {}", i + 1, r.trim_start_matches("- "));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(grade: Grade) -> TargetRun {
        TargetRun {
            scenario: "s".into(),
            target: "t".into(),
            grade,
            skipped: vec!["broker.clients = 1".into()],
            report: None,
            wall: Duration::from_millis(10),
            addresses: Vec::new(),
        }
    }

    #[test]
    fn differing_repeats_are_flaky_and_counted_bad() {
        let cells = vec![
            vec![run(Grade::Ok), run(Grade::Failed), run(Grade::Ok)],
            vec![run(Grade::Ok), run(Grade::Ok)],
            vec![run(Grade::Unimplemented("needs `info`".into()))],
        ];
        assert_eq!(cell_label(&cells[0]), "FLAKY (FAILED×1 OK×2)");
        assert_eq!(cell_label(&cells[1]), "OK");
        let sum = summary(&cells);
        assert_eq!(
            (sum.flaky, sum.bad, sum.applicable, sum.with_role),
            (1, 1, 2, 3)
        );
        let text = render(&cells);
        assert!(text.contains("not judged: broker.clients = 1"), "{text}");
        assert!(
            text.contains("UNIMPLEMENTED") && text.contains("needs `info`"),
            "{text}"
        );
        assert!(markdown(&cells).contains("1. `s` × t: needs `info`"));
    }
}
