//! One-way partitions and latency changes in the simulated world: a scripted client and a
//! scripted server exchange pings across the faulted link, and the trace shows what
//! arrived, and when.

use std::path::Path;
use std::time::Duration;
use wirecheck::runner::{run, Report, RunOptions};
use wirecheck::scenario::load_str;
use wirecheck::trace::{EventKind, FaultKind};

/// `probe` registers with the scripted server `b`, then `fault` (script lines), then each
/// side sends one message to the other and the run waits 1s.
fn exchange(fault: &str) -> Report {
    let src = format!(
        r#"
name: link-fault
about: A ping each way across a faulted link.
rules: [MUX-3]
hosts:
  b: {{ scripted: server }}
  probe: {{ scripted: {{ client: b }} }}
script:
  - probe.send: {{ hello: {{ client: probe }} }}
  - b.expect: {{ hello: {{ client: probe }} }}
{fault}
  - probe.send: {{ ping: {{ nonce: 1 }} }}
  - b.send: {{ pong: {{ nonce: 2 }} }}
  - wait: 1s
"#
    );
    let s = load_str(&src, Path::new("link-fault.yaml")).unwrap_or_else(|e| panic!("{e}"));
    run(&s, &RunOptions::default())
}

/// When `host` received a message whose text contains `needle`, if it did.
fn received(r: &Report, host: &str, needle: &str) -> Option<Duration> {
    r.events.iter().find_map(|e| match &e.kind {
        EventKind::Recv { text, .. } if e.host == host && text.contains(needle) => Some(e.at),
        _ => None,
    })
}

fn fault_at(r: &Report, kind: &str) -> Duration {
    r.events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Fault { fault, .. } if fault.name() == kind => Some(e.at),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no `{kind}` fault in the trace:\n{}", r.diagram))
}

#[test]
fn a_oneway_partition_cuts_exactly_its_direction() {
    let ping = "\"nonce\":1";
    let pong = "\"nonce\":2";
    let calm = exchange("");
    assert!(received(&calm, "b", ping).is_some(), "{}", calm.diagram);
    assert!(received(&calm, "probe", pong).is_some(), "{}", calm.diagram);

    let up = exchange("  - partition_oneway: [probe, b]");
    assert_eq!(
        received(&up, "b", ping),
        None,
        "probe -> b is cut:\n{}",
        up.diagram
    );
    assert!(
        received(&up, "probe", pong).is_some(),
        "b -> probe still delivers:\n{}",
        up.diagram
    );
    assert!(
        up.diagram.contains("FAULT partition_oneway probe | b"),
        "{}",
        up.diagram
    );

    let down = exchange("  - partition_oneway: [b, probe]");
    assert!(
        received(&down, "b", ping).is_some(),
        "probe -> b still delivers:\n{}",
        down.diagram
    );
    assert_eq!(
        received(&down, "probe", pong),
        None,
        "b -> probe is cut:\n{}",
        down.diagram
    );

    // Repaired before anything is sent: both directions deliver again.
    let healed = exchange("  - partition_oneway: [probe, b]\n  - repair_oneway: [probe, b]");
    assert!(received(&healed, "b", ping).is_some(), "{}", healed.diagram);
    assert!(
        received(&healed, "probe", pong).is_some(),
        "{}",
        healed.diagram
    );
}

#[test]
fn a_latency_change_delays_delivery_by_the_set_amount() {
    let ping = "\"nonce\":1";
    let calm = exchange("  - latency: { between: [probe, b], to: 1ms }");
    let fast = received(&calm, "b", ping).expect("delivered") - fault_at(&calm, "latency");
    assert!(
        fast < Duration::from_millis(20),
        "{fast:?}:\n{}",
        calm.diagram
    );

    let slow = exchange("  - latency: { between: [probe, b], to: 300ms }");
    let at = fault_at(&slow, "latency");
    for (host, needle) in [("b", ping), ("probe", "\"nonce\":2")] {
        let took = received(&slow, host, needle).expect("delivered late") - at;
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(320),
            "{host} got it {took:?} after the change:\n{}",
            slow.diagram
        );
    }
    assert!(
        slow.diagram.contains("FAULT latency probe | b 300ms"),
        "{}",
        slow.diagram
    );
    let fault = slow.events.iter().find_map(|e| match &e.kind {
        EventKind::Fault { fault, .. } => Some(*fault),
        _ => None,
    });
    assert_eq!(
        fault,
        Some(FaultKind::Latency {
            min: Duration::from_millis(300),
            max: Duration::from_millis(300)
        })
    );

    // Set back: delivery is fast again.
    let back = exchange(
        "  - latency: { between: [probe, b], to: 300ms }\n  - latency: { between: [probe, b], to: 1ms }",
    );
    let took = received(&back, "b", ping).expect("delivered") - fault_at(&back, "latency");
    assert!(
        took < Duration::from_millis(20),
        "{took:?}:\n{}",
        back.diagram
    );
}
