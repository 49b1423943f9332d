//! One run as a Mermaid `sequenceDiagram` (`wirecheck show --format mermaid`), for
//! Markdown that renders Mermaid (GitHub, GitLab, mdBook): one participant per host in
//! lane order, a message as an arrow from sender to receiver when it was received, calls,
//! results, notes and faults as notes over their lanes, each labelled with its trace
//! number, time and the diagram's prose (`render::line_label`). Events a violation names
//! sit in a red `rect` (amber for violations the scenario declares); the failures and
//! violations close the diagram as notes over every lane, the final counters as comments.
//!
//! Text is escaped with Mermaid's entity codes (`#59;`): `;` and `#` would end or break
//! a statement, `%%` start a comment, `<`/`>`/`&` be read as markup; a newline or other
//! control character is written as a visible `\n`-style escape.

use crate::render::{fmt_clock, fmt_time, line_label};
use crate::runner::Report;
use crate::trace::{Event, EventKind};
use std::collections::BTreeSet;
use std::fmt::Write;

/// Characters of one label kept (a 512 KiB body would make the diagram unreadable).
const LABEL_CHARS: usize = 160;
const RED: &str = "rgb(255, 206, 203)";
const AMBER: &str = "rgb(255, 241, 199)";

/// The run as Mermaid source, ending in a newline.
pub fn report(r: &Report) -> String {
    let lanes: Vec<&str> = r.hosts.iter().map(|(h, _)| h.as_str()).collect();
    let id = |host: &str| {
        lanes
            .iter()
            .position(|l| *l == host)
            .map(|i| format!("h{i}"))
    };
    let unexpected: BTreeSet<usize> = r
        .unexpected()
        .flat_map(|v| v.events.iter().copied())
        .collect();
    let expected: BTreeSet<usize> = r
        .violations
        .iter()
        .flat_map(|v| v.events.iter().copied())
        .filter(|n| !unexpected.contains(n))
        .collect();
    let mut s = String::from("sequenceDiagram\n");
    let _ = writeln!(
        s,
        "    %% {} (seed {}): {}",
        comment(&r.name),
        r.seed,
        r.verdict()
    );
    for (i, (host, kind)) in r.hosts.iter().enumerate() {
        let _ = writeln!(
            s,
            "    participant h{i} as {}",
            text(&format!("{host} ({kind})"))
        );
    }
    for (n, e) in r.events.iter().enumerate() {
        let color = if unexpected.contains(&n) {
            Some(RED)
        } else if expected.contains(&n) {
            Some(AMBER)
        } else {
            None
        };
        if let Some(c) = color {
            let _ = writeln!(s, "    rect {c}");
        }
        let _ = writeln!(s, "    {}", statement(n, e, &id));
        if color.is_some() {
            s.push_str("    end\n");
        }
    }
    let all = match lanes.len() {
        0 => None,
        1 => Some("h0".to_string()),
        n => Some(format!("h0,h{}", n - 1)),
    };
    if let Some(all) = all {
        for f in &r.failures {
            let mut line = format!("FAILED {} at {}: {}", f.step, fmt_time(f.at), f.what);
            if let Some(loc) = &f.loc {
                line = format!("{loc}: {line}");
            }
            let _ = writeln!(
                s,
                "    rect {RED}\n    Note over {all}: {}\n    end",
                text(&line)
            );
        }
        for v in &r.violations {
            let declared = r.expected.iter().any(|e| e == v.rule);
            let (c, tag) = if declared {
                (AMBER, "expected")
            } else {
                (RED, "UNEXPECTED")
            };
            let _ = writeln!(
                s,
                "    rect {c}\n    Note over {all}: {}\n    end",
                text(&format!("[{tag}] {v}"))
            );
        }
    }
    for (host, counters) in &r.counters {
        let list: Vec<String> = counters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            s,
            "    %% final {}: {}",
            comment(host),
            if list.is_empty() {
                "(not running)".to_string()
            } else {
                list.join(" ")
            }
        );
    }
    s
}

/// One event as one Mermaid statement.
fn statement(n: usize, e: &Event, id: &dyn Fn(&str) -> Option<String>) -> String {
    let label = text(&format!(
        "#{n} {} {}",
        fmt_clock(e.at).trim(),
        line_label(e)
    ));
    let Some(here) = id(&e.host) else {
        // Not a lane: nothing to attach it to but the first lane.
        return format!("Note over h0: {label}");
    };
    match &e.kind {
        EventKind::Recv { from, .. } => match id(from) {
            Some(from) => format!("{from}->>{here}: {label}"),
            None => format!("Note left of {here}: {label}"),
        },
        EventKind::Fault { other, .. } => match other.as_deref().and_then(id) {
            Some(other) => format!("Note over {here},{other}: {label}"),
            None => format!("Note over {here}: {label}"),
        },
        EventKind::Note(_) | EventKind::Life(_) => format!("Note right of {here}: {label}"),
        EventKind::Call { .. } | EventKind::Result { .. } | EventKind::Proxy { .. } => {
            format!("Note over {here}: {label}")
        }
    }
}

/// Mermaid text: entity codes for what the parser or the renderer would read, visible
/// escapes for control characters, clipped to [`LABEL_CHARS`].
fn text(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == LABEL_CHARS {
            out.push('…');
            break;
        }
        match c {
            '#' | ';' | '%' | '<' | '>' | '&' => {
                let _ = write!(out, "#{};", c as u32);
            }
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// A comment's text: one line.
fn comment(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn statement_breakers_and_markup_become_entity_codes() {
        assert_eq!(
            text("a;b #1 100% <b>&\"x\"\n{y}"),
            "a#59;b #35;1 100#37; #60;b#62;#38;\"x\"\\n{y}"
        );
        let long = "x".repeat(500);
        let t = text(&long);
        assert_eq!(t.chars().count(), super::LABEL_CHARS + 1);
        assert!(t.ends_with('…'));
    }
}
