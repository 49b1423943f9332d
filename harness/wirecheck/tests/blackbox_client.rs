//! Client targets over loopback: the reference client adapter (`wirecheck-client-adapter`,
//! the Rust multiplexer behind DRIVER.md) must pass every applicable scenario of the
//! catalog, and its own flaws (the bug zoo's multiplexer flaws, `WIRECHECK_FLAW`) must each
//! be killed by the black-box kill matrix. Bad adapters (exits at once, never answers
//! `init`, garbage on stdout, a reply twice, an acknowledgement never given, a crash
//! mid-scenario) must each give a clear ERROR and leave no process behind.
//!
//! `harness = false`: this binary also plays the misbehaving adapters (`WIRECHECK_ROLE`).

mod support;

use libtest_mimic::{Arguments, Failed, Trial};
use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;
use support::targets::*;
use wirecheck::targets::flaws::flaw_matrix;
use wirecheck::targets::run::{run_against, Grade, TargetOptions};
use wirecheck::targets::Target;

fn refclient() -> Result<Arc<Target>, Failed> {
    fixture_target("fixtures/targets/refclient.yaml")
}

/// The reference adapter passes every applicable scenario (and at least 80 % apply), and
/// every flaw `refclient.yaml` lists is killed by some scenario it passed.
fn refclient_catalog_and_flaws() -> Result<(), Failed> {
    build_reference("wirecheck-client-adapter")?;
    let t = refclient()?;
    let baseline = catalog_passes(t.clone(), 3)?;
    let scenarios = catalog()?;
    let opts = TargetOptions::default();
    let rows = flaw_matrix(&scenarios, &baseline, &t, &opts, 3, true, &|_| {});
    print!("{}", wirecheck::targets::flaws::render(&t, &rows));
    if rows.len() != t.flaws.len() || rows.is_empty() {
        return Err(format!("{} flaws listed, {} run", t.flaws.len(), rows.len()).into());
    }
    let survived: Vec<&str> = rows
        .iter()
        .filter(|r| !r.killed())
        .map(|r| r.name.as_str())
        .collect();
    if !survived.is_empty() {
        return Err(format!("flaws no scenario caught: {survived:?}").into());
    }
    Ok(())
}

/// A failure the target documents as intended is INFORMATIONAL when every rule it broke
/// is documented for that scenario, and stays FAILED when one is not.
fn documented_failure_is_informational() -> Result<(), Failed> {
    build_reference("wirecheck-client-adapter")?;
    let base = refclient()?;
    let scenario = catalog()?
        .into_iter()
        .find(|s| s.name == "chaos/close-mid-request")
        .ok_or("chaos/close-mid-request is not in the corpus")?;
    let with = |rules: &[&str]| {
        let mut t = (*base).clone();
        t.extra_env
            .insert("WIRECHECK_FLAW".into(), "disconnect-leaves-pending".into());
        t.documented.insert(
            scenario.name.clone(),
            wirecheck::targets::Documented {
                why: "pending calls wait for their own timeout after a close".into(),
                link: "https://example.org/docs#close".into(),
                rules: rules.iter().map(|r| r.to_string()).collect(),
            },
        );
        run_against(&scenario, &Arc::new(t), &TargetOptions::default())
    };
    let covered = with(&["MUX-6"]);
    match &covered.grade {
        Grade::Informational(note) if note.contains("https://example.org/docs#close") => {}
        other => {
            return Err(format!(
                "documented MUX-6: want INFORMATIONAL, got {other:?}\n{}",
                covered.explain()
            )
            .into())
        }
    }
    let broken = covered
        .report
        .as_ref()
        .map(|r| r.broken_rules().join(" "))
        .unwrap_or_default();
    if !broken.contains("MUX-6") {
        return Err(format!("the flaw should break MUX-6, broke: {broken}").into());
    }
    let uncovered = with(&["MUX-2"]);
    if uncovered.grade != Grade::Failed {
        return Err(format!(
            "documented MUX-2 only: want FAILED, got {:?}",
            uncovered.grade
        )
        .into());
    }
    Ok(())
}

/// A client target file that runs this test binary as adapter `role`.
fn self_adapter(name: &str, role: &str, marker: &str) -> Arc<Target> {
    let exe = std::env::current_exe().expect("own path");
    let src = format!(
        "name: {name}\nrole: client\nstart: [\"{}\", \"{marker}\"]\nready: {{ timeout: 2s }}\nenv: {{ WIRECHECK_ROLE: {role} }}\n",
        exe.display()
    );
    load_target(name, &src)
}

fn bad(role: &str, script: &str, wait: &str, want: &[&str]) -> Result<(), Failed> {
    let m = marker(role);
    let t = self_adapter(role, role, &m);
    let s = registering_scenario(&format!("bad/{role}"), script, wait);
    expect_error(&t, &s, &TargetOptions::default(), &m, want)
}

fn bad_exits_at_once() -> Result<(), Failed> {
    bad(
        "a-exit",
        "",
        "100ms",
        &["exited", "before answering `init`", "adapter boom"],
    )
}

fn bad_never_answers_init() -> Result<(), Failed> {
    bad(
        "a-silent",
        "",
        "100ms",
        &["did not answer `init` within 2.0s"],
    )
}

fn bad_garbage_on_stdout() -> Result<(), Failed> {
    bad(
        "a-garbage",
        "",
        "100ms",
        &[
            "not DRIVER.md",
            "not a JSON object",
            "`hello from the adapter`",
        ],
    )
}

fn bad_answers_twice() -> Result<(), Failed> {
    bad(
        "a-twice",
        "",
        "500ms",
        &["answered operation", "twice", "exactly one reply"],
    )
}

fn bad_never_acknowledges() -> Result<(), Failed> {
    bad(
        "a-noack",
        "  - app.disconnect: {}\n",
        "7s",
        &["did not answer operation", "`disconnect`", "within 5s"],
    )
}

fn bad_crashes_mid_scenario() -> Result<(), Failed> {
    bad(
        "a-crash",
        "",
        "3s",
        &[
            "crashed mid-scenario",
            "adapter exited",
            "simulated adapter crash",
        ],
    )
}

fn good_self_adapter() -> Result<(), Failed> {
    // The same fake adapter, well behaved, passes: the bad-adapter checks are not vacuous.
    let m = marker("a-good");
    let t = self_adapter("a-good", "a-good", &m);
    let r = run_against(
        &registering_scenario("good/self-adapter", "", "200ms"),
        &t,
        &TargetOptions::default(),
    );
    match r.grade {
        Grade::Ok => Ok(()),
        _ => Err(r.explain().into()),
    }
}

/// The adapters this binary plays (`WIRECHECK_ROLE`). The well-behaved part registers for
/// real: it connects to the first broker URL and sends `hello`, so the scenario's
/// `connect` result and the checkers see a genuine registration.
fn play(role: &str) -> ! {
    let out = |line: &str| {
        println!("{line}");
    };
    if role == "a-exit" {
        eprintln!("adapter boom: refusing to start");
        std::process::exit(3);
    }
    let stdin = std::io::stdin();
    let mut held = Vec::new();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let id = v["id"].as_u64().unwrap_or(0);
        match v["op"].as_str().unwrap_or("") {
            "init" if role == "a-silent" => {}
            "init" if role == "a-garbage" => out("hello from the adapter"),
            "init" => {
                let broker = v["brokers"][0].as_str().unwrap_or("").to_owned();
                let client = v["client_id"].as_str().unwrap_or("").to_owned();
                held.push((broker, client));
                out(&format!(
                    r#"{{"id":{id},"ok":{{"capabilities":["events"],"library":"fake@0"}}}}"#
                ));
                if role == "a-twice" {
                    out(&format!(r#"{{"id":{id},"ok":{{"capabilities":[]}}}}"#));
                }
                if role == "a-crash" {
                    std::thread::spawn(|| {
                        std::thread::sleep(Duration::from_millis(1500));
                        eprintln!("panic: simulated adapter crash");
                        std::process::exit(101);
                    });
                }
            }
            "connect" => {
                let (url, client) = held.first().cloned().unwrap_or_default();
                out(&format!(
                    r#"{{"event":"connecting","url":"{url}","attempt":1}}"#
                ));
                let reply = register(&url, &client);
                if reply.contains("welcome") {
                    out(&format!(r#"{{"event":"registered","url":"{url}"}}"#));
                }
                out(&format!(r#"{{"id":{id},{reply}}}"#));
            }
            "disconnect" if role == "a-noack" => {}
            "shutdown" => {
                out(&format!(r#"{{"id":{id},"ok":null}}"#));
                break;
            }
            _ => out(&format!(r#"{{"id":{id},"ok":null}}"#)),
        }
    }
    std::process::exit(0)
}

/// Registers `client` at `url` with a hand-written WebSocket handshake and `hello`; keeps
/// the socket open (leaked) so the registration stands.
fn register(url: &str, client: &str) -> String {
    use tokio_tungstenite::tungstenite::{connect, Message};
    match connect(url) {
        Ok((mut ws, _)) => {
            let hello = format!(r#"{{"type":"hello","client":"{client}"}}"#);
            if ws.send(Message::text(hello)).is_err() {
                return r#""fails":"send_failed""#.into();
            }
            let reply = match ws.read() {
                Ok(Message::Text(t)) if t.contains("\"welcome\"") => r#""ok":"welcome""#.into(),
                Ok(other) => format!(
                    r#""fails":"unexpected_reply","detail":{:?}"#,
                    other.to_string()
                ),
                Err(e) => format!(r#""fails":"disconnected","detail":{:?}"#, e.to_string()),
            };
            std::mem::forget(ws);
            reply
        }
        Err(e) => format!(r#""fails":"not_connected","detail":{:?}"#, e.to_string()),
    }
}

fn main() {
    if let Ok(role) = std::env::var("WIRECHECK_ROLE") {
        play(&role);
    }
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test(
            "refclient_passes_applicable_catalog_and_kills_its_flaws",
            refclient_catalog_and_flaws,
        ),
        Trial::test("bad_adapter::exits_at_once", bad_exits_at_once),
        Trial::test("bad_adapter::never_answers_init", bad_never_answers_init),
        Trial::test("bad_adapter::garbage_on_stdout", bad_garbage_on_stdout),
        Trial::test("bad_adapter::answers_twice", bad_answers_twice),
        Trial::test("bad_adapter::never_acknowledges", bad_never_acknowledges),
        Trial::test(
            "bad_adapter::crashes_mid_scenario",
            bad_crashes_mid_scenario,
        ),
        Trial::test("good_self_adapter", good_self_adapter),
        Trial::test(
            "documented_failure_is_informational",
            documented_failure_is_informational,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
