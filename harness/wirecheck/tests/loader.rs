//! Scenario loader tests: a full valid scenario, the malformed fixtures (one per error
//! class, each with its whole expected error in a `.stderr` file next to it), and
//! robustness against mutated input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use wirecheck::model::{
    Action, BrokerSpec, ClientSpec, Frame, FramePattern, HeartbeatSpec, HostKind, Network, Outcome,
    ReconnectSpec, Reply, RequestCall, ScriptedSpec, ServeSpec,
};
use wirecheck::scenario::{check_name, expected_name, load_file, load_str, LoadError};

const VALID: &str = r#"# A scenario using every feature of format v1.
name: mux/everything
about: >
  Exercises every part of the format:
  hosts of each kind, every action, and expectations.
rules: [MUX-3, MUX-4]
seed: 7
duration: 90s
network: { latency: { min: 1ms, max: 20ms } }
hosts:
  broker:
    broker:
      max_message: 1024
      queue: 8
      idle_timeout: 45s
      tokens: { app: secret }
  server: { scripted: server }
  probe: { scripted: { client: broker, autoconnect: false } }
  app:
    client:
      id: app-1
      token: secret
      connect: [broker, server]
      register_timeout: 2s
      request_timeout: 1.5s
      heartbeat: { interval: 2s, timeout: 6s }
      reconnect: { base: 500ms, cap: 8s, jitter: 0.2, max_attempts: 4, window: 1m, min_gap: 1s }
      serve:
        - { channel: jobs, reply: { fixed: done }, delay: 100ms, chunks: 2, concurrency: 3 }
        - { channel: echo }
  worker:
    client:
      connect: [broker]
      autoconnect: false
      heartbeat: off
      reconnect: off
script:
  - wait: 2s
  - partition: [app, broker]
  - repair: [app, broker]
  - hold: [app, broker]
  - release: [app, broker]
  - crash: broker
  - bounce: server
  - worker.connect: {}
  - app.connect: { id: c2 }
  - app.request: { id: r1, channel: jobs, body: ping, chunks: [a, b], timeout: 5s }
  - app.request: { id: r2, channel: jobs }
  - app.cancel: { id: r2 }
  - app.disconnect: {}
  - app.serve: { channel: more, reply: { error: busy } }
  - app.result: { id: r1, ok: pong, within: 10s }
  - app.result: { id: connect, ok: welcome }
  - worker.result: { id: connect, error: bad_token }
  - app.result: { id: r2, fails: cancelled }
  - server.send: { start: { req: r1, dir: response, body: pong, end: true, n: 3, tags: [x, 1], meta: { k: ~ } } }
  - server.send: { raw: "not json {" }
  - server.expect: { start: { req: r1 }, within: 5s }
  - server.expect: { ping: {} }
  - server.close: {}
  - probe.connect: {}
  - probe.send: { hello: { id: probe } }
  - probe.close: {}
expect:
  app: { pending: 0, duplicates_dropped: 1 }
  broker: { connections: 2 }
  server: { received: 2 }
"#;

fn valid_path() -> PathBuf {
    PathBuf::from("scenarios/mux/everything.yaml")
}

fn load_valid() -> wirecheck::model::Scenario {
    match load_str(VALID, &valid_path()) {
        Ok(s) => s,
        Err(e) => panic!("the valid scenario failed to load:\n{e}"),
    }
}

#[test]
fn valid_scenario_top_level() {
    let s = load_valid();
    assert_eq!(s.name, "mux/everything");
    assert_eq!(
        s.about,
        "Exercises every part of the format: hosts of each kind, every action, and expectations."
    );
    assert_eq!(s.rules, ["MUX-3", "MUX-4"]);
    assert_eq!(s.seed, 7);
    assert_eq!(s.duration, Duration::from_secs(90));
    assert_eq!(
        s.network,
        Network {
            min_latency: Duration::from_millis(1),
            max_latency: Duration::from_millis(20)
        }
    );
    assert_eq!(s.file, valid_path());
    assert_eq!((s.name_loc.line, s.name_loc.column), (2, 7));
}

#[test]
fn valid_scenario_hosts() {
    let s = load_valid();
    let names: Vec<&str> = s.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        ["broker", "server", "probe", "app", "worker"],
        "declaration order"
    );
    let locs: Vec<(u64, u64)> = s.hosts.iter().map(|h| (h.loc.line, h.loc.column)).collect();
    assert_eq!(locs, [(11, 3), (17, 3), (18, 3), (19, 3), (31, 3)]);

    let HostKind::Broker(broker) = &s.hosts[0].kind else {
        panic!("broker")
    };
    assert_eq!(
        *broker,
        BrokerSpec {
            max_message: 1024,
            queue: 8,
            idle_timeout: Duration::from_secs(45),
            tokens: BTreeMap::from([("app".to_string(), "secret".to_string())]),
        }
    );
    assert!(matches!(
        s.hosts[1].kind,
        HostKind::Scripted(ScriptedSpec::Server)
    ));
    let HostKind::Scripted(probe) = &s.hosts[2].kind else {
        panic!("probe")
    };
    assert_eq!(
        *probe,
        ScriptedSpec::Client {
            target: "broker".to_string(),
            autoconnect: false
        }
    );

    let HostKind::Client(app) = &s.hosts[3].kind else {
        panic!("app")
    };
    assert_eq!(
        *app,
        ClientSpec {
            id: "app-1".to_string(),
            token: Some("secret".to_string()),
            connect: vec!["broker".to_string(), "server".to_string()],
            autoconnect: true,
            register_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_millis(1500),
            heartbeat: Some(HeartbeatSpec {
                interval: Duration::from_secs(2),
                timeout: Duration::from_secs(6)
            }),
            reconnect: Some(ReconnectSpec {
                base: Duration::from_millis(500),
                cap: Duration::from_secs(8),
                jitter: 0.2,
                max_attempts: 4,
                window: Duration::from_secs(60),
                min_gap: Duration::from_secs(1),
            }),
            serve: vec![
                ServeSpec {
                    channel: "jobs".to_string(),
                    reply: Reply::Fixed("done".to_string()),
                    delay: Duration::from_millis(100),
                    chunks: 2,
                    concurrency: 3,
                },
                ServeSpec {
                    channel: "echo".to_string(),
                    reply: Reply::Echo,
                    delay: Duration::ZERO,
                    chunks: 0,
                    concurrency: 1,
                },
            ],
        }
    );

    let HostKind::Client(worker) = &s.hosts[4].kind else {
        panic!("worker")
    };
    assert_eq!(
        *worker,
        ClientSpec {
            id: "worker".to_string(),
            token: None,
            connect: vec!["broker".to_string()],
            autoconnect: false,
            register_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            heartbeat: None,
            reconnect: None,
            serve: vec![],
        }
    );
}

#[test]
fn valid_scenario_script() {
    let s = load_valid();
    let s30 = Duration::from_secs(30);
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    let (a, b) = pair("app", "broker");
    let expected = vec![
        Action::Wait(Duration::from_secs(2)),
        Action::Partition {
            a: a.clone(),
            b: b.clone(),
        },
        Action::Repair {
            a: a.clone(),
            b: b.clone(),
        },
        Action::Hold {
            a: a.clone(),
            b: b.clone(),
        },
        Action::Release { a, b },
        Action::Crash {
            host: "broker".into(),
        },
        Action::Bounce {
            host: "server".into(),
        },
        Action::Connect {
            host: "worker".into(),
            id: "connect".into(),
        },
        Action::Connect {
            host: "app".into(),
            id: "c2".into(),
        },
        Action::Request {
            host: "app".into(),
            call: RequestCall {
                id: "r1".into(),
                channel: "jobs".into(),
                body: "ping".into(),
                chunks: vec!["a".into(), "b".into()],
                timeout: Some(Duration::from_secs(5)),
            },
        },
        Action::Request {
            host: "app".into(),
            call: RequestCall {
                id: "r2".into(),
                channel: "jobs".into(),
                body: String::new(),
                chunks: vec![],
                timeout: None,
            },
        },
        Action::Cancel {
            host: "app".into(),
            id: "r2".into(),
        },
        Action::Disconnect { host: "app".into() },
        Action::Serve {
            host: "app".into(),
            serve: ServeSpec {
                channel: "more".into(),
                reply: Reply::Error("busy".into()),
                delay: Duration::ZERO,
                chunks: 0,
                concurrency: 1,
            },
        },
        Action::Result {
            host: "app".into(),
            id: "r1".into(),
            expect: Outcome::Ok("pong".into()),
            within: Duration::from_secs(10),
        },
        Action::Result {
            host: "app".into(),
            id: "connect".into(),
            expect: Outcome::Ok("welcome".into()),
            within: s30,
        },
        Action::Result {
            host: "worker".into(),
            id: "connect".into(),
            expect: Outcome::Error("bad_token".into()),
            within: s30,
        },
        Action::Result {
            host: "app".into(),
            id: "r2".into(),
            expect: Outcome::Fails(wirecheck::model::FailKind::Cancelled),
            within: s30,
        },
        Action::Send {
            host: "server".into(),
            frame: Frame::Json(json!({
                "type": "start", "req": "r1", "dir": "response", "body": "pong", "end": true,
                "n": 3, "tags": ["x", 1], "meta": { "k": null }
            })),
        },
        Action::Send {
            host: "server".into(),
            frame: Frame::Raw("not json {".into()),
        },
        Action::Expect {
            host: "server".into(),
            pattern: FramePattern {
                kind: "start".into(),
                fields: BTreeMap::from([("req".to_string(), json!("r1"))]),
                protocol: Default::default(),
            },
            within: Duration::from_secs(5),
        },
        Action::Expect {
            host: "server".into(),
            pattern: FramePattern {
                kind: "ping".into(),
                fields: BTreeMap::new(),
                protocol: Default::default(),
            },
            within: s30,
        },
        Action::ScriptedClose {
            host: "server".into(),
        },
        Action::ScriptedConnect {
            host: "probe".into(),
        },
        Action::Send {
            host: "probe".into(),
            frame: Frame::Json(json!({ "type": "hello", "id": "probe" })),
        },
        Action::ScriptedClose {
            host: "probe".into(),
        },
    ];
    let actions: Vec<Action> = s.script.iter().map(|st| st.action.clone()).collect();
    assert_eq!(actions.len(), expected.len());
    for (i, (got, want)) in actions.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "step {i}");
    }
    // Each step is located at its key.
    assert_eq!((s.script[0].loc.line, s.script[0].loc.column), (38, 5));
    assert_eq!((s.script[9].loc.line, s.script[9].loc.column), (47, 5));
    assert_eq!(s.script[9].loc.file, valid_path());
}

#[test]
fn valid_scenario_expectations() {
    let s = load_valid();
    type Row<'a> = (&'a str, Vec<(&'a str, u64)>, u64);
    let got: Vec<Row> = s
        .expect
        .iter()
        .map(|e| {
            (
                e.host.as_str(),
                e.counters.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
                e.loc.line,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("app", vec![("duplicates_dropped", 1), ("pending", 0)], 65),
            ("broker", vec![("connections", 2)], 66),
            ("server", vec![("received", 2)], 67),
        ]
    );
}

#[test]
fn minimal_scenario_defaults() {
    let src = "name: x\nabout: y\nrules: [MUX-1]\nhosts:\n  b: { broker: }\n  c: { client: { connect: [b] } }\n";
    let s = load_str(src, Path::new("x.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.seed, 0);
    assert_eq!(s.duration, Duration::from_secs(120));
    assert_eq!(s.network, Network::default());
    assert!(s.script.is_empty());
    assert!(s.expect.is_empty());
    let HostKind::Broker(b) = &s.hosts[0].kind else {
        panic!()
    };
    assert_eq!(*b, BrokerSpec::default());
    let HostKind::Client(c) = &s.hosts[1].kind else {
        panic!()
    };
    assert_eq!(c.id, "c");
    assert!(c.autoconnect);
    assert_eq!(c.heartbeat, Some(HeartbeatSpec::default()));
    assert_eq!(c.reconnect, Some(ReconnectSpec::default()));
    // Fixed latency; partial heartbeat/reconnect maps take the other fields from Default.
    let src = format!(
        "{src}  d: {{ client: {{ connect: [b], heartbeat: {{ timeout: 20s }}, reconnect: {{ cap: 2s }} }} }}\nnetwork: {{ latency: 5ms }}\n"
    );
    let s = load_str(&src, Path::new("x.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.network.min_latency, Duration::from_millis(5));
    assert_eq!(s.network.max_latency, Duration::from_millis(5));
    let HostKind::Client(d) = &s.hosts[2].kind else {
        panic!()
    };
    assert_eq!(
        d.heartbeat,
        Some(HeartbeatSpec {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(20)
        })
    );
    assert_eq!(
        d.reconnect,
        Some(ReconnectSpec {
            cap: Duration::from_secs(2),
            ..ReconnectSpec::default()
        })
    );
}

#[test]
fn name_check() {
    let root = Path::new("scenarios");
    assert_eq!(expected_name(root, &valid_path()), "mux/everything");
    let s = load_valid();
    assert!(check_name(&s, root).is_ok());
    let mut moved = s.clone();
    moved.file = PathBuf::from("scenarios/auth/other.yaml");
    let err = check_name(&moved, root).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(":2:7: error: scenario name `mux/everything`"),
        "{text}"
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap_or("")
            .contains("name: auth/other"),
        "{text}"
    );
}

#[test]
fn load_file_reports_io_and_encoding_errors() {
    let missing = Path::new("/nonexistent/wirecheck/nothing.yaml");
    let err = load_file(missing).unwrap_err();
    assert!(err.loc.is_none());
    assert!(err
        .to_string()
        .contains("cannot read `/nonexistent/wirecheck/nothing.yaml`"));

    let dir = std::env::temp_dir().join(format!("wirecheck-loader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, b"name: x\nabout: \xff\xfe\n").unwrap();
    let err = load_file(&bad).unwrap_err();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        err.to_string()
            .contains(":2:8: error: the file is not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn error_display_has_location_snippet_and_hint() {
    let src = "name: x\nabout: y\nrules: [MUX-1]\nhosts:\n  app: { client: { connect: [brokr] } }\n  broker: { broker: {} }\n";
    let err = load_str(src, Path::new("s.yaml")).unwrap_err();
    let text = err.to_string();
    let expected = "s.yaml:5:30: error: unknown host `brokr`\n  |\n5 |   app: { client: { connect: [brokr] } }\n  |                              ^\n  hint: did you mean `broker`? declared hosts: app, broker";
    assert_eq!(text, expected);
}

// ----------------------------------------------------------------------------------------
// Malformed fixtures, trybuild style: `fixtures/malformed/x.yaml` must fail to load with
// exactly the error in `x.stderr` (location, message, snippet, hint). Paths are rendered
// relative to the repository, so the files are the same on every machine.
// `WIRECHECK_BLESS=1 cargo test -p wirecheck --test loader` rewrites the `.stderr` files
// (and removes orphans); review the diff before committing.
// ----------------------------------------------------------------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bless() -> bool {
    std::env::var_os("WIRECHECK_BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The error `file` produces, as the user sees it, with the file shown as `shown`.
fn rendered_error(file: &Path, shown: &Path) -> Result<String, String> {
    let mut err: LoadError = match load_file(file) {
        Ok(_) => return Err("loaded without error".to_string()),
        Err(e) => e,
    };
    if err.snippet.is_none() {
        return Err(format!("error has no snippet:\n{err}"));
    }
    if err.hint.is_none() {
        return Err(format!("error has no hint:\n{err}"));
    }
    if let Some(loc) = err.loc.as_mut() {
        loc.file = shown.to_path_buf();
    }
    Ok(format!("{err}\n"))
}

/// Checks (or with `bless`, rewrites) every `*.yaml` / `*.stderr` pair in `dir`, whose
/// files are shown as `shown/<name>`. Returns the problems found and the number of pairs.
fn check_stderr_dir(dir: &Path, shown: &Path, bless: bool) -> (Vec<String>, usize) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut problems = Vec::new();
    let mut pairs = 0;
    for name in &names {
        if let Some(stem) = name.strip_suffix(".stderr") {
            if !names.contains(&format!("{stem}.yaml")) {
                if bless {
                    std::fs::remove_file(dir.join(name)).unwrap();
                } else {
                    problems.push(format!(
                        "{name}: orphan: there is no {stem}.yaml (delete it, or bless)"
                    ));
                }
            }
            continue;
        }
        let Some(stem) = name.strip_suffix(".yaml") else {
            if name != "README.md" {
                problems.push(format!(
                    "{name}: unexpected file (fixtures are `x.yaml` + `x.stderr`)"
                ));
            }
            continue;
        };
        pairs += 1;
        let got = match rendered_error(&dir.join(name), &shown.join(name)) {
            Ok(text) => text,
            Err(why) => {
                problems.push(format!("{name}: {why}"));
                continue;
            }
        };
        let stderr = dir.join(format!("{stem}.stderr"));
        if bless {
            std::fs::write(&stderr, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&stderr) {
            Err(_) => problems.push(format!(
                "{name}: no {stem}.stderr; it would hold:\n{got}hint: run with WIRECHECK_BLESS=1 to write it"
            )),
            Ok(want) if want != got => problems.push(format!(
                "{name}: the error differs from {stem}.stderr\n--- expected ({stem}.stderr)\n{want}+++ got\n{got}hint: if the change is intended, run with WIRECHECK_BLESS=1 and review the diff"
            )),
            Ok(_) => {}
        }
    }
    (problems, pairs)
}

#[test]
fn malformed_fixtures_fail_with_exactly_their_stderr() {
    let dir = repo_root().join("fixtures/malformed");
    let (problems, pairs) = check_stderr_dir(&dir, Path::new("fixtures/malformed"), bless());
    assert!(
        pairs >= 15,
        "expected at least 15 malformed fixtures, found {pairs}"
    );
    assert!(
        problems.is_empty(),
        "{} fixture problem(s):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn stderr_check_catches_changed_missing_and_orphan_files() {
    let dir = std::env::temp_dir().join(format!("wirecheck-stderr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bad = "about: y\nrules: [MUX-1]\nhosts: {}\n";
    std::fs::write(dir.join("a.yaml"), bad).unwrap();
    std::fs::write(dir.join("b.yaml"), bad).unwrap();
    std::fs::write(dir.join("a.stderr"), "something else\n").unwrap();
    std::fs::write(dir.join("gone.stderr"), "x\n").unwrap();
    std::fs::write(
        dir.join("ok.yaml"),
        "about: y\nrules: [MUX-1]\nhosts: { b: { broker: {} } }\n",
    )
    .unwrap();
    let shown = Path::new("t");
    let (problems, pairs) = check_stderr_dir(&dir, shown, false);
    assert_eq!(pairs, 3);
    let text = problems.join("\n");
    assert_eq!(problems.len(), 4, "{text}");
    assert!(
        text.contains("a.yaml: the error differs from a.stderr"),
        "{text}"
    );
    assert!(text.contains("b.yaml: no b.stderr"), "{text}");
    assert!(text.contains("gone.stderr: orphan"), "{text}");
    assert!(text.contains("ok.yaml: loaded without error"), "{text}");
    // Bless writes what was checked, removes the orphan, and then everything but the
    // file that loads is clean.
    check_stderr_dir(&dir, shown, true);
    assert!(!dir.join("gone.stderr").exists());
    let a = std::fs::read_to_string(dir.join("a.stderr")).unwrap();
    assert_eq!(
        a,
        "t/a.yaml:3:8: error: `hosts` is empty\n  |\n3 | hosts: {}\n  |        ^\n  hint: declare at least one host, e.g. `hosts: { broker: { broker: {} } }`\n"
    );
    let (problems, _) = check_stderr_dir(&dir, shown, false);
    assert_eq!(problems.len(), 1, "{problems:?}");
    std::fs::remove_dir_all(&dir).ok();
}

// ----------------------------------------------------------------------------------------
// Robustness: mutated variants of the valid scenario never panic.
// ----------------------------------------------------------------------------------------

/// Deterministic xorshift generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn must_not_panic(src: &str, what: &str) {
    let result = std::panic::catch_unwind(|| {
        if let Err(e) = load_str(src, Path::new("mutant.yaml")) {
            let _ = e.to_string();
        }
    });
    if result.is_err() {
        panic!("load_str panicked on {what}:\n{src:?}");
    }
}

#[test]
fn truncations_never_panic() {
    let bytes = VALID.as_bytes();
    for cut in 0..=bytes.len() {
        let src = String::from_utf8_lossy(&bytes[..cut]);
        must_not_panic(&src, &format!("truncation at byte {cut}"));
    }
}

#[test]
fn mutations_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let specials: Vec<char> = ":{}[]-,#&*!|>'\"\t\n\r\0% ?.~@`\u{feff}é".chars().collect();
    let base: Vec<char> = VALID.chars().collect();
    let mut loaded_ok = 0;
    for round in 0..600 {
        let mut chars = base.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(chars.len());
            match rng.below(4) {
                0 => {
                    let j = rng.below(chars.len());
                    chars.swap(i, j);
                }
                1 => chars[i] = specials[rng.below(specials.len())],
                2 => chars.insert(i, specials[rng.below(specials.len())]),
                _ => {
                    chars.remove(i);
                }
            }
        }
        let src: String = chars.into_iter().collect();
        must_not_panic(&src, &format!("mutation round {round}"));
        if load_str(&src, Path::new("m.yaml")).is_ok() {
            loaded_ok += 1;
        }
    }
    // Some mutations are harmless (comments, whitespace); most are not.
    assert!(
        loaded_ok < 600,
        "every mutant loaded: mutations are not effective"
    );
}

#[test]
fn garbage_never_panics() {
    let mut rng = Rng(42);
    for round in 0..200 {
        let len = rng.below(200);
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next() % 256) as u8).collect();
        must_not_panic(
            &String::from_utf8_lossy(&bytes),
            &format!("garbage round {round}"),
        );
    }
    for deep in [
        "[".repeat(5000),
        "{a: ".repeat(5000),
        "- ".repeat(5000),
        "a:\n ".repeat(2000),
    ] {
        must_not_panic(&deep, "deep nesting");
    }
}

#[test]
fn wrong_action_hints_name_the_owning_kind() {
    let head = "name: x\nabout: y\nrules: [MUX-1]\nhosts:\n  b: { broker: {} }\n  s: { scripted: server }\n  c: { client: { connect: [b] } }\nscript:\n";
    let cases = [
        (
            "  - s.connect: {}\n",
            "`connect` is an action of client and scripted client hosts",
        ),
        (
            "  - c.send: { raw: x }\n",
            "`send` is an action of scripted server and scripted client hosts",
        ),
        (
            "  - b.request: { id: r, channel: x }\n",
            "actions of a broker: counters; `request` is an action of client hosts",
        ),
    ];
    for (step, want) in cases {
        let err = load_str(&format!("{head}{step}"), Path::new("t.yaml")).unwrap_err();
        assert!(err.to_string().contains(":9:5: error: "), "{err}");
        assert!(err.hint.as_deref().unwrap_or("").contains(want), "{err}");
    }
}

// ----------------------------------------------------------------------------------------
// Proxy hosts, `<proxy>.release`, `expect_violations`.
// ----------------------------------------------------------------------------------------

const PROXY: &str = r#"name: chaos/everything
about: Every proxy feature.
rules: [MUX-3]
expect_violations: [MUX-3, BRK-8]
hosts:
  broker: { broker: {} }
  px:
    proxy:
      target: broker
      rules:
        - { dir: down, kind: start, req: r1, action: duplicate }
        - { dir: up, kind: chunk, nth: 2, action: drop }
        - { action: { delay: 50ms } }
        - { action: { delay: { min: 10ms, max: 80ms } } }
        - { dir: down, kind: chunk, action: { reorder: 3 } }
        - { dir: up, action: { corrupt: wrong_id }, probability: 0.5 }
        - { action: { corrupt: invalid_json }, probability: 1 }
        - { action: { corrupt: truncate } }
        - { dir: down, kind: end, action: hold }
        - { dir: up, kind: start, channel: jobs, action: close }
  bare: { proxy: { target: server } }
  server: { scripted: server }
  app: { client: { connect: [px, broker] } }
  probe: { scripted: { client: px } }
script:
  - px.release: {}
  - release: [app, px]
expect:
  px: { connections: 1, forwarded: 2, dropped: 1, duplicated: 1, delayed: 0, held: 1, reordered: 0, corrupted: 0, closed: 0 }
"#;

#[test]
fn proxy_hosts_release_and_expected_violations() {
    use wirecheck::model::{Corruption, ProxyAction, ProxyDir, ProxyRule, ProxySpec};
    let s = load_str(PROXY, Path::new("p.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.expect_violations, ["MUX-3", "BRK-8"]);
    let HostKind::Proxy(px) = &s.hosts[1].kind else {
        panic!("px")
    };
    let any = ProxyRule {
        dir: None,
        kind: None,
        req: None,
        channel: None,
        nth: None,
        probability: None,
        from: None,
        until: None,
        action: ProxyAction::Drop,
    };
    let ms = Duration::from_millis;
    let expected = vec![
        ProxyRule {
            dir: Some(ProxyDir::Down),
            kind: Some("start".into()),
            req: Some("r1".into()),
            action: ProxyAction::Duplicate,
            ..any.clone()
        },
        ProxyRule {
            dir: Some(ProxyDir::Up),
            kind: Some("chunk".into()),
            nth: Some(2),
            ..any.clone()
        },
        ProxyRule {
            action: ProxyAction::Delay {
                min: ms(50),
                max: ms(50),
            },
            ..any.clone()
        },
        ProxyRule {
            action: ProxyAction::Delay {
                min: ms(10),
                max: ms(80),
            },
            ..any.clone()
        },
        ProxyRule {
            dir: Some(ProxyDir::Down),
            kind: Some("chunk".into()),
            action: ProxyAction::Reorder { window: 3 },
            ..any.clone()
        },
        ProxyRule {
            dir: Some(ProxyDir::Up),
            probability: Some(0.5),
            action: ProxyAction::Corrupt(Corruption::WrongId),
            ..any.clone()
        },
        ProxyRule {
            probability: Some(1.0),
            action: ProxyAction::Corrupt(Corruption::InvalidJson),
            ..any.clone()
        },
        ProxyRule {
            action: ProxyAction::Corrupt(Corruption::Truncate),
            ..any.clone()
        },
        ProxyRule {
            dir: Some(ProxyDir::Down),
            kind: Some("end".into()),
            action: ProxyAction::Hold,
            ..any.clone()
        },
        ProxyRule {
            dir: Some(ProxyDir::Up),
            kind: Some("start".into()),
            channel: Some("jobs".into()),
            action: ProxyAction::Close,
            ..any.clone()
        },
    ];
    assert_eq!(px.target, "broker");
    assert_eq!(px.rules.len(), expected.len());
    for (i, (got, want)) in px.rules.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "rule {i}");
    }
    let HostKind::Proxy(bare) = &s.hosts[2].kind else {
        panic!("bare")
    };
    assert_eq!(
        *bare,
        ProxySpec {
            target: "server".into(),
            rules: vec![]
        }
    );
    assert_eq!(s.hosts[1].kind.label(), "proxy");
    let HostKind::Client(app) = &s.hosts[4].kind else {
        panic!("app")
    };
    assert_eq!(app.connect, ["px", "broker"]);
    let HostKind::Scripted(ScriptedSpec::Client { target, .. }) = &s.hosts[5].kind else {
        panic!("probe")
    };
    assert_eq!(target, "px");
    let actions: Vec<Action> = s.script.iter().map(|st| st.action.clone()).collect();
    assert_eq!(
        actions,
        [
            Action::ProxyRelease { host: "px".into() },
            Action::Release {
                a: "app".into(),
                b: "px".into()
            }
        ]
    );
    let counters: Vec<&str> = s.expect[0].counters.keys().map(String::as_str).collect();
    assert_eq!(
        counters,
        [
            "closed",
            "connections",
            "corrupted",
            "delayed",
            "dropped",
            "duplicated",
            "forwarded",
            "held",
            "reordered"
        ]
    );
    // Without `expect_violations` the list is empty.
    let plain = PROXY.replace("expect_violations: [MUX-3, BRK-8]\n", "");
    let s = load_str(&plain, Path::new("p.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.expect_violations.is_empty());
    let empty = PROXY.replace("[MUX-3, BRK-8]", "[]");
    let s = load_str(&empty, Path::new("p.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.expect_violations.is_empty());
}

/// Loads PROXY with one text replaced and returns the error's first line and hint.
fn proxy_error(from: &str, to: &str) -> (String, String) {
    assert!(PROXY.contains(from), "{from}");
    let src = PROXY.replacen(from, to, 1);
    let err = match load_str(&src, Path::new("p.yaml")) {
        Ok(_) => panic!("loaded without error after replacing {from:?} by {to:?}"),
        Err(e) => e,
    };
    let head = err.to_string().lines().next().unwrap_or("").to_string();
    (head, err.hint.unwrap_or_default())
}

#[test]
fn proxy_errors() {
    let cases = [
        // (replace, with, location and message, hint fragment)
        ("target: broker", "target: brokr", "p.yaml:9:15: error: unknown host `brokr`", "did you mean `broker`?"),
        ("target: broker", "target: app", "p.yaml:9:15: error: proxy `px` cannot forward to `app`: it is a client", "broker, server"),
        ("target: server", "target: px", "error: proxy `bare` cannot forward to `px`: it is a proxy", "broker, server"),
        ("probability: 0.5", "probability: -0.1", "p.yaml:16:66: error: probability -0.1 is out of range", "between 0.0 and 1.0"),
        ("nth: 2", "nth: 0", "p.yaml:12:40: error: `nth` must be at least 1", "nth: 1"),
        ("{ reorder: 3 }", "{ reorder: 1 }", "error: reorder window 1 is too small", "at least 2"),
        ("action: duplicate", "action: duplicat", "p.yaml:11:54: error: unknown proxy action `duplicat`", "did you mean `duplicate`?"),
        ("action: duplicate", "action: { dupe: 1 }", "error: unknown proxy action `dupe`", "actions:"),
        ("action: duplicate", "action: reorder", "error: proxy action `reorder` needs a value", "{ reorder: 3 }"),
        ("action: duplicate", "action: { delay: 1s, drop: 1 }", "error: a proxy action has one key; found a second key `drop`", "second rule"),
        ("action: duplicate", "action: [drop]", "error: bad proxy action: found a list", "actions:"),
        ("corrupt: truncate", "corrupt: chop", "error: unknown corruption `chop`", "corruptions: invalid_json, wrong_id, truncate"),
        ("{ delay: 50ms }", "{ delay: 50 }", "error: bad duration `50`", ""),
        ("dir: down, kind: start", "dir: sideways, kind: start", "error: unknown variant `sideways`", ""),
        ("kind: end", "kind: ends", "error: unknown message kind `ends`", "did you mean `end`?"),
        ("kind: end", "kind: ping, req: r1", "error: a `ping` message has no `req`", "remove `req`"),
        ("kind: start, channel: jobs", "kind: chunk, channel: jobs", "error: a `chunk` message has no `channel`", "start, receive"),
        ("{ action: { corrupt: truncate } }", "{ action: { corrupt: truncate }, after: 2 }", "error: unknown field `after`", ""),
        ("  - px.release: {}", "  - px.release: { all: true }", "error: unknown field `all`", ""),
        ("  - px.release: {}", "  - px.send: { raw: x }", "error: `send` is not an action of proxy `px`", "actions of a proxy: release"),
        ("  - px.release: {}", "  - server.release: {}", "error: `server.release` needs a proxy host, but `server` is a scripted server", "proxies: px, bare"),
        ("  - px.release: {}", "  - px.partition: [px, app]", "error: `partition` is a global step, not a host action", ""),
        ("px: { connections: 1,", "px: { received: 1,", "error: unknown counter `received` for proxy `px`", "counters of a proxy: connections, forwarded"),
        ("[MUX-3, BRK-8]", "[MUX-3, BRK-88]", "p.yaml:4:28: error: unknown rule id `BRK-88` in `expect_violations`", ""),
        ("[MUX-3, BRK-8]", "[MUX-3, MUX-3]", "p.yaml:4:28: error: rule `MUX-3` is listed twice in `expect_violations`", "once"),
        ("hosts:\n", "hosts:\n  nobody: { client: { connect: [app] } }\n", "error: a client cannot connect to `app`: it is a client, not a broker, scripted server, proxy or relay", "px"),
    ];
    for (from, to, want, hint) in cases {
        let (head, got_hint) = proxy_error(from, to);
        assert!(
            head.contains(want),
            "replacing {from:?} by {to:?}:\n  got:  {head}\n  want: {want}"
        );
        assert!(
            got_hint.contains(hint),
            "replacing {from:?} by {to:?}: hint {got_hint:?} lacks {hint:?}"
        );
    }
}

#[test]
fn rejected_is_not_a_failure_kind() {
    let src = "name: x\nabout: y\nrules: [AUTH-1]\nhosts:\n  b: { broker: {} }\n  c: { client: { connect: [b] } }\nscript:\n  - c.result: { id: connect, fails: rejected }\n";
    let err = load_str(src, Path::new("r.yaml")).unwrap_err();
    assert!(
        err.to_string()
            .contains("r.yaml:8:37: error: unknown failure kind `rejected`"),
        "{err}"
    );
    assert!(err
        .hint
        .unwrap_or_default()
        .contains("write `error: <code>`"));
}

#[test]
fn proxy_truncations_and_mutations_never_panic() {
    let bytes = PROXY.as_bytes();
    for cut in 0..=bytes.len() {
        let src = String::from_utf8_lossy(&bytes[..cut]);
        must_not_panic(&src, &format!("proxy truncation at byte {cut}"));
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let specials: Vec<char> = ":{}[]-,#&*!|>'\"\t\n.~@0".chars().collect();
    let base: Vec<char> = PROXY.chars().collect();
    for round in 0..300 {
        let mut chars = base.clone();
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(chars.len());
            match rng.below(3) {
                0 => chars[i] = specials[rng.below(specials.len())],
                1 => chars.insert(i, specials[rng.below(specials.len())]),
                _ => {
                    chars.remove(i);
                }
            }
        }
        let src: String = chars.into_iter().collect();
        must_not_panic(&src, &format!("proxy mutation round {round}"));
    }
}

/// The pinned messages must not depend on where the repository is checked out (CI runs in
/// another folder): no absolute path of this machine in any `.stderr`.
#[test]
fn pinned_errors_hold_no_machine_paths() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let abs = std::fs::canonicalize(&root).unwrap();
    let dir = root.join("fixtures/malformed");
    let mut bad = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "stderr") {
            let text = std::fs::read_to_string(&p).unwrap();
            if text.contains(abs.to_str().unwrap()) || text.contains(env!("CARGO_MANIFEST_DIR")) {
                bad.push(p.display().to_string());
            }
        }
    }
    assert!(bad.is_empty(), "machine paths in: {bad:?}");
}
