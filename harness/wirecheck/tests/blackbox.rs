//! External targets over loopback: the reference broker binary as a black box must pass
//! every applicable scenario of the catalog, and bad targets (missing command, exits at
//! once, never ready, hangs, crashes mid-scenario, over the wall-clock limit) must each give
//! a clear ERROR for the scenario, leave no process behind, and let the run go on.
//!
//! `harness = false`: this binary also plays the misbehaving targets (`WIRECHECK_ROLE`), so
//! the test needs nothing but Rust.

mod support;

use libtest_mimic::{Arguments, Failed, Trial};
use std::sync::Arc;
use std::time::Duration;
use support::targets::*;
use wirecheck::model::Scenario;
use wirecheck::targets::run::{run_against, run_matrix, Grade, TargetOptions};
use wirecheck::targets::Target;

fn refbroker_catalog() -> Result<(), Failed> {
    build_reference("wirecheck-broker")?;
    catalog_passes(fixture_target("fixtures/targets/refbroker.yaml")?, 3).map(drop)
}

/// A short scenario: one broker, one client, `wait` of real time.
fn short_scenario(name: &str, wait: &str) -> Scenario {
    registering_scenario(name, "", wait)
}

/// A target file (in a temp folder) that runs this test binary in `role`.
fn self_target(name: &str, role: &str, marker: &str) -> Arc<Target> {
    let exe = std::env::current_exe().expect("own path");
    let src = format!(
        "name: {name}\nrole: broker\nstart: [\"{}\", \"{{host}}:{{port}}\", \"{marker}\"]\nready: {{ stdout: \"listening on\", timeout: 2s }}\nenv: {{ WIRECHECK_ROLE: {role} }}\n",
        exe.display()
    );
    load_target(name, &src)
}

fn bad_missing_command() -> Result<(), Failed> {
    let t = load_target("missing", "name: missing\nrole: broker\nstart: [/nonexistent/no-such-broker, \"{port}\"]\nready: { tcp: true }\n");
    expect_error(
        &t,
        &short_scenario("bad/missing", "100ms"),
        &TargetOptions::default(),
        "no-such-broker",
        &["cannot start", "/nonexistent/no-such-broker"],
    )
}

fn bad_exits_at_once() -> Result<(), Failed> {
    let m = marker("exits");
    let t = self_target("exits", "exit", &m);
    expect_error(
        &t,
        &short_scenario("bad/exits", "100ms"),
        &TargetOptions::default(),
        &m,
        &["exited", "boom: refusing to start"],
    )
}

fn bad_never_ready() -> Result<(), Failed> {
    let m = marker("never");
    let t = self_target("never", "never", &m);
    expect_error(
        &t,
        &short_scenario("bad/never", "100ms"),
        &TargetOptions::default(),
        &m,
        &["never became ready", "warming up"],
    )
}

fn bad_hangs() -> Result<(), Failed> {
    let m = marker("hang");
    let t = self_target("hangs", "hang", &m);
    expect_error(
        &t,
        &short_scenario("bad/hangs", "8s"),
        &TargetOptions::default(),
        &m,
        &["never answered its WebSocket handshake"],
    )
}

fn bad_crashes_mid_scenario() -> Result<(), Failed> {
    let m = marker("crash");
    let t = self_target("crashes", "crash", &m);
    let s = short_scenario("bad/crashes", "3s");
    expect_error(
        &t,
        &s,
        &TargetOptions::default(),
        &m,
        &["crashed mid-scenario", "simulated crash"],
    )?;
    // The run goes on: a second scenario is run (and fails the same way) after the first.
    let cells = run_matrix(
        &[s.clone(), short_scenario("bad/crashes-again", "3s")],
        &[t],
        &TargetOptions::default(),
        1,
        1,
        &|_| {},
    );
    let labels: Vec<&str> = cells.iter().flatten().map(|r| r.grade.label()).collect();
    if labels != ["ERROR", "ERROR"] {
        return Err(format!("expected two ERRORs, got {labels:?}").into());
    }
    Ok(())
}

fn bad_wall_limit() -> Result<(), Failed> {
    let m = marker("slow");
    let t = self_target("slowpoke", "broker", &m);
    let opts = TargetOptions {
        wall_limit: Some(Duration::from_secs(1)),
        ..TargetOptions::default()
    };
    expect_error(
        &t,
        &short_scenario("bad/too-long", "5s"),
        &opts,
        &m,
        &["wall-clock limit exceeded"],
    )
}

fn cli_reports_error_and_goes_on() -> Result<(), Failed> {
    let t = load_target("cli-missing", "name: cli-missing\nrole: broker\nstart: [/nonexistent/no-such-broker]\nready: { tcp: true }\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wirecheck"))
        .args([
            "run",
            "scenarios/auth/welcome.yaml",
            "scenarios/broker/receiver-gone.yaml",
            "scenarios/mux/duplicate-response.yaml",
            "--target",
        ])
        .arg(&t.file)
        .current_dir(repo())
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("cli-missing"))
        .collect();
    let ok = out.status.code() == Some(1)
        && rows.len() == 3
        && rows[0].starts_with("auth/welcome")
        && rows[0].contains("ERROR")
        && rows[1].starts_with("broker/receiver-gone")
        && rows[1].contains("ERROR")
        && rows[2].contains("N/A")
        && stderr.contains("cannot start `/nonexistent/no-such-broker`");
    if !ok {
        return Err(format!(
            "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status.code()
        )
        .into());
    }
    Ok(())
}

fn good_self_broker() -> Result<(), Failed> {
    // The same binary as a correct broker passes: the bad-target checks are not vacuous.
    let m = marker("good");
    let t = self_target("selfbroker", "broker", &m);
    let r = run_against(
        &short_scenario("good/self", "200ms"),
        &t,
        &TargetOptions::default(),
    );
    match r.grade {
        Grade::Ok => Ok(()),
        _ => Err(r.explain().into()),
    }
}

/// The roles this binary plays as a target (`WIRECHECK_ROLE`): argv[1] is `host:port`.
fn play(role: &str) -> ! {
    let addr = std::env::args().nth(1).unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let code = rt.block_on(async move {
        match role {
            "exit" => {
                eprintln!("boom: refusing to start");
                3
            }
            "never" => {
                eprintln!("warming up");
                tokio::time::sleep(Duration::from_secs(300)).await;
                0
            }
            "hang" => {
                let l = tokio::net::TcpListener::bind(&addr).await.expect("bind");
                println!("listening on {addr}");
                let mut held = Vec::new();
                while let Ok((s, _)) = l.accept().await {
                    held.push(s);
                }
                0
            }
            "crash" | "broker" => {
                let l = tokio::net::TcpListener::bind(&addr).await.expect("bind");
                println!("listening on {addr}");
                let serve = wirecheck_reference::broker::run_tcp(
                    l,
                    Default::default(),
                    Arc::new(wirecheck_reference::NoObserver),
                );
                if role == "crash" {
                    let _ = tokio::time::timeout(Duration::from_millis(1500), serve).await;
                    eprintln!("panic: simulated crash");
                    101
                } else {
                    let _ = serve.await;
                    0
                }
            }
            other => {
                eprintln!("unknown role {other}");
                2
            }
        }
    });
    std::process::exit(code)
}

fn main() {
    if let Ok(role) = std::env::var("WIRECHECK_ROLE") {
        play(&role);
    }
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test("refbroker_passes_applicable_catalog", refbroker_catalog),
        Trial::test("bad_target::missing_command", bad_missing_command),
        Trial::test("bad_target::exits_at_once", bad_exits_at_once),
        Trial::test("bad_target::never_ready", bad_never_ready),
        Trial::test("bad_target::hangs", bad_hangs),
        Trial::test("bad_target::crashes_mid_scenario", bad_crashes_mid_scenario),
        Trial::test("bad_target::wall_clock_limit", bad_wall_limit),
        Trial::test("good_self_broker", good_self_broker),
        Trial::test(
            "cli_reports_error_and_goes_on",
            cli_reports_error_and_goes_on,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
