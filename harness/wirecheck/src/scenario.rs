//! Scenario loader: YAML (format v1) to a validated [`Scenario`].
//!
//! Loading happens in two passes. First serde-saphyr deserializes the text into private
//! `Raw*` structs that keep the source location of every node a later check may point at
//! (YAML syntax, unknown keys and type mismatches fail here, with serde-saphyr's location
//! and message). Then a checker turns the raw structs into the model, resolving host
//! names, call ids, durations and rule ids, and reports the first problem found with the
//! location of the offending node, a message saying what is wrong and a hint saying what
//! to do.
//!
//! Loading never panics, whatever the input.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::marker::PhantomData;
use std::path::{Component, Path};
use std::time::Duration;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::{Location, MessageFormatter, Spanned};

use crate::model::{
    Action, BrokerSpec, ClientSpec, Corruption, Expectation, Frame, FramePattern, HeartbeatSpec,
    Host, HostKind, Loc, Network, Outcome, ProxyAction, ProxyDir, ProxyRule, ProxySpec,
    ReconnectSpec, Reply, RequestCall, Scenario, ScriptedSpec, ServeSpec, Step,
};

// ---------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------

/// A scenario that could not be loaded: where, what, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// Position of the offending node; `None` when the file could not be read at all.
    pub loc: Option<Loc>,
    /// What is wrong (one line).
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The source line with a caret under the column (several lines, already formatted).
    pub snippet: Option<String>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.loc {
            Some(loc) if loc.line > 0 => write!(f, "{loc}: error: {}", self.message)?,
            Some(loc) => write!(f, "{}: error: {}", loc.file.display(), self.message)?,
            None => write!(f, "error: {}", self.message)?,
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{snippet}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Reads and loads a scenario file. I/O and encoding problems are [`LoadError`]s too.
pub fn load_file(path: &Path) -> Result<Scenario, LoadError> {
    let bytes = std::fs::read(path).map_err(|e| LoadError {
        loc: None,
        message: clean(&format!("cannot read `{}`: {e}", path.display())),
        hint: Some("check that the file exists and is readable".to_string()),
        snippet: None,
    })?;
    match String::from_utf8(bytes) {
        Ok(src) => load_str(&src, path),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..valid.min(bytes.len())]);
            let line = 1 + line_breaks(&prefix);
            let column = 1 + last_line(&prefix).chars().count() as u64;
            let lossy = String::from_utf8_lossy(bytes);
            Err(LoadError {
                loc: Some(Loc {
                    file: path.to_path_buf(),
                    line,
                    column,
                }),
                message: "the file is not valid UTF-8".to_string(),
                hint: Some("save the scenario as UTF-8 text".to_string()),
                snippet: snippet(&lossy, line, column),
            })
        }
    }
}

/// Loads a scenario from text. `file` is used in messages and stored in [`Scenario::file`].
pub fn load_str(src: &str, file: &Path) -> Result<Scenario, LoadError> {
    let ck = Checker {
        src,
        file,
        hosts: Vec::new(),
    };
    let raw: S<RawScenario> = serde_saphyr::from_str(src).map_err(|e| ck.yaml_error(&e))?;
    ck.scenario(raw)
}

/// Name a scenario file should have: its path relative to the `scenarios` root, without
/// `.yaml`, with `/` separators.
pub fn expected_name(root: &Path, file: &Path) -> String {
    let rel = match file.strip_prefix(root) {
        Ok(rel) => rel.to_path_buf(),
        Err(_) => match (root.canonicalize(), file.canonicalize()) {
            (Ok(r), Ok(f)) => f
                .strip_prefix(&r)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| file.to_path_buf()),
            _ => file.to_path_buf(),
        },
    };
    let rel = if rel.extension().is_some_and(|e| e == "yaml") {
        rel.with_extension("")
    } else {
        rel
    };
    rel.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Fails (at the `name:` value) when the scenario's name differs from
/// [`expected_name`]`(root, &s.file)`.
pub fn check_name(s: &Scenario, root: &Path) -> Result<(), LoadError> {
    let expected = expected_name(root, &s.file);
    if s.name == expected {
        return Ok(());
    }
    let src = std::fs::read(&s.file)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Err(LoadError {
        loc: Some(s.name_loc.clone()),
        message: clean(&format!(
            "scenario name `{}` does not match its file (expected `{expected}`)",
            s.name
        )),
        hint: Some(clean(&format!(
            "write `name: {expected}` (the path below `{}` without `.yaml`), or move the file to match the name",
            root.display()
        ))),
        snippet: snippet(&src, s.name_loc.line, s.name_loc.column),
    })
}

// ---------------------------------------------------------------------------------------
// Raw (deserialized, not yet validated) structures
// ---------------------------------------------------------------------------------------

type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a scenario: a map with name, about, rules, hosts and script"
)]
struct RawScenario {
    // Required fields are checked by the checker, which has a better location for a
    // missing key (the start of the document) than the end of the map.
    #[serde(default)]
    name: Option<S<String>>,
    #[serde(default)]
    about: Option<S<String>>,
    #[serde(default)]
    rules: Option<S<Vec<S<String>>>>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    duration: Option<S<String>>,
    #[serde(default)]
    network: Option<RawNetwork>,
    #[serde(default)]
    hosts: Option<S<OrderedMap<S<RawHostKind>>>>,
    #[serde(default)]
    script: Option<Vec<S<RawStep>>>,
    #[serde(default)]
    expect: Option<OrderedMap<OrderedMap<S<u64>>>>,
    #[serde(default)]
    expect_violations: Option<S<Vec<S<String>>>>,
}

/// A YAML map whose order is kept, keyed by located strings.
struct OrderedMap<V>(Vec<(S<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<S<String>>()? {
                    let value = map.next_value::<V>()?;
                    out.push((key, value));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}

/// Describes a node of the wrong shape, for messages like "expected a map, found a list".
fn describe_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<String, A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok("a list".to_string())
}

/// Implements the visitor methods for scalars and sequences by producing `$invalid(desc)`.
macro_rules! other_shapes {
    ($invalid:expr) => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok($invalid(format!("`{v}`")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok($invalid(format!("the number `{v}`")))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok($invalid(format!("the number `{v}`")))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok($invalid(format!("the number `{v}`")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($invalid("nothing (null)".to_string()))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($invalid("nothing (null)".to_string()))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            describe_seq(seq).map($invalid)
        }
    };
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a network map, e.g. `{ latency: 1ms }`"
)]
struct RawNetwork {
    #[serde(default)]
    latency: Option<S<RawLatency>>,
}

enum RawLatency {
    Fixed(String),
    Range(RawRange),
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a latency range, e.g. `{ min: 1ms, max: 20ms }`"
)]
struct RawRange {
    min: S<String>,
    max: S<String>,
}

impl<'de> Deserialize<'de> for RawLatency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis;
        impl<'de> Visitor<'de> for Vis {
            type Value = RawLatency;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration or a map `{ min: .., max: .. }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawLatency, E> {
                Ok(RawLatency::Fixed(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawLatency, E> {
                Ok(RawLatency::Fixed(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawLatency, E> {
                Ok(RawLatency::Fixed(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawLatency, E> {
                Ok(RawLatency::Fixed(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawLatency, E> {
                Ok(RawLatency::Fixed(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawLatency, E> {
                Ok(RawLatency::Invalid("nothing (null)".to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawLatency, A::Error> {
                describe_seq(seq).map(RawLatency::Invalid)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawLatency, A::Error> {
                RawRange::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawLatency::Range)
            }
        }
        d.deserialize_any(Vis)
    }
}

/// A host: a one-key map naming its kind.
enum RawHostKind {
    Broker(RawBroker),
    Client(Box<RawClient>),
    Scripted(S<RawScripted>),
    Proxy(Box<RawProxy>),
    /// A kind key that is not broker, client, scripted or proxy.
    UnknownKind(S<String>),
    /// A second key in the host's map.
    ExtraKey(S<String>),
    /// Not a map.
    Invalid(String),
}

impl<'de> Deserialize<'de> for RawHostKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis;
        impl<'de> Visitor<'de> for Vis {
            type Value = RawHostKind;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a host map: `{ broker: {} }`, `{ client: {..} }`, `{ scripted: .. }` or `{ proxy: {..} }`",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawHostKind, E> {
                Ok(RawHostKind::Invalid(format!("`{v}`")))
            }
            other_shapes!(RawHostKind::Invalid);
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHostKind, A::Error> {
                let Some(key) = map.next_key::<S<String>>()? else {
                    return Ok(RawHostKind::Invalid("an empty map".to_string()));
                };
                let kind = match key.value.as_str() {
                    "broker" => RawHostKind::Broker(
                        map.next_value::<Option<RawBroker>>()?.unwrap_or_default(),
                    ),
                    "client" => RawHostKind::Client(Box::new(map.next_value::<RawClient>()?)),
                    "scripted" => RawHostKind::Scripted(map.next_value::<S<RawScripted>>()?),
                    "proxy" => RawHostKind::Proxy(Box::new(map.next_value::<RawProxy>()?)),
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                        RawHostKind::UnknownKind(key)
                    }
                };
                if let Some(extra) = drain_map(&mut map)? {
                    return Ok(RawHostKind::ExtraKey(extra));
                }
                Ok(kind)
            }
        }
        d.deserialize_any(Vis)
    }
}

/// Consumes the rest of a map; returns its first remaining key, if any.
fn drain_map<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<S<String>>, A::Error> {
    let first = map.next_key::<S<String>>()?;
    if first.is_some() {
        map.next_value::<IgnoredAny>()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(first)
}

#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a broker map, e.g. `{}` or `{ max_message: 1024, queue: 8 }`"
)]
struct RawBroker {
    #[serde(default)]
    max_message: Option<usize>,
    #[serde(default)]
    queue: Option<S<usize>>,
    #[serde(default)]
    idle_timeout: Option<S<String>>,
    #[serde(default)]
    tokens: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a client map, e.g. `{ connect: [broker] }`"
)]
struct RawClient {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    token: Option<String>,
    connect: S<Vec<S<String>>>,
    #[serde(default)]
    autoconnect: Option<bool>,
    #[serde(default)]
    register_timeout: Option<S<String>>,
    #[serde(default)]
    request_timeout: Option<S<String>>,
    #[serde(default)]
    heartbeat: Option<S<Switch<RawHeartbeat>>>,
    #[serde(default)]
    reconnect: Option<S<Switch<RawReconnect>>>,
    #[serde(default)]
    serve: Option<Vec<RawServe>>,
}

/// `off`, or a map of settings.
enum Switch<T> {
    Off,
    On(T),
    Invalid(String),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Switch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Vis<T> {
            type Value = Switch<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`off` or a map")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Switch<T>, E> {
                Ok(if v == "off" {
                    Switch::Off
                } else {
                    Switch::Invalid(format!("`{v}`"))
                })
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Switch<T>, E> {
                // YAML 1.1 reads a bare `off` as false.
                Ok(if v {
                    Switch::Invalid("`on`".to_string())
                } else {
                    Switch::Off
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Switch<T>, E> {
                Ok(Switch::Invalid(format!("the number `{v}`")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Switch<T>, E> {
                Ok(Switch::Invalid(format!("the number `{v}`")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Switch<T>, E> {
                Ok(Switch::Invalid(format!("the number `{v}`")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Switch<T>, E> {
                Ok(Switch::Invalid("nothing (null)".to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Switch<T>, A::Error> {
                describe_seq(seq).map(Switch::Invalid)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Switch<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Switch::On)
            }
        }
        d.deserialize_any(Vis(PhantomData))
    }
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "heartbeat settings, e.g. `{ interval: 5s, timeout: 15s }`"
)]
struct RawHeartbeat {
    #[serde(default)]
    interval: Option<S<String>>,
    #[serde(default)]
    timeout: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "reconnect settings, e.g. `{ base: 1s, cap: 30s }`"
)]
struct RawReconnect {
    #[serde(default)]
    base: Option<S<String>>,
    #[serde(default)]
    cap: Option<S<String>>,
    #[serde(default)]
    jitter: Option<S<f64>>,
    #[serde(default)]
    max_attempts: Option<S<u32>>,
    #[serde(default)]
    window: Option<S<String>>,
    #[serde(default)]
    min_gap: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a serve map, e.g. `{ channel: jobs, reply: echo }`"
)]
struct RawServe {
    channel: String,
    #[serde(default)]
    reply: Option<RawReply>,
    #[serde(default)]
    delay: Option<S<String>>,
    #[serde(default)]
    chunks: Option<u32>,
    #[serde(default)]
    concurrency: Option<S<u32>>,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "lowercase",
    expecting = "a reply: `echo`, `ignore`, `{ fixed: body }` or `{ error: code }`"
)]
enum RawReply {
    Echo,
    Ignore,
    Fixed(String),
    Error(String),
}

enum RawScripted {
    Server,
    Client(RawScriptedClient),
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a scripted client map, e.g. `{ client: broker }`"
)]
struct RawScriptedClient {
    client: S<String>,
    #[serde(default)]
    autoconnect: Option<bool>,
}

impl<'de> Deserialize<'de> for RawScripted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis;
        impl<'de> Visitor<'de> for Vis {
            type Value = RawScripted;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`server` or `{ client: host }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawScripted, E> {
                Ok(if v == "server" {
                    RawScripted::Server
                } else {
                    RawScripted::Invalid(format!("`{v}`"))
                })
            }
            other_shapes!(RawScripted::Invalid);
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawScripted, A::Error> {
                RawScriptedClient::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawScripted::Client)
            }
        }
        d.deserialize_any(Vis)
    }
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a proxy map, e.g. `{ target: broker, rules: [{ kind: start, action: drop }] }`"
)]
struct RawProxy {
    target: S<String>,
    #[serde(default)]
    rules: Option<Vec<S<RawProxyRule>>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a proxy rule, e.g. `{ dir: down, kind: start, req: r1, action: duplicate }`"
)]
struct RawProxyRule {
    #[serde(default)]
    dir: Option<RawDir>,
    #[serde(default)]
    kind: Option<S<String>>,
    #[serde(default)]
    req: Option<S<String>>,
    #[serde(default)]
    channel: Option<S<String>>,
    #[serde(default)]
    nth: Option<S<u32>>,
    #[serde(default)]
    probability: Option<S<f64>>,
    action: S<RawProxyAction>,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "lowercase",
    expecting = "a direction: `up` (client to target) or `down` (target to client)"
)]
enum RawDir {
    Up,
    Down,
}

/// `drop`, `duplicate`, `hold`, `close`, `{ delay: .. }`, `{ reorder: N }`, `{ corrupt: .. }`.
enum RawProxyAction {
    /// A bare word (checked by the checker).
    Name(String),
    Delay(S<RawLatency>),
    Reorder(S<u32>),
    Corrupt(S<String>),
    /// A map whose key is not `delay`, `reorder` or `corrupt`.
    UnknownKey(S<String>),
    /// A second key in the action's map.
    ExtraKey(S<String>),
    Invalid(String),
}

impl<'de> Deserialize<'de> for RawProxyAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis;
        impl<'de> Visitor<'de> for Vis {
            type Value = RawProxyAction;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a proxy action: `drop`, `duplicate`, `hold`, `close`, `{ delay: 50ms }`, `{ reorder: 3 }` or `{ corrupt: wrong_id }`",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawProxyAction, E> {
                Ok(RawProxyAction::Name(v.to_string()))
            }
            other_shapes!(RawProxyAction::Invalid);
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawProxyAction, A::Error> {
                let Some(key) = map.next_key::<S<String>>()? else {
                    return Ok(RawProxyAction::Invalid("an empty map".to_string()));
                };
                let action = match key.value.as_str() {
                    "delay" => RawProxyAction::Delay(map.next_value()?),
                    "reorder" => RawProxyAction::Reorder(map.next_value()?),
                    "corrupt" => RawProxyAction::Corrupt(map.next_value()?),
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                        RawProxyAction::UnknownKey(key)
                    }
                };
                if let Some(extra) = drain_map(&mut map)? {
                    return Ok(RawProxyAction::ExtraKey(extra));
                }
                Ok(action)
            }
        }
        d.deserialize_any(Vis)
    }
}

/// One script step: a one-key map `action: value` or `host.action: value`.
enum RawStep {
    Step(Box<StepEntry>),
    Invalid(String),
}

struct StepEntry {
    key: S<String>,
    body: Body,
    /// A second key in the step's map (an error).
    extra: Option<S<String>>,
}

enum Body {
    Wait(S<String>),
    Pair(S<Vec<S<String>>>),
    Target(S<String>),
    Connect(RawConnect),
    Request(Box<RawRequest>),
    Cancel(RawCancel),
    Empty,
    Serve(Box<RawServe>),
    Result(Box<RawResult>),
    Message(S<RawMessage>),
    Unknown,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a connect map, e.g. `{ id: c2 }`")]
struct RawConnect {
    #[serde(default)]
    id: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a request map, e.g. `{ id: r1, channel: jobs, body: ping }`"
)]
struct RawRequest {
    id: S<String>,
    channel: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    chunks: Option<Vec<String>>,
    #[serde(default)]
    timeout: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a cancel map, e.g. `{ id: r1 }`")]
struct RawCancel {
    id: S<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an empty map `{}`")]
struct RawEmpty {}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a result map, e.g. `{ id: r1, ok: pong }`"
)]
struct RawResult {
    id: S<String>,
    #[serde(default)]
    ok: Option<S<String>>,
    #[serde(default)]
    error: Option<S<String>>,
    #[serde(default)]
    fails: Option<S<String>>,
    #[serde(default)]
    within: Option<S<String>>,
}

/// `{ kind: {fields} }` or `{ raw: "text" }`, plus `within` for `expect` and `to` for `send`.
enum RawMessage {
    Map {
        kinds: Vec<(S<String>, MsgBody)>,
        within: Option<S<String>>,
        to: Option<S<String>>,
    },
    Invalid(String),
}

enum MsgBody {
    Raw(String),
    Fields(serde_json::Map<String, serde_json::Value>),
}

impl<'de> Deserialize<'de> for RawMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis;
        impl<'de> Visitor<'de> for Vis {
            type Value = RawMessage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message map, e.g. `{ start: { req: r1 } }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawMessage, E> {
                Ok(RawMessage::Invalid(format!("`{v}`")))
            }
            other_shapes!(RawMessage::Invalid);
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMessage, A::Error> {
                let mut kinds = Vec::new();
                let mut within = None;
                let mut to = None;
                while let Some(key) = map.next_key::<S<String>>()? {
                    match key.value.as_str() {
                        "within" => within = Some(map.next_value::<S<String>>()?),
                        "to" => to = Some(map.next_value::<S<String>>()?),
                        "raw" => {
                            let text = map.next_value::<String>()?;
                            kinds.push((key, MsgBody::Raw(text)));
                        }
                        _ => {
                            let fields = map
                                .next_value::<Option<serde_json::Map<String, serde_json::Value>>>()?
                                .unwrap_or_default();
                            kinds.push((key, MsgBody::Fields(fields)));
                        }
                    }
                }
                Ok(RawMessage::Map { kinds, within, to })
            }
        }
        d.deserialize_any(Vis)
    }
}

impl<'de> Deserialize<'de> for RawStep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis;
        impl<'de> Visitor<'de> for Vis {
            type Value = RawStep;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a step: a one-key map such as `wait: 2s` or `app.request: {..}`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawStep, E> {
                Ok(RawStep::Invalid(format!("`{v}`")))
            }
            other_shapes!(RawStep::Invalid);
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawStep, A::Error> {
                let Some(key) = map.next_key::<S<String>>()? else {
                    return Ok(RawStep::Invalid("an empty map".to_string()));
                };
                let (on_host, action) = match key.value.split_once('.') {
                    Some((_, action)) => (true, action),
                    None => (false, key.value.as_str()),
                };
                let body = match action {
                    "wait" => Body::Wait(map.next_value()?),
                    // `<proxy>.release: {}` (the global `release` takes a pair of hosts).
                    "release" if on_host => {
                        map.next_value::<Option<RawEmpty>>()?;
                        Body::Empty
                    }
                    "partition" | "repair" | "hold" | "release" => Body::Pair(map.next_value()?),
                    "crash" | "bounce" => Body::Target(map.next_value()?),
                    "connect" => {
                        Body::Connect(map.next_value::<Option<RawConnect>>()?.unwrap_or_default())
                    }
                    "request" => Body::Request(map.next_value()?),
                    "cancel" => Body::Cancel(map.next_value()?),
                    "disconnect" | "close" => {
                        map.next_value::<Option<RawEmpty>>()?;
                        Body::Empty
                    }
                    "serve" => Body::Serve(map.next_value()?),
                    "result" => Body::Result(map.next_value()?),
                    "send" | "expect" => Body::Message(map.next_value()?),
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                        Body::Unknown
                    }
                };
                let extra = drain_map(&mut map)?;
                Ok(RawStep::Step(Box::new(StepEntry { key, body, extra })))
            }
        }
        d.deserialize_any(Vis)
    }
}

// ---------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------

const GLOBAL_ACTIONS: &[&str] = &[
    "wait",
    "partition",
    "repair",
    "hold",
    "release",
    "crash",
    "bounce",
];
const CLIENT_ACTIONS: &[&str] = &[
    "connect",
    "request",
    "cancel",
    "disconnect",
    "serve",
    "result",
];
const SCRIPTED_SERVER_ACTIONS: &[&str] = &["send", "expect", "close"];
const SCRIPTED_CLIENT_ACTIONS: &[&str] = &["connect", "send", "expect", "close"];
const PROXY_ACTIONS: &[&str] = &["release"];

const FAIL_KINDS: &[&str] = &[
    "timeout",
    "disconnected",
    "send_failed",
    "unexpected_reply",
    "not_connected",
    "cancelled",
    "protocol",
];

const CLIENT_COUNTERS: &[&str] = &[
    "pending",
    "completed",
    "timed_out",
    "cancelled",
    "duplicates_dropped",
    "late_dropped",
    "unknown_dropped",
    "reconnects",
    "disconnects",
    "registrations",
    "served",
];
const BROKER_COUNTERS: &[&str] = &[
    "connections",
    "clients",
    "requests",
    "queued",
    "waiting",
    "assignments",
    "rejected",
    "wakeups",
];
const SCRIPTED_COUNTERS: &[&str] = &["received", "connections"];
const PROXY_ACTION_NAMES: &[&str] = &[
    "drop",
    "duplicate",
    "delay",
    "hold",
    "reorder",
    "corrupt",
    "close",
];
const CORRUPTIONS: &[&str] = &["invalid_json", "wrong_id", "truncate"];
/// Message kinds that carry a `req` / a `channel` (a rule filtering on them needs one).
const KINDS_WITH_REQ: &[&str] = &["error", "start", "chunk", "end", "cancel"];
const KINDS_WITH_CHANNEL: &[&str] = &["start", "receive"];

const DURATION_HINT: &str = "write a number followed by ms, s or m, e.g. 250ms or 5s";
const DEFAULT_WITHIN: Duration = Duration::from_secs(30);

/// Parses `250ms`, `5s`, `2m`, `1.5s`, `0s`.
fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit_nanos): (&str, u128) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1_000_000)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000_000_000)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000_000_000)
    } else {
        return None;
    };
    let (int, frac) = match number.split_once('.') {
        Some((int, frac)) if !frac.is_empty() => (int, frac),
        Some(_) => return None,
        None => (number, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) || int.len() + frac.len() > 30 {
        return None;
    }
    let mut digits: u128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        digits = digits.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
    }
    let scale = 10u128.checked_pow(u32::try_from(frac.len()).ok()?)?;
    let nanos = digits.checked_mul(unit_nanos)? / scale;
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    let sub = u32::try_from(nanos % 1_000_000_000).ok()?;
    Some(Duration::new(secs, sub))
}

/// Host kinds as far as references are concerned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Broker,
    Client,
    ScriptedServer,
    ScriptedClient,
    Proxy,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Broker => "broker",
            Kind::Client => "client",
            Kind::ScriptedServer => "scripted server",
            Kind::ScriptedClient => "scripted client",
            Kind::Proxy => "proxy",
        }
    }
    fn actions(self) -> &'static [&'static str] {
        match self {
            Kind::Broker => &[],
            Kind::Client => CLIENT_ACTIONS,
            Kind::ScriptedServer => SCRIPTED_SERVER_ACTIONS,
            Kind::ScriptedClient => SCRIPTED_CLIENT_ACTIONS,
            Kind::Proxy => PROXY_ACTIONS,
        }
    }
    fn counters(self) -> &'static [&'static str] {
        match self {
            Kind::Broker => BROKER_COUNTERS,
            Kind::Client => CLIENT_COUNTERS,
            Kind::ScriptedServer | Kind::ScriptedClient => SCRIPTED_COUNTERS,
            Kind::Proxy => crate::hosts::proxy::EXPECT_COUNTERS,
        }
    }
    /// Accepts connections (a client or scripted client may connect to it).
    fn listens(self) -> bool {
        matches!(self, Kind::Broker | Kind::ScriptedServer | Kind::Proxy)
    }
    /// May sit behind a proxy.
    fn proxyable(self) -> bool {
        matches!(self, Kind::Broker | Kind::ScriptedServer)
    }
}

// ---------------------------------------------------------------------------------------
// Checker: raw structures to the model
// ---------------------------------------------------------------------------------------

struct Checker<'a> {
    src: &'a str,
    file: &'a Path,
    /// Declared hosts (name, kind), in order, once known.
    hosts: Vec<(String, Kind)>,
}

type R<T> = Result<T, LoadError>;

/// Per-scenario state of the script check.
#[derive(Default)]
struct Calls {
    /// Call ids defined so far, per host.
    defined: HashMap<String, HashSet<String>>,
    /// Request ids used so far (whole scenario), with where.
    requests: HashMap<String, Loc>,
}

impl Checker<'_> {
    fn loc(&self, at: &Location) -> Loc {
        Loc {
            file: self.file.to_path_buf(),
            line: at.line(),
            column: at.column(),
        }
    }

    fn err(
        &self,
        at: &Location,
        message: impl AsRef<str>,
        hint: impl Into<Option<String>>,
    ) -> LoadError {
        LoadError {
            loc: Some(self.loc(at)),
            message: clean(message.as_ref()),
            hint: hint.into().map(|h| clean(&h)),
            snippet: snippet(self.src, at.line(), at.column()),
        }
    }

    fn yaml_error(&self, e: &serde_saphyr::Error) -> LoadError {
        let mut message = serde_saphyr::DefaultMessageFormatter
            .format_message(e.without_snippet())
            .into_owned();
        if let Some(i) = message.find(", set DuplicateKeyPolicy") {
            message.truncate(i);
        }
        // A map that takes no keys (`{}`): serde lists no alternatives.
        if let Some(m) = message.strip_suffix(", expected one of ") {
            message = m.to_string();
        }
        let hint = yaml_hint(&message);
        if message.starts_with("multiple YAML documents") {
            message = "more than one YAML document in the file".to_string();
        }
        match e.location().filter(|l| l.line() > 0) {
            Some(at) => self.err(&at, message, hint),
            None => LoadError {
                loc: Some(Loc {
                    file: self.file.to_path_buf(),
                    line: 0,
                    column: 0,
                }),
                message: clean(&message),
                hint: hint.map(|h| clean(&h)),
                snippet: None,
            },
        }
    }

    fn duration(&self, text: &S<String>) -> R<Duration> {
        parse_duration(&text.value).ok_or_else(|| {
            self.err(
                &text.referenced,
                format!("bad duration `{}`", text.value),
                DURATION_HINT.to_string(),
            )
        })
    }

    fn duration_or(&self, text: &Option<S<String>>, default: Duration) -> R<Duration> {
        match text {
            Some(text) => self.duration(text),
            None => Ok(default),
        }
    }

    fn kind_of(&self, name: &str) -> Option<Kind> {
        self.hosts.iter().find(|(n, _)| n == name).map(|(_, k)| *k)
    }

    fn host_list(&self) -> String {
        self.hosts
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn unknown_host(&self, name: &S<String>) -> LoadError {
        let mut hint = String::new();
        if let Some(close) = closest(&name.value, self.hosts.iter().map(|(n, _)| n.as_str())) {
            hint.push_str(&format!("did you mean `{close}`? "));
        }
        hint.push_str(&format!("declared hosts: {}", self.host_list()));
        self.err(
            &name.referenced,
            format!("unknown host `{}`", name.value),
            hint,
        )
    }

    /// Resolves a host name to its kind, or fails with an "unknown host" error.
    fn host(&self, name: &S<String>) -> R<Kind> {
        self.kind_of(&name.value)
            .ok_or_else(|| self.unknown_host(name))
    }

    fn scenario(mut self, raw: S<RawScenario>) -> R<Scenario> {
        let start = raw.referenced;
        let raw = raw.value;
        let missing = |key: &str, example: &str| {
            self.err(
                &start,
                format!("missing `{key}`"),
                format!("every scenario has `name`, `about`, `rules` and `hosts`; add e.g. `{key}: {example}`"),
            )
        };
        let Some(raw_name) = &raw.name else {
            return Err(missing("name", "mux/duplicate-response"));
        };
        let Some(raw_about) = &raw.about else {
            return Err(missing(
                "about",
                "One paragraph saying what the scenario shows.",
            ));
        };
        let Some(raw_rules) = &raw.rules else {
            return Err(missing("rules", "[MUX-3]"));
        };
        let Some(raw_hosts) = &raw.hosts else {
            return Err(missing("hosts", "{ broker: { broker: {} } }"));
        };
        let name = raw_name.value.trim().to_string();
        if name.is_empty() {
            return Err(self.err(
                &raw_name.referenced,
                "`name` is empty",
                "write the path of the file below `scenarios/` without `.yaml`, e.g. `mux/duplicate-response`"
                    .to_string(),
            ));
        }
        let about = raw_about.value.trim().to_string();
        if about.is_empty() {
            return Err(self.err(
                &raw_about.referenced,
                "`about` is empty",
                "write one paragraph saying what the scenario shows".to_string(),
            ));
        }
        let rules = self.rules(raw_rules)?;
        let duration = self.duration_or(&raw.duration, Duration::from_secs(120))?;
        if duration.is_zero() {
            let at = raw
                .duration
                .as_ref()
                .map_or(Location::UNKNOWN, |d| d.referenced);
            return Err(self.err(
                &at,
                "`duration` must be longer than 0s",
                "it is the hard limit of simulated time, e.g. `duration: 120s`".to_string(),
            ));
        }
        let network = match &raw.network {
            Some(net) => self.network(net)?,
            None => Network::default(),
        };
        let hosts = self.hosts(raw_hosts)?;
        let mut calls = Calls::default();
        for host in &hosts {
            if let HostKind::Client(c) = &host.kind {
                if c.autoconnect {
                    calls
                        .defined
                        .entry(host.name.clone())
                        .or_default()
                        .insert("connect".to_string());
                }
            }
        }
        let mut script = Vec::new();
        for step in raw.script.iter().flatten() {
            script.push(self.step(step, &mut calls)?);
        }
        let mut expect = Vec::new();
        for (host, counters) in raw.expect.iter().flat_map(|e| e.0.iter()) {
            expect.push(self.expectation(host, counters)?);
        }
        let expect_violations = match &raw.expect_violations {
            Some(v) => self.expect_violations(v)?,
            None => Vec::new(),
        };
        Ok(Scenario {
            name,
            name_loc: self.loc(&raw_name.referenced),
            about,
            rules,
            seed: raw.seed.unwrap_or(0),
            network,
            duration,
            hosts,
            script,
            expect,
            expect_violations,
            file: self.file.to_path_buf(),
        })
    }

    fn rules(&self, rules: &S<Vec<S<String>>>) -> R<Vec<String>> {
        if rules.value.is_empty() {
            return Err(self.err(
                &rules.referenced,
                "`rules` is empty",
                "list the rule ids the scenario exercises, e.g. `rules: [MUX-3, MUX-4]`"
                    .to_string(),
            ));
        }
        self.rule_ids(rules, "")
    }

    /// `expect_violations: [RULE-ID, ...]`: known rule ids, each once (may be empty).
    fn expect_violations(&self, ids: &S<Vec<S<String>>>) -> R<Vec<String>> {
        self.rule_ids(ids, " in `expect_violations`")
    }

    /// Checks a list of rule ids: each known, none twice. `within` names the list in the
    /// duplicate message.
    fn rule_ids(&self, ids: &S<Vec<S<String>>>, within: &str) -> R<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for id in &ids.value {
            if wirecheck_core::rules::rule(&id.value).is_none() {
                let upper = id.value.to_ascii_uppercase();
                let mut close: Vec<(usize, &str)> = wirecheck_core::rules::RULES
                    .iter()
                    .map(|r| (distance(&upper, r.id), r.id))
                    .filter(|(d, _)| *d <= 2)
                    .collect();
                close.sort_by_key(|(d, _)| *d);
                let hint = if close.is_empty() {
                    let all: Vec<&str> =
                        wirecheck_core::rules::RULES.iter().map(|r| r.id).collect();
                    format!("known rule ids: {}", all.join(", "))
                } else {
                    let names: Vec<&str> = close.iter().take(8).map(|(_, id)| *id).collect();
                    format!("close matches: {}", names.join(", "))
                };
                return Err(self.err(
                    &id.referenced,
                    format!("unknown rule id `{}`{within}", id.value),
                    hint,
                ));
            }
            if out.contains(&id.value) {
                return Err(self.err(
                    &id.referenced,
                    format!("rule `{}` is listed twice{within}", id.value),
                    "list each rule once".to_string(),
                ));
            }
            out.push(id.value.clone());
        }
        Ok(out)
    }

    fn network(&self, net: &RawNetwork) -> R<Network> {
        let Some(latency) = &net.latency else {
            return Ok(Network::default());
        };
        let (min, max) = match &latency.value {
            RawLatency::Fixed(text) => {
                let d =
                    self.duration(&S::new(text.clone(), latency.referenced, latency.defined))?;
                (d, d)
            }
            RawLatency::Range(range) => {
                let min = self.duration(&range.min)?;
                let max = self.duration(&range.max)?;
                if min > max {
                    return Err(self.err(
                        &range.min.referenced,
                        format!(
                            "latency min `{}` is larger than max `{}`",
                            range.min.value, range.max.value
                        ),
                        "min must be <= max; swap them or write a single fixed latency".to_string(),
                    ));
                }
                (min, max)
            }
            RawLatency::Invalid(what) => {
                return Err(self.err(
                    &latency.referenced,
                    format!("bad latency: found {what}"),
                    "write `latency: 5ms` or `latency: { min: 1ms, max: 20ms }`".to_string(),
                ))
            }
        };
        Ok(Network {
            min_latency: min,
            max_latency: max,
        })
    }

    fn hosts(&mut self, raw: &S<OrderedMap<S<RawHostKind>>>) -> R<Vec<Host>> {
        if raw.value.0.is_empty() {
            return Err(self.err(
                &raw.referenced,
                "`hosts` is empty",
                "declare at least one host, e.g. `hosts: { broker: { broker: {} } }`".to_string(),
            ));
        }
        // Pass 1: names and shapes, so that references can be checked in any order.
        let mut shapes = Vec::new();
        for (name, kind) in &raw.value.0 {
            if !valid_host_name(&name.value) {
                return Err(self.err(
                    &name.referenced,
                    format!("bad host name `{}`", name.value),
                    "host names start with a lowercase letter, then lowercase letters, digits, `_` or `-`"
                        .to_string(),
                ));
            }
            let shape = match &kind.value {
                RawHostKind::Broker(b) => Shape::Broker(b),
                RawHostKind::Client(c) => Shape::Client(c),
                RawHostKind::Scripted(s) => match &s.value {
                    RawScripted::Server => Shape::ScriptedServer,
                    RawScripted::Client(c) => Shape::ScriptedClient(c),
                    RawScripted::Invalid(what) => {
                        return Err(self.err(
                            &s.referenced,
                            format!("bad scripted host: found {what}"),
                            "write `scripted: server` or `scripted: { client: <host> }`"
                                .to_string(),
                        ))
                    }
                },
                RawHostKind::Proxy(p) => Shape::Proxy(p),
                RawHostKind::UnknownKind(key) => {
                    let hint = match closest(&key.value, ["broker", "client", "scripted", "proxy"])
                    {
                        Some(c) => format!(
                            "did you mean `{c}`? a host is `broker`, `client`, `scripted` or `proxy`"
                        ),
                        None => HOST_SHAPES.to_string(),
                    };
                    return Err(self.err(
                        &key.referenced,
                        format!("unknown host kind `{}`", key.value),
                        hint,
                    ));
                }
                RawHostKind::ExtraKey(key) => {
                    return Err(self.err(
                        &key.referenced,
                        format!(
                            "host `{}` has a second kind key `{}`",
                            name.value, key.value
                        ),
                        "a host map has exactly one key: broker, client, scripted or proxy"
                            .to_string(),
                    ))
                }
                RawHostKind::Invalid(what) => {
                    return Err(self.err(
                        &kind.referenced,
                        format!("bad host `{}`: found {what}", name.value),
                        HOST_SHAPES.to_string(),
                    ))
                }
            };
            let k = match shape {
                Shape::Broker(_) => Kind::Broker,
                Shape::Client(_) => Kind::Client,
                Shape::ScriptedServer => Kind::ScriptedServer,
                Shape::ScriptedClient(_) => Kind::ScriptedClient,
                Shape::Proxy(_) => Kind::Proxy,
            };
            self.hosts.push((name.value.clone(), k));
            shapes.push((name, shape));
        }
        // Pass 2: the hosts themselves.
        let mut out = Vec::new();
        for (name, shape) in shapes {
            let kind = match shape {
                Shape::Broker(b) => HostKind::Broker(self.broker(b)?),
                Shape::Client(c) => HostKind::Client(self.client(&name.value, c)?),
                Shape::ScriptedServer => HostKind::Scripted(ScriptedSpec::Server),
                Shape::ScriptedClient(c) => {
                    self.listening_target(&c.client, "a scripted client")?;
                    HostKind::Scripted(ScriptedSpec::Client {
                        target: c.client.value.clone(),
                        autoconnect: c.autoconnect.unwrap_or(true),
                    })
                }
                Shape::Proxy(p) => HostKind::Proxy(self.proxy(&name.value, p)?),
            };
            out.push(Host {
                name: name.value.clone(),
                kind,
                loc: self.loc(&name.referenced),
            });
        }
        Ok(out)
    }

    /// Checks that `target` names a host that accepts connections.
    fn listening_target(&self, target: &S<String>, who: &str) -> R<()> {
        let kind = self.host(target)?;
        if !kind.listens() {
            let listeners: Vec<&str> = self
                .hosts
                .iter()
                .filter(|(_, k)| k.listens())
                .map(|(n, _)| n.as_str())
                .collect();
            let hint = if listeners.is_empty() {
                "declare a `broker`, a `scripted: server` or a `proxy` host to connect to"
                    .to_string()
            } else {
                format!("hosts that accept connections: {}", listeners.join(", "))
            };
            return Err(self.err(
                &target.referenced,
                format!(
                    "{who} cannot connect to `{}`: it is a {}, not a broker, scripted server or proxy",
                    target.value,
                    kind.label()
                ),
                hint,
            ));
        }
        Ok(())
    }

    fn proxy(&self, host: &str, p: &RawProxy) -> R<ProxySpec> {
        let kind = self.host(&p.target)?;
        if !kind.proxyable() {
            let targets: Vec<&str> = self
                .hosts
                .iter()
                .filter(|(_, k)| k.proxyable())
                .map(|(n, _)| n.as_str())
                .collect();
            let hint = if targets.is_empty() {
                "declare a `broker` or a `scripted: server` host for the proxy to forward to"
                    .to_string()
            } else {
                format!(
                    "a proxy forwards to a broker or a scripted server: {}",
                    targets.join(", ")
                )
            };
            return Err(self.err(
                &p.target.referenced,
                format!(
                    "proxy `{host}` cannot forward to `{}`: it is a {}, not a broker or scripted server",
                    p.target.value,
                    kind.label()
                ),
                hint,
            ));
        }
        let mut rules = Vec::new();
        for r in p.rules.iter().flatten() {
            rules.push(self.proxy_rule(r)?);
        }
        Ok(ProxySpec {
            target: p.target.value.clone(),
            rules,
        })
    }

    fn proxy_rule(&self, r: &S<RawProxyRule>) -> R<ProxyRule> {
        let rule = &r.value;
        if let Some(kind) = &rule.kind {
            let kinds = wirecheck_core::wire::KINDS;
            if !kinds.contains(&kind.value.as_str()) {
                let mut hint = String::new();
                if let Some(c) = closest(&kind.value, kinds.iter().copied()) {
                    hint.push_str(&format!("did you mean `{c}`? "));
                }
                hint.push_str(&format!(
                    "message kinds: {}; leave `kind` out to match any message",
                    kinds.join(", ")
                ));
                return Err(self.err(
                    &kind.referenced,
                    format!("unknown message kind `{}`", kind.value),
                    hint,
                ));
            }
            let carries = |field: &str, list: &[&str], value: &Option<S<String>>| -> R<()> {
                match value {
                    Some(v) if !list.contains(&kind.value.as_str()) => Err(self.err(
                        &v.referenced,
                        format!(
                            "a `{}` message has no `{field}`, so this rule never matches",
                            kind.value
                        ),
                        format!(
                            "`{field}` is carried by {}; remove `{field}` or change `kind`",
                            list.join(", ")
                        ),
                    )),
                    _ => Ok(()),
                }
            };
            carries("req", KINDS_WITH_REQ, &rule.req)?;
            carries("channel", KINDS_WITH_CHANNEL, &rule.channel)?;
        }
        let nth = match &rule.nth {
            Some(n) if n.value == 0 => {
                return Err(self.err(
                    &n.referenced,
                    "`nth` must be at least 1",
                    "`nth: 1` acts on the first matching message, `nth: 2` on the second, ..."
                        .to_string(),
                ))
            }
            Some(n) => Some(n.value),
            None => None,
        };
        let probability = match &rule.probability {
            Some(p) if !(0.0..=1.0).contains(&p.value) => {
                return Err(self.err(
                    &p.referenced,
                    format!("probability {} is out of range", p.value),
                    "a probability is between 0.0 and 1.0, e.g. `probability: 0.5`; leave it out to always act"
                        .to_string(),
                ))
            }
            Some(p) => Some(p.value),
            None => None,
        };
        Ok(ProxyRule {
            dir: rule.dir.as_ref().map(|d| match d {
                RawDir::Up => ProxyDir::Up,
                RawDir::Down => ProxyDir::Down,
            }),
            kind: rule.kind.as_ref().map(|k| k.value.clone()),
            req: rule.req.as_ref().map(|v| v.value.clone()),
            channel: rule.channel.as_ref().map(|v| v.value.clone()),
            nth,
            probability,
            action: self.proxy_action(&rule.action)?,
        })
    }

    fn proxy_action(&self, a: &S<RawProxyAction>) -> R<ProxyAction> {
        const ACTION_HINT: &str = "actions: `drop`, `duplicate`, `hold`, `close`, `{ delay: 50ms }` (or `{ delay: { min: 10ms, max: 80ms } }`), `{ reorder: 3 }`, `{ corrupt: invalid_json | wrong_id | truncate }`";
        let unknown = |name: &S<String>| {
            let mut hint = String::new();
            if let Some(c) = closest(&name.value, PROXY_ACTION_NAMES.iter().copied()) {
                hint.push_str(&format!("did you mean `{c}`? "));
            }
            hint.push_str(ACTION_HINT);
            self.err(
                &name.referenced,
                format!("unknown proxy action `{}`", name.value),
                hint,
            )
        };
        Ok(match &a.value {
            RawProxyAction::Name(n) => match n.as_str() {
                "drop" => ProxyAction::Drop,
                "duplicate" => ProxyAction::Duplicate,
                "hold" => ProxyAction::Hold,
                "close" => ProxyAction::Close,
                "delay" | "reorder" | "corrupt" => {
                    let example = match n.as_str() {
                        "delay" => "{ delay: 50ms }",
                        "reorder" => "{ reorder: 3 }",
                        _ => "{ corrupt: wrong_id }",
                    };
                    return Err(self.err(
                        &a.referenced,
                        format!("proxy action `{n}` needs a value"),
                        format!("write `action: {example}`"),
                    ));
                }
                _ => return Err(unknown(&S::new(n.clone(), a.referenced, a.defined))),
            },
            RawProxyAction::Delay(d) => {
                let (min, max) = match &d.value {
                    RawLatency::Fixed(text) => {
                        let v = self.duration(&S::new(text.clone(), d.referenced, d.defined))?;
                        (v, v)
                    }
                    RawLatency::Range(range) => {
                        let min = self.duration(&range.min)?;
                        let max = self.duration(&range.max)?;
                        if min > max {
                            return Err(self.err(
                                &range.min.referenced,
                                format!(
                                    "delay min `{}` is larger than max `{}`",
                                    range.min.value, range.max.value
                                ),
                                "min must be <= max; swap them or write a single fixed delay"
                                    .to_string(),
                            ));
                        }
                        (min, max)
                    }
                    RawLatency::Invalid(what) => {
                        return Err(self.err(
                            &d.referenced,
                            format!("bad delay: found {what}"),
                            "write `{ delay: 50ms }` or `{ delay: { min: 10ms, max: 80ms } }`"
                                .to_string(),
                        ))
                    }
                };
                ProxyAction::Delay { min, max }
            }
            RawProxyAction::Reorder(w) => {
                if w.value < 2 {
                    return Err(self.err(
                        &w.referenced,
                        format!("reorder window {} is too small", w.value),
                        "the proxy collects `window` matching messages and forwards them reversed: it must be at least 2"
                            .to_string(),
                    ));
                }
                ProxyAction::Reorder { window: w.value }
            }
            RawProxyAction::Corrupt(c) => ProxyAction::Corrupt(match c.value.as_str() {
                "invalid_json" => Corruption::InvalidJson,
                "wrong_id" => Corruption::WrongId,
                "truncate" => Corruption::Truncate,
                other => {
                    let mut hint = String::new();
                    if let Some(close) = closest(other, CORRUPTIONS.iter().copied()) {
                        hint.push_str(&format!("did you mean `{close}`? "));
                    }
                    hint.push_str(&format!("corruptions: {}", CORRUPTIONS.join(", ")));
                    return Err(self.err(
                        &c.referenced,
                        format!("unknown corruption `{other}`"),
                        hint,
                    ));
                }
            }),
            RawProxyAction::UnknownKey(key) => return Err(unknown(key)),
            RawProxyAction::ExtraKey(key) => {
                return Err(self.err(
                    &key.referenced,
                    format!(
                        "a proxy action has one key; found a second key `{}`",
                        key.value
                    ),
                    "a rule has exactly one action; write a second rule for another action"
                        .to_string(),
                ))
            }
            RawProxyAction::Invalid(what) => {
                return Err(self.err(
                    &a.referenced,
                    format!("bad proxy action: found {what}"),
                    ACTION_HINT.to_string(),
                ))
            }
        })
    }

    fn broker(&self, b: &RawBroker) -> R<BrokerSpec> {
        let d = BrokerSpec::default();
        let queue = match &b.queue {
            Some(q) if q.value == 0 => {
                return Err(self.err(
                    &q.referenced,
                    "`queue` must be at least 1",
                    "it is the capacity of each connection's outbound queue, in messages"
                        .to_string(),
                ))
            }
            Some(q) => q.value,
            None => d.queue,
        };
        Ok(BrokerSpec {
            max_message: b.max_message.unwrap_or(d.max_message),
            queue,
            idle_timeout: self.duration_or(&b.idle_timeout, d.idle_timeout)?,
            tokens: b.tokens.clone().unwrap_or_default(),
        })
    }

    fn client(&self, host: &str, c: &RawClient) -> R<ClientSpec> {
        if c.connect.value.is_empty() {
            return Err(self.err(
                &c.connect.referenced,
                "`connect` is empty",
                format!(
                    "list the brokers to connect to in failover order, e.g. `connect: [{}]`",
                    self.hosts
                        .iter()
                        .find(|(_, k)| k.listens())
                        .map(|(n, _)| n.as_str())
                        .unwrap_or("broker")
                ),
            ));
        }
        for target in &c.connect.value {
            self.listening_target(target, "a client")?;
        }
        let heartbeat = match &c.heartbeat {
            None => Some(HeartbeatSpec::default()),
            Some(s) => match &s.value {
                Switch::Off => None,
                Switch::On(h) => Some(self.heartbeat(h, &s.referenced)?),
                Switch::Invalid(what) => {
                    return Err(self.err(
                        &s.referenced,
                        format!("bad heartbeat: found {what}"),
                        "write `heartbeat: off` or `heartbeat: { interval: 5s, timeout: 15s }`"
                            .to_string(),
                    ))
                }
            },
        };
        let reconnect = match &c.reconnect {
            None => Some(ReconnectSpec::default()),
            Some(s) => match &s.value {
                Switch::Off => None,
                Switch::On(r) => Some(self.reconnect(r)?),
                Switch::Invalid(what) => return Err(self.err(
                    &s.referenced,
                    format!("bad reconnect: found {what}"),
                    "write `reconnect: off` or a map such as `reconnect: { base: 1s, cap: 30s }`"
                        .to_string(),
                )),
            },
        };
        let mut serve = Vec::new();
        for s in c.serve.iter().flatten() {
            serve.push(self.serve(s)?);
        }
        Ok(ClientSpec {
            id: c.id.clone().unwrap_or_else(|| host.to_string()),
            token: c.token.clone(),
            connect: c.connect.value.iter().map(|t| t.value.clone()).collect(),
            autoconnect: c.autoconnect.unwrap_or(true),
            register_timeout: self.duration_or(&c.register_timeout, Duration::from_secs(10))?,
            request_timeout: self.duration_or(&c.request_timeout, Duration::from_secs(30))?,
            heartbeat,
            reconnect,
            serve,
        })
    }

    fn heartbeat(&self, h: &RawHeartbeat, at: &Location) -> R<HeartbeatSpec> {
        let d = HeartbeatSpec::default();
        let interval = self.duration_or(&h.interval, d.interval)?;
        let timeout = self.duration_or(&h.timeout, d.timeout)?;
        if interval.is_zero() {
            let at = h.interval.as_ref().map_or(at, |i| &i.referenced);
            return Err(self.err(
                at,
                "heartbeat interval must be longer than 0s",
                "write e.g. `interval: 5s`, or `heartbeat: off` to disable heartbeats".to_string(),
            ));
        }
        if timeout <= interval {
            let at = h
                .timeout
                .as_ref()
                .or(h.interval.as_ref())
                .map_or(at, |t| &t.referenced);
            return Err(self.err(
                at,
                format!(
                    "heartbeat timeout ({timeout:?}) must be longer than the interval ({interval:?})"
                ),
                "a connection is dead after `timeout` without frames; make it a few intervals, e.g. interval 5s, timeout 15s"
                    .to_string(),
            ));
        }
        Ok(HeartbeatSpec { interval, timeout })
    }

    fn reconnect(&self, r: &RawReconnect) -> R<ReconnectSpec> {
        let d = ReconnectSpec::default();
        let base = self.duration_or(&r.base, d.base)?;
        let cap = self.duration_or(&r.cap, d.cap)?;
        if base > cap {
            let at = r
                .base
                .as_ref()
                .or(r.cap.as_ref())
                .map_or(Location::UNKNOWN, |x| x.referenced);
            return Err(self.err(
                &at,
                format!("reconnect base ({base:?}) is larger than cap ({cap:?})"),
                "the backoff starts at `base` and doubles up to `cap`: base must be <= cap"
                    .to_string(),
            ));
        }
        let jitter = match &r.jitter {
            Some(j) if !(0.0..=1.0).contains(&j.value) => {
                return Err(self.err(
                    &j.referenced,
                    format!("jitter {} is out of range", j.value),
                    "jitter is a fraction of the delay, between 0.0 and 1.0".to_string(),
                ))
            }
            Some(j) => j.value,
            None => d.jitter,
        };
        let max_attempts = match &r.max_attempts {
            Some(m) if m.value == 0 => {
                return Err(self.err(
                    &m.referenced,
                    "`max_attempts` must be at least 1",
                    "write `reconnect: off` to disable reconnection".to_string(),
                ))
            }
            Some(m) => m.value,
            None => d.max_attempts,
        };
        Ok(ReconnectSpec {
            base,
            cap,
            jitter,
            max_attempts,
            window: self.duration_or(&r.window, d.window)?,
            min_gap: self.duration_or(&r.min_gap, d.min_gap)?,
        })
    }

    fn serve(&self, s: &RawServe) -> R<ServeSpec> {
        let concurrency = match &s.concurrency {
            Some(c) if c.value == 0 => {
                return Err(self.err(
                    &c.referenced,
                    "`concurrency` must be at least 1",
                    "it is the number of requests served at the same time".to_string(),
                ))
            }
            Some(c) => c.value,
            None => 1,
        };
        Ok(ServeSpec {
            channel: s.channel.clone(),
            reply: match &s.reply {
                None | Some(RawReply::Echo) => Reply::Echo,
                Some(RawReply::Ignore) => Reply::Ignore,
                Some(RawReply::Fixed(body)) => Reply::Fixed(body.clone()),
                Some(RawReply::Error(code)) => Reply::Error(code.clone()),
            },
            delay: self.duration_or(&s.delay, Duration::ZERO)?,
            chunks: s.chunks.unwrap_or(0),
            concurrency,
        })
    }

    fn step(&self, step: &S<RawStep>, calls: &mut Calls) -> R<Step> {
        let (key, body, extra) = match &step.value {
            RawStep::Step(entry) => (&entry.key, &entry.body, &entry.extra),
            RawStep::Invalid(what) => {
                return Err(self.err(
                    &step.referenced,
                    format!("bad step: found {what}"),
                    "a step is a one-key map, e.g. `- wait: 2s` or `- app.request: { id: r1, channel: jobs }`"
                        .to_string(),
                ))
            }
        };
        if let Some(extra) = extra {
            return Err(self.err(
                &extra.referenced,
                format!("a step has one key; found a second key `{}`", extra.value),
                "write each action as its own list item starting with `- `".to_string(),
            ));
        }
        let at = &key.referenced;
        let action = match key.value.split_once('.') {
            None => self.global_step(key, body)?,
            Some((host, action)) => {
                let host = S::new(host.to_string(), key.referenced, key.defined);
                let kind = self.host(&host)?;
                let action = S::new(action.to_string(), key.referenced, key.defined);
                self.host_step(&host, kind, &action, body, calls)?
            }
        };
        Ok(Step {
            loc: self.loc(at),
            action,
        })
    }

    fn global_step(&self, key: &S<String>, body: &Body) -> R<Action> {
        let pair = |names: &S<Vec<S<String>>>| -> R<(String, String)> {
            if names.value.len() != 2 {
                return Err(self.err(
                    &names.referenced,
                    format!(
                        "`{}` takes exactly two host names, found {}",
                        key.value,
                        names.value.len()
                    ),
                    format!(
                        "write e.g. `{}: [a, b]`; declared hosts: {}",
                        key.value,
                        self.host_list()
                    ),
                ));
            }
            let (a, b) = (&names.value[0], &names.value[1]);
            self.host(a)?;
            self.host(b)?;
            if a.value == b.value {
                return Err(self.err(
                    &b.referenced,
                    format!(
                        "`{}` needs two different hosts, found `{}` twice",
                        key.value, b.value
                    ),
                    format!("declared hosts: {}", self.host_list()),
                ));
            }
            Ok((a.value.clone(), b.value.clone()))
        };
        Ok(match (key.value.as_str(), body) {
            ("wait", Body::Wait(d)) => Action::Wait(self.duration(d)?),
            ("partition", Body::Pair(p)) => {
                let (a, b) = pair(p)?;
                Action::Partition { a, b }
            }
            ("repair", Body::Pair(p)) => {
                let (a, b) = pair(p)?;
                Action::Repair { a, b }
            }
            ("hold", Body::Pair(p)) => {
                let (a, b) = pair(p)?;
                Action::Hold { a, b }
            }
            ("release", Body::Pair(p)) => {
                let (a, b) = pair(p)?;
                Action::Release { a, b }
            }
            ("crash", Body::Target(h)) => {
                self.host(h)?;
                Action::Crash {
                    host: h.value.clone(),
                }
            }
            ("bounce", Body::Target(h)) => {
                self.host(h)?;
                Action::Bounce {
                    host: h.value.clone(),
                }
            }
            (name, _)
                if CLIENT_ACTIONS.contains(&name) || SCRIPTED_CLIENT_ACTIONS.contains(&name) =>
            {
                let owners: Vec<&str> = self
                    .hosts
                    .iter()
                    .filter(|(_, k)| k.actions().contains(&name))
                    .map(|(n, _)| n.as_str())
                    .collect();
                let example = owners.first().copied().unwrap_or("host");
                return Err(self.err(
                    &key.referenced,
                    format!("`{name}` is a host action and needs a host"),
                    format!(
                        "write `{example}.{name}:`; hosts that take `{name}`: {}",
                        if owners.is_empty() {
                            "none".to_string()
                        } else {
                            owners.join(", ")
                        }
                    ),
                ));
            }
            (name, _) => {
                let mut hint = String::new();
                if let Some(c) = closest(name, GLOBAL_ACTIONS.iter().copied()) {
                    hint.push_str(&format!("did you mean `{c}`? "));
                }
                hint.push_str(&format!(
                    "steps are {}, or `<host>.<action>`",
                    GLOBAL_ACTIONS.join(", ")
                ));
                return Err(self.err(&key.referenced, format!("unknown step `{name}`"), hint));
            }
        })
    }

    fn host_step(
        &self,
        host: &S<String>,
        kind: Kind,
        action: &S<String>,
        body: &Body,
        calls: &mut Calls,
    ) -> R<Action> {
        let at = &action.referenced;
        let name = action.value.as_str();
        let h = host.value.clone();
        if name == "release" && kind != Kind::Proxy {
            let proxies: Vec<&str> = self
                .hosts
                .iter()
                .filter(|(_, k)| *k == Kind::Proxy)
                .map(|(n, _)| n.as_str())
                .collect();
            return Err(self.err(
                at,
                format!(
                    "`{h}.release` needs a proxy host, but `{h}` is a {}",
                    kind.label()
                ),
                format!(
                    "`<proxy>.release: {{}}` forwards what a proxy holds (proxies: {}); to deliver a held link write `release: [{h}, <other host>]`",
                    if proxies.is_empty() { "none".to_string() } else { proxies.join(", ") }
                ),
            ));
        }
        if GLOBAL_ACTIONS.contains(&name) && name != "release" {
            return Err(self.err(
                at,
                format!("`{name}` is a global step, not a host action"),
                if matches!(name, "crash" | "bounce") {
                    format!("write `{name}: {h}`")
                } else if name == "wait" {
                    "write `wait: <duration>` without a host".to_string()
                } else {
                    format!("write `{name}: [{h}, <other host>]`")
                },
            ));
        }
        if !kind.actions().contains(&name) {
            let valid = kind.actions();
            let known = CLIENT_ACTIONS.contains(&name) || SCRIPTED_CLIENT_ACTIONS.contains(&name);
            let message = if known {
                format!("`{name}` is not an action of {} `{h}`", kind.label())
            } else {
                format!("unknown action `{name}` on {} `{h}`", kind.label())
            };
            let mut hint = String::new();
            if !known {
                if let Some(c) = closest(name, valid.iter().copied()) {
                    hint.push_str(&format!("did you mean `{c}`? "));
                }
            }
            if valid.is_empty() {
                hint.push_str(
                    "brokers take no script actions; use `crash`/`bounce` steps or a `client` host",
                );
            } else {
                hint.push_str(&format!(
                    "actions of a {}: {}",
                    kind.label(),
                    valid.join(", ")
                ));
            }
            if known {
                let owners: Vec<&str> = [
                    Kind::Client,
                    Kind::ScriptedServer,
                    Kind::ScriptedClient,
                    Kind::Proxy,
                ]
                .into_iter()
                .filter(|k| k.actions().contains(&name))
                .map(Kind::label)
                .collect();
                hint.push_str(&format!(
                    "; `{name}` is an action of {} hosts",
                    owners.join(" and ")
                ));
            }
            return Err(self.err(at, message, hint));
        }
        let defined = |calls: &Calls, id: &S<String>| -> R<()> {
            let ok = calls
                .defined
                .get(&h)
                .is_some_and(|ids| ids.contains(&id.value));
            if ok {
                return Ok(());
            }
            let mut known: Vec<&str> = calls
                .defined
                .get(&h)
                .map(|ids| ids.iter().map(String::as_str).collect())
                .unwrap_or_default();
            known.sort_unstable();
            let mut hint = String::new();
            if let Some(c) = closest(&id.value, known.iter().copied()) {
                hint.push_str(&format!("did you mean `{c}`? "));
            }
            hint.push_str(&format!(
                "ids are defined by earlier `{h}.request`/`{h}.connect` steps{}; defined so far: {}",
                if kind == Kind::Client { " (`connect` too when autoconnect is on)" } else { "" },
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ));
            Err(self.err(
                &id.referenced,
                format!("no earlier call with id `{}` on `{h}`", id.value),
                hint,
            ))
        };
        let define = |calls: &mut Calls, id: &S<String>, what: &str| -> R<()> {
            let ids = calls.defined.entry(h.clone()).or_default();
            if ids.contains(&id.value) {
                return Err(self.err(
                    &id.referenced,
                    format!("call id `{}` is already used on `{h}`", id.value),
                    format!("give this {what} its own id, e.g. `id: {}-2`", id.value),
                ));
            }
            ids.insert(id.value.clone());
            Ok(())
        };
        Ok(match (kind, name, body) {
            (Kind::Client, "connect", Body::Connect(c)) => {
                let id =
                    c.id.clone()
                        .unwrap_or_else(|| S::new("connect".to_string(), *at, action.defined));
                define(calls, &id, "connect")?;
                Action::Connect {
                    host: h,
                    id: id.value,
                }
            }
            (Kind::ScriptedClient, "connect", Body::Connect(c)) => {
                if let Some(id) = &c.id {
                    return Err(self.err(
                        &id.referenced,
                        "a scripted client's `connect` takes no id",
                        format!("write `{h}.connect: {{}}`"),
                    ));
                }
                Action::ScriptedConnect { host: h }
            }
            (_, "request", Body::Request(r)) => {
                if let Some(first) = calls.requests.get(&r.id.value) {
                    return Err(self.err(
                        &r.id.referenced,
                        format!("request id `{}` is already used (at {first})", r.id.value),
                        format!(
                            "request ids must be unique in the whole scenario (the broker requires unique in-flight ids); pick a new one, e.g. `{}-2`",
                            r.id.value
                        ),
                    ));
                }
                define(calls, &r.id, "request")?;
                calls
                    .requests
                    .insert(r.id.value.clone(), self.loc(&r.id.referenced));
                Action::Request {
                    host: h,
                    call: RequestCall {
                        id: r.id.value.clone(),
                        channel: r.channel.clone(),
                        body: r.body.clone().unwrap_or_default(),
                        chunks: r.chunks.clone().unwrap_or_default(),
                        timeout: r.timeout.as_ref().map(|t| self.duration(t)).transpose()?,
                    },
                }
            }
            (_, "cancel", Body::Cancel(c)) => {
                defined(calls, &c.id)?;
                Action::Cancel {
                    host: h,
                    id: c.id.value.clone(),
                }
            }
            (_, "disconnect", Body::Empty) => Action::Disconnect { host: h },
            (_, "serve", Body::Serve(s)) => Action::Serve {
                host: h,
                serve: self.serve(s)?,
            },
            (_, "result", Body::Result(r)) => {
                defined(calls, &r.id)?;
                let outcomes: Vec<(&str, &S<String>)> =
                    [("ok", &r.ok), ("error", &r.error), ("fails", &r.fails)]
                        .into_iter()
                        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
                        .collect();
                let expect = match outcomes.as_slice() {
                    [] => {
                        return Err(self.err(
                            at,
                            format!("`result` for `{}` gives no expected outcome", r.id.value),
                            "add exactly one of `ok: <body>`, `error: <code>` or `fails: <kind>`"
                                .to_string(),
                        ))
                    }
                    [("ok", v)] => Outcome::Ok(v.value.clone()),
                    [("error", v)] => Outcome::Error(v.value.clone()),
                    [(_, v)] => {
                        if !FAIL_KINDS.contains(&v.value.as_str()) {
                            let mut hint = String::new();
                            if let Some(c) = closest(&v.value, FAIL_KINDS.iter().copied()) {
                                hint.push_str(&format!("did you mean `{c}`? "));
                            }
                            if v.value == "rejected" {
                                hint.push_str(
                                        "a refused registration is the broker's error code: write `error: <code>`, e.g. `error: unauthorized`; ",
                                    );
                            }
                            hint.push_str(&format!("kinds: {}", FAIL_KINDS.join(", ")));
                            return Err(self.err(
                                &v.referenced,
                                format!("unknown failure kind `{}`", v.value),
                                hint,
                            ));
                        }
                        Outcome::Fails(
                            crate::model::FailKind::from_name(&v.value)
                                .expect("checked against FAIL_KINDS"),
                        )
                    }
                    [(k1, _), (k2, v2), ..] => {
                        return Err(self.err(
                            &v2.referenced,
                            format!("`result` gives both `{k1}` and `{k2}`"),
                            "give exactly one of `ok`, `error` or `fails`".to_string(),
                        ))
                    }
                };
                Action::Result {
                    host: h,
                    id: r.id.value.clone(),
                    expect,
                    within: self.duration_or(&r.within, DEFAULT_WITHIN)?,
                }
            }
            (_, "send" | "expect", Body::Message(m)) => self.message(h, name, m)?,
            (Kind::Proxy, "release", Body::Empty) => Action::ProxyRelease { host: h },
            (_, "close", Body::Empty) => Action::ScriptedClose { host: h },
            // The body type is chosen from the action name, so no other combination occurs.
            _ => {
                return Err(self.err(
                    at,
                    format!("cannot use `{name}` here"),
                    format!(
                        "actions of a {}: {}",
                        kind.label(),
                        kind.actions().join(", ")
                    ),
                ))
            }
        })
    }

    fn message(&self, host: String, action: &str, m: &S<RawMessage>) -> R<Action> {
        let example = if action == "send" {
            "e.g. `{ start: { req: r1, dir: response, body: pong, end: true } }` or `{ raw: \"not json {\" }`"
        } else {
            "e.g. `{ start: { req: r1 }, within: 5s }`"
        };
        let (kinds, within, to) = match &m.value {
            RawMessage::Map { kinds, within, to } => (kinds, within, to),
            RawMessage::Invalid(what) => {
                return Err(self.err(
                    &m.referenced,
                    format!("bad `{action}`: found {what}"),
                    format!("write a map with one message kind key, {example}"),
                ))
            }
        };
        let (kind, body) = match kinds.as_slice() {
            [] => {
                return Err(self.err(
                    &m.referenced,
                    format!("`{action}` names no message kind"),
                    format!("write one message kind key, {example}"),
                ))
            }
            [one] => one,
            [_, (second, _), ..] => {
                return Err(self.err(
                    &second.referenced,
                    format!("`{action}` names a second message kind `{}`", second.value),
                    format!("one message per step; {example}"),
                ))
            }
        };
        if action == "send" {
            if let Some(w) = within {
                return Err(self.err(
                    &w.referenced,
                    "`send` takes no `within`",
                    "`within` is for `expect`; use a `wait` step to delay a send".to_string(),
                ));
            }
            let frame = match body {
                MsgBody::Raw(text) => Frame::Raw(text.clone()),
                MsgBody::Fields(fields) => Frame::Json(self.json_object(kind, fields)?),
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
        if let Some(peer) = to {
            return Err(self.err(
                &peer.referenced,
                "`expect` takes no `to`",
                "`to` picks the connection a `send` goes out on; `expect` matches messages from any connection"
                    .to_string(),
            ));
        }
        let fields = match body {
            MsgBody::Raw(_) => {
                return Err(self.err(
                    &kind.referenced,
                    "`expect` cannot match a `raw` message",
                    "expect matches JSON messages by their type and fields, e.g. `{ start: { req: r1 } }`"
                        .to_string(),
                ))
            }
            MsgBody::Fields(fields) => {
                self.json_object(kind, fields)?;
                fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            }
        };
        Ok(Action::Expect {
            host,
            pattern: FramePattern {
                kind: kind.value.clone(),
                fields,
            },
            within: self.duration_or(within, DEFAULT_WITHIN)?,
        })
    }

    fn json_object(
        &self,
        kind: &S<String>,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> R<serde_json::Value> {
        if fields.contains_key("type") {
            return Err(self.err(
                &kind.referenced,
                format!("message `{}` has a `type` field", kind.value),
                "the key of the message (here `".to_string()
                    + &kind.value
                    + "`) is its type; remove `type:`",
            ));
        }
        let mut object = serde_json::Map::new();
        object.insert(
            "type".to_string(),
            serde_json::Value::String(kind.value.clone()),
        );
        for (k, v) in fields {
            object.insert(k.clone(), v.clone());
        }
        Ok(serde_json::Value::Object(object))
    }

    fn expectation(&self, host: &S<String>, counters: &OrderedMap<S<u64>>) -> R<Expectation> {
        let kind = self.host(host)?;
        let allowed = kind.counters();
        let mut out = BTreeMap::new();
        for (name, value) in &counters.0 {
            if !allowed.contains(&name.value.as_str()) {
                let mut hint = String::new();
                if let Some(c) = closest(&name.value, allowed.iter().copied()) {
                    hint.push_str(&format!("did you mean `{c}`? "));
                }
                hint.push_str(&format!(
                    "counters of a {}: {}",
                    kind.label(),
                    allowed.join(", ")
                ));
                return Err(self.err(
                    &name.referenced,
                    format!(
                        "unknown counter `{}` for {} `{}`",
                        name.value,
                        kind.label(),
                        host.value
                    ),
                    hint,
                ));
            }
            out.insert(name.value.clone(), value.value);
        }
        Ok(Expectation {
            host: host.value.clone(),
            loc: self.loc(&host.referenced),
            counters: out,
        })
    }
}

/// A host whose shape is known to be valid.
enum Shape<'a> {
    Broker(&'a RawBroker),
    Client(&'a RawClient),
    ScriptedServer,
    ScriptedClient(&'a RawScriptedClient),
    Proxy(&'a RawProxy),
}

const HOST_SHAPES: &str =
    "a host is `{ broker: {} }`, `{ client: {..} }`, `{ scripted: .. }` or `{ proxy: { target: .. } }`";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn valid_host_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Hint for serde-saphyr's messages.
fn yaml_hint(message: &str) -> Option<String> {
    let quoted = |rest: &str| rest.split('`').next().unwrap_or("").to_string();
    if let Some(rest) = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))
    {
        let name = quoted(rest);
        let expected: Vec<&str> = match rest.split_once("expected one of ") {
            Some((_, list)) => list
                .split(", ")
                .map(|s| s.trim_matches('`'))
                .filter(|s| !s.is_empty())
                .collect(),
            None => match rest.split_once("expected `") {
                Some((_, one)) => vec![one.trim_end_matches('`')],
                None => Vec::new(),
            },
        };
        return Some(match closest(&name, expected.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None if expected.is_empty() => format!("remove `{name}`: nothing is allowed here"),
            None => format!("remove `{name}` or use one of: {}", expected.join(", ")),
        });
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        return Some(format!("add `{}:` to this map", quoted(rest)));
    }
    if message.starts_with("duplicate mapping key") {
        return Some("each key may appear only once in a map".to_string());
    }
    let hint = if message.starts_with("multiple YAML documents") {
        "a scenario file holds a single YAML document: remove the `---` separator"
    } else if message.strip_prefix("invalid ").is_some_and(|t| {
        [
            "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize",
        ]
        .contains(&t)
    }) {
        "write a whole number (no sign, no unit)"
    } else if message.starts_with("invalid floating point") {
        "write a number, e.g. 0.2"
    } else if message.starts_with("invalid bool") {
        "write true or false"
    } else if message.starts_with("expected sequence") {
        "write a list here, e.g. `[a, b]`"
    } else if message.starts_with("expected mapping") {
        "write a map here, e.g. `{ key: value }`"
    } else if message.starts_with("expected string") {
        "write a single value here, not a list or a map"
    } else if message.starts_with("invalid type") || message.starts_with("expected") {
        "check the value's shape against the scenario format"
    } else {
        "check the YAML syntax here (indentation, brackets, quotes, `key: value`)"
    };
    Some(hint.to_string())
}

/// Replaces control characters so that messages stay on one line, and keeps them short.
fn clean(s: &str) -> String {
    const MAX_CHARS: usize = 1000;
    let mut out = String::with_capacity(s.len().min(MAX_CHARS + 4));
    for (i, c) in s.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Levenshtein distance (by characters); long inputs count as far apart.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len() > 64 || b.len() > 64 {
        return usize::MAX;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `name`, if within edit distance 2 (and not equal).
fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Number of line breaks (`\n`, `\r\n` or `\r`) in `s`.
fn line_breaks(s: &str) -> u64 {
    let mut n = 0;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' || (c == '\r' && chars.peek() != Some(&'\n')) {
            n += 1;
        }
    }
    n
}

/// The text after the last line break of `s`.
fn last_line(s: &str) -> &str {
    match s.rfind(['\n', '\r']) {
        Some(i) => &s[i + 1..],
        None => s,
    }
}

/// Line `line` (1-based) of `src`, YAML line breaks (`\n`, `\r\n`, `\r`).
fn nth_line(src: &str, line: u64) -> Option<&str> {
    let mut rest = src;
    let mut n = 1;
    loop {
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        if n == line {
            return Some(&rest[..end]);
        }
        if end == rest.len() {
            return None;
        }
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
        n += 1;
    }
}

/// The source line with a caret under the column, rustc style.
fn snippet(src: &str, line: u64, column: u64) -> Option<String> {
    if line == 0 {
        return None;
    }
    let mut text = nth_line(src, line)?;
    if line == 1 {
        text = text.strip_prefix('\u{feff}').unwrap_or(text);
    }
    let chars: Vec<char> = text
        .chars()
        .map(|c| {
            if c != '\t' && c.is_control() {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    let col = usize::try_from(column.max(1) - 1)
        .unwrap_or(usize::MAX)
        .min(chars.len());
    const WIDTH: usize = 120;
    let start = if chars.len() > WIDTH {
        col.saturating_sub(WIDTH / 2)
    } else {
        0
    };
    let end = chars.len().min(start + WIDTH);
    let mut shown = String::new();
    let mut caret = String::new();
    if start > 0 {
        shown.push('…');
        caret.push(' ');
    }
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push('…');
    }
    for c in &chars[start..col.max(start)] {
        caret.push(if *c == '\t' { '\t' } else { ' ' });
    }
    caret.push('^');
    let gutter = line.to_string();
    let pad = " ".repeat(gutter.len());
    Some(format!(
        "{pad} |\n{gutter} | {}\n{pad} | {caret}",
        shown.trim_end()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.25ms"), Some(Duration::from_micros(250)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        for bad in [
            "5",
            "5 seconds",
            "s",
            "1.s",
            ".5s",
            "-1s",
            "5h",
            "5S",
            "",
            "ms",
            "1e3s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_duration("99999999999999999999999999999s"), None);
        assert_eq!(parse_duration(&format!("{}s", "9".repeat(40))), None);
    }

    #[test]
    fn distances() {
        assert_eq!(distance("brokr", "broker"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(closest("brokr", ["app", "broker"]), Some("broker"));
        assert_eq!(closest("zzzzzz", ["app", "broker"]), None);
    }

    #[test]
    fn lines_and_snippets() {
        assert_eq!(nth_line("a\r\nb\rc\nd", 3), Some("c"));
        assert_eq!(nth_line("a\nb", 3), None);
        assert_eq!(line_breaks("a\r\nb\rc\n"), 3);
        let s = snippet("x: 1\n  yy: 2\n", 2, 3).unwrap();
        assert_eq!(s, "  |\n2 |   yy: 2\n  |   ^");
        assert!(snippet("x", 0, 0).is_none());
        assert!(snippet("x", 5, 1).is_none());
        let long = format!("{}X{}", "a".repeat(300), "b".repeat(300));
        let s = snippet(&long, 1, 301).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        let x = lines[1].chars().position(|c| c == 'X').unwrap();
        let caret = lines[2].chars().position(|c| c == '^').unwrap();
        assert_eq!(x, caret);
    }

    #[test]
    fn names() {
        let root = Path::new("scenarios");
        assert_eq!(
            expected_name(root, Path::new("scenarios/mux/duplicate-response.yaml")),
            "mux/duplicate-response"
        );
    }
}
