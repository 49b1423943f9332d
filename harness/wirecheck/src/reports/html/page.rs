//! One case's page: verdict and run facts, the step failures, the violations (each
//! linking to the trace events it names), the SVG diagram with those events highlighted,
//! the final counters, and the scenario file with numbered lines.

use super::escape::esc;
use super::style::verdict_class;
use super::svg::{self, Mark};
use super::{document, Entry};
use crate::render::fmt_clock;
use crate::runner::Report;
use std::collections::BTreeMap;
use std::fmt::Write;
use wirecheck_core::rules::rule;

/// The page of `entry`, which lives at `path` (relative to the report folder).
pub fn render(entry: &Entry, path: &str) -> String {
    let c = entry.case;
    let up = "../".repeat(path.matches('/').count());
    let mut b = String::new();
    let _ = write!(
        b,
        r#"<nav><a href="{up}index.html">← all results</a></nav><h1>{}</h1><p class="meta">target <b>{}</b> · <span class="verdict {}" id="verdict">{}</span>"#,
        esc(&c.scenario),
        esc(&c.target),
        verdict_class(c.verdict),
        c.verdict.label()
    );
    if !c.rules.is_empty() {
        let _ = write!(b, " · rules broken: <b>{}</b>", esc(&c.rules.join(" ")));
    }
    if let Some(seed) = c.seed {
        let _ = write!(b, " · seed {seed}");
    }
    if let Some(t) = c.sim_time {
        let what = if c.target == crate::reports::REFERENCE {
            "simulated"
        } else {
            "ran"
        };
        let _ = write!(b, " · {what} {}", at(t));
    }
    let _ = write!(
        b,
        " · wall {} ms · runs {} · file <code>{}</code></p>",
        c.wall.as_millis(),
        c.runs,
        esc(&c.file.display().to_string())
    );
    match entry.report {
        Some(r) => report_sections(&mut b, r),
        None if !c.diagnosis.is_empty() => {
            let _ = write!(
                b,
                r#"<h2 id="diagnosis">Why</h2><pre class="diagnosis">{}</pre>"#,
                esc(&c.diagnosis)
            );
        }
        None => {}
    }
    b.push_str(r#"<h2 id="scenario">Scenario file</h2>"#);
    match entry.source {
        Some(text) => {
            b.push_str(r#"<pre class="yaml">"#);
            for (i, line) in text.lines().enumerate() {
                let _ = write!(
                    b,
                    r#"<span class="line" id="L{n}"><span class="no">{n}</span>{}</span>"#,
                    esc(line),
                    n = i + 1
                );
            }
            b.push_str("</pre>");
        }
        None => b.push_str("<p>(the file could not be read when the report was written)</p>"),
    }
    document(&format!("{} × {}", c.scenario, c.target), &b)
}

fn report_sections(b: &mut String, r: &Report) {
    if !r.failures.is_empty() {
        b.push_str(r#"<h2 id="failures">Failures</h2>"#);
        for f in &r.failures {
            b.push_str(r#"<div class="failure">"#);
            if let Some(loc) = &f.loc {
                let _ = write!(
                    b,
                    r##"<a class="mono" href="#L{}">{}</a>: "##,
                    loc.line,
                    esc(&loc.to_string())
                );
            }
            let _ = write!(
                b,
                "<code>{}</code> failed at {}: {}",
                esc(&f.step),
                at(f.at),
                esc(&f.what)
            );
            if let Some(h) = &f.hint {
                let _ = write!(b, r#"<div class="hint">hint: {}</div>"#, esc(h));
            }
            b.push_str("</div>");
        }
    }
    if !r.violations.is_empty() {
        b.push_str(
            r#"<h2 id="violations">Violations</h2><table class="violations"><tr><th>rule</th><th>level</th><th>at</th><th>trace events</th><th>diagnosis</th><th></th></tr>"#,
        );
        for (i, v) in r.violations.iter().enumerate() {
            let expected = r.expected.iter().any(|e| e == v.rule);
            let events: Vec<String> = v
                .events
                .iter()
                .map(|n| format!(r##"<a href="#ev-{n}">#{n}</a>"##))
                .collect();
            let requirement = rule(v.rule).map_or("", |r| r.requirement);
            let _ = write!(
                b,
                r#"<tr class="violation {}" id="v-{i}"><td title="{}"><b>{}</b></td><td>{}</td><td>{}</td><td class="events">{}</td><td>{}</td><td>{}</td></tr>"#,
                if expected { "expected" } else { "unexpected" },
                esc(requirement),
                esc(v.rule),
                v.level().as_str(),
                at(v.at),
                events.join(" "),
                esc(&v.diagnosis),
                if expected {
                    "expected (declared in expect_violations)"
                } else {
                    "UNEXPECTED"
                }
            );
        }
        b.push_str("</table>");
    }
    if !r.skipped.is_empty() {
        b.push_str(
            r#"<h2 id="not-judged">Not judged (fact not reported by the host's driver)</h2><ul>"#,
        );
        for k in &r.skipped {
            let _ = write!(b, "<li>{}</li>", esc(&k.to_string()));
        }
        b.push_str("</ul>");
    }
    let _ = write!(
        b,
        r#"<h2 id="diagram">Sequence diagram</h2><p class="meta">{} events. Arrows are messages, drawn when received; ● a call (blue) or its result (green ok, red error); · a note; ✕ a fault; ◆ a proxy's action. Events named by a violation are red (amber when the scenario expects that violation); hover an event for its whole text.</p><div class="diagram">{}</div>"#,
        r.events.len(),
        svg::diagram(&r.hosts, &r.events, &marks(r))
    );
    b.push_str(r#"<h2 id="counters">Final counters</h2><table class="counters"><tr><th>host</th><th>counters</th></tr>"#);
    for (host, counters) in &r.counters {
        let list: Vec<String> = counters
            .iter()
            .map(|(k, v)| format!("{} = <b>{v}</b>", esc(k)))
            .collect();
        let shown = if list.is_empty() {
            "(not running)".to_string()
        } else {
            list.join(" · ")
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td class=\"mono\">{shown}</td></tr>",
            esc(host)
        );
    }
    b.push_str("</table>");
}

/// Times on the page as in the diagram's time column (`0.507s`), so one page never
/// mixes two forms.
fn at(d: std::time::Duration) -> String {
    fmt_clock(d).trim().to_string()
}

/// Events named by violations: unexpected wins over expected.
fn marks(r: &Report) -> BTreeMap<usize, Mark> {
    let mut m = BTreeMap::new();
    for v in &r.violations {
        let mark = if r.expected.iter().any(|e| e == v.rule) {
            Mark::Expected
        } else {
            Mark::Unexpected
        };
        for &n in &v.events {
            let e = m.entry(n).or_insert(mark);
            if mark == Mark::Unexpected {
                *e = mark;
            }
        }
    }
    m
}
