//! DRIVER.md as types: the operations wirecheck sends a client adapter, and the lines it
//! reads back (replies and lifecycle events), encoded and decoded without I/O.

use crate::model::Protocol;
use crate::model::{BatchCall, ClientSpec, FailKind, NotifyCall, Reply, RequestCall, ServeSpec};
use crate::targets::ClientCap;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// An operation (DRIVER.md, "Operations").
#[derive(Clone, Debug)]
pub enum Op {
    Init {
        host: String,
        spec: Box<ClientSpec>,
        /// The URLs standing for `spec.connect`, in the same order.
        urls: Vec<String>,
        seed: u64,
        protocol: Protocol,
    },
    Connect {
        call: String,
    },
    Request(RequestCall),
    /// A JSON-RPC call: `method` and `params` (DRIVER.md, "The JSON-RPC 2.0 profile").
    RpcRequest(RequestCall),
    /// JSON-RPC: calls as one batch (capability `batch`).
    Batch(BatchCall),
    /// JSON-RPC: a notification (capability `notify`).
    Notify(NotifyCall),
    Cancel {
        call: String,
    },
    Serve(ServeSpec),
    Disconnect,
    Stats,
    Shutdown,
}

impl Op {
    /// The `op` word.
    pub fn word(&self) -> &'static str {
        match self {
            Op::Init { .. } => "init",
            Op::Connect { .. } => "connect",
            Op::Request(_) | Op::RpcRequest(_) => "request",
            Op::Batch(_) => "batch",
            Op::Notify(_) => "notify",
            Op::Cancel { .. } => "cancel",
            Op::Serve(_) => "serve",
            Op::Disconnect => "disconnect",
            Op::Stats => "stats",
            Op::Shutdown => "shutdown",
        }
    }
}

fn ms(d: Duration) -> Value {
    Value::from(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn serve_json(s: &ServeSpec) -> Map<String, Value> {
    let reply = match &s.reply {
        Reply::Echo => json!("echo"),
        Reply::Fixed(b) => json!({ "fixed": b }),
        Reply::Error(c) => json!({ "error": c }),
        Reply::Ignore => json!("ignore"),
    };
    let v = json!({
        "channel": s.channel,
        "reply": reply,
        "delay_ms": ms(s.delay),
        "chunks": s.chunks,
        "concurrency": s.concurrency,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// One operation line (without the newline).
pub fn encode(id: u64, op: &Op) -> String {
    let mut m = match op {
        Op::Init {
            host,
            spec,
            urls,
            seed,
            protocol,
        } => {
            let mut v = json!({
                "host": host,
                "client_id": spec.id,
                "token": spec.token,
                "brokers": urls,
                "register_timeout_ms": ms(spec.register_timeout),
                "request_timeout_ms": ms(spec.request_timeout),
                "heartbeat": null,
                "reconnect": null,
                "serve": spec.serve.iter().map(|s| Value::Object(serve_json(s))).collect::<Vec<_>>(),
                "seed": seed,
            });
            if *protocol != Protocol::WirecheckV1 {
                v["protocol"] = json!(protocol.name());
            }
            if let Some(h) = &spec.heartbeat {
                v["heartbeat"] =
                    json!({ "interval_ms": ms(h.interval), "timeout_ms": ms(h.timeout) });
            }
            if let Some(r) = &spec.reconnect {
                v["reconnect"] = json!({
                    "base_ms": ms(r.base),
                    "cap_ms": ms(r.cap),
                    "jitter": r.jitter,
                    "max_attempts": r.max_attempts,
                    "window_ms": ms(r.window),
                    "min_gap_ms": ms(r.min_gap),
                });
            }
            match v {
                Value::Object(m) => m,
                _ => Map::new(),
            }
        }
        Op::Connect { call } | Op::Cancel { call } => {
            Map::from_iter([("call".into(), json!(call))])
        }
        Op::Request(r) => {
            let mut m = Map::from_iter([
                ("call".to_owned(), json!(r.id)),
                ("channel".to_owned(), json!(r.channel)),
                ("body".to_owned(), json!(r.body)),
                ("chunks".to_owned(), json!(r.chunks)),
            ]);
            if let Some(t) = r.timeout {
                m.insert("timeout_ms".into(), ms(t));
            }
            m
        }
        Op::RpcRequest(r) => {
            let mut m = rpc_call(r);
            if let Some(t) = r.timeout {
                m.insert("timeout_ms".into(), ms(t));
            }
            m
        }
        Op::Batch(b) => {
            let calls: Vec<Value> = b.calls.iter().map(|c| Value::Object(rpc_call(c))).collect();
            let mut m = Map::from_iter([("calls".to_owned(), Value::Array(calls))]);
            if let Some(t) = b.timeout {
                m.insert("timeout_ms".into(), ms(t));
            }
            m
        }
        Op::Notify(n) => {
            let mut m = Map::from_iter([("method".to_owned(), json!(n.method))]);
            if let Ok(p) = serde_json::from_str::<Value>(&n.params) {
                m.insert("params".into(), p);
            }
            m
        }
        Op::Serve(s) => serve_json(s),
        Op::Disconnect | Op::Stats | Op::Shutdown => Map::new(),
    };
    m.insert("op".into(), json!(op.word()));
    m.insert("id".into(), json!(id));
    Value::Object(m).to_string()
}

/// `call`, `method` and `params` of a JSON-RPC call (the body holds the params'
/// canonical JSON; empty: no `params` member).
fn rpc_call(r: &RequestCall) -> Map<String, Value> {
    let mut m = Map::from_iter([
        ("call".to_owned(), json!(r.id)),
        ("method".to_owned(), json!(r.channel)),
    ]);
    if let Ok(p) = serde_json::from_str::<Value>(&r.body) {
        m.insert("params".into(), p);
    }
    m
}

/// The reply to a `batch`: call id → how that call ended (each entry an object with one
/// of `ok`/`error`/`fails`, as a reply has). Every call of the batch must be there.
pub fn batch_reply(v: &Value, calls: &[String]) -> Result<Vec<Answer>, String> {
    let Value::Object(m) = v else {
        return Err(format!(
            "the reply to `batch` is {v}, not an object of call id → reply"
        ));
    };
    calls
        .iter()
        .map(|c| match m.get(c) {
            Some(Value::Object(r)) => answer(r).map_err(|e| format!("call `{c}`: {e}")),
            Some(other) => Err(format!("call `{c}` is {other}, not a reply object")),
            None => Err(format!("the reply to `batch` has no entry for call `{c}`")),
        })
        .collect()
}

/// How an adapter answered an operation.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Ok(Value),
    /// The peer answered `error` with this code.
    Error(String),
    /// The call failed locally.
    Fails(FailKind, Option<String>),
    /// The adapter cannot do this (the scenario becomes UNIMPLEMENTED).
    Unsupported(String),
}

/// A lifecycle event (DRIVER.md, "Events").
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Connecting { url: String, attempt: u64 },
    Registered { url: String },
    RegistrationFailed { url: String, answer: Answer },
    Disconnected { reason: String, failed: usize },
    Backoff { delay: Duration },
    RateLimited { wait: Duration },
    Stopped { reason: String },
}

/// One line from the adapter's standard output.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    Reply { id: u64, answer: Answer },
    Event(Event),
}

fn text(m: &Map<String, Value>, k: &str) -> Result<String, String> {
    match m.get(k) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(format!("no `{k}`")),
        Some(v) => Err(format!("`{k}` is {v}, not a string")),
    }
}

fn opt_text(m: &Map<String, Value>, k: &str) -> String {
    m.get(k).and_then(Value::as_str).unwrap_or_default().into()
}

fn millis(m: &Map<String, Value>, k: &str) -> Result<Duration, String> {
    m.get(k)
        .and_then(Value::as_u64)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{k}` must be a whole number of milliseconds"))
}

/// `ok` / `error` / `fails` / `unsupported`: exactly one of them.
fn answer(m: &Map<String, Value>) -> Result<Answer, String> {
    let present: Vec<&str> = ["ok", "error", "fails", "unsupported"]
        .into_iter()
        .filter(|k| m.contains_key(*k))
        .collect();
    match present.as_slice() {
        ["ok"] => Ok(Answer::Ok(m["ok"].clone())),
        // JSON-RPC: the server's error object (`{"code": -32601, ...}`), or its code.
        ["error"] => match &m["error"] {
            Value::Object(e) => match e.get("code").and_then(Value::as_i64) {
                Some(code) => Ok(Answer::Error(code.to_string())),
                None => Err("`error` is an object without an integer `code`".into()),
            },
            Value::Number(n) if n.is_i64() => Ok(Answer::Error(n.to_string())),
            _ => Ok(Answer::Error(text(m, "error")?)),
        },
        ["fails"] => {
            let kind = text(m, "fails")?;
            let k = FailKind::from_name(&kind).ok_or_else(|| {
                let names: Vec<&str> = FailKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown failure kind `{kind}` (kinds: {})",
                    names.join(", ")
                )
            })?;
            Ok(Answer::Fails(
                k,
                m.get("detail").and_then(Value::as_str).map(str::to_owned),
            ))
        }
        ["unsupported"] => Ok(Answer::Unsupported(opt_text(m, "unsupported"))),
        [] => Err("a reply needs one of `ok`, `error`, `fails`, `unsupported`".into()),
        more => Err(format!("a reply has both `{}`", more.join("` and `"))),
    }
}

/// Decodes one line of the adapter's standard output.
pub fn decode(line: &str) -> Result<Line, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not a JSON object ({e})"))?;
    let Value::Object(m) = v else {
        return Err("not a JSON object".into());
    };
    if let Some(id) = m.get("id") {
        let id = id
            .as_u64()
            .ok_or_else(|| format!("`id` is {id}, not an operation id"))?;
        return Ok(Line::Reply {
            id,
            answer: answer(&m)?,
        });
    }
    let event = text(&m, "event").map_err(|_| "neither a reply (`id`) nor an event (`event`)")?;
    Ok(Line::Event(match event.as_str() {
        "connecting" => Event::Connecting {
            url: text(&m, "url")?,
            attempt: m.get("attempt").and_then(Value::as_u64).unwrap_or(1),
        },
        "registered" => Event::Registered {
            url: text(&m, "url")?,
        },
        "registration_failed" => Event::RegistrationFailed {
            url: text(&m, "url")?,
            answer: answer(&m)?,
        },
        "disconnected" => Event::Disconnected {
            reason: opt_text(&m, "reason"),
            failed: m.get("failed").and_then(Value::as_u64).unwrap_or(0) as usize,
        },
        "backoff" => Event::Backoff {
            delay: millis(&m, "delay_ms")?,
        },
        "rate_limited" => Event::RateLimited {
            wait: millis(&m, "wait_ms")?,
        },
        "stopped" => Event::Stopped {
            reason: opt_text(&m, "reason"),
        },
        other => return Err(format!("unknown event `{other}`")),
    }))
}

/// What `init`'s reply says: capabilities (unknown names are kept as notes) and library.
pub fn init_reply(v: &Value) -> Result<(Vec<ClientCap>, Vec<String>, String), String> {
    let caps = v
        .get("capabilities")
        .and_then(Value::as_array)
        .ok_or("the reply to `init` needs `capabilities`: a list of names (DRIVER.md)")?;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for c in caps {
        let name = c.as_str().ok_or("capabilities are strings")?;
        match ClientCap::from_name(name) {
            Some(c) => known.push(c),
            None => unknown.push(name.to_owned()),
        }
    }
    let library = v
        .get("library")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    Ok((known, unknown, library))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_requests_and_init() {
        let r = RequestCall {
            id: "r1".into(),
            channel: "jobs".into(),
            body: "ping".into(),
            chunks: vec!["a".into()],
            timeout: Some(Duration::from_millis(1500)),
        };
        let v: Value = serde_json::from_str(&encode(7, &Op::Request(r))).unwrap();
        assert_eq!(
            v,
            json!({"op":"request","id":7,"call":"r1","channel":"jobs","body":"ping","chunks":["a"],"timeout_ms":1500})
        );
        let spec = ClientSpec {
            id: "app".into(),
            token: Some("s".into()),
            connect: vec!["b".into()],
            autoconnect: true,
            register_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
            heartbeat: None,
            reconnect: None,
            serve: vec![],
        };
        let init = Op::Init {
            host: "app".into(),
            spec: Box::new(spec),
            urls: vec!["ws://127.0.0.1:9/".into()],
            seed: 3,
            protocol: Protocol::WirecheckV1,
        };
        let v: Value = serde_json::from_str(&encode(0, &init)).unwrap();
        assert_eq!(v["brokers"], json!(["ws://127.0.0.1:9/"]));
        assert_eq!(v["heartbeat"], Value::Null);
        assert_eq!(v["register_timeout_ms"], 2000);
        assert_eq!(v["token"], "s");
    }

    #[test]
    fn decodes_replies_and_events_and_names_what_is_wrong() {
        assert_eq!(
            decode(r#"{"id":3,"fails":"timeout","detail":"x"}"#),
            Ok(Line::Reply {
                id: 3,
                answer: Answer::Fails(FailKind::Timeout, Some("x".into()))
            })
        );
        assert_eq!(
            decode(r#"{"event":"backoff","delay_ms":250}"#),
            Ok(Line::Event(Event::Backoff {
                delay: Duration::from_millis(250)
            }))
        );
        assert!(decode("hello").unwrap_err().contains("not a JSON object"));
        assert!(decode(r#"{"id":1,"ok":1,"error":"x"}"#)
            .unwrap_err()
            .contains("both `ok` and `error`"));
        assert!(decode(r#"{"id":1,"fails":"boom"}"#)
            .unwrap_err()
            .contains("unknown failure kind `boom`"));
        assert!(decode(r#"{"event":"teleported"}"#)
            .unwrap_err()
            .contains("unknown event"));
        assert!(decode(r#"{"id":"x","ok":1}"#).is_err());
    }
}
