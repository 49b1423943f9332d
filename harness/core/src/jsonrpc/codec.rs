//! The reference multiplexer's JSON-RPC codec: the same state machine ([`crate::mux`])
//! speaks JSON-RPC 2.0 when its driver translates at the socket.
//!
//! Outgoing, a request's `start` becomes a JSON-RPC request whose `id` is the call id
//! (a string), `method` the channel and `params` the body (JSON text; absent when empty).
//! Everything else the machine sends (`hello`, `ping`, `cancel`) has no JSON-RPC form and
//! is not sent: JSON-RPC has no registration, no heartbeat and no cancellation.
//!
//! Incoming, every response item becomes the machine's `start` (result) or request-scoped
//! `error` (error object, `code` as text) about the call its id names. An id that is not a
//! string names no call the machine made (`#7`, `#null`, `#none`), so the machine drops it
//! as unknown. Requests and notifications from the server, invalid items and text that is
//! not JSON decode to nothing but a note: the connection and the other calls go on.

use super::frame::{canonical, request, ErrorObj, Frame, Id, Item};
use crate::wire::{Dir, Message};

/// The text to send for `msg`, or `None` when JSON-RPC has no such message.
pub fn encode(msg: &Message) -> Option<String> {
    match msg {
        Message::Start {
            req,
            dir: Dir::Request,
            channel,
            body,
            ..
        } => {
            let params = (!body.is_empty()).then(|| {
                serde_json::from_str(body)
                    .unwrap_or_else(|_| serde_json::Value::String(body.clone()))
            });
            Some(request(Some(&Id::Str(req.clone())), channel, params.as_ref()).to_string())
        }
        _ => None,
    }
}

/// The text of a batch: the JSON-RPC form of each message in `msgs` (those that have
/// one), in order, as one array; `None` when none has a JSON-RPC form.
pub fn encode_batch(msgs: &[Message]) -> Option<String> {
    let items: Vec<serde_json::Value> = msgs
        .iter()
        .filter_map(encode)
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect();
    (!items.is_empty()).then(|| serde_json::Value::Array(items).to_string())
}

/// The text of a notification: a request without `id` (`params` is JSON text; empty: no
/// `params` member).
pub fn encode_notification(method: &str, params: &str) -> String {
    let params = (!params.is_empty()).then(|| {
        serde_json::from_str(params)
            .unwrap_or_else(|_| serde_json::Value::String(params.to_owned()))
    });
    request(None, method, params.as_ref()).to_string()
}

/// What one received text means to the machine: messages to feed it, and notes.
#[derive(Debug, Default, PartialEq)]
pub struct Incoming {
    pub messages: Vec<Message>,
    pub notes: Vec<String>,
}

/// The call id a response's id names (`#…` for ids the machine never uses).
pub fn call_of(id: Option<&Id>) -> String {
    match id {
        Some(Id::Str(s)) => s.clone(),
        Some(other) => format!("#{other}"),
        None => "#none".into(),
    }
}

/// A response item as the machine's message about call `req`: a result is a complete
/// `start` whose body is the canonical result, an error object a request-scoped `error`
/// with the code as text. (The harness reads traces the same way.)
pub fn response_message(req: String, outcome: &Result<serde_json::Value, ErrorObj>) -> Message {
    match outcome {
        Ok(result) => Message::Start {
            req,
            dir: Dir::Response,
            channel: String::new(),
            body: canonical(result),
            end: true,
        },
        Err(e) => Message::Error {
            req: Some(req),
            code: e.code.to_string(),
            message: e.message.clone(),
        },
    }
}

/// Decodes a received text.
pub fn decode(text: &str) -> Incoming {
    let mut out = Incoming::default();
    let frame = Frame::parse(text);
    if frame == Frame::NotJson {
        out.notes.push("dropped a frame that is not JSON".into());
    }
    for item in frame.items() {
        match item {
            Item::Response { id, outcome } => out
                .messages
                .push(response_message(call_of(id.as_ref()), outcome)),
            Item::Request {
                id: None, method, ..
            } => out
                .notes
                .push(format!("ignored a notification `{method}` from the server")),
            Item::Request {
                id: Some(id),
                method,
                ..
            } => out.notes.push(format!(
                "ignored a request `{method}` (id {id}) from the server"
            )),
            Item::Invalid { reason, .. } => {
                out.notes.push(format!("dropped an invalid item: {reason}"))
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_the_call_id_and_responses_name_it() {
        let start = Message::Start {
            req: "r1".into(),
            dir: Dir::Request,
            channel: "echo".into(),
            body: "[1,2]".into(),
            end: true,
        };
        assert_eq!(
            encode(&start).as_deref(),
            Some(r#"{"id":"r1","jsonrpc":"2.0","method":"echo","params":[1,2]}"#)
        );
        assert_eq!(encode(&Message::Cancel { req: "r1".into() }), None);
        let got = decode(
            r#"[{"jsonrpc":"2.0","id":"r2","result":{"b":1,"a":2}},{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"nope"}}]"#,
        );
        assert_eq!(
            got.messages,
            vec![
                Message::Start {
                    req: "r2".into(),
                    dir: Dir::Response,
                    channel: String::new(),
                    body: r#"{"a":2,"b":1}"#.into(),
                    end: true
                },
                Message::error(Some("#7"), "-32601", "nope"),
            ]
        );
        let n = decode(r#"{"jsonrpc":"2.0","method":"tick","params":[1]}"#);
        assert!(n.messages.is_empty() && n.notes.len() == 1);
        let bad = decode("{nope");
        assert!(bad.messages.is_empty() && bad.notes[0].contains("not JSON"));
        let no_id = decode(r#"{"jsonrpc":"2.0","result":1}"#);
        assert_eq!(no_id.messages[0].req(), Some("#none"));
    }

    #[test]
    fn batches_are_one_array_and_notifications_have_no_id() {
        let start = |req: &str, body: &str| Message::Start {
            req: req.into(),
            dir: Dir::Request,
            channel: "echo".into(),
            body: body.into(),
            end: true,
        };
        assert_eq!(
            encode_batch(&[
                start("r1", "[1]"),
                Message::Cancel { req: "x".into() },
                start("r2", "")
            ])
            .as_deref(),
            Some(
                r#"[{"id":"r1","jsonrpc":"2.0","method":"echo","params":[1]},{"id":"r2","jsonrpc":"2.0","method":"echo"}]"#
            )
        );
        assert_eq!(encode_batch(&[Message::Cancel { req: "x".into() }]), None);
        assert_eq!(
            encode_notification("log", r#"["a"]"#),
            r#"{"jsonrpc":"2.0","method":"log","params":["a"]}"#
        );
        assert_eq!(
            encode_notification("tick", ""),
            r#"{"jsonrpc":"2.0","method":"tick"}"#
        );
    }
}
