//! The scenario vocabulary, defined once: host kinds, script steps, counters, call
//! failure kinds and proxy actions, each with the name a scenario file uses and a doc line.
//!
//! The loader checks names against these tables, its hints list them, and README's step,
//! counter and field tables are generated from them (`crate::docs`). Drivers can use them
//! too: [`Kind`] is the kind of a host without its settings, [`FailKind`] the failure
//! names of `fails:`, [`ClientCounter`], [`BrokerCounter`], [`ScriptedCounter`],
//! [`ProxyCounter`] and [`RelayCounter`] name each kind's counters, and each [`Counter`] says whether it is a
//! current value or a running total.
//!
//! Orders matter: hints list names in table order, and "did you mean" picks the first of
//! equally close names.

mod counters;
mod fields;
mod proxy;

pub use counters::{
    counter_names, BrokerCounter, ClientCounter, Counter, ProxyCounter, RelayCounter,
    ScriptedCounter, Value, BROKER_COUNTERS, CLIENT_COUNTERS, PROXY_COUNTERS, RELAY_COUNTERS,
    SCRIPTED_COUNTERS,
};
pub use fields::{Field, FieldDefault, FIELDS};
pub use proxy::{word_names, Word, CORRUPTIONS, KINDS_WITH_CHANNEL, KINDS_WITH_REQ, PROXY_ACTIONS};

/// A kind of host, without its settings (see [`crate::model::HostKind`] for those).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The reference broker.
    Broker,
    /// The reference multiplexer.
    Client,
    /// A raw WebSocket server played by the script.
    ScriptedServer,
    /// A raw WebSocket client played by the script.
    ScriptedClient,
    /// The message-level chaos proxy.
    Proxy,
    /// The reference JSON-RPC 2.0 server.
    RpcServer,
    /// The reference relay (a failover load balancer in front of brokers).
    Relay,
}

/// The keys that name a host's kind in YAML (`app: { client: {..} }`), in hint order.
pub const HOST_KEYS: &[&str] = &[
    "broker",
    "client",
    "scripted",
    "proxy",
    "rpc-server",
    "relay",
];

impl Kind {
    /// Every kind, in the order tables list them.
    pub const ALL: [Kind; 7] = [
        Kind::Broker,
        Kind::Client,
        Kind::ScriptedServer,
        Kind::ScriptedClient,
        Kind::Proxy,
        Kind::RpcServer,
        Kind::Relay,
    ];

    /// How messages and tables name the kind: `broker`, `scripted server`, ...
    pub const fn label(self) -> &'static str {
        match self {
            Kind::Broker => "broker",
            Kind::Client => "client",
            Kind::ScriptedServer => "scripted server",
            Kind::ScriptedClient => "scripted client",
            Kind::Proxy => "proxy",
            Kind::RpcServer => "rpc server",
            Kind::Relay => "relay",
        }
    }

    /// How a host of this kind is written in `hosts:`.
    pub const fn yaml(self) -> &'static str {
        match self {
            Kind::Broker => "{ broker: { max_message, queue, idle_timeout, tokens } }",
            Kind::Client => "{ client: { connect: [hosts], id, token, autoconnect, register_timeout, request_timeout, heartbeat, reconnect, serve } }",
            Kind::ScriptedServer => "{ scripted: server }",
            Kind::ScriptedClient => "{ scripted: { client: host, autoconnect } }",
            Kind::Proxy => "{ proxy: { target: host, rules: [...] } }",
            Kind::RpcServer => "{ rpc-server: {} }",
            Kind::Relay => "{ relay: { backends: [hosts], failover, probe_interval, connect_timeout, buffer, idle_timeout } }",
        }
    }

    /// One line: what a host of this kind is.
    pub const fn doc(self) -> &'static str {
        match self {
            Kind::Broker => "the reference broker (all fields optional)",
            Kind::Client => "the reference multiplexer; `heartbeat: off`, `reconnect: off` disable those",
            Kind::ScriptedServer => "accepts connections; the script sends and expects raw frames",
            Kind::ScriptedClient => "connects to a host; the script sends and expects raw frames",
            Kind::Proxy => "message-level chaos proxy: clients connect to it, it opens one connection to `target` per client and applies its rules",
            Kind::RpcServer => "the reference JSON-RPC 2.0 server (`protocol: jsonrpc-2.0` only): `echo`, `sleep [ms, value]`, `fail [code, message]`",
            Kind::Relay => "the reference relay (wirecheck-v1): clients connect to it as to a broker; it forwards each to the first healthy backend and moves it to the next when that one dies (PROTOCOL.md, \"The relay\")",
        }
    }

    /// The `<host>.<step>` steps a host of this kind takes.
    pub const fn steps(self) -> &'static [StepDef] {
        match self {
            Kind::Broker | Kind::RpcServer | Kind::Relay => &[COUNTERS],
            Kind::Client => CLIENT_STEPS,
            Kind::ScriptedServer => SCRIPTED_SERVER_STEPS,
            Kind::ScriptedClient => SCRIPTED_CLIENT_STEPS,
            Kind::Proxy => PROXY_STEPS,
        }
    }

    /// The counters an `expect:` entry of a host of this kind may name.
    pub const fn counters(self) -> &'static [Counter] {
        match self {
            Kind::Broker => BROKER_COUNTERS,
            Kind::Client => CLIENT_COUNTERS,
            Kind::ScriptedServer | Kind::ScriptedClient | Kind::RpcServer => SCRIPTED_COUNTERS,
            Kind::Proxy => PROXY_COUNTERS,
            Kind::Relay => RELAY_COUNTERS,
        }
    }

    /// Whether `<host>.<name>` is a step of this kind.
    pub fn takes(self, name: &str) -> bool {
        self.steps().iter().any(|s| s.name == name)
    }

    /// The counter called `name`, if this kind has one.
    pub fn counter(self, name: &str) -> Option<&'static Counter> {
        self.counters().iter().find(|c| c.name == name)
    }

    /// Which run the counters of this kind cover.
    pub const fn counters_cover(self) -> &'static str {
        match self {
            Kind::Broker | Kind::Client | Kind::Relay => {
                "the host's current software: a `bounce` starts them at 0"
            }
            Kind::ScriptedServer | Kind::ScriptedClient | Kind::Proxy | Kind::RpcServer => {
                "the whole run, bounces included"
            }
        }
    }

    /// Accepts connections (a client or scripted client may connect to it).
    pub const fn listens(self) -> bool {
        matches!(
            self,
            Kind::Broker | Kind::ScriptedServer | Kind::Proxy | Kind::RpcServer | Kind::Relay
        )
    }

    /// May sit behind a proxy.
    pub const fn proxyable(self) -> bool {
        matches!(self, Kind::Broker | Kind::ScriptedServer | Kind::RpcServer)
    }

    /// May be a relay's backend (it speaks wirecheck-v1 as a broker would).
    pub const fn relayable(self) -> bool {
        matches!(self, Kind::Broker | Kind::ScriptedServer | Kind::Proxy)
    }
}

// ---------------------------------------------------------------------------------------
// Script steps
// ---------------------------------------------------------------------------------------

/// A script step: `name: args` (global) or `<host>.name: args`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepDef {
    /// The step's key (after `<host>.` for host steps).
    pub name: &'static str,
    /// What follows the key, in short.
    pub args: &'static str,
    /// One line: what the step does.
    pub doc: &'static str,
}

const fn step(name: &'static str, args: &'static str, doc: &'static str) -> StepDef {
    StepDef { name, args, doc }
}

/// Steps without a host: time and network faults.
pub const GLOBAL_STEPS: &[StepDef] = &[
    step("wait", "`2s`", "let simulated time pass"),
    step(
        "partition",
        "`[a, b]`",
        "cut the link between two hosts (a partitioned TCP stream just goes silent)",
    ),
    step("repair", "`[a, b]`", "restore a cut link"),
    step(
        "partition_oneway",
        "`[from, to]`",
        "lose every message from `from` to `to`; the other direction still delivers",
    ),
    step(
        "repair_oneway",
        "`[from, to]`",
        "restore the direction `partition_oneway` cut",
    ),
    step(
        "latency",
        "`{ between: [a, b], to: 50ms }`",
        "from now on messages on the link take `to` (a duration or `{ min, max }`, as `network.latency`)",
    ),
    step("hold", "`[a, b]`", "delay delivery on the link"),
    step(
        "release",
        "`[a, b]`",
        "deliver what `hold` kept on the link",
    ),
    step("crash", "`host`", "kill a host"),
    step(
        "bounce",
        "`host`",
        "restart a host (its software starts again)",
    ),
    step(
        "heal",
        "`{ within: 2s }`",
        "every fault is over: each request started from here on must be answered within `within` (CONN-7)",
    ),
    step(
        "first",
        "`{ of: [a, b], expect: { <type>: { fields }, within: 30s }, as: name }`",
        "wait until one of the scripted hosts receives a matching message; later steps of `name` (`name.send`, `name.expect`, ...) act on that host, e.g. whichever receiver got r1",
    ),
];

const SEND: StepDef = step(
    "send",
    "`{ <type>: { fields } }` or `{ raw: \"text\" }`, optional `to: host`",
    "send any message, valid or not; `to` picks the connection with that host (a server with several connections)",
);
const EXPECT: StepDef = step(
    "expect",
    "`{ <type>: { fields }, within: 30s }`",
    "wait until a message of that type whose listed fields are equal has arrived",
);
const CLOSE: StepDef = step("close", "`{}`", "close the connection");
const COUNTERS: StepDef = step(
    "counters",
    "`{ <counter>: n, .., within: 30s }`",
    "wait until each listed counter of the host has that value (counters below), e.g. `broker.counters: { clients: 2 }` before a fault, `app.counters: { reconnects: 1 }` instead of guessing a `wait`",
);

/// Steps of a reference client (`app.request: {..}`).
pub const CLIENT_STEPS: &[StepDef] = &[
    step(
        "connect",
        "`{ id: c1 }` (id optional, default `connect`)",
        "register, for a client with `autoconnect: false`; the call's id is `id`",
    ),
    step(
        "request",
        "`{ id, channel, body, chunks: [..], timeout }`",
        "start a request (does not wait)",
    ),
    step(
        "batch",
        "`{ calls: [ { id, method, params }, .. ], timeout }`",
        "JSON-RPC: send the calls as one batch (does not wait; each call's `result` as for a request)",
    ),
    step(
        "notify",
        "`{ method, params }`",
        "JSON-RPC: send a notification (no id, nothing to wait for)",
    ),
    step("cancel", "`{ id }`", "the caller drops the request"),
    step("disconnect", "`{}`", "close the connection, no reconnect"),
    step(
        "serve",
        "`{ channel, reply, delay, chunks, concurrency }`",
        "start serving a channel",
    ),
    step(
        "result",
        "`{ id, ok: body | error: code | fails: kind, within: 30s }`",
        "wait for the call's result and compare (failure kinds below)",
    ),
    COUNTERS,
];

/// Steps of a scripted server.
pub const SCRIPTED_SERVER_STEPS: &[StepDef] = &[SEND, EXPECT, CLOSE, COUNTERS];

/// Steps of a scripted client.
pub const SCRIPTED_CLIENT_STEPS: &[StepDef] = &[
    step(
        "connect",
        "`{}`",
        "connect to the target, for `autoconnect: false`",
    ),
    SEND,
    EXPECT,
    CLOSE,
    COUNTERS,
];

/// Steps of a proxy.
pub const PROXY_STEPS: &[StepDef] = &[
    step(
        "release",
        "`{}`",
        "forward every message the proxy's `hold` rules kept",
    ),
    COUNTERS,
];

/// Whether `name` is a global step.
pub fn is_global_step(name: &str) -> bool {
    GLOBAL_STEPS.iter().any(|s| s.name == name)
}

/// Whether some kind of host takes `<host>.<name>`.
pub fn is_host_step(name: &str) -> bool {
    Kind::ALL.iter().any(|k| k.takes(name))
}

/// The names of `steps`, in order.
pub fn step_names(steps: &[StepDef]) -> Vec<&'static str> {
    steps.iter().map(|s| s.name).collect()
}

// ---------------------------------------------------------------------------------------
// Call failures
// ---------------------------------------------------------------------------------------

/// How a call can fail locally (`fails:` in a `result` step). An `error` reply from the
/// peer is not a failure kind: it is `error: <code>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailKind {
    Timeout,
    Disconnected,
    SendFailed,
    UnexpectedReply,
    NotConnected,
    Cancelled,
    Protocol,
    DuplicateId,
}

impl FailKind {
    /// Every kind, in the order hints list them.
    pub const ALL: [FailKind; 8] = [
        FailKind::Timeout,
        FailKind::Disconnected,
        FailKind::SendFailed,
        FailKind::UnexpectedReply,
        FailKind::NotConnected,
        FailKind::Cancelled,
        FailKind::Protocol,
        FailKind::DuplicateId,
    ];

    /// The name scenarios and traces use (`fails: timeout`).
    pub const fn name(self) -> &'static str {
        match self {
            FailKind::Timeout => "timeout",
            FailKind::Disconnected => "disconnected",
            FailKind::SendFailed => "send_failed",
            FailKind::UnexpectedReply => "unexpected_reply",
            FailKind::NotConnected => "not_connected",
            FailKind::Cancelled => "cancelled",
            FailKind::Protocol => "protocol",
            FailKind::DuplicateId => "duplicate_id",
        }
    }

    /// One line: when a call fails this way.
    pub const fn doc(self) -> &'static str {
        match self {
            FailKind::Timeout => "no answer within the call's timeout",
            FailKind::Disconnected => "the connection ended while the call was pending",
            FailKind::SendFailed => "the request could not be written to the connection",
            FailKind::UnexpectedReply => {
                "registration got something other than `welcome` or `error`"
            }
            FailKind::NotConnected => "the call was made while the client was not registered",
            FailKind::Cancelled => "the caller cancelled the call",
            FailKind::Protocol => {
                "the peer broke the protocol for this call (e.g. a chunk out of order)"
            }
            FailKind::DuplicateId => "a request reused the id of a request still pending",
        }
    }

    pub fn from_name(name: &str) -> Option<FailKind> {
        FailKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The names of every [`FailKind`], in order.
pub fn fail_kind_names() -> Vec<&'static str> {
    FailKind::ALL.iter().map(|k| k.name()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_where_they_must_be() {
        fn unique(what: &str, names: Vec<&str>) {
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len(), "duplicate {what}: {names:?}");
        }
        unique("global step", step_names(GLOBAL_STEPS));
        for k in Kind::ALL {
            unique(k.label(), step_names(k.steps()));
            unique(k.label(), counter_names(k.counters()));
        }
        unique("fail kind", fail_kind_names());
        unique("proxy action", word_names(PROXY_ACTIONS));
        unique("corruption", word_names(CORRUPTIONS));
    }

    #[test]
    fn counter_enums_name_their_table_entries() {
        fn same(names: Vec<&str>, table: &[Counter]) {
            assert_eq!(names, counter_names(table));
        }
        same(
            ClientCounter::ALL.iter().map(|c| c.name()).collect(),
            CLIENT_COUNTERS,
        );
        same(
            BrokerCounter::ALL.iter().map(|c| c.name()).collect(),
            BROKER_COUNTERS,
        );
        same(
            ScriptedCounter::ALL.iter().map(|c| c.name()).collect(),
            SCRIPTED_COUNTERS,
        );
        same(
            ProxyCounter::ALL.iter().map(|c| c.name()).collect(),
            PROXY_COUNTERS,
        );
        same(
            RelayCounter::ALL.iter().map(|c| c.name()).collect(),
            RELAY_COUNTERS,
        );
        assert_eq!(ClientCounter::Reconnects.name(), "reconnects");
        assert_eq!(BrokerCounter::Requests.counter().value, Value::Current);
        assert_eq!(ProxyCounter::Connections.name(), "connections");
    }

    #[test]
    fn lookups() {
        assert!(Kind::Client.takes("request") && !Kind::ScriptedServer.takes("request"));
        assert!(Kind::ScriptedClient.takes("connect") && !Kind::ScriptedServer.takes("connect"));
        assert!(Kind::Broker.takes("counters") && !Kind::Broker.takes("send"));
        assert!(Kind::ALL.iter().all(|k| k.takes("counters")));
        assert!(is_host_step("close") && !is_host_step("wait") && is_global_step("wait"));
        assert_eq!(
            Kind::Broker.counter("requests").map(|c| c.value),
            Some(Value::Current)
        );
        assert_eq!(
            Kind::Client.counter("reconnects").map(|c| c.value),
            Some(Value::Total)
        );
        assert!(Kind::Client.counter("connections").is_none());
        assert_eq!(
            FailKind::from_name("send_failed"),
            Some(FailKind::SendFailed)
        );
        assert_eq!(FailKind::from_name("rejected"), None);
        for k in FailKind::ALL {
            assert_eq!(FailKind::from_name(k.name()), Some(k));
        }
        assert_eq!(
            Kind::ALL.iter().filter(|k| k.listens()).count(),
            5,
            "broker, scripted server, proxy, rpc server, relay"
        );
    }
}
