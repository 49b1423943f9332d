//! A plan written out as a scripted scenario file: the declared brokers, the hosts the
//! plan adds and every step, explicit, so the file replays the run without `workload:`.
//! It loads through the ordinary loader (a test checks the round trip runs the same).

use super::plan::Plan;
use crate::model::{
    Action, BrokerSpec, ClientSpec, HostKind, ProxyAction, ProxyDir, ProxyRule, Reply, Scenario,
};
use std::fmt::Write;
use std::time::Duration;

/// `250ms`, or `0.5ms` below a millisecond's precision.
pub fn dur(d: Duration) -> String {
    if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}ms", d.as_nanos() as f64 / 1e6)
    }
}

/// A latency as the loader reads it: `5ms` or `{ min: 1ms, max: 20ms }`.
fn latency(min: Duration, max: Duration) -> String {
    if min == max {
        dur(min)
    } else {
        format!("{{ min: {}, max: {} }}", dur(min), dur(max))
    }
}

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The scenario file for `plan` drawn from `base` (whose hosts are brokers), named
/// `name`, saying `about`, exercising `rules`.
pub fn scripted(base: &Scenario, plan: &Plan, name: &str, about: &str, rules: &[&str]) -> String {
    let mut y = String::new();
    let _ = writeln!(y, "name: {name}");
    let _ = writeln!(y, "about: >");
    for line in wrap(about, 86) {
        let _ = writeln!(y, "  {line}");
    }
    let _ = writeln!(y, "rules: [{}]", rules.join(", "));
    let _ = writeln!(y, "seed: {}", plan.seed);
    let _ = writeln!(y, "duration: {}", dur(base.duration));
    let net = &base.network;
    let _ = writeln!(
        y,
        "network: {{ latency: {} }}",
        latency(net.min_latency, net.max_latency)
    );
    let _ = writeln!(y, "hosts:");
    for h in base.hosts.iter().chain(&plan.hosts) {
        match &h.kind {
            HostKind::Broker(b) => {
                let _ = writeln!(y, "  {}: {{ broker: {} }}", h.name, broker(b));
            }
            HostKind::Client(c) => {
                let _ = writeln!(y, "  {}: {{ client: {} }}", h.name, client(c));
            }
            HostKind::Proxy(p) => {
                let empty = if p.rules.is_empty() { " []" } else { "" };
                let _ = writeln!(
                    y,
                    "  {}:\n    proxy:\n      target: {}\n      rules:{empty}",
                    h.name, p.target
                );
                for r in &p.rules {
                    let _ = writeln!(y, "        - {}", rule(r));
                }
            }
            other => {
                let _ = writeln!(
                    y,
                    "  # {}: a {} cannot be written here",
                    h.name,
                    other.label()
                );
            }
        }
    }
    let _ = writeln!(y, "script:");
    for s in plan.script() {
        let _ = writeln!(y, "  - {}", step(&s.action));
    }
    y
}

fn broker(b: &BrokerSpec) -> String {
    format!(
        "{{ max_message: {}, queue: {}, idle_timeout: {} }}",
        b.max_message,
        b.queue,
        dur(b.idle_timeout)
    )
}

fn client(c: &ClientSpec) -> String {
    let mut s = format!(
        "{{ connect: [{}], id: {}, register_timeout: {}, request_timeout: {}",
        c.connect.join(", "),
        c.id,
        dur(c.register_timeout),
        dur(c.request_timeout)
    );
    match &c.heartbeat {
        Some(h) => {
            let _ = write!(
                s,
                ", heartbeat: {{ interval: {}, timeout: {} }}",
                dur(h.interval),
                dur(h.timeout)
            );
        }
        None => s.push_str(", heartbeat: off"),
    }
    match &c.reconnect {
        Some(r) => {
            let _ = write!(
                s,
                ", reconnect: {{ base: {}, cap: {}, jitter: {:?}, max_attempts: {}, window: {}, min_gap: {} }}",
                dur(r.base),
                dur(r.cap),
                r.jitter,
                r.max_attempts,
                dur(r.window),
                dur(r.min_gap)
            );
        }
        None => s.push_str(", reconnect: off"),
    }
    if !c.serve.is_empty() {
        let serve: Vec<String> = c
            .serve
            .iter()
            .map(|v| {
                let reply = match &v.reply {
                    Reply::Echo => "echo".to_string(),
                    Reply::Ignore => "ignore".to_string(),
                    Reply::Fixed(b) => format!("{{ fixed: {} }}", q(b)),
                    Reply::Error(c) => format!("{{ error: {} }}", q(c)),
                };
                format!(
                    "{{ channel: {}, reply: {reply}, delay: {}, chunks: {}, concurrency: {} }}",
                    v.channel,
                    dur(v.delay),
                    v.chunks,
                    v.concurrency
                )
            })
            .collect();
        let _ = write!(s, ", serve: [{}]", serve.join(", "));
    }
    s.push_str(" }");
    s
}

fn rule(r: &ProxyRule) -> String {
    let mut parts = Vec::new();
    if let Some(d) = r.dir {
        parts.push(format!(
            "dir: {}",
            if d == ProxyDir::Up { "up" } else { "down" }
        ));
    }
    if let Some(k) = &r.kind {
        parts.push(format!("kind: {k}"));
    }
    if let Some(v) = &r.req {
        parts.push(format!("req: {}", q(v)));
    }
    if let Some(v) = &r.channel {
        parts.push(format!("channel: {}", q(v)));
    }
    if let Some(n) = r.nth {
        parts.push(format!("nth: {n}"));
    }
    if let Some(p) = r.probability {
        parts.push(format!("probability: {p:?}"));
    }
    if let Some(t) = r.from {
        parts.push(format!("from: {}", dur(t)));
    }
    if let Some(t) = r.until {
        parts.push(format!("until: {}", dur(t)));
    }
    let action = match &r.action {
        ProxyAction::Drop => "drop".to_string(),
        ProxyAction::Duplicate => "duplicate".to_string(),
        ProxyAction::Hold => "hold".to_string(),
        ProxyAction::Close => "close".to_string(),
        ProxyAction::Delay { min, max } => {
            format!("{{ delay: {{ min: {}, max: {} }} }}", dur(*min), dur(*max))
        }
        ProxyAction::Reorder { window } => format!("{{ reorder: {window} }}"),
        ProxyAction::Corrupt(c) => format!(
            "{{ corrupt: {} }}",
            match c {
                crate::model::Corruption::InvalidJson => "invalid_json",
                crate::model::Corruption::WrongId => "wrong_id",
                crate::model::Corruption::Truncate => "truncate",
            }
        ),
    };
    parts.push(format!("action: {action}"));
    format!("{{ {} }}", parts.join(", "))
}

fn step(a: &Action) -> String {
    match a {
        Action::Wait(d) => format!("wait: {}", dur(*d)),
        Action::Partition { a, b } => format!("partition: [{a}, {b}]"),
        Action::Repair { a, b } => format!("repair: [{a}, {b}]"),
        Action::PartitionOneway { from, to } => format!("partition_oneway: [{from}, {to}]"),
        Action::RepairOneway { from, to } => format!("repair_oneway: [{from}, {to}]"),
        Action::Latency { a, b, min, max } => {
            format!(
                "latency: {{ between: [{a}, {b}], to: {} }}",
                latency(*min, *max)
            )
        }
        Action::Hold { a, b } => format!("hold: [{a}, {b}]"),
        Action::Release { a, b } => format!("release: [{a}, {b}]"),
        Action::Crash { host } => format!("crash: {host}"),
        Action::Bounce { host } => format!("bounce: {host}"),
        Action::Heal { within } => format!("heal: {{ within: {} }}", dur(*within)),
        Action::Cancel { host, id } => format!("{host}.cancel: {{ id: {id} }}"),
        Action::Request { host, call } => {
            let mut s = format!(
                "{host}.request: {{ id: {}, channel: {}, body: {}",
                call.id,
                call.channel,
                q(&call.body)
            );
            if !call.chunks.is_empty() {
                let chunks: Vec<String> = call.chunks.iter().map(|c| q(c)).collect();
                let _ = write!(s, ", chunks: [{}]", chunks.join(", "));
            }
            if let Some(t) = call.timeout {
                let _ = write!(s, ", timeout: {}", dur(t));
            }
            s.push_str(" }");
            s
        }
        // A plan holds only the steps above.
        other => format!("wait: 0ms # not written: {other:?}"),
    }
}

/// `text` in lines of at most `width` characters.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().expect("one line");
        if !last.is_empty() && last.len() + 1 + word.len() > width {
            lines.push(word.to_owned());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}
