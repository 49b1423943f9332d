//! The report's front page: the counts, a legend, and the matrix of scenarios (rows) ×
//! targets (columns), each cell coloured by its verdict and linking to its page.

use super::escape::esc;
use super::style::{verdict_class, LEGEND};
use super::{document, Entry};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The index of `entries`, whose pages are at `paths` (same order).
pub fn render(entries: &[Entry], paths: &[String]) -> String {
    let mut targets: Vec<&str> = Vec::new();
    let mut scenarios: Vec<&str> = Vec::new();
    let mut cells: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        let (t, s) = (e.case.target.as_str(), e.case.scenario.as_str());
        if !targets.contains(&t) {
            targets.push(t);
        }
        if !scenarios.contains(&s) {
            scenarios.push(s);
        }
        cells.entry((s, t)).or_insert(i);
    }
    let failed = entries.iter().filter(|e| e.case.verdict.is_bad()).count();
    let skipped = entries.iter().filter(|e| e.case.verdict.is_skip()).count();
    let mut b = String::new();
    let _ = write!(
        b,
        r#"<h1>wirecheck report</h1><p class="meta" id="summary">{} cases: {} passed, {failed} failed, {skipped} skipped · {} scenario(s) × {} target(s) · wirecheck {}</p><p class="legend">"#,
        entries.len(),
        entries.len() - failed - skipped,
        scenarios.len(),
        targets.len(),
        env!("CARGO_PKG_VERSION")
    );
    for v in LEGEND {
        let _ = write!(
            b,
            r#"<span class="verdict {}">{}</span>"#,
            verdict_class(v),
            v.label()
        );
    }
    b.push_str(r#"</p><table class="matrix" id="matrix"><thead><tr><th>scenario</th>"#);
    for t in &targets {
        let _ = write!(b, "<th>{}</th>", esc(t));
    }
    b.push_str("</tr></thead><tbody>");
    for s in &scenarios {
        let _ = write!(b, "<tr><th>{}</th>", esc(s));
        for t in &targets {
            match cells.get(&(*s, *t)) {
                Some(&i) => {
                    let c = entries[i].case;
                    let rules = if c.rules.is_empty() {
                        String::new()
                    } else {
                        format!("<small>{}</small>", esc(&c.rules.join(" ")))
                    };
                    let _ = write!(
                        b,
                        r#"<td class="cell {}" data-verdict="{}"><a href="{}" title="{} × {}">{}{rules}</a></td>"#,
                        verdict_class(c.verdict),
                        c.verdict.label(),
                        esc(&paths[i]),
                        esc(s),
                        esc(t),
                        c.verdict.label()
                    );
                }
                None => b.push_str(r#"<td class="cell none">—</td>"#),
            }
        }
        b.push_str("</tr>");
    }
    b.push_str("</tbody></table>");
    document("wirecheck report", &b)
}
