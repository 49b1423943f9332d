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
