//! Renders a trace as a text sequence diagram: one lane per host, one line per event.
//!
//! ```text
//!      time  app         broker      worker
//!    0.001s  │──────────▶│           │           hello app
//!    0.002s  │◀──────────│           │           welcome app
//!    2.000s  ✕           ✕           │           FAULT partition app | broker
//! ```
//! Arrows are drawn when a message is *received* (a message lost on the way has no arrow).
//! The format is stable and diff-friendly: snapshot diffs show how the message flow changed.

mod label;

pub use label::{corruption_name, fmt_range, fmt_time, label, line_label};

use crate::trace::{Event, EventKind};
use std::fmt::Write;
use std::time::Duration;

const LANE: usize = 12;

/// Column layout for a set of lanes.
pub struct Diagram {
    lanes: Vec<String>,
}

impl Diagram {
    pub fn new(lanes: Vec<String>) -> Self {
        Diagram { lanes }
    }

    fn lane(&self, host: &str) -> Option<usize> {
        self.lanes.iter().position(|l| l == host)
    }

    /// The header line: lane names over their columns.
    pub fn header(&self) -> String {
        let mut s = format!("{:>9}  ", "time");
        for l in &self.lanes {
            let name: String = l.chars().take(LANE - 1).collect();
            let _ = write!(s, "{name:<LANE$}");
        }
        s.trim_end().to_owned()
    }

    /// One event as a line.
    pub fn line(&self, e: &Event) -> String {
        let width = self.lanes.len() * LANE;
        let mut cells: Vec<char> = vec![' '; width];
        for i in 0..self.lanes.len() {
            cells[i * LANE] = '│';
        }
        let here = self.lane(&e.host);
        match &e.kind {
            EventKind::Recv { from, .. } => {
                if let (Some(to), Some(from)) = (here, self.lane(from)) {
                    draw_arrow(&mut cells, from, to);
                } else if let Some(to) = here {
                    cells[to * LANE] = '▶';
                }
            }
            EventKind::Fault { other, .. } => {
                for i in [here, other.as_deref().and_then(|o| self.lane(o))]
                    .into_iter()
                    .flatten()
                {
                    cells[i * LANE] = '✕';
                }
            }
            EventKind::Call { .. } | EventKind::Result { .. } => {
                if let Some(i) = here {
                    cells[i * LANE] = '●';
                }
            }
            EventKind::Note(_) | EventKind::Life(_) => {
                if let Some(i) = here {
                    cells[i * LANE] = '·';
                }
            }
            EventKind::Proxy { .. } => {
                if let Some(i) = here {
                    cells[i * LANE] = '~';
                }
            }
        }
        let lanes: String = cells.into_iter().collect();
        format!("{}  {lanes}{}", fmt_clock(e.at), line_label(e))
            .trim_end()
            .to_owned()
    }

    /// The diagram with each event's trace number in front of its line.
    pub fn render_numbered(&self, events: &[Event]) -> String {
        let mut out = format!("      {}\n", self.header());
        for (n, e) in events.iter().enumerate() {
            out.push_str(&format!("{n:>5} {}\n", self.line(e)));
        }
        out
    }

    /// The whole diagram.
    pub fn render(&self, events: &[Event]) -> String {
        let mut out = self.header();
        out.push('\n');
        for e in events {
            out.push_str(&self.line(e));
            out.push('\n');
        }
        out
    }
}

fn draw_arrow(cells: &mut [char], from: usize, to: usize) {
    let (a, b) = (from.min(to) * LANE, from.max(to) * LANE);
    if a == b {
        cells[a] = '↺';
        return;
    }
    for c in cells.iter_mut().take(b).skip(a + 1) {
        *c = '─';
    }
    if from < to {
        cells[b - 1] = '▶';
    } else {
        cells[a + 1] = '◀';
    }
}

/// `   1.234s`: fixed width, millisecond resolution.
pub fn fmt_clock(d: Duration) -> String {
    let ms = d.as_millis();
    format!("{:>4}.{:03}s", ms / 1000, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirecheck_core::wire::Message;

    fn ev(ms: u64, host: &str, kind: EventKind) -> Event {
        Event {
            at: Duration::from_millis(ms),
            host: host.into(),
            kind,
        }
    }

    #[test]
    fn arrows_point_from_sender_to_receiver() {
        let d = Diagram::new(vec!["app".into(), "broker".into(), "worker".into()]);
        let hello = Message::Hello {
            client: "app".into(),
            token: None,
        };
        let right = d.line(&ev(
            1,
            "broker",
            EventKind::Recv {
                from: "app".into(),
                conn: None,
                text: hello.encode(),
                msg: Some(hello),
            },
        ));
        assert_eq!(
            right,
            "   0.001s  │──────────▶│           │           hello app"
        );
        let welcome = Message::Welcome {
            client: "app".into(),
        };
        let left = d.line(&ev(
            1500,
            "app",
            EventKind::Recv {
                from: "broker".into(),
                conn: None,
                text: welcome.encode(),
                msg: Some(welcome),
            },
        ));
        assert_eq!(
            left,
            "   1.500s  │◀──────────│           │           welcome app"
        );
        let fault = d.line(&ev(
            2000,
            "app",
            EventKind::Fault {
                fault: crate::trace::FaultKind::Partition,
                other: Some("worker".into()),
            },
        ));
        assert_eq!(
            fault,
            "   2.000s  ✕           │           ✕           FAULT partition app | worker"
        );
        assert_eq!(d.header(), "     time  app         broker      worker");
    }
}
