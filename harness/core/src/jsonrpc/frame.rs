//! JSON-RPC 2.0 frames: one WebSocket text message parsed into what the specification
//! calls request, notification, response and batch objects, with the specification's
//! own classification of what is not one of them.
//!
//! Parsing never fails: text that is not JSON is [`Frame::NotJson`], JSON that is not a
//! JSON-RPC object is [`Item::Invalid`] with the reason. Ids keep their JSON type (`1`
//! and `"1"` are different ids, as the specification says the response id must be "the
//! same as the value of the id member in the Request Object").

use serde_json::{Map, Value};
use std::fmt;

/// A request or response id. Numbers are kept as their JSON text (`1`, `1.5`, `-3`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Id {
    Num(String),
    Str(String),
    Null,
}

impl Id {
    /// The id of a JSON value, if the value may be an id (string, number or null).
    pub fn from_value(v: &Value) -> Option<Id> {
        match v {
            Value::Null => Some(Id::Null),
            Value::Number(n) => Some(Id::Num(n.to_string())),
            Value::String(s) => Some(Id::Str(s.clone())),
            _ => None,
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            Id::Null => Value::Null,
            Id::Str(s) => Value::String(s.clone()),
            Id::Num(n) => serde_json::from_str(n).unwrap_or(Value::Null),
        }
    }
}

impl fmt::Display for Id {
    /// As JSON: `7`, `"r1"`, `null`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => f.write_str(n),
            Id::Str(s) => write!(f, "{}", Value::String(s.clone())),
            Id::Null => f.write_str("null"),
        }
    }
}

/// An error object (`"error": {"code": …, "message": …, "data": …}`).
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorObj {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

/// One element of a frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A request (`id` present) or a notification (`id` absent).
    Request {
        id: Option<Id>,
        method: String,
        params: Option<Value>,
    },
    /// A response. `id: None` means the member is missing (invalid, but seen in the wild).
    Response {
        id: Option<Id>,
        outcome: Result<Value, ErrorObj>,
    },
    /// A JSON value that is neither: the reason, and the id when one could be read.
    Invalid { reason: String, id: Option<Id> },
}

impl Item {
    pub fn is_notification(&self) -> bool {
        matches!(self, Item::Request { id: None, .. })
    }
}

/// One WebSocket message.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Single(Item),
    /// An array: a batch. An empty array is a batch with no items (invalid per the spec).
    Batch(Vec<Item>),
    NotJson,
}

impl Frame {
    pub fn parse(text: &str) -> Frame {
        match serde_json::from_str::<Value>(text) {
            Err(_) => Frame::NotJson,
            Ok(Value::Array(items)) => Frame::Batch(items.iter().map(parse_item).collect()),
            Ok(v) => Frame::Single(parse_item(&v)),
        }
    }

    /// The items, in order (one for a single frame, none when not JSON).
    pub fn items(&self) -> &[Item] {
        match self {
            Frame::Single(i) => std::slice::from_ref(i),
            Frame::Batch(v) => v,
            Frame::NotJson => &[],
        }
    }
}

/// Classifies one JSON value as the specification does.
pub fn parse_item(v: &Value) -> Item {
    let Value::Object(o) = v else {
        return invalid("not an object", None);
    };
    let id = match o.get("id") {
        None => None,
        Some(v) => match Id::from_value(v) {
            Some(id) => Some(id),
            None => return invalid("`id` is not a string, number or null", None),
        },
    };
    if o.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return invalid("`jsonrpc` is not \"2.0\"", id);
    }
    if let Some(m) = o.get("method") {
        let Value::String(method) = m else {
            return invalid("`method` is not a string", id);
        };
        let params = o.get("params").cloned();
        if let Some(p) = &params {
            if !p.is_array() && !p.is_object() {
                return invalid("`params` is neither an array nor an object", id);
            }
        }
        return Item::Request {
            id,
            method: method.clone(),
            params,
        };
    }
    match (o.get("result"), o.get("error")) {
        (Some(r), None) => Item::Response {
            id,
            outcome: Ok(r.clone()),
        },
        (None, Some(e)) => match parse_error(e) {
            Some(e) => Item::Response {
                id,
                outcome: Err(e),
            },
            None => invalid("`error` is not an error object with an integer `code`", id),
        },
        (Some(_), Some(_)) => invalid("both `result` and `error`", id),
        (None, None) => invalid("no `method`, `result` or `error`", id),
    }
}

fn parse_error(e: &Value) -> Option<ErrorObj> {
    let o = e.as_object()?;
    let code = o.get("code")?.as_i64()?;
    let message = o.get("message").and_then(Value::as_str).unwrap_or("");
    Some(ErrorObj {
        code,
        message: message.to_owned(),
        data: o.get("data").cloned(),
    })
}

fn invalid(reason: &str, id: Option<Id>) -> Item {
    Item::Invalid {
        reason: reason.to_owned(),
        id,
    }
}

/// The canonical text of a JSON value: keys sorted, no spaces. Two values are the same
/// exactly when their canonical texts are equal (so a result can be compared as text).
pub fn canonical(v: &Value) -> String {
    // serde_json's `Map` is a BTreeMap (no `preserve_order`), so keys come out sorted.
    v.to_string()
}

/// The canonical text of a JSON text, or the text itself when it is not JSON.
pub fn canonical_text(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .map(|v| canonical(&v))
        .unwrap_or_else(|_| text.to_owned())
}

/// `{"jsonrpc":"2.0","id":…,"method":…,"params":…}` (no `id`: a notification).
pub fn request(id: Option<&Id>, method: &str, params: Option<&Value>) -> Value {
    let mut o = Map::new();
    o.insert("jsonrpc".into(), "2.0".into());
    if let Some(id) = id {
        o.insert("id".into(), id.to_value());
    }
    o.insert("method".into(), method.into());
    if let Some(p) = params {
        o.insert("params".into(), p.clone());
    }
    Value::Object(o)
}

/// `{"jsonrpc":"2.0","id":…,"result":…}` or `{…,"error":{…}}`.
pub fn response(id: &Id, outcome: &Result<Value, ErrorObj>) -> Value {
    let mut o = Map::new();
    o.insert("jsonrpc".into(), "2.0".into());
    o.insert("id".into(), id.to_value());
    match outcome {
        Ok(r) => {
            o.insert("result".into(), r.clone());
        }
        Err(e) => {
            o.insert("error".into(), error_value(e));
        }
    }
    Value::Object(o)
}

pub fn error_value(e: &ErrorObj) -> Value {
    let mut eo = Map::new();
    eo.insert("code".into(), e.code.into());
    eo.insert("message".into(), e.message.clone().into());
    if let Some(d) = &e.data {
        eo.insert("data".into(), d.clone());
    }
    Value::Object(eo)
}

/// One line for a diagram: `request "r1" echo [1]`, `result 7: "one"`,
/// `error null: -32700 Parse error`, `batch(2): ...; ...`. `None` for text that is not
/// JSON-RPC (not JSON, an empty array, an invalid item), which is shown raw.
pub fn summary(frame: &Frame) -> Option<String> {
    let clip = |v: &Value| {
        let t = v.to_string();
        match t.char_indices().nth(40) {
            Some((i, _)) => format!("{}…", &t[..i]),
            None => t,
        }
    };
    let id = |id: &Option<Id>| id.as_ref().map_or("(no id)".to_owned(), Id::to_string);
    let one = |item: &Item| -> Option<String> {
        Some(match item {
            Item::Request {
                id: None,
                method,
                params,
            } => match params {
                Some(p) => format!("notification {method} {}", clip(p)),
                None => format!("notification {method}"),
            },
            Item::Request {
                id: Some(i),
                method,
                params,
            } => match params {
                Some(p) => format!("request {i} {method} {}", clip(p)),
                None => format!("request {i} {method}"),
            },
            Item::Response {
                id: i,
                outcome: Ok(r),
            } => format!("result {}: {}", id(i), clip(r)),
            Item::Response {
                id: i,
                outcome: Err(e),
            } => {
                format!("error {}: {} {}", id(i), e.code, e.message)
            }
            Item::Invalid { .. } => return None,
        })
    };
    match frame {
        Frame::Single(item) => one(item),
        Frame::Batch(items) if !items.is_empty() => {
            let parts: Option<Vec<String>> = items.iter().map(one).collect();
            Some(format!("batch({}): {}", items.len(), parts?.join("; ")))
        }
        _ => None,
    }
}

/// The specification's predefined error codes.
pub mod codes {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;

    /// The specification's message for a predefined code ("Server error" for the range
    /// reserved to implementations, "Error" otherwise).
    pub fn message(code: i64) -> &'static str {
        match code {
            PARSE_ERROR => "Parse error",
            INVALID_REQUEST => "Invalid Request",
            METHOD_NOT_FOUND => "Method not found",
            INVALID_PARAMS => "Invalid params",
            INTERNAL_ERROR => "Internal error",
            -32099..=-32000 => "Server error",
            _ => "Error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_specification_examples() {
        let r = Frame::parse(r#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}"#);
        assert_eq!(
            r,
            Frame::Single(Item::Request {
                id: Some(Id::Num("1".into())),
                method: "subtract".into(),
                params: Some(serde_json::json!([42, 23])),
            })
        );
        let n = Frame::parse(r#"{"jsonrpc":"2.0","method":"update","params":[1,2]}"#);
        assert!(n.items()[0].is_notification());
        assert_eq!(
            Frame::parse(r#"{"jsonrpc":"2.0","method":"foobar,"params":"bar","baz]"#),
            Frame::NotJson
        );
        let e = Frame::parse(
            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}"#,
        );
        let Frame::Single(Item::Response { id, outcome }) = e else {
            panic!("{e:?}")
        };
        assert_eq!(id, Some(Id::Null));
        assert_eq!(outcome.unwrap_err().code, codes::INVALID_REQUEST);
        let b = Frame::parse(r#"[1,{"jsonrpc":"2.0","result":7,"id":"a"}]"#);
        assert!(matches!(&b.items()[0], Item::Invalid { .. }));
        assert_eq!(b.items().len(), 2);
        assert_eq!(Frame::parse("[]"), Frame::Batch(vec![]));
        assert!(matches!(
            parse_item(&serde_json::json!({"jsonrpc":"1.0","id":3,"result":1})),
            Item::Invalid {
                id: Some(Id::Num(_)),
                ..
            }
        ));
        assert!(matches!(
            parse_item(&serde_json::json!({"jsonrpc":"2.0","id":3,"result":1,"error":{"code":1}})),
            Item::Invalid { .. }
        ));
    }

    #[test]
    fn ids_keep_their_json_type_and_round_trip() {
        let a = Id::from_value(&serde_json::json!(1)).unwrap();
        let b = Id::from_value(&serde_json::json!("1")).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.to_string(), "1");
        assert_eq!(b.to_string(), "\"1\"");
        let v = response(&b, &Ok(serde_json::json!({"b":1,"a":2})));
        assert_eq!(
            canonical(&v),
            r#"{"id":"1","jsonrpc":"2.0","result":{"a":2,"b":1}}"#
        );
        assert_eq!(canonical_text(" [1, 2] "), "[1,2]");
    }
}
