//! Property tests of the wire codec (`wirecheck_core::wire`).
//!
//! - every message kind round-trips through `encode`/`decode`, with arbitrary field values
//!   (unicode, control characters, empty strings, `u64::MAX` sequence numbers and nonces);
//! - decoding arbitrary bytes (lossily made UTF-8), JSON-ish token soup and arbitrary JSON
//!   values (including objects whose `type` is a real kind and whose fields are random)
//!   never panics, and every failure is the `DecodeError` variant an independent oracle
//!   predicts (not JSON / not an object / no `type` / unknown `type` / invalid);
//! - `summary` never panics and starts with the message kind.
//!
//! Case counts: `PROPTEST_CASES` overrides the default of 1024 cases per property. Failure
//! persistence is off (no `proptest-regressions/` files in the source tree); a failure
//! prints the minimal input, which belongs in a unit test in `src/wire.rs`.

#[path = "support/mod.rs"]
mod support;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Map, Number, Value};
use wirecheck_core::wire::{summary, DecodeError, Dir, Message, KINDS};

use support::config;

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

/// Strings that stress JSON escaping: empty, plain ids, arbitrary unicode (including
/// control characters and astral planes) and strings made of escape-worthy characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just(String::new()),
        3 => "[a-z0-9_$-]{1,8}",
        4 => any::<String>(),
        2 => proptest::collection::vec(
            prop::sample::select(vec![
                '"', '\\', '/', '\n', '\r', '\t', '\u{0}', '\u{1f}', '\u{7f}', '\u{2028}',
                '\u{feff}', '\u{fffd}', 'é', '☃', '😀', '{', '}', ':', ','
            ]),
            0..12
        )
        .prop_map(|cs| cs.into_iter().collect()),
        1 => "\\PC{100,300}",
    ]
}

fn big_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just((1u64 << 53) + 1), // not representable as f64
        Just(i64::MAX as u64 + 1),
        0u64..100,
        any::<u64>(),
    ]
}

fn dir() -> impl Strategy<Value = Dir> {
    prop_oneof![Just(Dir::Request), Just(Dir::Response)]
}

/// Every message kind, with arbitrary fields.
fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (text(), proptest::option::of(text()))
            .prop_map(|(client, token)| Message::Hello { client, token }),
        text().prop_map(|client| Message::Welcome { client }),
        (proptest::option::of(text()), text(), text())
            .prop_map(|(req, code, message)| Message::Error { req, code, message }),
        (text(), text(), dir(), text(), any::<bool>()).prop_map(
            |(req, channel, dir, body, end)| Message::Start {
                req,
                channel,
                dir,
                body,
                end
            }
        ),
        (text(), dir(), big_u64(), text()).prop_map(|(req, dir, seq, data)| Message::Chunk {
            req,
            dir,
            seq,
            data
        }),
        (text(), dir()).prop_map(|(req, dir)| Message::End { req, dir }),
        text().prop_map(|channel| Message::Receive { channel }),
        text().prop_map(|req| Message::Cancel { req }),
        big_u64().prop_map(|nonce| Message::Ping { nonce }),
        big_u64().prop_map(|nonce| Message::Pong { nonce }),
    ]
}

/// Field names the codec knows, plus a few it does not.
const FIELDS: &[&str] = &[
    "client", "token", "req", "code", "message", "channel", "dir", "body", "end", "seq", "data",
    "nonce", "extra", "Type", "",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        big_u64().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
        // Values that fit some field exactly, so that random objects sometimes decode.
        prop::sample::select(vec!["request", "response", "r1", "jobs", "x"])
            .prop_map(|s| Value::String(s.to_owned())),
    ]
}

/// Arbitrary JSON: nested arrays and objects, keys biased towards real field names.
fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(FIELDS).prop_map(str::to_owned),
        1 => Just("type".to_owned()),
        1 => any::<String>(),
    ]
}

/// Objects shaped like messages: a `type` (usually a real kind) and random fields whose
/// values are usually of a plausible JSON type.
fn message_like() -> impl Strategy<Value = Value> {
    let ty = prop_oneof![
        6 => prop::sample::select(KINDS).prop_map(|k| Value::String(k.to_owned())),
        1 => text().prop_map(Value::String),
        1 => leaf(),
    ];
    let fields = proptest::collection::vec(
        (
            prop::sample::select(FIELDS).prop_map(str::to_owned),
            prop_oneof![4 => leaf(), 1 => json()],
        ),
        0..7,
    );
    let ty = prop_oneof![1 => Just(None), 9 => ty.prop_map(Some)];
    (ty, fields).prop_map(|(ty, fields)| {
        let mut obj: Map<String, Value> = fields.into_iter().collect();
        if let Some(ty) = ty {
            obj.insert("type".to_owned(), ty);
        }
        Value::Object(obj)
    })
}

/// Byte strings: random bytes, and soups of JSON tokens that are often almost valid.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        4 => prop::sample::select(vec![
            "{", "}", "[", "]", ":", ",", "\"", "\\", "\"type\"", "\"start\"", "\"chunk\"",
            "\"req\"", "\"r1\"", "\"dir\"", "\"request\"", "\"seq\"", "1", "-1", "1e999",
            "18446744073709551616", "0.5", "null", "true", " ", "\n", "\\u0000", "\\ud800",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 1..4),
    ];
    // A valid encoding with a few bytes overwritten, inserted or deleted.
    let flipped = (
        message(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4),
    )
        .prop_map(|(m, edits)| {
            let mut b = m.encode().into_bytes();
            for (at, byte, op) in edits {
                let i = at.index(b.len() + 1);
                match op {
                    0 if i < b.len() => b[i] = byte,
                    1 => b.insert(i, byte),
                    _ if i < b.len() => {
                        b.remove(i);
                    }
                    _ => {}
                }
            }
            b
        });
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        proptest::collection::vec(token, 0..40).prop_map(|ts| ts.concat()),
        flipped,
    ]
}

// ---------------------------------------------------------------------------------------
// Oracle
// ---------------------------------------------------------------------------------------

/// Which `DecodeError` variant `text` must produce, decided without the codec: `None`
/// when the text is a well-formed object with a known `type` (it may still be `Invalid`).
fn expected_error(text: &str) -> Option<fn(&DecodeError) -> bool> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return Some(|e| matches!(e, DecodeError::NotJson(_))),
    };
    let Some(obj) = value.as_object() else {
        return Some(|e| matches!(e, DecodeError::NotAnObject));
    };
    match obj.get("type") {
        None => Some(|e| matches!(e, DecodeError::MissingType)),
        Some(Value::String(t)) if KINDS.contains(&t.as_str()) => None,
        Some(Value::String(_)) => Some(|e| matches!(e, DecodeError::UnknownType(_))),
        Some(_) => Some(|e| matches!(e, DecodeError::Invalid(_))),
    }
}

/// Decodes `text` and checks the result against the oracle; a decoded message must
/// round-trip and summarise.
fn check_decode(text: &str) -> Result<(), TestCaseError> {
    let got = Message::decode(text);
    match (expected_error(text), &got) {
        (Some(want), Err(e)) => prop_assert!(want(e), "wrong error {e:?} for {text:?}"),
        (Some(_), Ok(m)) => prop_assert!(false, "decoded {m:?} from {text:?}"),
        (None, Err(e)) => prop_assert!(
            matches!(e, DecodeError::Invalid(_)),
            "a known type can only fail as Invalid, got {e:?} for {text:?}"
        ),
        (None, Ok(m)) => {
            let ty = serde_json::from_str::<Value>(text).unwrap()["type"].clone();
            prop_assert_eq!(Value::String(m.kind().to_owned()), ty);
            let again = Message::decode(&m.encode());
            prop_assert_eq!(again.as_ref(), Ok(m));
            let s = summary(m);
            prop_assert!(s.starts_with(m.kind()), "{s:?}");
        }
    }
    if let Err(e) = &got {
        prop_assert!(!e.to_string().is_empty());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn encode_decode_round_trip(m in message()) {
        let text = m.encode();
        let value: Value = serde_json::from_str(&text).expect("encode gives JSON");
        prop_assert_eq!(&value["type"], &Value::String(m.kind().to_owned()));
        prop_assert_eq!(Message::decode(&text), Ok(m.clone()));
        // Encoding is a function of the message: re-encoding the decoded value is stable.
        prop_assert_eq!(Message::decode(&text).unwrap().encode(), text);
        // The same holds for the pretty-printed form (whitespace is insignificant).
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        prop_assert_eq!(Message::decode(&pretty), Ok(m));
    }

    #[test]
    fn summary_never_panics_and_names_the_kind(m in message()) {
        let s = summary(&m);
        prop_assert!(s.starts_with(m.kind()), "{s:?}");
        // Bodies and data are clipped to 24 characters plus their length in bytes.
        if let Message::Start { body: long, .. } | Message::Chunk { data: long, .. } = &m {
            if long.chars().count() > 24 {
                let tail = format!("({} bytes)", long.len());
                prop_assert!(s.contains(&tail), "{s:?}");
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in bytes()) {
        check_decode(&String::from_utf8_lossy(&b))?;
    }

    #[test]
    fn arbitrary_json_never_panics(v in json()) {
        check_decode(&v.to_string())?;
    }

    #[test]
    fn message_like_objects_decode_or_fail_typed(v in message_like()) {
        check_decode(&v.to_string())?;
    }

    /// A valid message with one field removed, retyped or added is either still valid
    /// (optional field) or a typed `Invalid`, never a panic.
    #[test]
    fn edited_valid_messages_fail_typed(
        m in message(),
        field in prop::sample::select(FIELDS),
        replacement in proptest::option::of(leaf()),
    ) {
        let mut value: Value = serde_json::from_str(&m.encode()).unwrap();
        let obj = value.as_object_mut().unwrap();
        match replacement {
            Some(v) => { obj.insert(field.to_owned(), v); }
            None => { obj.remove(field); }
        }
        check_decode(&value.to_string())?;
    }
}

/// The strategy above covers every kind in `KINDS`, and `KINDS` covers every variant
/// (the match is exhaustive: a new variant without a sample fails to compile).
#[test]
fn every_kind_is_generated() {
    fn sample(kind: &str) -> Message {
        let s = String::new;
        match kind {
            "hello" => Message::Hello {
                client: s(),
                token: None,
            },
            "welcome" => Message::Welcome { client: s() },
            "error" => Message::Error {
                req: None,
                code: s(),
                message: s(),
            },
            "start" => Message::Start {
                req: s(),
                channel: s(),
                dir: Dir::Request,
                body: s(),
                end: false,
            },
            "chunk" => Message::Chunk {
                req: s(),
                dir: Dir::Response,
                seq: 0,
                data: s(),
            },
            "end" => Message::End {
                req: s(),
                dir: Dir::Request,
            },
            "receive" => Message::Receive { channel: s() },
            "cancel" => Message::Cancel { req: s() },
            "ping" => Message::Ping { nonce: 0 },
            "pong" => Message::Pong { nonce: 0 },
            other => panic!("KINDS lists `{other}` but this test has no sample for it"),
        }
    }
    fn variant_index(m: &Message) -> usize {
        match m {
            Message::Hello { .. } => 0,
            Message::Welcome { .. } => 1,
            Message::Error { .. } => 2,
            Message::Start { .. } => 3,
            Message::Chunk { .. } => 4,
            Message::End { .. } => 5,
            Message::Receive { .. } => 6,
            Message::Cancel { .. } => 7,
            Message::Ping { .. } => 8,
            Message::Pong { .. } => 9,
        }
    }
    let mut seen = [false; 10];
    for kind in KINDS {
        let m = sample(kind);
        assert_eq!(m.kind(), *kind);
        assert_eq!(Message::decode(&m.encode()), Ok(m.clone()));
        seen[variant_index(&m)] = true;
    }
    assert!(seen.iter().all(|&s| s), "a variant is missing from KINDS");

    // And the strategy reaches every variant within a modest number of draws.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = message();
    let mut hit = [false; 10];
    for _ in 0..500 {
        let m = strategy.new_tree(&mut runner).unwrap().current();
        hit[variant_index(&m)] = true;
    }
    assert!(hit.iter().all(|&h| h), "strategy misses a kind: {hit:?}");
}

/// Pathological inputs that random generation is unlikely to hit.
#[test]
fn pathological_inputs_fail_typed() {
    let deep_array = "[".repeat(100_000);
    let deep_object = "{\"type\":".repeat(50_000);
    let nested_ok_depth = format!(
        "{{\"type\":\"start\",\"req\":\"r\",\"dir\":\"request\",\"body\":{}1{}}}",
        "[".repeat(120),
        "]".repeat(120)
    );
    let cases: Vec<String> = vec![
        String::new(),
        " ".into(),
        "\u{feff}{}".into(),
        "{\"type\":\"ping\"} trailing".into(),
        "{\"type\":\"ping\",\"nonce\":18446744073709551616}".into(),
        "{\"type\":\"ping\",\"nonce\":-1}".into(),
        "{\"type\":\"ping\",\"nonce\":1.5}".into(),
        "{\"type\":\"chunk\",\"req\":\"r\",\"dir\":\"sideways\",\"seq\":0,\"data\":\"\"}".into(),
        "{\"type\":\"start\",\"type\":\"ping\"}".into(),
        "{\"type\":\"hello\",\"client\":\"\\ud800\"}".into(),
        "{\"type\":null}".into(),
        "\"type\"".into(),
        deep_array,
        deep_object,
        nested_ok_depth,
    ];
    for text in &cases {
        // Runs the oracle too; `check_decode` reports through `TestCaseError`.
        if let Err(e) = check_decode(text) {
            panic!("{e} (input starts {:?})", &text[..text.len().min(60)]);
        }
    }
    assert_eq!(
        Message::decode("{\"type\":\"ping\"}"),
        Ok(Message::Ping { nonce: 0 })
    );
}
