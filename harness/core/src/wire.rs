//! Wire protocol v1: JSON text messages, one per WebSocket message, tagged by `type`.
//!
//! See PROTOCOL.md for the prose. The codec is strict: unknown `type`s, unknown fields and
//! wrong field types are typed [`DecodeError`]s, never panics.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Direction of a request stream: the caller's request, or the receiver's response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    Request,
    Response,
}

impl Dir {
    pub fn is_request(self) -> bool {
        self == Dir::Request
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_empty(s: &str) -> bool {
    s.is_empty()
}

/// Optional fields: `null` is the same as absent (PROTOCOL.md, "Transport").
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One protocol message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Message {
    /// Registration: the first message a client sends.
    Hello {
        client: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// Registration accepted.
    Welcome { client: String },
    /// An error tied to a request (`req`) or to the connection (no `req`).
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<String>,
        code: String,
        #[serde(
            default,
            deserialize_with = "null_as_default",
            skip_serializing_if = "is_empty"
        )]
        message: String,
    },
    /// Opens a request or response stream. With `end: true` it is the whole stream.
    Start {
        req: String,
        #[serde(
            default,
            deserialize_with = "null_as_default",
            skip_serializing_if = "is_empty"
        )]
        channel: String,
        dir: Dir,
        #[serde(
            default,
            deserialize_with = "null_as_default",
            skip_serializing_if = "is_empty"
        )]
        body: String,
        #[serde(
            default,
            deserialize_with = "null_as_default",
            skip_serializing_if = "is_false"
        )]
        end: bool,
    },
    /// A piece of a stream; `seq` counts from 0 within the stream.
    Chunk {
        req: String,
        dir: Dir,
        seq: u64,
        data: String,
    },
    /// Closes a stream.
    End { req: String, dir: Dir },
    /// A receiver asks for the next request on `channel`.
    Receive { channel: String },
    /// The sender gives up on a request (the broker forwards it to the receiver).
    Cancel { req: String },
    Ping {
        #[serde(default, deserialize_with = "null_as_default")]
        nonce: u64,
    },
    Pong {
        #[serde(default, deserialize_with = "null_as_default")]
        nonce: u64,
    },
}

/// Error codes carried by `error` messages.
pub mod code {
    pub const MALFORMED: &str = "malformed";
    pub const TOO_LARGE: &str = "too_large";
    pub const NOT_REGISTERED: &str = "not_registered";
    pub const ALREADY_REGISTERED: &str = "already_registered";
    pub const CLIENT_ID_TAKEN: &str = "client_id_taken";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const NOT_ASSIGNED: &str = "not_assigned";
    pub const RECEIVER_GONE: &str = "receiver_gone";
    pub const UNKNOWN_CHANNEL: &str = "unknown_channel";
    pub const UNKNOWN_CLIENT: &str = "unknown_client";
    pub const DUPLICATE_REQUEST: &str = "duplicate_request";
    pub const SLOW_CONSUMER: &str = "slow_consumer";
    pub const QUEUE_FULL: &str = "queue_full";
    pub const TIMEOUT: &str = "timeout";
    pub const NOT_SERVING: &str = "not_serving";
}

impl Message {
    /// The `type` tag, e.g. `start`.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "hello",
            Message::Welcome { .. } => "welcome",
            Message::Error { .. } => "error",
            Message::Start { .. } => "start",
            Message::Chunk { .. } => "chunk",
            Message::End { .. } => "end",
            Message::Receive { .. } => "receive",
            Message::Cancel { .. } => "cancel",
            Message::Ping { .. } => "ping",
            Message::Pong { .. } => "pong",
        }
    }

    /// The request id the message is about, if any.
    pub fn req(&self) -> Option<&str> {
        match self {
            Message::Error { req, .. } => req.as_deref(),
            Message::Start { req, .. }
            | Message::Chunk { req, .. }
            | Message::End { req, .. }
            | Message::Cancel { req } => Some(req),
            _ => None,
        }
    }

    /// Direction of a stream frame (`start`, `chunk`, `end`).
    pub fn dir(&self) -> Option<Dir> {
        match self {
            Message::Start { dir, .. } | Message::Chunk { dir, .. } | Message::End { dir, .. } => {
                Some(*dir)
            }
            _ => None,
        }
    }

    /// Builds a request-scoped or connection-scoped error.
    pub fn error(req: Option<&str>, code: &str, message: impl Into<String>) -> Message {
        Message::Error {
            req: req.map(str::to_owned),
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// Encodes to the JSON text sent on the wire.
    pub fn encode(&self) -> String {
        // Serialising these plain enums cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| unreachable!("encode failed: {e}"))
    }

    /// Decodes one wire message.
    pub fn decode(text: &str) -> Result<Message, DecodeError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
        let obj = value.as_object().ok_or(DecodeError::NotAnObject)?;
        let kind = match obj.get("type") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(_) => return Err(DecodeError::Invalid("`type` is not a string".into())),
            None => return Err(DecodeError::MissingType),
        };
        if !KINDS.contains(&kind.as_str()) {
            return Err(DecodeError::UnknownType(kind));
        }
        serde_json::from_value(value).map_err(|e| DecodeError::Invalid(format!("{kind}: {e}")))
    }
}

/// The fields a message of type `kind` may carry (besides `type`), or `None` for a type
/// that is not part of the protocol.
pub fn fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "hello" => &["client", "token"],
        "welcome" => &["client"],
        "error" => &["req", "code", "message"],
        "start" => &["req", "channel", "dir", "body", "end"],
        "chunk" => &["req", "dir", "seq", "data"],
        "end" => &["req", "dir"],
        "receive" => &["channel"],
        "cancel" => &["req"],
        "ping" | "pong" => &["nonce"],
        _ => return None,
    })
}

/// Every message `type`.
pub const KINDS: &[&str] = &[
    "hello", "welcome", "error", "start", "chunk", "end", "receive", "cancel", "ping", "pong",
];

/// Why a text could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    NotJson(String),
    NotAnObject,
    MissingType,
    UnknownType(String),
    Invalid(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NotJson(e) => write!(f, "not JSON: {e}"),
            DecodeError::NotAnObject => write!(f, "not a JSON object"),
            DecodeError::MissingType => write!(f, "no `type` field"),
            DecodeError::UnknownType(t) => write!(f, "unknown message type `{t}`"),
            DecodeError::Invalid(e) => write!(f, "invalid message: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A short, stable description of a message for traces: `start r1 jobs req end`.
pub fn summary(msg: &Message) -> String {
    match msg {
        Message::Hello { client, token } => match token {
            Some(_) => format!("hello {client} +token"),
            None => format!("hello {client}"),
        },
        Message::Welcome { client } => format!("welcome {client}"),
        Message::Error { req, code, .. } => match req {
            Some(r) => format!("error {r} {code}"),
            None => format!("error {code}"),
        },
        Message::Start {
            req,
            channel,
            dir,
            body,
            end,
        } => {
            let mut s = format!("start {req}");
            if !channel.is_empty() {
                s.push(' ');
                s.push_str(channel);
            }
            s.push_str(if dir.is_request() { " req" } else { " resp" });
            if !body.is_empty() {
                s.push_str(&format!(" {:?}", clip(body)));
            }
            if *end {
                s.push_str(" end");
            }
            s
        }
        Message::Chunk {
            req,
            dir,
            seq,
            data,
        } => format!(
            "chunk {req} {} #{seq} {:?}",
            if dir.is_request() { "req" } else { "resp" },
            clip(data)
        ),
        Message::End { req, dir } => {
            format!(
                "end {req} {}",
                if dir.is_request() { "req" } else { "resp" }
            )
        }
        Message::Receive { channel } => format!("receive {channel}"),
        Message::Cancel { req } => format!("cancel {req}"),
        Message::Ping { nonce } => format!("ping {nonce}"),
        Message::Pong { nonce } => format!("pong {nonce}"),
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 24;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…({} bytes)", s.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_shape() {
        let m = Message::Start {
            req: "r1".into(),
            channel: "jobs".into(),
            dir: Dir::Request,
            body: "ping".into(),
            end: true,
        };
        let text = m.encode();
        assert_eq!(
            text,
            r#"{"type":"start","req":"r1","channel":"jobs","dir":"request","body":"ping","end":true}"#
        );
        assert_eq!(Message::decode(&text), Ok(m));
        let e = Message::error(Some("r1"), code::RECEIVER_GONE, "");
        assert_eq!(
            e.encode(),
            r#"{"type":"error","req":"r1","code":"receiver_gone"}"#
        );
    }

    #[test]
    fn decode_errors_are_typed() {
        assert!(matches!(Message::decode("{"), Err(DecodeError::NotJson(_))));
        assert_eq!(Message::decode("[1]"), Err(DecodeError::NotAnObject));
        assert_eq!(Message::decode("{}"), Err(DecodeError::MissingType));
        assert_eq!(
            Message::decode(r#"{"type":"ok"}"#),
            Err(DecodeError::UnknownType("ok".into()))
        );
        assert!(matches!(
            Message::decode(r#"{"type":"start","req":"r1"}"#),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            Message::decode(r#"{"type":"cancel","req":"r1","extra":1}"#),
            Err(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn null_optional_fields_are_absent_and_null_required_fields_malformed() {
        let absent = |t: &str| Message::decode(t).unwrap();
        assert_eq!(
            absent(
                r#"{"type":"start","req":"r","channel":null,"dir":"response","body":null,"end":null}"#
            ),
            absent(r#"{"type":"start","req":"r","dir":"response"}"#)
        );
        assert_eq!(
            absent(r#"{"type":"hello","client":"a","token":null}"#),
            absent(r#"{"type":"hello","client":"a"}"#)
        );
        assert_eq!(
            absent(r#"{"type":"error","req":null,"code":"x","message":null}"#),
            absent(r#"{"type":"error","code":"x"}"#)
        );
        assert_eq!(
            absent(r#"{"type":"ping","nonce":null}"#),
            absent(r#"{"type":"ping"}"#)
        );
        for bad in [
            r#"{"type":"hello","client":null}"#,
            r#"{"type":"start","req":null,"dir":"request"}"#,
            r#"{"type":"chunk","req":"r","dir":"request","seq":null,"data":"x"}"#,
            r#"{"type":"ping","nonce":-1}"#,
        ] {
            assert!(
                matches!(Message::decode(bad), Err(DecodeError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn fields_are_exactly_what_the_codec_writes_when_everything_is_set() {
        let full = [
            Message::Hello {
                client: "a".into(),
                token: Some("t".into()),
            },
            Message::Welcome { client: "a".into() },
            Message::Error {
                req: Some("r".into()),
                code: "c".into(),
                message: "m".into(),
            },
            Message::Start {
                req: "r".into(),
                channel: "c".into(),
                dir: Dir::Request,
                body: "b".into(),
                end: true,
            },
            Message::Chunk {
                req: "r".into(),
                dir: Dir::Request,
                seq: 1,
                data: "d".into(),
            },
            Message::End {
                req: "r".into(),
                dir: Dir::Request,
            },
            Message::Receive {
                channel: "c".into(),
            },
            Message::Cancel { req: "r".into() },
            Message::Ping { nonce: 1 },
            Message::Pong { nonce: 1 },
        ];
        for m in full {
            let v: serde_json::Value = serde_json::from_str(&m.encode()).unwrap();
            let mut keys: Vec<&str> = v
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "type")
                .collect();
            let mut want = fields(m.kind()).unwrap().to_vec();
            keys.sort_unstable();
            want.sort_unstable();
            assert_eq!(keys, want, "{}", m.kind());
        }
        assert_eq!(KINDS.iter().filter(|k| fields(k).is_none()).count(), 0);
        assert_eq!(fields("ok"), None);
    }

    #[test]
    fn summary_is_short() {
        let m = Message::Chunk {
            req: "r9".into(),
            dir: Dir::Response,
            seq: 2,
            data: "x".repeat(100),
        };
        let s = summary(&m);
        assert!(s.starts_with("chunk r9 resp #2"), "{s}");
        assert!(s.contains("(100 bytes)"), "{s}");
    }
}
