//! `wirecheck-bench` runs end to end with tiny counts (loopback, bounded) and prints every
//! row of its report; the figures themselves belong in BENCHMARKS.md, not in a test.

use std::process::Command;

#[test]
fn the_benchmark_runs_and_reports_every_row() {
    let out = Command::new(env!("CARGO_BIN_EXE_wirecheck-bench"))
        .args([
            "--connections",
            "2",
            "--requests",
            "200",
            "--rss-requests",
            "400",
            "--max-seconds",
            "60",
            "--broker",
            env!("CARGO_BIN_EXE_wirecheck-broker"),
        ])
        .output()
        .expect("run wirecheck-bench");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in [
        "| raw tokio-tungstenite echo | 200 |",
        "| reference broker (sender→receiver→sender) | 200 |",
        "relay: not measured (no --relay-cmd)",
        "broker / echo: ",
        "broker RSS over 400 requests",
        "| 400 |",
    ] {
        assert!(report.contains(row), "no `{row}` in:\n{report}");
    }
}

#[test]
fn a_relay_command_is_measured_in_front_of_the_broker() {
    // Any program that prints its address and forwards to {upstream} is a relay; the
    // echo mode of the bench itself is not one, so a relay that cannot serve the broker
    // protocol is reported as an error naming the registration.
    let out = Command::new(env!("CARGO_BIN_EXE_wirecheck-bench"))
        .args([
            "--connections",
            "1",
            "--requests",
            "10",
            "--rss-requests",
            "0",
            "--broker",
            env!("CARGO_BIN_EXE_wirecheck-broker"),
            "--relay-cmd",
            &format!(
                "{} --echo-server # {{upstream}}",
                env!("CARGO_BIN_EXE_wirecheck-bench")
            ),
        ])
        .output()
        .expect("run wirecheck-bench");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("registration answered"), "{err}");
}
