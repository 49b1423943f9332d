//! External targets over loopback: the reference broker binary as a black box must pass
//! every applicable scenario of the catalog, and bad targets (missing command, exits at
//! once, never ready, hangs, crashes mid-scenario, over the wall-clock limit) must each give
//! a clear ERROR for the scenario, leave no process behind, and let the run go on.
//!
//! `harness = false`: this binary also plays the misbehaving targets (`WIRECHECK_ROLE`), so
//! the test needs nothing but Rust.

use libtest_mimic::{Arguments, Failed, Trial};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wirecheck::model::Scenario;
use wirecheck::targets::run::{run_against, run_matrix, Grade, TargetOptions, TargetRun};
use wirecheck::targets::{self, table, Target};
use wirecheck::{corpus, scenario};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds `wirecheck-broker` from this source tree, so the target runs the current code.
fn build_broker() -> Result<(), Failed> {
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "-q",
        "-p",
        "wirecheck-reference",
        "--bin",
        "wirecheck-broker",
    ]);
    // The same profile as this test binary, so `{target_dir}` finds what was just built.
    if targets::target_dir().ends_with("release") {
        cmd.arg("--release");
    }
    let out = cmd
        .current_dir(repo())
        .output()
        .map_err(|e| Failed::from(format!("cannot run cargo: {e}")))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build of wirecheck-broker failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

fn refbroker() -> Result<Arc<Target>, Failed> {
    let t = targets::load_file(&repo().join("fixtures/targets/refbroker.yaml"))
        .map_err(|e| Failed::from(e.to_string()))?;
    Ok(Arc::new(t))
}

fn catalog() -> Result<Vec<Scenario>, Failed> {
    let (ok, failed) = corpus::load_all(&corpus::default_root()).map_err(|e| e.to_string())?;
    if !failed.is_empty() || ok.is_empty() {
        return Err(format!("the corpus does not load: {} errors", failed.len()).into());
    }
    Ok(ok)
}

fn refbroker_catalog() -> Result<(), Failed> {
    build_broker()?;
    let t = refbroker()?;
    let scenarios = catalog()?;
    let started = Instant::now();
    let jobs = 3;
    let cells = run_matrix(
        &scenarios,
        &[t],
        &TargetOptions::default(),
        jobs,
        1,
        &|_| {},
    );
    let sum = table::summary(&cells);
    println!("{}", table::render(&cells));
    println!("{}", sum.line());
    println!(
        "refbroker catalog: {:.1}s wall with {jobs} jobs",
        started.elapsed().as_secs_f64()
    );
    let failing =
        |r: &TargetRun| matches!(r.grade, Grade::Failed | Grade::NonStrict | Grade::Error(_));
    // Real time is not deterministic: a scenario that fails is run once more, alone. A
    // verdict that then differs is reported as FLAKY (and counted) rather than failing CI;
    // one that fails twice fails the test.
    let first: Vec<&TargetRun> = cells.iter().flatten().filter(|r| failing(r)).collect();
    let again: Vec<Scenario> = scenarios
        .iter()
        .filter(|s| first.iter().any(|r| r.scenario == s.name))
        .cloned()
        .collect();
    let mut bad: Vec<String> = Vec::new();
    if !again.is_empty() {
        let t = refbroker()?;
        let retry = run_matrix(&again, &[t], &TargetOptions::default(), 1, 1, &|_| {});
        for r in retry.iter().flatten() {
            if failing(r) {
                bad.push(r.explain());
            } else {
                println!(
                    "FLAKY: {} failed once, then passed when run alone",
                    r.scenario
                );
            }
        }
        for r in &first {
            println!("first failure of {}:\n{}", r.scenario, r.explain());
        }
    }
    if !bad.is_empty() {
        return Err(format!(
            "{} applicable scenario(s) did not pass:\n{}",
            bad.len(),
            bad.join("\n\n")
        )
        .into());
    }
    if sum.applicable * 100 < sum.with_role * 80 {
        return Err(format!("applicability below 80%: {}", sum.line()).into());
    }
    Ok(())
}

/// A short scenario: one broker, one client, `wait` of real time.
fn short_scenario(name: &str, wait: &str) -> Scenario {
    let src = format!(
        "name: {name}\nabout: a client registers and waits\nrules: [AUTH-1]\nhosts:\n  broker: {{ broker: {{}} }}\n  app: {{ client: {{ connect: [broker], heartbeat: off }} }}\nscript:\n  - app.result: {{ id: connect, ok: welcome, within: 10s }}\n  - wait: {wait}\n"
    );
    scenario::load_str(&src, Path::new("blackbox.yaml")).expect("the test scenario loads")
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

fn load_target(name: &str, src: &str) -> Arc<Target> {
    let dir = std::env::temp_dir().join(format!("wirecheck-blackbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.yaml"));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(src.as_bytes()))
        .expect("write target");
    Arc::new(targets::load_file(&path).unwrap_or_else(|e| panic!("{e}")))
}

/// Processes whose command line contains `marker`.
fn survivors(marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) {
                out.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
    }
    out
}

/// Runs `scenario` against `t` and checks an ERROR naming target and scenario and
/// containing each of `want`; and that nothing of the target is left running.
fn expect_error(
    t: &Arc<Target>,
    s: &Scenario,
    opts: &TargetOptions,
    marker: &str,
    want: &[&str],
) -> Result<(), Failed> {
    let r = run_against(s, t, opts);
    let Grade::Error(e) = &r.grade else {
        return Err(format!("expected ERROR, got {}: {}", r.grade.label(), r.explain()).into());
    };
    for w in [t.name.as_str(), s.name.as_str()].iter().chain(want) {
        if !e.contains(w) {
            return Err(format!("the error does not mention `{w}`:\n{e}").into());
        }
    }
    let left = survivors(marker);
    if !left.is_empty() {
        return Err(format!("processes left behind: {left:?}").into());
    }
    for a in &r.addresses {
        if std::net::TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok() {
            return Err(format!("{a} still accepts connections after the run").into());
        }
    }
    Ok(())
}

fn marker(what: &str) -> String {
    format!("wirecheck-marker-{what}-{}", std::process::id())
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
