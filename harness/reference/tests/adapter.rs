//! `wirecheck-client-adapter` over real loopback: the driver protocol of DRIVER.md, with
//! the `wirecheck-broker` binary between two adapters (one serves, one calls).

use serde_json::{json, Value};
mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::{start_broker, Proc};

/// An adapter process: write operations, read lines (replies and events).
struct Adapter {
    _proc: Proc,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Value>,
}

impl Adapter {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wirecheck-client-adapter"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start wirecheck-client-adapter");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("adapter printed a non-JSON line {line:?}: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Adapter {
            _proc: Proc { child },
            stdin,
            lines,
        }
    }

    fn send(&mut self, op: Value) {
        writeln!(self.stdin, "{op}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next line that is the reply to operation `id` (events are collected).
    fn reply(&mut self, id: u64, events: &mut Vec<Value>) -> Value {
        loop {
            let v = self
                .lines
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("no reply to op {id} within 10s"));
            if v.get("event").is_some() {
                events.push(v);
            } else if v["id"] == json!(id) {
                return v;
            } else {
                panic!("reply to another op while waiting for {id}: {v}");
            }
        }
    }
}

fn init(client: &str, url: &str, serve: Value) -> Value {
    json!({"op": "init", "id": 0, "host": client, "client_id": client, "brokers": [url],
           "register_timeout_ms": 2000, "request_timeout_ms": 2000, "serve": serve, "seed": 1})
}

#[test]
fn two_adapters_register_serve_request_cancel_and_time_out() {
    let (_broker, url) = start_broker(&[]);
    let mut events = Vec::new();

    let mut worker = Adapter::start();
    worker.send(init(
        "worker",
        &url,
        json!([{"channel": "jobs", "reply": "echo", "chunks": 2},
               {"channel": "slow", "reply": "ignore"}]),
    ));
    let r = worker.reply(0, &mut events);
    assert!(
        r["ok"]["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("cancel")),
        "{r}"
    );
    worker.send(json!({"op": "connect", "id": 1, "call": "connect"}));
    assert_eq!(worker.reply(1, &mut events)["ok"], "welcome");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "registered" && e["url"] == json!(url)),
        "a registered event names the URL it was given: {events:?}"
    );

    let mut app = Adapter::start();
    app.send(init("app", &url, json!([])));
    app.reply(0, &mut events);
    // A request before connect fails at once.
    app.send(json!({"op": "request", "id": 1, "call": "early", "channel": "jobs", "body": "x", "chunks": []}));
    assert_eq!(app.reply(1, &mut events)["fails"], "not_connected");
    app.send(json!({"op": "connect", "id": 2, "call": "connect"}));
    assert_eq!(app.reply(2, &mut events)["ok"], "welcome");

    app.send(json!({"op": "request", "id": 3, "call": "r1", "channel": "jobs", "body": "ping", "chunks": ["-a", "-b"]}));
    assert_eq!(app.reply(3, &mut events)["ok"], "ping-a-b");

    // Cancel: the cancelled call's own reply comes first, then the cancel op's.
    app.send(json!({"op": "request", "id": 4, "call": "r2", "channel": "slow", "body": "x", "chunks": []}));
    std::thread::sleep(Duration::from_millis(100));
    app.send(json!({"op": "cancel", "id": 5, "call": "r2"}));
    assert_eq!(app.reply(4, &mut events)["fails"], "cancelled");
    assert_eq!(app.reply(5, &mut events)["ok"], Value::Null);

    app.send(json!({"op": "request", "id": 6, "call": "r3", "channel": "slow", "body": "x", "chunks": [], "timeout_ms": 300}));
    assert_eq!(app.reply(6, &mut events)["fails"], "timeout");

    app.send(json!({"op": "stats", "id": 7}));
    let stats = app.reply(7, &mut events);
    assert_eq!(stats["ok"]["pending"], 0, "{stats}");
    assert_eq!(stats["ok"]["pending_ids"], json!([]), "{stats}");

    app.send(json!({"op": "fly", "id": 8}));
    assert!(app.reply(8, &mut events)["unsupported"].is_string());
    app.send(json!({"op": "shutdown", "id": 9}));
    assert_eq!(app.reply(9, &mut events)["ok"], Value::Null);
}

#[test]
fn a_refused_registration_is_an_error_reply_and_an_event() {
    let (_broker, url) = start_broker(&["--token", "app=right"]);
    let mut events = Vec::new();
    let mut app = Adapter::start();
    let mut i = init("app", &url, json!([]));
    i["token"] = json!("wrong");
    app.send(i);
    app.reply(0, &mut events);
    app.send(json!({"op": "connect", "id": 1, "call": "connect"}));
    assert_eq!(app.reply(1, &mut events)["error"], "unauthorized");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "registration_failed" && e["error"] == "unauthorized"),
        "{events:?}"
    );
}
