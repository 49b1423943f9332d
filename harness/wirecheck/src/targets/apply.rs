//! Applicability: which hosts a target replaces in a scenario, what the scenario needs that
//! the target lacks (then the scenario is UNIMPLEMENTED for it, with the reasons), and which
//! expectations cannot be judged (counters of a black box: skipped and listed).

use super::{Capability, ClientCap, Role, Target};
use crate::model::{Action, BrokerSpec, ClientSpec, Frame, HostKind, Scenario};
use crate::runner::step_label;
use std::time::Duration;

/// Real time cannot place a fault relative to a message more precisely than this.
pub const TIMING_GRAIN: Duration = Duration::from_millis(20);

/// What running `scenario` against a target means.
#[derive(Clone, Debug, Default)]
pub struct Applicability {
    /// Broker hosts the target replaces, with their settings.
    pub replaced: Vec<(String, BrokerSpec)>,
    /// Client hosts the target replaces, with their settings.
    pub clients: Vec<(String, ClientSpec)>,
    /// Why the scenario cannot be run against the target (empty: it can).
    pub missing: Vec<String>,
    /// Counter expectations on replaced hosts, which a black box cannot report
    /// (`broker.clients = 1`): the run judges everything else.
    pub skipped: Vec<String>,
}

fn frame_text(f: &Frame) -> String {
    match f {
        Frame::Json(v) => v.to_string(),
        Frame::Raw(t) => t.clone(),
        Frame::Rpc(r) => r.text(|_| None),
    }
}

/// Which hosts of `scenario` `target` replaces (all of its role, or those named in
/// `only`), and whether it can.
pub fn applicability(
    scenario: &Scenario,
    target: &Target,
    only: Option<&[String]>,
) -> Applicability {
    let mut a = Applicability::default();
    for h in &scenario.hosts {
        let picked = only.is_none_or(|o| o.iter().any(|n| n == &h.name));
        match (&h.kind, target.role) {
            (HostKind::Broker(spec), Role::Broker) if picked => {
                a.replaced.push((h.name.clone(), spec.clone()))
            }
            (HostKind::Client(spec), Role::Client) if picked => {
                a.clients.push((h.name.clone(), spec.clone()))
            }
            // A JSON-RPC server takes no settings: it is started like a broker with
            // default placeholders (`{host}`, `{port}`).
            (HostKind::RpcServer, Role::Server) if picked => {
                a.replaced.push((h.name.clone(), BrokerSpec::default()))
            }
            _ => {}
        }
    }
    if target.protocol != scenario.protocol {
        // Another protocol's scenario is not for this target at all (N/A).
        return Applicability::default();
    }
    // A black box reports no counters, so a script that waits on them cannot run.
    let replaced: Vec<&String> = a
        .replaced
        .iter()
        .map(|(n, _)| n)
        .chain(a.clients.iter().map(|(n, _)| n))
        .collect();
    for step in &scenario.script {
        if let Action::Counters { expect, .. } = &step.action {
            if replaced.contains(&&expect.host) {
                a.missing.push(format!(
                    "`{}.counters` (line {}) reads counters a black box does not report",
                    expect.host, step.loc.line
                ));
            }
        }
    }
    if target.role == Role::Server {
        // A JSON-RPC server has no settings and no capabilities to check.
        return a;
    }
    if !a.clients.is_empty() {
        a.missing.extend(realtime_limits(scenario));
        let names: Vec<&String> = a.clients.iter().map(|(n, _)| n).collect();
        a.skipped = skipped_counters(scenario, &names);
        return a;
    }
    if a.replaced.is_empty() {
        return a;
    }
    let has = |c: Capability| target.capabilities.contains(&c);
    let mut need = |c: Capability, why: String| {
        if !has(c) {
            a.missing
                .push(format!("needs capability `{}` ({why})", c.name()));
        }
    };
    let default = BrokerSpec::default();
    let mut settings = Vec::new();
    for (name, spec) in &a.replaced {
        if !spec.tokens.is_empty() {
            need(Capability::Tokens, format!("`{name}` checks tokens"));
            if !target.passes_tokens() {
                settings.push(format!("`{name}` has tokens, and the start command has no `{{tokens}}` or per-token list to pass them"));
            }
        }
        if spec.max_message != default.max_message {
            need(
                Capability::MaxMessage,
                format!("`{name}` has max_message: {}", spec.max_message),
            );
            if !target.uses("max_message") {
                settings.push(format!(
                    "`{name}` sets max_message: {}, and the start command has no `{{max_message}}`",
                    spec.max_message
                ));
            }
        }
        if spec.queue != default.queue {
            need(
                Capability::Queue,
                format!("`{name}` has queue: {}", spec.queue),
            );
            if !target.uses("queue") {
                settings.push(format!(
                    "`{name}` sets queue: {}, and the start command has no `{{queue}}`",
                    spec.queue
                ));
            }
        }
        if spec.idle_timeout != default.idle_timeout {
            need(
                Capability::IdleTimeout,
                format!("`{name}` has idle_timeout: {:?}", spec.idle_timeout),
            );
            if !target.uses("idle_timeout_s") && !target.uses("idle_timeout_ms") {
                settings.push(format!("`{name}` sets idle_timeout: {:?}, and the start command has no `{{idle_timeout_s}}` or `{{idle_timeout_ms}}`", spec.idle_timeout));
            }
        }
    }
    let heartbeat_client = scenario.hosts.iter().find_map(|h| match &h.kind {
        HostKind::Client(c) if c.heartbeat.is_some() => Some(h.name.clone()),
        _ => None,
    });
    if let Some(c) = heartbeat_client {
        need(
            Capability::Heartbeat,
            format!("client `{c}` sends heartbeats"),
        );
    }
    let mut info = false;
    let mut ping = false;
    for step in &scenario.script {
        match &step.action {
            Action::Request { call, .. } if call.channel == "$info" => info = true,
            Action::Send { frame, .. } | Action::SendTo { frame, .. } => {
                let t = frame_text(frame);
                info |= t.contains("\"$info\"");
                ping |= t.contains("\"type\":\"ping\"");
            }
            _ => {}
        }
    }
    if info {
        need(Capability::Info, "the script asks `$info`".into());
    }
    if ping {
        need(Capability::Heartbeat, "a scripted peer sends `ping`".into());
    }
    a.missing.extend(settings);
    a.missing.extend(realtime_limits(scenario));
    let names: Vec<&String> = a.replaced.iter().map(|(n, _)| n).collect();
    a.skipped = skipped_counters(scenario, &names);
    a
}

/// Counter expectations on replaced hosts (a black box reports none).
fn skipped_counters(scenario: &Scenario, replaced: &[&String]) -> Vec<String> {
    let mut out = Vec::new();
    for e in &scenario.expect {
        if replaced.contains(&&e.host) {
            for (k, v) in &e.counters {
                out.push(format!("{}.{k} = {v}", e.host));
            }
        }
    }
    out
}

/// Rules whose checkers judge a client's lifecycle events (connecting, registered,
/// registration failed, disconnected, backoff): an adapter without `events` cannot be
/// judged by them.
const EVENT_RULES: [&str; 9] = [
    "MUX-6", "AUTH-1", "AUTH-2", "AUTH-3", "CONN-1", "CONN-2", "CONN-3", "CONN-4", "CONN-5",
];

/// What a scenario needs of a client adapter that `caps` (its reply to `init`) lacks.
pub fn client_missing(
    scenario: &Scenario,
    clients: &[(String, ClientSpec)],
    caps: &[ClientCap],
) -> Vec<String> {
    let mut out = Vec::new();
    let mut need = |c: ClientCap, why: String| {
        let line = format!("needs capability `{}` ({why})", c.name());
        if !caps.contains(&c) && !out.contains(&line) {
            out.push(line);
        }
    };
    for (name, spec) in clients {
        if spec.token.is_some() {
            need(ClientCap::Token, format!("`{name}` sends a token"));
        }
        let conn_rule = scenario
            .rules
            .iter()
            .find(|r| ["CONN-2", "CONN-3", "CONN-4", "CONN-5"].contains(&r.as_str()));
        if let (Some(r), Some(_)) = (conn_rule, &spec.reconnect) {
            need(
                ClientCap::Reconnect,
                format!("{r} is judged from how `{name}` reconnects"),
            );
        } else if let (Some(h), Some(_)) = (
            scenario.script.iter().find_map(|st| match &st.action {
                Action::Crash { host } | Action::Bounce { host } if spec.connect.contains(host) => {
                    Some(host)
                }
                _ => None,
            }),
            &spec.reconnect,
        ) {
            need(
                ClientCap::Reconnect,
                format!("`{name}` must reconnect after `{h}` goes down"),
            );
        } else if spec.connect.len() > 1 {
            need(
                ClientCap::Reconnect,
                format!("`{name}` fails over across {} brokers", spec.connect.len()),
            );
        }
        if spec.heartbeat.is_some() && scenario.rules.iter().any(|r| r == "CONN-1") {
            need(
                ClientCap::Heartbeat,
                format!("`{name}` detects a dead connection by heartbeats (CONN-1)"),
            );
        }
        if let Some(r) = scenario
            .rules
            .iter()
            .find(|r| EVENT_RULES.contains(&r.as_str()))
        {
            need(
                ClientCap::Events,
                format!("{r} is judged from `{name}`'s lifecycle events"),
            );
        }
        for s in &spec.serve {
            need(ClientCap::Serve, format!("`{name}` serves `{}`", s.channel));
            if s.chunks > 0 {
                need(ClientCap::Chunks, format!("`{name}` answers in chunks"));
            }
        }
        for step in &scenario.script {
            match &step.action {
                Action::Request { host, call } if host == name && !call.chunks.is_empty() => need(
                    ClientCap::Chunks,
                    format!("`{name}` sends a chunked request"),
                ),
                Action::Cancel { host, .. } if host == name => {
                    need(ClientCap::Cancel, format!("`{name}` cancels a request"))
                }
                Action::Batch { host, .. } if host == name => {
                    need(ClientCap::Batch, format!("`{name}` sends a batch"))
                }
                Action::Notify { host, .. } if host == name => {
                    need(ClientCap::Notify, format!("`{name}` sends a notification"))
                }
                Action::Serve { host, serve } if host == name => {
                    need(
                        ClientCap::Serve,
                        format!("`{name}` serves `{}`", serve.channel),
                    );
                    if serve.chunks > 0 {
                        need(ClientCap::Chunks, format!("`{name}` answers in chunks"));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// What the real-time world cannot reproduce of a scenario written for the simulation:
/// a link fault timed within [`TIMING_GRAIN`] of a message (the simulation's fixed
/// latency decides what is in flight), and a slow consumer behind a held link (the
/// simulation's TCP window is small; loopback sockets buffer far more than a scenario sends,
/// so the broker's queue never fills), a one-way partition (real sockets cut both
/// directions or none) and a latency change (loopback has none to set).
fn realtime_limits(scenario: &Scenario) -> Vec<String> {
    // Every broker runs over real sockets in real time, replaced or not.
    let brokers: Vec<(&String, &BrokerSpec)> = scenario
        .hosts
        .iter()
        .filter_map(|h| match &h.kind {
            HostKind::Broker(b) => Some((&h.name, b)),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    if scenario.network.min_latency >= TIMING_GRAIN {
        out.push(format!(
            "it relies on links of {}ms latency (`network:`), and real time is as fast as loopback",
            scenario.network.min_latency.as_millis()
        ));
    }
    // A nemesis's faults are drawn when the scenario runs: judged by the kinds it lists.
    if let Some(n) = scenario.chaos.as_ref().and_then(|c| c.nemesis.as_ref()) {
        use crate::model::chaos::FaultSort;
        for k in &n.kinds {
            if n.faults > 0 && matches!(k, FaultSort::OneWay | FaultSort::Latency) {
                out.push(format!(
                    "its nemesis draws `{}` faults (one-way partitions or latency changes), which the real-time world cannot make",
                    k.name()
                ));
            }
        }
    }
    let script = &scenario.script;
    for (i, step) in script.iter().enumerate() {
        if let Action::PartitionOneway { .. } | Action::RepairOneway { .. } = &step.action {
            out.push(format!(
                "`{}` cuts one direction of a link, and the real-time world has no one-way partitions",
                step_label(&step.action)
            ));
            continue;
        }
        if let Action::Latency { .. } = &step.action {
            out.push(format!(
                "`{}` changes a link's latency, and the real-time world runs over loopback (no latency to set)",
                step_label(&step.action)
            ));
            continue;
        }
        let (Action::Hold { a, b } | Action::Partition { a, b }) = &step.action else {
            continue;
        };
        let mut waited = Duration::ZERO;
        let mut j = i;
        while j > 0 {
            j -= 1;
            match &script[j].action {
                Action::Wait(d) => waited += *d,
                Action::Request { .. }
                | Action::Batch { .. }
                | Action::Notify { .. }
                | Action::Send { .. }
                | Action::SendTo { .. }
                    if waited < TIMING_GRAIN && waited > Duration::ZERO =>
                {
                    out.push(format!(
                        "`{}` comes {}ms after `{}`: it relies on the simulation's latency to land while messages are in flight, and real time cannot place a fault that precisely (finer than {}ms)",
                        step_label(&step.action),
                        waited.as_millis(),
                        step_label(&script[j].action),
                        TIMING_GRAIN.as_millis()
                    ));
                    break;
                }
                _ => break,
            }
        }
        for (name, spec) in &brokers {
            let held = matches!(step.action, Action::Hold { .. });
            if held && (a == *name || b == *name) && spec.queue != BrokerSpec::default().queue {
                out.push(format!(
                    "`{name}` has queue: {} behind a held link: filling its outbound queue needs the simulation's small TCP window (loopback sockets buffer far more than the scenario sends)",
                    spec.queue
                ));
            }
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(hosts: &str, script: &str) -> Scenario {
        let src = format!("name: t\nabout: x\nrules: [AUTH-1]\nhosts:\n{hosts}script:\n{script}");
        crate::scenario::load_str(&src, Path::new("t.yaml")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn target(extra: &str) -> Target {
        let src = format!(
            "name: t\nrole: broker\nstart: [b, \"{{queue}}\"]\nready: {{ tcp: true }}\n{extra}"
        );
        super::super::load_str(&src, Path::new("t.yaml")).unwrap()
    }

    const HOSTS: &str = "  b1: { broker: { queue: 8 } }\n  b2: { broker: { tokens: { app: s } } }\n  app: { client: { connect: [b1, b2], token: s } }\n";

    #[test]
    fn replaces_brokers_and_names_what_is_missing() {
        let s = scenario(
            HOSTS,
            "  - app.request: { id: i, channel: $info, body: app }\n",
        );
        let a = applicability(&s, &target("capabilities: [queue, heartbeat]\n"), None);
        let names: Vec<&str> = a.replaced.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b1", "b2"]);
        let why = a.missing.join("\n");
        assert!(
            why.contains("needs capability `tokens` (`b2` checks tokens)"),
            "{why}"
        );
        assert!(why.contains("needs capability `info`"), "{why}");
        assert!(why.contains("no `{tokens}`"), "{why}");
        assert!(!why.contains("`queue`"), "{why}");
        // Narrowed to b1: only what b1 needs (and the script's `$info`).
        let only = ["b1".to_owned()];
        let a = applicability(&s, &target(""), Some(&only));
        assert_eq!(a.replaced.len(), 1);
        assert!(a.missing.is_empty(), "{:?}", a.missing);
    }

    #[test]
    fn real_time_limits_and_skipped_counters() {
        let s = scenario(
            HOSTS,
            "  - app.request: { id: r, channel: jobs, body: x }\n  - wait: 2ms\n  - hold: [b1, app]\n",
        );
        let a = applicability(&s, &target(""), None);
        let why = a.missing.join("\n");
        assert!(
            why.contains("`hold b1 app` comes 2ms after `app.request r`"),
            "{why}"
        );
        assert!(
            why.contains("`b1` has queue: 8 behind a held link"),
            "{why}"
        );
        let mut s = scenario(HOSTS, "  - wait: 1s\n");
        s.expect.push(crate::model::Expectation {
            host: "b1".into(),
            counters: [("clients".to_owned(), 1)].into_iter().collect(),
            loc: Default::default(),
        });
        assert_eq!(
            applicability(&s, &target(""), None).skipped,
            ["b1.clients = 1"]
        );
    }

    /// One-way partitions and latency changes have no real-time counterpart: such a
    /// scenario is UNIMPLEMENTED against a target, naming the step.
    #[test]
    fn oneway_partitions_and_latency_changes_are_real_time_limits() {
        let s = scenario(
            HOSTS,
            "  - wait: 1s\n  - partition_oneway: [app, b1]\n  - repair_oneway: [app, b1]\n  - latency: { between: [app, b1], to: 50ms }\n",
        );
        let why = applicability(&s, &target(""), None).missing.join("\n");
        for want in [
            "`partition_oneway app b1` cuts one direction of a link",
            "`repair_oneway app b1` cuts one direction of a link",
            "`latency app b1 50ms` changes a link's latency",
        ] {
            assert!(why.contains(want), "{want} in {why}");
        }
        let chaos = crate::scenario::load_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../scenarios/chaos/nemesis-oneway-latency.yaml"
            ))
            .unwrap(),
            Path::new("chaos/nemesis-oneway-latency.yaml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let why = applicability(&chaos, &target(""), None).missing.join("\n");
        for kind in ["oneway", "latency"] {
            assert!(
                why.contains(&format!("its nemesis draws `{kind}` faults")),
                "{why}"
            );
        }
        let plain = scenario(HOSTS, "  - wait: 1s\n  - partition: [app, b1]\n");
        let plain = applicability(&plain, &target(""), None).missing.join("\n");
        assert!(
            !plain.contains("one direction") && !plain.contains("latency"),
            "{plain}"
        );
    }
}
