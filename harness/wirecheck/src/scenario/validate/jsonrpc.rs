//! What changes under `protocol: jsonrpc-2.0`: requests name a `method` and `params`,
//! results are JSON values and error codes integers, and scripted peers send and expect
//! JSON-RPC messages (`request`, `notification`, `response`, `batch`; `raw` as ever).

use super::{Calls, Checker, DEFAULT_WITHIN, R};
use crate::model::{Action, Frame, FramePattern, Protocol, RpcCall, RpcFrame, RpcItem};
use crate::scenario::error::closest;
use crate::scenario::raw::{MsgBody, RawRequest};
use crate::scenario::shapes::S;
use serde_json::{Map, Value};
use serde_saphyr::Location;
use wirecheck_core::jsonrpc::canonical;

/// The message kinds a JSON-RPC scripted peer writes.
pub(super) const RPC_KINDS: [&str; 5] = ["request", "notification", "response", "batch", "raw"];

/// Fields each kind takes, in `send` and in `expect`.
fn fields_of(kind: &str, action: &str) -> &'static [&'static str] {
    match (kind, action) {
        ("request", "send") => &["id", "method", "params", "jsonrpc"],
        ("request", _) => &["id", "method", "params", "call"],
        ("notification", "send") => &["method", "params", "jsonrpc"],
        ("notification", _) => &["method", "params"],
        ("response", "send") => &["id", "call", "result", "error", "jsonrpc"],
        ("response", _) => &["id", "result", "error"],
        _ => &[],
    }
}

const SEND_EXAMPLE: &str =
    "e.g. `{ response: { call: r1, result: [1] } }`, `{ batch: [ { response: { call: r1, result: 1 } } ] }` or `{ raw: \"not json {\" }`";
const EXPECT_EXAMPLE: &str =
    "e.g. `{ request: { call: r1 } }` or `{ response: { id: 1, error: { code: -32700 } } }`";

impl Checker<'_> {
    /// A request's `(channel, body)` as the trace holds it: v1's channel and body, or
    /// JSON-RPC's method and canonical params (empty when there are none).
    pub(super) fn request_target(&self, at: &Location, r: &RawRequest) -> R<(String, String)> {
        match self.protocol {
            Protocol::WirecheckV1 => {
                if let Some(m) = r.method.as_ref() {
                    return Err(self.err(
                        &m.referenced,
                        "`method` is a JSON-RPC field; this scenario speaks wirecheck-v1",
                        "write `channel:` and `body:`, or put `protocol: jsonrpc-2.0` at the top of the file".to_string(),
                    ));
                }
                if let Some(p) = r.params.as_ref() {
                    return Err(self.err(
                        &p.referenced,
                        "`params` is a JSON-RPC field; this scenario speaks wirecheck-v1",
                        "write `body:`, or put `protocol: jsonrpc-2.0` at the top of the file"
                            .to_string(),
                    ));
                }
                let Some(channel) = r.channel.as_ref() else {
                    return Err(self.err(
                        at,
                        format!("request `{}` names no `channel`", r.id.value),
                        "add `channel: jobs` (the channel a receiver serves)".to_string(),
                    ));
                };
                Ok((
                    channel.value.clone(),
                    r.body.as_ref().map(|b| b.value.clone()).unwrap_or_default(),
                ))
            }
            Protocol::JsonRpc2 => {
                for (field, v) in [("channel", &r.channel), ("body", &r.body)] {
                    if let Some(v) = v {
                        return Err(self.err(
                            &v.referenced,
                            format!("`{field}` is a wirecheck-v1 field; this scenario speaks jsonrpc-2.0"),
                            "a JSON-RPC request has `method:` and `params:`, e.g. `{ id: r1, method: echo, params: [1] }`".to_string(),
                        ));
                    }
                }
                if r.chunks.as_ref().is_some_and(|c| !c.is_empty()) {
                    return Err(self.err(
                        at,
                        "JSON-RPC requests are not chunked",
                        "remove `chunks:`; a large request is one big `params`".to_string(),
                    ));
                }
                let Some(method) = r.method.as_ref() else {
                    return Err(self.err(
                        at,
                        format!("request `{}` names no `method`", r.id.value),
                        "add `method: echo` (and `params: [...]` if it takes any)".to_string(),
                    ));
                };
                let params = r.params.as_ref().map(|p| canonical(&p.value));
                Ok((method.value.clone(), params.unwrap_or_default()))
            }
        }
    }

    /// A `result`'s `ok` or `error` as the outcome's text: v1 takes text; JSON-RPC takes
    /// any result value (canonical JSON) and an integer error code. A `connect` call's
    /// outcome is text in both (`ok: welcome`).
    pub(super) fn outcome_text(&self, v: &S<Value>, key: &str, is_request: bool) -> R<S<String>> {
        let text = |s: String| S::new(s, v.referenced, v.defined);
        match (&v.value, self.protocol, key, is_request) {
            (Value::String(s), Protocol::WirecheckV1, _, _) | (Value::String(s), _, _, false) => {
                Ok(text(s.clone()))
            }
            (Value::Number(_) | Value::Bool(_), Protocol::WirecheckV1, _, _) => {
                Ok(text(v.value.to_string()))
            }
            (_, Protocol::JsonRpc2, "ok", true) => Ok(text(canonical(&v.value))),
            (Value::Number(n), Protocol::JsonRpc2, "error", true) if n.is_i64() => {
                Ok(text(n.to_string()))
            }
            (_, Protocol::JsonRpc2, "error", true) => Err(self.err(
                &v.referenced,
                format!("`error: {}` is not a JSON-RPC error code", v.value),
                "a JSON-RPC call's error is the integer code of the error object, e.g. `error: -32601`".to_string(),
            )),
            _ => Err(self.err(
                &v.referenced,
                format!("`{key}` must be text, found {}", v.value),
                format!("write the expected {} as text", if key == "ok" { "body" } else { "code" }),
            )),
        }
    }

    /// A JSON-RPC `send` or `expect`.
    pub(super) fn rpc_message(
        &self,
        host: String,
        action: &str,
        (kind, body): (&S<String>, &MsgBody),
        within: &Option<S<String>>,
        to: &Option<S<String>>,
        calls: &Calls,
    ) -> R<Action> {
        let example = if action == "send" {
            SEND_EXAMPLE
        } else {
            EXPECT_EXAMPLE
        };
        if !RPC_KINDS.contains(&kind.value.as_str()) {
            let mut hint = String::new();
            if let Some(c) = closest(&kind.value, RPC_KINDS) {
                hint.push_str(&format!("did you mean `{c}`? "));
            }
            hint.push_str(&format!(
                "this scenario speaks jsonrpc-2.0; its messages are {}; {example}",
                RPC_KINDS.join(", ")
            ));
            return Err(self.err(
                &kind.referenced,
                format!("`{}` is not a JSON-RPC message", kind.value),
                hint,
            ));
        }
        if action == "send" {
            let frame = match body {
                MsgBody::Raw(text) => Frame::Raw(text.clone()),
                _ => Frame::Rpc(self.rpc_frame(kind, body, calls)?),
            };
            return Ok(match to {
                None => Action::Send { host, frame },
                Some(peer) => {
                    self.host(peer)?;
                    Action::SendTo {
                        host,
                        to: peer.value.clone(),
                        frame,
                    }
                }
            });
        }
        let fields = match (kind.value.as_str(), body) {
            (_, MsgBody::Raw(_)) => {
                return Err(self.err(
                    &kind.referenced,
                    "`expect` cannot match a `raw` message",
                    format!("expect matches JSON-RPC messages by kind and fields, {example}"),
                ))
            }
            ("batch", MsgBody::List(items)) => {
                let mut pats = Vec::new();
                for item in items {
                    let (k, f) = self.one_kind(kind, item, "expect")?;
                    let mut p = self.rpc_pattern(kind, &k, &f, calls)?;
                    p.insert("kind".into(), Value::String(k));
                    pats.push(Value::Object(p));
                }
                Map::from_iter([("items".to_string(), Value::Array(pats))])
            }
            ("batch", _) => return Err(self.batch_not_list(kind)),
            (k, MsgBody::Fields(f)) => self.rpc_pattern(kind, k, f, calls)?,
            (_, MsgBody::List(_) | MsgBody::Scalar(_)) => {
                return Err(self.err(
                    &kind.referenced,
                    format!("`{}` takes a map of fields", kind.value),
                    example.to_string(),
                ))
            }
        };
        Ok(Action::Expect {
            host,
            pattern: FramePattern {
                kind: kind.value.clone(),
                fields: fields.into_iter().collect(),
                protocol: Protocol::JsonRpc2,
            },
            within: self.duration_or(within, DEFAULT_WITHIN)?,
        })
    }

    fn batch_not_list(&self, kind: &S<String>) -> crate::scenario::error::LoadError {
        self.err(
            &kind.referenced,
            "`batch` takes a list of messages",
            "e.g. `batch: [ { response: { call: r1, result: 1 } }, { response: { call: r2, result: 2 } } ]`"
                .to_string(),
        )
    }

    /// One item of a batch: a map with one kind key (`json:` for any value).
    fn one_kind(
        &self,
        batch: &S<String>,
        item: &Value,
        action: &str,
    ) -> R<(String, Map<String, Value>)> {
        let bad = |what: String| {
            self.err(
                &batch.referenced,
                what,
                "each batch item is a map with one kind key, e.g. `{ response: { call: r1, result: 1 } }`; `{ json: 5 }` sends any value".to_string(),
            )
        };
        let Value::Object(map) = item else {
            return Err(bad(format!("batch item {item} is not a map")));
        };
        let mut keys = map.iter();
        let (Some((k, v)), None) = (keys.next(), keys.next()) else {
            return Err(bad(format!(
                "batch item {item} must have exactly one kind key"
            )));
        };
        if k == "json" && action == "send" {
            return Ok((
                k.clone(),
                Map::from_iter([("value".to_string(), v.clone())]),
            ));
        }
        if !["request", "notification", "response"].contains(&k.as_str()) {
            return Err(bad(format!("`{k}` cannot be a batch item")));
        }
        match v {
            Value::Object(f) => Ok((k.clone(), f.clone())),
            Value::Null => Ok((k.clone(), Map::new())),
            other => Err(bad(format!(
                "`{k}: {other}` in a batch is not a map of fields"
            ))),
        }
    }

    fn check_fields(
        &self,
        at: &S<String>,
        kind: &str,
        fields: &Map<String, Value>,
        action: &str,
    ) -> R<()> {
        let known = fields_of(kind, action);
        if let Some(bad) = fields.keys().find(|f| !known.contains(&f.as_str())) {
            let mut hint = String::new();
            if let Some(c) = closest(bad, known.iter().copied()) {
                hint.push_str(&format!("did you mean `{c}`? "));
            }
            hint.push_str(&format!(
                "`{kind}` in `{action}` has the fields {}",
                known.join(", ")
            ));
            return Err(self.err(
                &at.referenced,
                format!("`{kind}` has no field `{bad}`"),
                hint,
            ));
        }
        Ok(())
    }

    /// The call a `call:` field names: a request of some client host.
    fn rpc_call(&self, at: &S<String>, v: &Value, calls: &Calls) -> R<RpcCall> {
        let Some(call) = v.as_str() else {
            return Err(self.err(
                &at.referenced,
                format!("`call: {v}` is not a call id"),
                "write the id of a request step, e.g. `call: r1`".to_string(),
            ));
        };
        match calls.rpc.get(call) {
            Some((client, _, _)) => Ok(RpcCall {
                client: client.clone(),
                call: call.to_owned(),
            }),
            None => {
                let known: Vec<&str> = calls.rpc.keys().map(String::as_str).collect();
                let mut hint = String::new();
                if let Some(c) = closest(call, known.iter().copied()) {
                    hint.push_str(&format!("did you mean `{c}`? "));
                }
                hint.push_str("`call:` names a request made earlier in the script");
                if !known.is_empty() {
                    hint.push_str(&format!(" ({})", known.join(", ")));
                }
                Err(self.err(&at.referenced, format!("no earlier request `{call}`"), hint))
            }
        }
    }

    /// The frame a `send` writes.
    fn rpc_frame(&self, kind: &S<String>, body: &MsgBody, calls: &Calls) -> R<RpcFrame> {
        match (kind.value.as_str(), body) {
            ("batch", MsgBody::List(items)) => {
                let mut out = Vec::new();
                for item in items {
                    let (k, f) = self.one_kind(kind, item, "send")?;
                    out.push(if k == "json" {
                        RpcItem {
                            value: f["value"].clone(),
                            call: None,
                        }
                    } else {
                        self.rpc_item(kind, &k, &f, calls)?
                    });
                }
                Ok(RpcFrame {
                    items: out,
                    batch: true,
                })
            }
            ("batch", _) => Err(self.batch_not_list(kind)),
            (k, MsgBody::Fields(f)) => Ok(RpcFrame {
                items: vec![self.rpc_item(kind, k, f, calls)?],
                batch: false,
            }),
            _ => Err(self.err(
                &kind.referenced,
                format!("`{}` takes a map of fields", kind.value),
                SEND_EXAMPLE.to_string(),
            )),
        }
    }

    /// One JSON-RPC object a `send` writes, with `call:` kept aside for the runner.
    fn rpc_item(
        &self,
        at: &S<String>,
        kind: &str,
        f: &Map<String, Value>,
        calls: &Calls,
    ) -> R<RpcItem> {
        self.check_fields(at, kind, f, "send")?;
        let mut value = Map::new();
        value.insert(
            "jsonrpc".into(),
            f.get("jsonrpc").cloned().unwrap_or_else(|| "2.0".into()),
        );
        let mut call = None;
        match kind {
            "request" | "notification" => {
                let Some(method) = f.get("method") else {
                    return Err(self.err(
                        &at.referenced,
                        format!("a `{kind}` names its `method`"),
                        "e.g. `{ method: echo, params: [1] }`".to_string(),
                    ));
                };
                if let Some(id) = f.get("id") {
                    value.insert("id".into(), id.clone());
                }
                value.insert("method".into(), method.clone());
                if let Some(p) = f.get("params") {
                    value.insert("params".into(), p.clone());
                }
            }
            _ => {
                match (f.get("id"), f.get("call")) {
                    (Some(_), Some(_)) => {
                        return Err(self.err(
                            &at.referenced,
                            "a `response` gives both `id` and `call`",
                            "`call: r1` sends the wire id r1's request carried; `id:` sends that value as written".to_string(),
                        ))
                    }
                    (Some(id), None) => {
                        value.insert("id".into(), id.clone());
                    }
                    (None, Some(c)) => call = Some(self.rpc_call(at, c, calls)?),
                    (None, None) => {} // no `id` member at all: a malformed response
                }
                match (f.get("result"), f.get("error")) {
                    (Some(r), None) => {
                        value.insert("result".into(), r.clone());
                    }
                    (None, Some(e)) => {
                        value.insert("error".into(), self.error_object(at, e)?);
                    }
                    _ => {
                        return Err(self.err(
                            &at.referenced,
                            "a `response` gives exactly one of `result` and `error`",
                            "e.g. `{ call: r1, result: 1 }` or `{ call: r1, error: -32601 }`; send anything else with `raw:`".to_string(),
                        ))
                    }
                }
            }
        }
        Ok(RpcItem {
            value: Value::Object(value),
            call,
        })
    }

    /// `error: -32601` (code only, the spec's message) or `error: { code, message, data }`.
    fn error_object(&self, at: &S<String>, e: &Value) -> R<Value> {
        match e {
            Value::Number(n) if n.is_i64() => Ok(serde_json::json!({
                "code": n,
                "message": wirecheck_core::jsonrpc::codes::message(n.as_i64().unwrap_or(0)),
            })),
            Value::Object(m) if m.get("code").is_some_and(Value::is_i64) => Ok(e.clone()),
            _ => Err(self.err(
                &at.referenced,
                format!("`error: {e}` is not an error object"),
                "write an integer code (`error: -32601`) or `{ code: -32000, message: busy, data: ... }`".to_string(),
            )),
        }
    }

    /// What an `expect` of a request, notification or response matches on.
    fn rpc_pattern(
        &self,
        at: &S<String>,
        kind: &str,
        f: &Map<String, Value>,
        calls: &Calls,
    ) -> R<Map<String, Value>> {
        self.check_fields(at, kind, f, "expect")?;
        let mut out = f.clone();
        if let Some(c) = out.remove("call") {
            let call = self.rpc_call(at, &c, calls)?;
            let (_, method, params) = &calls.rpc[&call.call];
            out.insert("method".into(), Value::String(method.clone()));
            out.insert("call".into(), Value::String(call.call.clone()));
            if !params.is_empty() {
                let v: Value = serde_json::from_str(params).unwrap_or(Value::Null);
                out.insert("params".into(), v);
            }
        }
        if let Some(e) = out.get("error") {
            if !(e.is_object() || e.is_i64()) {
                return Err(self.err(
                    &at.referenced,
                    format!("`error: {e}` is not an error pattern"),
                    "write a code (`error: -32700`) or the fields to match, e.g. `error: { code: -32600 }`".to_string(),
                ));
            }
        }
        Ok(out)
    }
}
