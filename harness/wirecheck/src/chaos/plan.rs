//! A drawn plan: the hosts a workload adds and every timed step of the run (requests,
//! cancellations, faults and their heals, the heal mark), as ordinary model types. The
//! plan is what a seeded run prints, what a sweep shrinks, and what a regression file
//! writes out as a scripted scenario.

use crate::model::{Action, Host, HostKind, Loc, Scenario, Step};
use crate::render::fmt_time;
use std::fmt::Write;
use std::time::Duration;

/// One step at a planned time. Steps of one `group` belong together (a request and its
/// cancellation, a fault and its heal): shrinking removes a whole group.
#[derive(Clone, Debug, PartialEq)]
pub struct Timed {
    pub at: Duration,
    pub group: u32,
    pub action: Action,
}

/// What the workload and the nemesis drew for one seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub seed: u64,
    /// Hosts added after the declared ones: the proxy (if any), receivers, senders.
    pub hosts: Vec<Host>,
    /// Steps in time order (equal times keep their drawing order).
    pub steps: Vec<Timed>,
    /// When the run's last step (a wait) ends.
    pub end: Duration,
    /// Where the workload is written: every generated step points here.
    pub loc: Loc,
}

/// A group that shrinking never removes (the heal mark).
pub const KEEP: u32 = u32::MAX;

impl Plan {
    /// The scripted scenario: `base`'s hosts followed by the plan's, the plan's steps with
    /// waits between them, no `workload:` left.
    pub fn scenario(&self, base: &Scenario) -> Scenario {
        let mut s = base.clone();
        s.chaos = None;
        s.seed = self.seed;
        s.hosts.extend(self.hosts.iter().cloned());
        s.script = self.script();
        s
    }

    /// The steps with a `wait` before each step that is later than the one before it,
    /// and a last `wait` until `end`.
    pub fn script(&self) -> Vec<Step> {
        let mut out = Vec::new();
        let mut now = Duration::ZERO;
        let step = |action| Step {
            loc: self.loc.clone(),
            action,
        };
        for t in &self.steps {
            if t.at > now {
                out.push(step(Action::Wait(t.at - now)));
                now = t.at;
            }
            out.push(step(t.action.clone()));
        }
        if self.end > now {
            out.push(step(Action::Wait(self.end - now)));
        }
        out
    }

    /// Every drawn parameter, one per line: the added hosts with their settings, then
    /// each step at its planned time.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "drawn from seed {}: {} hosts, {} steps, until {}",
            self.seed,
            self.hosts.len(),
            self.steps.len(),
            fmt_time(self.end)
        )];
        for h in &self.hosts {
            lines.push(format!("  {}: {}", h.name, host_line(&h.kind)));
        }
        for t in &self.steps {
            lines.push(format!("  {:>8} {}", fmt_time(t.at), step_line(&t.action)));
        }
        lines
    }

    /// Requests the plan makes.
    pub fn requests(&self) -> usize {
        self.steps
            .iter()
            .filter(|t| matches!(t.action, Action::Request { .. }))
            .count()
    }
}

fn host_line(kind: &HostKind) -> String {
    let mut s = String::new();
    match kind {
        HostKind::Client(c) => {
            let _ = write!(s, "client of {}", c.connect.join(", "));
            for v in &c.serve {
                let _ = write!(
                    s,
                    ", serves {} (echo after {}, {} chunks, concurrency {})",
                    v.channel,
                    fmt_time(v.delay),
                    v.chunks,
                    v.concurrency
                );
            }
        }
        HostKind::Proxy(p) => {
            let _ = write!(s, "proxy to {}", p.target);
            for r in &p.rules {
                let _ = write!(
                    s,
                    "; {:?} with probability {} in [{}, {})",
                    r.action,
                    r.probability.unwrap_or(1.0),
                    r.from.map_or("start".into(), fmt_time),
                    r.until.map_or("end".into(), fmt_time)
                );
            }
        }
        other => s.push_str(other.label()),
    }
    s
}

fn step_line(a: &Action) -> String {
    match a {
        Action::Request { host, call } => format!(
            "{host}.request {} body {:?} chunks {} timeout {}",
            call.id,
            call.body,
            call.chunks.len(),
            call.timeout.map_or("-".into(), fmt_time)
        ),
        Action::Cancel { host, id } => format!("{host}.cancel {id}"),
        Action::Partition { a, b } => format!("partition {a} {b}"),
        Action::Repair { a, b } => format!("repair {a} {b}"),
        Action::PartitionOneway { from, to } => format!("partition_oneway {from} {to}"),
        Action::RepairOneway { from, to } => format!("repair_oneway {from} {to}"),
        Action::Latency { a, b, min, max } => {
            format!("latency {a} {b} {}", crate::render::fmt_range(*min, *max))
        }
        Action::Hold { a, b } => format!("hold {a} {b}"),
        Action::Release { a, b } => format!("release {a} {b}"),
        Action::Crash { host } => format!("crash {host}"),
        Action::Bounce { host } => format!("bounce {host}"),
        Action::Heal { within } => format!("heal: answers due within {}", fmt_time(*within)),
        other => format!("{other:?}"),
    }
}
