//! What serde-saphyr deserializes a scenario file into: the file's shape, with the
//! location of every node a check may point at, before any validation.
//!
//! Unknown keys, missing required fields and type mismatches fail here with serde-saphyr's
//! message; shapes a hint can explain better (a second key in a one-key map, a list where
//! a map belongs) are kept as values for the checker to report.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::shapes::{
    other_shapes, Expecting, Keyed, OneKey, OrderedMap, ScalarOrMap, Switch, WordOrMap, S,
};

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a scenario: a map with name, about, rules, hosts and script"
)]
pub(super) struct RawScenario {
    // Required fields are checked by the checker, which has a better location for a
    // missing key (the start of the document) than the end of the map.
    #[serde(default)]
    pub(super) name: Option<S<String>>,
    #[serde(default)]
    pub(super) about: Option<S<String>>,
    #[serde(default)]
    pub(super) rules: Option<S<Vec<S<String>>>>,
    #[serde(default)]
    pub(super) protocol: Option<S<String>>,
    #[serde(default)]
    pub(super) seed: Option<u64>,
    #[serde(default)]
    pub(super) duration: Option<S<String>>,
    #[serde(default)]
    pub(super) network: Option<RawNetwork>,
    #[serde(default)]
    pub(super) hosts: Option<S<OrderedMap<S<RawHost>>>>,
    #[serde(default)]
    pub(super) script: Option<Vec<S<RawStep>>>,
    #[serde(default)]
    pub(super) expect: Option<OrderedMap<OrderedMap<S<u64>>>>,
    #[serde(default)]
    pub(super) expect_violations: Option<S<Vec<S<String>>>>,
    #[serde(default)]
    pub(super) workload: Option<S<super::raw_chaos::RawWorkload>>,
    #[serde(default)]
    pub(super) nemesis: Option<S<super::raw_chaos::RawNemesis>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a network map, e.g. `{ latency: 1ms }`"
)]
pub(super) struct RawNetwork {
    #[serde(default)]
    pub(super) latency: Option<S<RawLatency>>,
}

/// A fixed duration (`5ms`) or a range (`{ min: 1ms, max: 20ms }`).
pub(super) type RawLatency = ScalarOrMap<RawRange>;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a latency range, e.g. `{ min: 1ms, max: 20ms }`"
)]
pub(super) struct RawRange {
    pub(super) min: S<String>,
    pub(super) max: S<String>,
}

impl Expecting for RawRange {
    const EXPECTING: &'static str = "a duration or a map `{ min: .., max: .. }`";
}

// ---------------------------------------------------------------------------------------
// Hosts
// ---------------------------------------------------------------------------------------

/// A host: a one-key map naming its kind.
pub(super) type RawHost = OneKey<HostBody>;

pub(super) enum HostBody {
    Broker(RawBroker),
    Client(Box<RawClient>),
    Scripted(S<RawScripted>),
    Proxy(Box<RawProxy>),
    /// The reference JSON-RPC server (`rpc-server: {}`; no settings).
    RpcServer,
    Relay(Box<RawRelay>),
    /// A kind key that is not broker, client, scripted or proxy (its value is skipped).
    Unknown,
}

impl Keyed for HostBody {
    const EXPECTING: &'static str =
        "a host map: `{ broker: {} }`, `{ client: {..} }`, `{ scripted: .. }`, `{ proxy: {..} }`, `{ rpc-server: {} }` or `{ relay: {..} }`";
    fn value<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Self, A::Error> {
        Ok(match key {
            "broker" => {
                HostBody::Broker(map.next_value::<Option<RawBroker>>()?.unwrap_or_default())
            }
            "client" => HostBody::Client(Box::new(map.next_value::<RawClient>()?)),
            "scripted" => HostBody::Scripted(map.next_value::<S<RawScripted>>()?),
            "proxy" => HostBody::Proxy(Box::new(map.next_value::<RawProxy>()?)),
            "rpc-server" => {
                map.next_value::<Option<RawEmpty>>()?;
                HostBody::RpcServer
            }
            "relay" => HostBody::Relay(Box::new(map.next_value::<RawRelay>()?)),
            _ => {
                map.next_value::<IgnoredAny>()?;
                HostBody::Unknown
            }
        })
    }
}

#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a broker map, e.g. `{}` or `{ max_message: 1024, queue: 8 }`"
)]
pub(super) struct RawBroker {
    #[serde(default)]
    pub(super) max_message: Option<usize>,
    #[serde(default)]
    pub(super) queue: Option<S<usize>>,
    #[serde(default)]
    pub(super) idle_timeout: Option<S<String>>,
    #[serde(default)]
    pub(super) tokens: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a client map, e.g. `{ connect: [broker] }`"
)]
pub(super) struct RawClient {
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) token: Option<String>,
    pub(super) connect: S<Vec<S<String>>>,
    #[serde(default)]
    pub(super) autoconnect: Option<bool>,
    #[serde(default)]
    pub(super) register_timeout: Option<S<String>>,
    #[serde(default)]
    pub(super) request_timeout: Option<S<String>>,
    #[serde(default)]
    pub(super) heartbeat: Option<S<Switch<RawHeartbeat>>>,
    #[serde(default)]
    pub(super) reconnect: Option<S<Switch<RawReconnect>>>,
    #[serde(default)]
    pub(super) serve: Option<Vec<RawServe>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "heartbeat settings, e.g. `{ interval: 5s, timeout: 15s }`"
)]
pub(super) struct RawHeartbeat {
    #[serde(default)]
    pub(super) interval: Option<S<String>>,
    #[serde(default)]
    pub(super) timeout: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "reconnect settings, e.g. `{ base: 1s, cap: 30s }`"
)]
pub(super) struct RawReconnect {
    #[serde(default)]
    pub(super) base: Option<S<String>>,
    #[serde(default)]
    pub(super) cap: Option<S<String>>,
    #[serde(default)]
    pub(super) jitter: Option<S<f64>>,
    #[serde(default)]
    pub(super) max_attempts: Option<S<u32>>,
    #[serde(default)]
    pub(super) window: Option<S<String>>,
    #[serde(default)]
    pub(super) min_gap: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a serve map, e.g. `{ channel: jobs, reply: echo }`"
)]
pub(super) struct RawServe {
    pub(super) channel: String,
    #[serde(default)]
    pub(super) reply: Option<RawReply>,
    #[serde(default)]
    pub(super) delay: Option<S<String>>,
    #[serde(default)]
    pub(super) chunks: Option<u32>,
    #[serde(default)]
    pub(super) concurrency: Option<S<u32>>,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "lowercase",
    expecting = "a reply: `echo`, `ignore`, `{ fixed: body }` or `{ error: code }`"
)]
pub(super) enum RawReply {
    Echo,
    Ignore,
    Fixed(String),
    Error(String),
}

/// `server`, or `{ client: host }`.
pub(super) type RawScripted = WordOrMap<RawScriptedClient>;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a scripted client map, e.g. `{ client: broker }`"
)]
pub(super) struct RawScriptedClient {
    pub(super) client: S<String>,
    #[serde(default)]
    pub(super) autoconnect: Option<bool>,
}

impl Expecting for RawScriptedClient {
    const EXPECTING: &'static str = "`server` or `{ client: host }`";
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a proxy map, e.g. `{ target: broker, rules: [{ kind: start, action: drop }] }`"
)]
pub(super) struct RawProxy {
    pub(super) target: S<String>,
    #[serde(default)]
    pub(super) rules: Option<Vec<S<RawProxyRule>>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a relay map, e.g. `{ backends: [primary, secondary] }`"
)]
pub(super) struct RawRelay {
    pub(super) backends: S<Vec<S<String>>>,
    #[serde(default)]
    pub(super) failover: Option<S<RawFailover>>,
    #[serde(default)]
    pub(super) probe_interval: Option<S<String>>,
    #[serde(default)]
    pub(super) connect_timeout: Option<S<String>>,
    #[serde(default)]
    pub(super) buffer: Option<S<usize>>,
    #[serde(default)]
    pub(super) idle_timeout: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "failover settings, e.g. `{ max_attempts: 3, window: 60s, min_gap: 5s }`"
)]
pub(super) struct RawFailover {
    #[serde(default)]
    pub(super) max_attempts: Option<S<u32>>,
    #[serde(default)]
    pub(super) window: Option<S<String>>,
    #[serde(default)]
    pub(super) min_gap: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a proxy rule, e.g. `{ dir: down, kind: start, req: r1, action: duplicate }`"
)]
pub(super) struct RawProxyRule {
    #[serde(default)]
    pub(super) dir: Option<RawDir>,
    #[serde(default)]
    pub(super) kind: Option<S<String>>,
    #[serde(default)]
    pub(super) req: Option<S<String>>,
    #[serde(default)]
    pub(super) channel: Option<S<String>>,
    #[serde(default)]
    pub(super) nth: Option<S<u32>>,
    #[serde(default)]
    pub(super) probability: Option<S<f64>>,
    #[serde(default)]
    pub(super) from: Option<S<String>>,
    #[serde(default)]
    pub(super) until: Option<S<String>>,
    pub(super) action: S<RawProxyAction>,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "lowercase",
    expecting = "a direction: `up` (client to target) or `down` (target to client)"
)]
pub(super) enum RawDir {
    Up,
    Down,
}

/// `drop`, `duplicate`, `hold`, `close` (a bare word, checked by the checker), or
/// `{ delay: .. }`, `{ reorder: N }`, `{ corrupt: .. }`.
pub(super) type RawProxyAction = OneKey<ActionBody>;

pub(super) enum ActionBody {
    Delay(S<RawLatency>),
    Reorder(S<u32>),
    Corrupt(S<String>),
    /// A key that is not `delay`, `reorder` or `corrupt` (its value is skipped).
    Unknown,
}

impl Keyed for ActionBody {
    const EXPECTING: &'static str = "a proxy action: `drop`, `duplicate`, `hold`, `close`, `{ delay: 50ms }`, `{ reorder: 3 }` or `{ corrupt: wrong_id }`";
    fn value<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Self, A::Error> {
        Ok(match key {
            "delay" => ActionBody::Delay(map.next_value()?),
            "reorder" => ActionBody::Reorder(map.next_value()?),
            "corrupt" => ActionBody::Corrupt(map.next_value()?),
            _ => {
                map.next_value::<IgnoredAny>()?;
                ActionBody::Unknown
            }
        })
    }
}

// ---------------------------------------------------------------------------------------
// Script steps
// ---------------------------------------------------------------------------------------

/// One script step: a one-key map `action: value` or `host.action: value`.
pub(super) type RawStep = OneKey<Body>;

/// A step's value; its type is chosen by the action name (after `host.`, if any).
pub(super) enum Body {
    Wait(S<String>),
    Pair(S<Vec<S<String>>>),
    Target(S<String>),
    Connect(RawConnect),
    Request(Box<RawRequest>),
    /// `first: { of: [a, b], expect: {..}, as: name }`.
    First(Box<RawFirst>),
    Batch(Box<RawBatch>),
    Notify(Box<RawNotify>),
    Cancel(RawCancel),
    Empty,
    Serve(Box<RawServe>),
    Result(Box<RawResult>),
    /// `<host>.counters: { pending: 0, within: 5s }`: values as their text.
    Counters(S<OrderedMap<S<String>>>),
    Message(S<RawMessage>),
    /// `heal: { within: 2s }`.
    Heal(super::raw_chaos::RawHealStep),
    /// `latency: { between: [a, b], to: 50ms }`.
    Latency(Box<super::raw_chaos::RawLatencyStep>),
    /// Not a step name (its value is skipped).
    Unknown,
}

impl Keyed for Body {
    const EXPECTING: &'static str =
        "a step: a one-key map such as `wait: 2s` or `app.request: {..}`";
    fn value<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Self, A::Error> {
        let (on_host, action) = match key.split_once('.') {
            Some((_, action)) => (true, action),
            None => (false, key),
        };
        Ok(match action {
            "wait" => Body::Wait(map.next_value()?),
            // `<proxy>.release: {}` (the global `release` takes a pair of hosts).
            "release" if on_host => {
                map.next_value::<Option<RawEmpty>>()?;
                Body::Empty
            }
            "partition" | "repair" | "partition_oneway" | "repair_oneway" | "hold" | "release" => {
                Body::Pair(map.next_value()?)
            }
            "crash" | "bounce" => Body::Target(map.next_value()?),
            "heal" => Body::Heal(map.next_value()?),
            "latency" => Body::Latency(map.next_value()?),
            "connect" => Body::Connect(map.next_value::<Option<RawConnect>>()?.unwrap_or_default()),
            "request" => Body::Request(map.next_value()?),
            "first" if !on_host => Body::First(map.next_value()?),
            "batch" => Body::Batch(map.next_value()?),
            "notify" => Body::Notify(map.next_value()?),
            "cancel" => Body::Cancel(map.next_value()?),
            "disconnect" | "close" => {
                map.next_value::<Option<RawEmpty>>()?;
                Body::Empty
            }
            "serve" => Body::Serve(map.next_value()?),
            "result" => Body::Result(map.next_value()?),
            "counters" => Body::Counters(map.next_value()?),
            "send" | "expect" => Body::Message(map.next_value()?),
            _ => {
                map.next_value::<IgnoredAny>()?;
                Body::Unknown
            }
        })
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a connect map, e.g. `{ id: c2 }`")]
pub(super) struct RawConnect {
    #[serde(default)]
    pub(super) id: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a request map, e.g. `{ id: r1, channel: jobs, body: ping }`"
)]
pub(super) struct RawRequest {
    pub(super) id: S<String>,
    #[serde(default)]
    pub(super) channel: Option<S<String>>,
    #[serde(default)]
    pub(super) body: Option<S<String>>,
    /// JSON-RPC: the method and its params (any value).
    #[serde(default)]
    pub(super) method: Option<S<String>>,
    #[serde(default)]
    pub(super) params: Option<S<serde_json::Value>>,
    #[serde(default)]
    pub(super) chunks: Option<Vec<String>>,
    #[serde(default)]
    pub(super) timeout: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a first map, e.g. `{ of: [w1, w2], expect: { start: { req: r1 } }, as: worker }`"
)]
pub(super) struct RawFirst {
    pub(super) of: S<Vec<S<String>>>,
    pub(super) expect: S<RawMessage>,
    #[serde(rename = "as")]
    pub(super) alias: S<String>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a batch map, e.g. `{ calls: [ { id: r1, method: echo, params: [1] } ], timeout: 5s }`"
)]
pub(super) struct RawBatch {
    /// The calls, each a request map without `timeout` (the batch has one).
    pub(super) calls: S<Vec<S<RawRequest>>>,
    #[serde(default)]
    pub(super) timeout: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a notify map, e.g. `{ method: log, params: [\"started\"] }`"
)]
pub(super) struct RawNotify {
    pub(super) method: S<String>,
    #[serde(default)]
    pub(super) params: Option<S<serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a cancel map, e.g. `{ id: r1 }`")]
pub(super) struct RawCancel {
    pub(super) id: S<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an empty map `{}`")]
pub(super) struct RawEmpty {}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a result map, e.g. `{ id: r1, ok: pong }`"
)]
pub(super) struct RawResult {
    pub(super) id: S<String>,
    /// wirecheck-v1: a body (text); JSON-RPC: the result (any value, `null` included).
    #[serde(default, deserialize_with = "present")]
    pub(super) ok: Option<S<serde_json::Value>>,
    /// wirecheck-v1: a code; JSON-RPC: an integer code.
    #[serde(default)]
    pub(super) error: Option<S<serde_json::Value>>,
    #[serde(default)]
    pub(super) fails: Option<S<String>>,
    #[serde(default)]
    pub(super) within: Option<S<String>>,
}

/// `{ kind: {fields} }` or `{ raw: "text" }`, plus `within` for `expect` and `to` for `send`.
pub(super) enum RawMessage {
    Map {
        /// Every key that is not `within` or `to`, in order (one is valid).
        kinds: Vec<(S<String>, MsgBody)>,
        within: Option<S<String>>,
        to: Option<S<String>>,
    },
    Invalid(String),
}

pub(super) enum MsgBody {
    Raw(String),
    Fields(serde_json::Map<String, serde_json::Value>),
    /// A list (a JSON-RPC `batch`).
    List(Vec<serde_json::Value>),
    /// A scalar where fields were expected (an error, reported with its location).
    Scalar(String),
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
                            let body = match map.next_value::<serde_json::Value>()? {
                                serde_json::Value::Null => MsgBody::Fields(Default::default()),
                                serde_json::Value::Object(fields) => MsgBody::Fields(fields),
                                serde_json::Value::Array(items) => MsgBody::List(items),
                                other => MsgBody::Scalar(other.to_string()),
                            };
                            kinds.push((key, body));
                        }
                    }
                }
                Ok(RawMessage::Map { kinds, within, to })
            }
        }
        d.deserialize_any(Vis)
    }
}

/// A field that is present, even as `null` (`ok: null` expects a null result; serde's
/// default reading of `Option` would take it for a missing field).
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<S<serde_json::Value>>, D::Error> {
    S::<serde_json::Value>::deserialize(d).map(Some)
}
