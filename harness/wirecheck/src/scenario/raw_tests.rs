//! The raw step and host bodies against the vocabulary (they cannot drift apart).

use super::raw::*;
use super::shapes::OneKey;
use crate::model::vocab::{self, Kind};

fn step(yaml: &str) -> Body {
    match serde_saphyr::from_str::<RawStep>(yaml) {
        Ok(OneKey::Entry { value, .. }) => value,
        Ok(_) => panic!("{yaml}: not a one-key map"),
        Err(e) => panic!("{yaml}: {e}"),
    }
}

/// Every step of the vocabulary has a body here (and only those names do), so the
/// vocabulary and the deserializer cannot drift apart.
#[test]
fn every_vocabulary_step_has_a_body() {
    let arg = |name: &str| match name {
        "wait" => "1s",
        "partition" | "repair" | "partition_oneway" | "repair_oneway" | "hold" | "release" => {
            "[a, b]"
        }
        "crash" | "bounce" => "a",
        "heal" => "{ within: 2s }",
        "latency" => "{ between: [a, b], to: 5ms }",
        "request" => "{ id: r, channel: c }",
        "batch" => "{ calls: [ { id: r, method: m } ] }",
        "first" => "{ of: [a, b], expect: { ping: {} }, as: x }",
        "notify" => "{ method: m }",
        "cancel" | "result" => "{ id: r }",
        "serve" => "{ channel: c }",
        "send" | "expect" => "{ ping: {} }",
        _ => "{}",
    };
    for s in vocab::GLOBAL_STEPS {
        let body = step(&format!("{}: {}", s.name, arg(s.name)));
        assert!(!matches!(body, Body::Unknown | Body::Empty), "{}", s.name);
    }
    for k in Kind::ALL {
        for s in k.steps() {
            let arg = if k == Kind::Proxy { "{}" } else { arg(s.name) };
            let body = step(&format!("h.{}: {arg}", s.name));
            assert!(!matches!(body, Body::Unknown), "{} {}", k.label(), s.name);
        }
    }
    assert!(matches!(step("h.frobnicate: 1"), Body::Unknown));
    assert!(matches!(step("sleep: 1"), Body::Unknown));
}

#[test]
fn every_host_key_has_a_body() {
    for key in vocab::HOST_KEYS {
        let value = match *key {
            "client" => "{ connect: [b] }",
            "scripted" => "server",
            "proxy" => "{ target: b }",
            "relay" => "{ backends: [b] }",
            _ => "{}",
        };
        match serde_saphyr::from_str::<RawHost>(&format!("{key}: {value}")) {
            Ok(OneKey::Entry { value, .. }) => {
                assert!(!matches!(value, HostBody::Unknown), "{key}")
            }
            _ => panic!("{key}"),
        }
    }
}
