//! The trace as an SVG sequence diagram: one vertical lane per host, one row per event,
//! drawn from the typed events (not from the text diagram), labelled with the same prose
//! (`render::line_label`).
//!
//! Each event is a `<g class="ev ..." id="ev-N">` (N = its trace number, as `[trace #N]`
//! in findings), with a `<title>` holding its whole text. A message is an arrow from the
//! sender's lane to the receiver's, drawn when it was received; a call or result is a
//! dot (green: ok, red: error or failure), a note or lifecycle event a small grey dot, a
//! fault a red cross on each host it hit, a proxy's action a purple diamond. Events a
//! violation names carry `hl` (red; `hl-expected`, amber, for violations the scenario
//! declares).

use super::escape::esc;
use crate::model::Outcome;
use crate::render::{fmt_clock, line_label};
use crate::trace::{Event, EventKind};
use std::collections::BTreeMap;
use std::fmt::Write;

const ROW: usize = 22;
const TOP: usize = 52;
const NUM_W: usize = 40;
const TIME_W: usize = 66;
const LANE_W: usize = 120;
/// Characters of a label drawn beside the lanes (the `<title>` has all of it).
const LABEL_CHARS: usize = 140;
/// Width of a character of the 12px monospace font, for the picture's width.
const CHAR_W: f64 = 7.3;

/// How a violation marks an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Named by a violation the scenario did not declare.
    Unexpected,
    /// Named only by violations the scenario declares (`expect_violations`).
    Expected,
}

/// The diagram of `events` with lanes for `hosts` (name, kind label) in order.
pub fn diagram(
    hosts: &[(String, &str)],
    events: &[Event],
    marks: &BTreeMap<usize, Mark>,
) -> String {
    let lanes: Vec<&str> = hosts.iter().map(|(h, _)| h.as_str()).collect();
    let x0 = NUM_W + TIME_W + 8;
    let label_x = x0 + lanes.len() * LANE_W + 8;
    let longest = events
        .iter()
        .map(|e| line_label(e).chars().count().min(LABEL_CHARS + 1))
        .max()
        .unwrap_or(0);
    let width = label_x + (longest as f64 * CHAR_W) as usize + 16;
    let height = TOP + events.len() * ROW + 12;
    let lane_x = |host: &str| {
        lanes
            .iter()
            .position(|l| *l == host)
            .map(|i| x0 + i * LANE_W + LANE_W / 2)
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="trace" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="sequence diagram, {} events">"#,
        events.len()
    );
    s.push_str(concat!(
        r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path class="arrowhead" d="M0,0 L10,5 L0,10 z"/></marker>"#,
        r#"<marker id="arrow-hl" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path class="arrowhead-hl" d="M0,0 L10,5 L0,10 z"/></marker></defs>"#
    ));
    let _ = write!(
        s,
        r#"<text class="num" x="{}" y="18" text-anchor="end">#</text><text class="time" x="{}" y="18" text-anchor="end">time</text>"#,
        NUM_W - 6,
        NUM_W + TIME_W - 6
    );
    for (i, (host, kind)) in hosts.iter().enumerate() {
        let x = x0 + i * LANE_W + LANE_W / 2;
        let name: String = host.chars().take(16).collect();
        let _ = write!(
            s,
            r#"<g class="lane-head"><title>{}</title><text class="host" x="{x}" y="18" text-anchor="middle">{}</text><text class="kind" x="{x}" y="34" text-anchor="middle">{}</text></g><line class="lane" x1="{x}" y1="{}" x2="{x}" y2="{}"/>"#,
            esc(host),
            esc(&name),
            esc(kind),
            TOP - 8,
            height - 4
        );
    }
    for (n, e) in events.iter().enumerate() {
        let y = TOP + n * ROW;
        let mid = y + ROW / 2;
        let mark = marks.get(&n);
        let class = match mark {
            Some(Mark::Unexpected) => "ev hl",
            Some(Mark::Expected) => "ev hl-expected",
            None => "ev",
        };
        let text = line_label(e);
        let time = fmt_clock(e.at);
        let time = time.trim();
        let _ = write!(
            s,
            r#"<g class="{class} {}" id="ev-{n}"><title>#{n} {time} {}</title><rect class="row" x="0" y="{y}" width="{width}" height="{ROW}"/><text class="num" x="{}" y="{}" text-anchor="end">{n}</text><text class="time" x="{}" y="{}" text-anchor="end">{time}</text>"#,
            kind_class(&e.kind),
            esc(&text),
            NUM_W - 6,
            mid + 4,
            NUM_W + TIME_W - 6,
            mid + 4,
        );
        let here = lane_x(&e.host);
        let head = if mark == Some(&Mark::Unexpected) {
            "arrow-hl"
        } else {
            "arrow"
        };
        glyph(&mut s, e, here, &lane_x, mid, head);
        let shown: String = if text.chars().count() > LABEL_CHARS {
            text.chars()
                .take(LABEL_CHARS)
                .chain(std::iter::once('…'))
                .collect()
        } else {
            text
        };
        let _ = write!(
            s,
            r#"<text class="label" x="{label_x}" y="{}">{}</text></g>"#,
            mid + 4,
            esc(&shown)
        );
    }
    s.push_str("</svg>");
    s
}

fn kind_class(k: &EventKind) -> &'static str {
    match k {
        EventKind::Recv { .. } => "k-recv",
        EventKind::Call { .. } => "k-call",
        EventKind::Result { .. } => "k-result",
        EventKind::Life(_) => "k-life",
        EventKind::Note(_) => "k-note",
        EventKind::Fault { .. } => "k-fault",
        EventKind::Proxy { .. } => "k-proxy",
    }
}

/// The event's mark on the lanes.
fn glyph(
    s: &mut String,
    e: &Event,
    here: Option<usize>,
    lane_x: &dyn Fn(&str) -> Option<usize>,
    y: usize,
    head: &str,
) {
    match (&e.kind, here) {
        (EventKind::Recv { from, .. }, Some(to)) => match lane_x(from) {
            Some(from) if from == to => {
                let _ = write!(
                    s,
                    r#"<path class="msg" d="M{to},{} h24 v10 h-22" marker-end="url(#{head})"/>"#,
                    y - 6
                );
            }
            Some(from) => {
                let _ = write!(
                    s,
                    r#"<line class="msg" x1="{from}" y1="{y}" x2="{to}" y2="{y}" marker-end="url(#{head})"/>"#
                );
            }
            // From outside the lanes (an address no host has).
            None => {
                let _ = write!(
                    s,
                    r#"<line class="msg" x1="{}" y1="{y}" x2="{to}" y2="{y}" marker-end="url(#{head})"/>"#,
                    to.saturating_sub(36)
                );
            }
        },
        (EventKind::Call { .. }, Some(x)) => {
            let _ = write!(s, r#"<circle class="call" cx="{x}" cy="{y}" r="5"/>"#);
        }
        (EventKind::Result { outcome, .. }, Some(x)) => {
            let class = if matches!(outcome, Outcome::Ok(_)) {
                "ok"
            } else {
                "err"
            };
            let _ = write!(s, r#"<circle class="{class}" cx="{x}" cy="{y}" r="5"/>"#);
        }
        (EventKind::Note(_) | EventKind::Life(_), Some(x)) => {
            let _ = write!(s, r#"<circle class="note" cx="{x}" cy="{y}" r="3"/>"#);
        }
        (EventKind::Proxy { .. }, Some(x)) => {
            let _ = write!(
                s,
                r#"<path class="proxy" d="M{x},{} l5,5 l-5,5 l-5,-5 z"/>"#,
                y - 5
            );
        }
        (EventKind::Fault { other, .. }, _) => {
            let xs: Vec<usize> = [here, other.as_deref().and_then(lane_x)]
                .into_iter()
                .flatten()
                .collect();
            if let [a, b] = xs[..] {
                let _ = write!(
                    s,
                    r#"<line class="fault-link" x1="{a}" y1="{y}" x2="{b}" y2="{y}"/>"#
                );
            }
            for x in xs {
                let _ = write!(
                    s,
                    r#"<path class="fault" d="M{},{} l10,10 m0,-10 l-10,10"/>"#,
                    x - 5,
                    y - 5
                );
            }
        }
        // A host that is not a lane: only the label says what happened.
        (_, None) => {}
    }
}
