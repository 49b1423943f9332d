//! The runner's handling of script steps that do not fit a host's state.

use std::path::Path;
use wirecheck::runner::{run, RunOptions};
use wirecheck::scenario::load_str;

/// A scripted client that connects by itself (`autoconnect` defaults to on) refuses a
/// `connect` step while that connection is open, instead of silently opening a second,
/// and its connection is drawn in the trace.
#[test]
fn scripted_connect_while_connected_is_refused_and_connections_are_drawn() {
    let src = r#"
name: probe-twice
about: A scripted client that autoconnects is told to connect again.
rules: [AUTH-4]
hosts:
  broker: { broker: {} }
  probe: { scripted: { client: broker } }
script:
  - wait: 10ms
  - probe.connect: {}
"#;
    let s = load_str(src, Path::new("probe-twice.yaml")).expect("loads");
    let r = run(&s, &RunOptions::default());
    assert_eq!(r.failures.len(), 1, "{}", r.explain());
    let f = &r.failures[0];
    assert_eq!(f.step, "probe.connect");
    assert!(
        f.what.contains(
            "`probe` is already connected to `broker` (autoconnect, or an earlier connect)"
        ) && f.what.contains("autoconnect: false"),
        "{}",
        f.what
    );
    assert!(
        r.diagram.contains("probe: connected to broker (from port"),
        "the autoconnected connection is drawn:\n{}",
        r.diagram
    );
    assert_eq!(
        r.counters
            .iter()
            .find(|(h, _)| h == "probe")
            .and_then(|(_, c)| c.get("connections"))
            .copied(),
        Some(1),
        "no second connection was opened"
    );
}

/// `<host>.counters` waits for the values as the run goes: it passes once they are
/// reached, and fails at its `within`, naming each counter that differs.
#[test]
fn counters_step_waits_then_fails_naming_the_counters() {
    let src = |want: &str| {
        format!(
            r#"
about: A client registers; the script waits on counters.
rules: [MUX-6]
hosts:
  broker: {{ broker: {{}} }}
  app: {{ client: {{ connect: [broker] }} }}
script:
  - broker.counters: {{ clients: 1, within: 5s }}
  - app.counters: {{ {want}, within: 2s }}
"#
        )
    };
    let ok = load_str(&src("registrations: 1"), Path::new("c.yaml")).expect("loads");
    let r = run(&ok, &RunOptions::default());
    assert!(r.failures.is_empty(), "{}", r.explain());
    let bad =
        load_str(&src("registrations: 1, reconnects: 3"), Path::new("c.yaml")).expect("loads");
    let r = run(&bad, &RunOptions::default());
    assert_eq!(r.failures.len(), 1, "{}", r.explain());
    let f = &r.failures[0];
    assert_eq!(f.step, "app.counters");
    assert!(
        f.what
            .contains("did not reach the values within 2s: reconnects = 0 (want 3)")
            && !f.what.contains("registrations"),
        "{}",
        f.what
    );
    // A counter the host does not have is a load error, like in `expect:`.
    let err = load_str(&src("reconects: 1"), Path::new("c.yaml")).unwrap_err();
    assert!(
        err.to_string().contains("unknown counter `reconects`"),
        "{err}"
    );
    assert!(
        err.to_string().contains("did you mean `reconnects`?"),
        "{err}"
    );
}

/// A result is recorded before the frames that arrive after the one completing it, even
/// in the same tick: a duplicate's "dropped … (duplicate)" note follows the result it
/// duplicates (it came first in the trace before the client yielded after each frame).
#[test]
fn a_result_comes_before_the_duplicate_that_follows_it() {
    // A proxy duplicates r1's response: both copies arrive in the same tick.
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/chaos/duplicate-response.yaml");
    let s = wirecheck::scenario::load_file(&file).expect("loads");
    let r = run(&s, &RunOptions::default());
    assert!(r.failures.is_empty(), "{}", r.explain());
    let lines: Vec<&str> = r.diagram.lines().collect();
    let at = |what: &str| {
        lines
            .iter()
            .position(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no `{what}` in\n{}", r.diagram))
    };
    let (result, dropped) = (at("app: result r1: ok"), at("(duplicate)"));
    assert!(
        result < dropped
            && lines[result].split_whitespace().next() == lines[dropped].split_whitespace().next(),
        "the result, then in the same tick the dropped duplicate:\n{}",
        r.diagram
    );
}

/// `first` binds whichever scripted receiver got r1, so one script holds for every seed:
/// across seeds both receivers win, and every run passes.
#[test]
fn first_binds_whichever_receiver_got_the_request() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/broker/whichever-receiver.yaml");
    let s = wirecheck::scenario::load_file(&file).expect("loads");
    let mut winners = std::collections::BTreeSet::new();
    for seed in 0..8 {
        let r = run(
            &s,
            &RunOptions {
                seed: Some(seed),
                ..RunOptions::default()
            },
        );
        assert!(r.failures.is_empty(), "seed {seed}: {}", r.explain());
        // The receiver that got r1 is the one that answered it.
        let answered = r
            .events
            .iter()
            .find_map(|e| match &e.kind {
                wirecheck::trace::EventKind::Recv { from, text, .. }
                    if e.host == "broker" && text.contains("\"response\"") =>
                {
                    Some(from.clone())
                }
                _ => None,
            })
            .expect("an answer reached the broker");
        winners.insert(answered);
    }
    assert_eq!(
        winners.into_iter().collect::<Vec<_>>(),
        ["w1", "w2"],
        "both receivers should win some seed"
    );
}

/// A crashed host's sockets end in the order they were opened, not in the order tokio
/// drops its tasks (set by process-global task ids): repeated runs in one process give
/// the same trace. Before the fix, the proxy's upstream connections to the crashed broker
/// ended in a different order from one run to the next (this test fails without the fix).
#[test]
fn a_crash_ends_its_connections_in_the_same_order_in_every_run() {
    let src = r#"
name: crash-behind-proxy
about: Four clients reach a broker through a proxy; the broker crashes, then comes back.
rules: [CONN-6]
network: { latency: { min: 1ms, max: 40ms } }
hosts:
  b: { broker: {} }
  px: { proxy: { target: b } }
  c1: { client: { connect: [px], reconnect: { base: 100ms, cap: 500ms } } }
  c2: { client: { connect: [px], reconnect: { base: 100ms, cap: 500ms } } }
  c3: { client: { connect: [px], reconnect: { base: 100ms, cap: 500ms } } }
  c4: { client: { connect: [px], reconnect: { base: 100ms, cap: 500ms } } }
script:
  - c1.result: { id: connect, ok: welcome }
  - c2.result: { id: connect, ok: welcome }
  - c3.result: { id: connect, ok: welcome }
  - c4.result: { id: connect, ok: welcome }
  - crash: b
  - wait: 500ms
  - bounce: b
  - wait: 3s
"#;
    let s = load_str(src, Path::new("crash-behind-proxy.yaml")).expect("loads");
    let first = run(&s, &RunOptions::default());
    assert!(first.passed(), "{}", first.explain());
    let ended = first
        .diagram
        .lines()
        .filter(|l| l.contains("px: connection") && l.contains("ended"))
        .count();
    assert!(
        ended >= 4,
        "the crash ends the proxy's four upstream connections:\n{}",
        first.diagram
    );
    for k in 0..6 {
        let again = run(&s, &RunOptions::default());
        let line = first
            .diagram
            .lines()
            .zip(again.diagram.lines())
            .position(|(x, y)| x != y);
        assert!(
            line.is_none() && first.diagram == again.diagram,
            "run {} differs from the first at diagram line {}:\n  {}\n  {}",
            k + 2,
            line.unwrap_or(0) + 1,
            first.diagram.lines().nth(line.unwrap_or(0)).unwrap_or(""),
            again.diagram.lines().nth(line.unwrap_or(0)).unwrap_or("")
        );
    }
}
