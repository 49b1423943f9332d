//! `wirecheck-client-adapter`: the reference multiplexer behind wirecheck's driver protocol
//! (DRIVER.md): newline-delimited JSON operations on stdin, replies and lifecycle events on
//! stdout, logs on stderr. It is both the reference a black-box run of the client role is
//! compared against and a worked example for people writing an adapter for their library.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wirecheck_core::flaws::Flaws;
use wirecheck_core::pending::{CallError, Outcome};
use wirecheck_core::reconnect::ReconnectPolicy;
use wirecheck_reference::client::{Client, ClientConfig, Heartbeat, Request, TcpConnector};
use wirecheck_reference::observe::Lifecycle;
use wirecheck_reference::serve::{serve, Reply, Serve};
use wirecheck_reference::Observer;

const CAPABILITIES: &[&str] = &[
    "chunks",
    "cancel",
    "serve",
    "token",
    "heartbeat",
    "reconnect",
    "events",
    "stats",
];

type Out = mpsc::UnboundedSender<Value>;

/// Lifecycle events as DRIVER.md's `event` lines; notes go to stderr.
struct Events {
    out: Out,
    /// `host:port` as the reference dials it → the URL wirecheck gave.
    urls: BTreeMap<String, String>,
}

impl Events {
    fn url(&self, addr: &str) -> String {
        self.urls
            .get(addr)
            .cloned()
            .unwrap_or_else(|| format!("ws://{addr}/"))
    }
}

impl Observer for Events {
    fn lifecycle(&self, event: Lifecycle) {
        let line = match event {
            Lifecycle::Connecting { addr, attempt } => {
                json!({"event": "connecting", "url": self.url(&addr), "attempt": attempt})
            }
            Lifecycle::Registered { addr } => {
                json!({"event": "registered", "url": self.url(&addr)})
            }
            Lifecycle::RegistrationFailed { addr, error } => {
                let mut v = outcome_fields(&Err(error));
                v.insert("event".into(), "registration_failed".into());
                v.insert("url".into(), self.url(&addr).into());
                Value::Object(v)
            }
            Lifecycle::Disconnected { reason, failed } => {
                json!({"event": "disconnected", "reason": reason, "failed": failed})
            }
            Lifecycle::Backoff { delay } => {
                json!({"event": "backoff", "delay_ms": delay.as_millis() as u64})
            }
            Lifecycle::RateLimited { wait } => {
                json!({"event": "rate_limited", "wait_ms": wait.as_millis() as u64})
            }
            Lifecycle::Stopped { reason } => json!({"event": "stopped", "reason": reason}),
            Lifecycle::ConnClosed { .. } | Lifecycle::Relay(_) => return,
        };
        let _ = self.out.send(line);
    }

    fn note(&self, what: &str) {
        eprintln!("{what}");
    }
}

/// `ok` / `error` / `fails` (+ `detail`) for an outcome, as DRIVER.md's replies carry it.
/// What a JSON-RPC client reports (DRIVER.md, "The JSON-RPC 2.0 profile"): `ok` is the
/// result as JSON (the machine holds its canonical text), `error` the error object.
const RPC_CAPABILITIES: &[&str] = &[
    "cancel",
    "reconnect",
    "events",
    "stats",
    "timeout",
    "batch",
    "notify",
];

fn rpc_outcome_fields(o: &Outcome) -> Map<String, Value> {
    let mut m = outcome_fields(o);
    match o {
        Ok(body) => {
            let v = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.clone()));
            m.insert("ok".into(), v);
        }
        Err(CallError::Remote { code, message }) => {
            let code = code
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| code.clone().into());
            m.insert("error".into(), json!({ "code": code, "message": message }));
        }
        Err(_) => {}
    }
    m
}

fn outcome_fields(o: &Outcome) -> Map<String, Value> {
    let mut m = Map::new();
    match o {
        Ok(body) => {
            m.insert("ok".into(), body.clone().into());
        }
        Err(CallError::Remote { code, .. } | CallError::Rejected { code, .. }) => {
            m.insert("error".into(), code.clone().into());
        }
        Err(e) => {
            m.insert("fails".into(), e.kind().into());
            if let CallError::SendFailed(d)
            | CallError::UnexpectedReply(d)
            | CallError::Protocol(d) = e
            {
                m.insert("detail".into(), d.clone().into());
            }
        }
    }
    m
}

/// A JSON-RPC call as DRIVER.md writes it: `call`, `method`, `params`, `timeout_ms`.
fn rpc_request(op: &Value) -> Request {
    Request {
        id: text(op, "call"),
        channel: text(op, "method"),
        body: op
            .get("params")
            .map(wirecheck_core::jsonrpc::canonical)
            .unwrap_or_default(),
        chunks: Vec::new(),
        timeout: ms(op, "timeout_ms"),
    }
}

fn reply(out: &Out, id: &Value, mut fields: Map<String, Value>) {
    fields.insert("id".into(), id.clone());
    let _ = out.send(Value::Object(fields));
}

fn ok(out: &Out, id: &Value, v: Value) {
    reply(out, id, Map::from_iter([("ok".to_owned(), v)]));
}

fn unsupported(out: &Out, id: &Value, why: String) {
    reply(
        out,
        id,
        Map::from_iter([("unsupported".to_owned(), why.into())]),
    );
}

fn ms(v: &Value, key: &str) -> Option<Duration> {
    v.get(key)
        .and_then(Value::as_u64)
        .map(Duration::from_millis)
}

/// The strings in the list `v[key]` (none when absent).
fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A serve spec (DRIVER.md) as the reference's [`Serve`].
fn serve_spec(v: &Value) -> Result<Serve, String> {
    let reply = match v.get("reply") {
        None | Some(Value::Null) => Reply::Echo,
        Some(Value::String(s)) if s == "echo" => Reply::Echo,
        Some(Value::String(s)) if s == "ignore" => Reply::Ignore,
        Some(r) if r.get("fixed").is_some() => Reply::Fixed(text(r, "fixed")),
        Some(r) if r.get("error").is_some() => Reply::Error(text(r, "error")),
        Some(other) => return Err(format!("unknown reply {other}")),
    };
    Ok(Serve {
        channel: text(v, "channel"),
        reply,
        delay: ms(v, "delay_ms").unwrap_or_default(),
        chunks: v.get("chunks").and_then(Value::as_u64).unwrap_or(0) as u32,
        concurrency: v.get("concurrency").and_then(Value::as_u64).unwrap_or(1) as u32,
    })
}

/// The adapter's state between operations.
struct Adapter {
    out: Out,
    init: Option<Value>,
    client: Option<Client>,
    /// Running request calls: call id → (operation id, task).
    calls: BTreeMap<String, (Value, JoinHandle<()>)>,
}

impl Adapter {
    fn config(&self, init: &Value) -> (ClientConfig, BTreeMap<String, String>) {
        let urls = strings(init, "brokers");
        let addr = |u: &str| {
            u.trim_start_matches("ws://")
                .trim_end_matches('/')
                .to_owned()
        };
        let mut c = ClientConfig::new(
            text(init, "client_id"),
            urls.iter().map(|u| addr(u)).collect(),
        );
        c.token = init.get("token").and_then(Value::as_str).map(str::to_owned);
        // Checked at start-up (main), so this cannot fail here.
        c.flaws = Flaws::from_env().unwrap_or_default();
        if let Some(t) = ms(init, "register_timeout_ms") {
            c.register_timeout = t;
        }
        if let Some(t) = ms(init, "request_timeout_ms") {
            c.request_timeout = t;
        }
        c.heartbeat = init
            .get("heartbeat")
            .filter(|h| !h.is_null())
            .map(|h| Heartbeat {
                interval: ms(h, "interval_ms").unwrap_or(Duration::from_secs(5)),
                timeout: ms(h, "timeout_ms").unwrap_or(Duration::from_secs(15)),
            });
        c.reconnect = init.get("reconnect").filter(|r| !r.is_null()).map(|r| {
            let d = ReconnectPolicy::default();
            ReconnectPolicy {
                base: ms(r, "base_ms").unwrap_or(d.base),
                cap: ms(r, "cap_ms").unwrap_or(d.cap),
                jitter: r.get("jitter").and_then(Value::as_f64).unwrap_or(d.jitter),
                max_attempts: r
                    .get("max_attempts")
                    .and_then(Value::as_u64)
                    .map_or(d.max_attempts, |n| n as u32),
                window: ms(r, "window_ms").unwrap_or(d.window),
                min_gap: ms(r, "min_gap_ms").unwrap_or(d.min_gap),
            }
        });
        c.seed = init.get("seed").and_then(Value::as_u64).unwrap_or(0);
        if is_rpc(init) {
            c.protocol = wirecheck_core::Protocol::JsonRpc2;
        }
        let urls = urls.iter().map(|u| (addr(u), u.clone())).collect();
        (c, urls)
    }

    /// Handles one operation line; returns false on `shutdown`.
    fn handle(&mut self, op: Value) -> bool {
        let id = op.get("id").cloned().unwrap_or(Value::Null);
        let out = self.out.clone();
        match op.get("op").and_then(Value::as_str).unwrap_or_default() {
            "init" => {
                self.init = Some(op.clone());
                let caps = if is_rpc(&op) {
                    RPC_CAPABILITIES
                } else {
                    CAPABILITIES
                };
                ok(
                    &out,
                    &id,
                    json!({"capabilities": caps, "library": concat!("wirecheck-reference@", env!("CARGO_PKG_VERSION"))}),
                );
            }
            "connect" if self.client.is_some() => {
                reply(
                    &out,
                    &id,
                    Map::from_iter([
                        ("fails".to_owned(), "protocol".into()),
                        ("detail".to_owned(), "already started".into()),
                    ]),
                );
            }
            "connect" => {
                let Some(init) = self.init.clone() else {
                    unsupported(&out, &id, "`connect` before `init`".into());
                    return true;
                };
                let (config, urls) = self.config(&init);
                let events = Arc::new(Events {
                    out: out.clone(),
                    urls,
                });
                let (client, first) = Client::start(config, TcpConnector, events);
                let specs: Vec<Value> = init
                    .get("serve")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for s in specs {
                    match serve_spec(&s) {
                        Ok(spec) => serve(&client, spec, |w| eprintln!("{w}")),
                        Err(e) => eprintln!("init: serve: {e}"),
                    }
                }
                self.client = Some(client);
                tokio::spawn(async move {
                    let outcome = first.await.unwrap_or(Err(CallError::NotConnected));
                    reply(&out, &id, outcome_fields(&outcome));
                });
            }
            "request" => {
                let call = text(&op, "call");
                let rpc = self.init.as_ref().is_some_and(is_rpc);
                let request = if rpc {
                    rpc_request(&op)
                } else {
                    Request {
                        id: call.clone(),
                        channel: text(&op, "channel"),
                        body: text(&op, "body"),
                        chunks: strings(&op, "chunks"),
                        timeout: ms(&op, "timeout_ms"),
                    }
                };
                let client = self.client.clone();
                let op_id = id.clone();
                let task = tokio::spawn(async move {
                    let outcome = match client {
                        Some(c) => c.request(request).await,
                        None => Err(CallError::NotConnected),
                    };
                    let fields = if rpc {
                        rpc_outcome_fields(&outcome)
                    } else {
                        outcome_fields(&outcome)
                    };
                    reply(&out, &op_id, fields);
                });
                self.calls.insert(call, (id, task));
            }
            "batch" => {
                let calls: Vec<Request> = op
                    .get("calls")
                    .and_then(Value::as_array)
                    .map(|cs| cs.iter().map(rpc_request).collect())
                    .unwrap_or_default();
                let Some(c) = self.client.clone() else {
                    reply(&out, &id, outcome_fields(&Err(CallError::NotConnected)));
                    return true;
                };
                let ids: Vec<String> = calls.iter().map(|r| r.id.clone()).collect();
                let batch = c.request_batch(calls, ms(&op, "timeout_ms"));
                tokio::spawn(batch.write);
                // DRIVER.md: one reply for the batch, once every call has ended.
                tokio::spawn(async move {
                    let outcomes = futures_util::future::join_all(batch.calls).await;
                    let replies: Map<String, Value> = ids
                        .into_iter()
                        .zip(outcomes)
                        .map(|(call, o)| (call, Value::Object(rpc_outcome_fields(&o))))
                        .collect();
                    ok(&out, &id, Value::Object(replies));
                });
            }
            "notify" => {
                let Some(c) = self.client.clone() else {
                    reply(&out, &id, outcome_fields(&Err(CallError::NotConnected)));
                    return true;
                };
                let method = text(&op, "method");
                let params = op
                    .get("params")
                    .map(wirecheck_core::jsonrpc::canonical)
                    .unwrap_or_default();
                tokio::spawn(async move {
                    match c.notify(&method, &params).await {
                        Ok(()) => ok(&out, &id, Value::Null),
                        Err(e) => reply(&out, &id, outcome_fields(&Err(e))),
                    }
                });
            }
            "cancel" => {
                let call = text(&op, "call");
                if let Some((op_id, task)) = self.calls.remove(&call) {
                    if !task.is_finished() {
                        // Dropping the caller's future is the cancellation (MUX-5).
                        task.abort();
                        reply(&out, &op_id, outcome_fields(&Err(CallError::Cancelled)));
                    }
                } else {
                    eprintln!("cancel {call}: no such call");
                }
                ok(&out, &id, Value::Null);
            }
            "serve" => match (&self.client, serve_spec(&op)) {
                (Some(c), Ok(spec)) => {
                    serve(c, spec, |w| eprintln!("{w}"));
                    ok(&out, &id, Value::Null);
                }
                (None, _) => unsupported(&out, &id, "`serve` before `connect`".into()),
                (_, Err(e)) => unsupported(&out, &id, e),
            },
            "disconnect" => {
                if let Some(c) = self.client.clone() {
                    tokio::spawn(async move { c.close().await });
                }
                ok(&out, &id, Value::Null);
            }
            "stats" => {
                let v = match &self.client {
                    Some(c) => {
                        let s = c.stats();
                        json!({
                            "pending": s.pending.pending,
                            "pending_ids": c.pending_ids(),
                            "completed": s.pending.completed,
                            "timed_out": s.pending.timed_out,
                            "duplicates_dropped": s.pending.duplicates_dropped,
                            "late_dropped": s.pending.late_dropped,
                            "unknown_dropped": s.pending.unknown_dropped,
                            "reconnects": s.reconnects,
                            "registrations": s.registrations,
                        })
                    }
                    None => json!({"pending": 0, "pending_ids": []}),
                };
                ok(&out, &id, v);
            }
            "shutdown" => {
                ok(&out, &id, Value::Null);
                return false;
            }
            other => unsupported(&out, &id, format!("unknown op `{other}`")),
        }
        true
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = Flaws::from_env() {
        eprintln!("wirecheck-client-adapter: {e}");
        std::process::exit(2);
    }
    let (out, mut rx) = mpsc::unbounded_channel::<Value>();
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(v) = rx.recv().await {
            let mut line = v.to_string();
            line.push('\n');
            if stdout.write_all(line.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    });
    let mut adapter = Adapter {
        out: out.clone(),
        init: None,
        client: None,
        calls: BTreeMap::new(),
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(op) if op.is_object() => {
                if !adapter.handle(op) {
                    break;
                }
            }
            _ => eprintln!("not a JSON object, ignored: {line}"),
        }
    }
    // Tasks of calls still running hold writer handles: give the last replies a moment to
    // reach stdout, then exit without waiting for them.
    drop(adapter);
    drop(out);
    let _ = tokio::time::timeout(Duration::from_millis(200), writer).await;
    std::process::exit(0);
}

/// `init` asked for the JSON-RPC 2.0 profile.
fn is_rpc(init: &Value) -> bool {
    init.get("protocol").and_then(Value::as_str) == Some("jsonrpc-2.0")
}
