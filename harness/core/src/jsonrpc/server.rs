//! The reference JSON-RPC server's decisions, sans IO: what to answer to one received
//! text, and after how long. Its methods are the ones DRIVER.md asks every server target
//! to serve: `echo` (the params back), `sleep` (`[ms, value]`: `value` after `ms`),
//! `fail` (`[code, message]`: that error object), and `blob` (`[n]`: a string of `n`
//! `x`s, for huge replies). It follows the specification to the
//! letter: -32700 with `id: null` for text that is not JSON, -32600 for anything that is
//! not a request (with the request's id when one could be read, else null), no reply to
//! notifications, one array per batch with one response per request, none for a batch of
//! notifications, a single -32600 for an empty batch.

use super::frame::{codes, response, ErrorObj, Frame, Id, Item};
use serde_json::Value;
use std::time::Duration;

/// What to send back, and when (from when the text arrived).
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub after: Duration,
    pub text: String,
}

/// The largest `blob` made (16 MiB).
pub const MAX_BLOB: u64 = 16 << 20;

/// The longest `sleep` honoured (a bound, so that no call holds a task forever).
pub const MAX_SLEEP: Duration = Duration::from_secs(600);

/// The answer to one received text, if any.
pub fn answer(text: &str) -> Option<Answer> {
    match Frame::parse(text) {
        Frame::NotJson => Some(now(error(&Id::Null, codes::PARSE_ERROR, None))),
        Frame::Single(item) => answer_item(&item).map(|(after, v)| Answer {
            after,
            text: v.to_string(),
        }),
        Frame::Batch(items) if items.is_empty() => {
            Some(now(error(&Id::Null, codes::INVALID_REQUEST, None)))
        }
        Frame::Batch(items) => {
            let answers: Vec<(Duration, Value)> = items.iter().filter_map(answer_item).collect();
            let after = answers.iter().map(|(d, _)| *d).max()?;
            let values: Vec<Value> = answers.into_iter().map(|(_, v)| v).collect();
            Some(Answer {
                after,
                text: Value::Array(values).to_string(),
            })
        }
    }
}

fn now(v: Value) -> Answer {
    Answer {
        after: Duration::ZERO,
        text: v.to_string(),
    }
}

fn error(id: &Id, code: i64, message: Option<&str>) -> Value {
    let message = message.unwrap_or(codes::message(code)).to_owned();
    response(
        id,
        &Err(ErrorObj {
            code,
            message,
            data: None,
        }),
    )
}

/// One item's answer: `None` for a notification.
fn answer_item(item: &Item) -> Option<(Duration, Value)> {
    match item {
        Item::Request { id: None, .. } => None,
        Item::Request {
            id: Some(id),
            method,
            params,
        } => Some(call(id, method, params.as_ref())),
        // A response sent to a server is not a request either.
        Item::Invalid { id, .. } | Item::Response { id, .. } => Some((
            Duration::ZERO,
            error(
                id.as_ref().unwrap_or(&Id::Null),
                codes::INVALID_REQUEST,
                None,
            ),
        )),
    }
}

fn call(id: &Id, method: &str, params: Option<&Value>) -> (Duration, Value) {
    let bad_params = |why: &str| (Duration::ZERO, error(id, codes::INVALID_PARAMS, Some(why)));
    match method {
        "echo" => (
            Duration::ZERO,
            response(id, &Ok(params.cloned().unwrap_or(Value::Null))),
        ),
        "sleep" => match params.and_then(Value::as_array).map(Vec::as_slice) {
            Some([ms, value]) if ms.as_u64().is_some() => {
                let after = Duration::from_millis(ms.as_u64().unwrap_or(0)).min(MAX_SLEEP);
                (after, response(id, &Ok(value.clone())))
            }
            _ => bad_params("sleep takes [ms, value]"),
        },
        "blob" => match params.and_then(Value::as_array).map(Vec::as_slice) {
            Some([n]) if n.as_u64().is_some_and(|n| n <= MAX_BLOB) => (
                Duration::ZERO,
                response(
                    id,
                    &Ok(Value::String("x".repeat(n.as_u64().unwrap_or(0) as usize))),
                ),
            ),
            _ => bad_params("blob takes [n], n at most 16 MiB"),
        },
        "fail" => match params.and_then(Value::as_array).map(Vec::as_slice) {
            Some([code, message]) if code.is_i64() => {
                let e = ErrorObj {
                    code: code.as_i64().unwrap_or(0),
                    message: message.as_str().unwrap_or("").to_owned(),
                    data: None,
                };
                (Duration::ZERO, response(id, &Err(e)))
            }
            _ => bad_params("fail takes [code, message]"),
        },
        _ => (Duration::ZERO, error(id, codes::METHOD_NOT_FOUND, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(a: Option<Answer>) -> Option<String> {
        a.map(|a| a.text)
    }

    #[test]
    fn answers_as_the_specification_says() {
        assert_eq!(
            text(answer(
                r#"{"jsonrpc":"2.0","id":1,"method":"echo","params":[1,"a"]}"#
            ))
            .as_deref(),
            Some(r#"{"id":1,"jsonrpc":"2.0","result":[1,"a"]}"#)
        );
        let slow =
            answer(r#"{"jsonrpc":"2.0","id":"x","method":"sleep","params":[250,7]}"#).unwrap();
        assert_eq!(slow.after, Duration::from_millis(250));
        assert_eq!(slow.text, r#"{"id":"x","jsonrpc":"2.0","result":7}"#);
        assert_eq!(
            text(answer(
                r#"{"jsonrpc":"2.0","id":2,"method":"fail","params":[-32000,"busy"]}"#
            ))
            .as_deref(),
            Some(r#"{"error":{"code":-32000,"message":"busy"},"id":2,"jsonrpc":"2.0"}"#)
        );
        assert!(text(answer("{oops")).unwrap().contains(r#""code":-32700"#));
        assert!(text(answer("{oops")).unwrap().contains(r#""id":null"#));
        let invalid = text(answer(r#"{"jsonrpc":"2.0","id":5,"method":1}"#)).unwrap();
        assert!(invalid.contains("-32600") && invalid.contains(r#""id":5"#));
        assert!(text(answer("[]")).unwrap().starts_with('{'));
        assert_eq!(answer(r#"{"jsonrpc":"2.0","method":"echo"}"#), None);
        assert_eq!(answer(r#"[{"jsonrpc":"2.0","method":"echo"}]"#), None);
        let batch = answer(r#"[{"jsonrpc":"2.0","id":1,"method":"sleep","params":[30,1]},{"jsonrpc":"2.0","method":"echo"},1]"#).unwrap();
        assert_eq!(batch.after, Duration::from_millis(30));
        let v: Value = serde_json::from_str(&batch.text).unwrap();
        assert_eq!(v.as_array().map(Vec::len), Some(2));
        assert!(text(answer(r#"{"jsonrpc":"2.0","id":3,"method":"nope"}"#))
            .unwrap()
            .contains("-32601"));
    }
}
