//! Every field a scenario file can set, with its default and meaning (README's field
//! table is generated from [`FIELDS`]; a test checks each stated default against the
//! loader).

/// The default of a field a user can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldDefault {
    /// The field must be written.
    Required,
    /// Leaving the field out is the same as writing this YAML value (a test checks it).
    Yaml(&'static str),
    /// A default that is not a fixed value (e.g. "the host name").
    Text(&'static str),
    /// Leaving the field out means "no filter" or "none".
    Absent(&'static str),
}

/// A field of a scenario file: its place, default and meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Where it is written: `seed`, `broker.queue`, `client.serve[].delay`, `request.timeout`
    /// (a step's field), `rule.nth` (a proxy rule's field).
    pub path: &'static str,
    pub default: FieldDefault,
    pub doc: &'static str,
}

const fn field(path: &'static str, default: FieldDefault, doc: &'static str) -> Field {
    Field { path, default, doc }
}

use FieldDefault::{Absent, Required, Text, Yaml as Is};

/// Every field of the format except the top-level `name`, `about`, `rules`, `hosts`,
/// `script`, `expect` and `expect_violations`, in the order README lists them. A
/// `<client>.serve` step takes the fields of `client.serve[]`.
pub const FIELDS: &[Field] = &[
    field(
        "protocol",
        Is("wirecheck-v1"),
        "the wire protocol: `wirecheck-v1` (PROTOCOL.md) or `jsonrpc-2.0` (JSON-RPC 2.0; see PROTOCOL.md, \"The JSON-RPC 2.0 profile\")",
    ),
    field("seed", Is("0"), "seed of the simulation and of every RNG in it"),
    field("duration", Is("120s"), "hard limit of simulated time (more than 0s)"),
    field(
        "network.latency",
        Is("1ms"),
        "message latency: fixed, or `{ min: 1ms, max: 20ms }` drawn uniformly",
    ),
    field("broker.max_message", Is("65536"), "largest accepted message, in bytes"),
    field(
        "broker.queue",
        Is("64"),
        "outbound budget of each connection, in messages of `max_message` bytes: a peer with more waiting for it is closed as a slow consumer (at least 1)",
    ),
    field("broker.idle_timeout", Is("30s"), "a connection silent this long is closed"),
    field(
        "broker.tokens",
        Is("{}"),
        "`{ client_id: token }`; when not empty, `hello` must carry its client's token",
    ),
    field(
        "client.connect",
        Required,
        "hosts to connect to (brokers, scripted servers, proxies), in failover order",
    ),
    field("client.id", Text("the host name"), "client id sent in `hello`"),
    field("client.token", Absent("none"), "token sent in `hello`"),
    field(
        "client.autoconnect",
        Is("true"),
        "register when the host starts (call id `connect`); `false`: wait for a `connect` step",
    ),
    field(
        "client.register_timeout",
        Is("10s"),
        "limit of each phase of a connection attempt (connect, handshake, `welcome`)",
    ),
    field(
        "client.request_timeout",
        Is("30s"),
        "timeout of a request whose step gives none",
    ),
    field(
        "client.heartbeat",
        Is("{}"),
        "`off` (no heartbeats) or `{ interval, timeout }`",
    ),
    field("client.heartbeat.interval", Is("5s"), "time between pings"),
    field(
        "client.heartbeat.timeout",
        Is("15s"),
        "no frame for this long: the connection is dead (longer than `interval`)",
    ),
    field(
        "client.reconnect",
        Is("{}"),
        "`off` (never reconnect) or `{ base, cap, jitter, max_attempts, window, min_gap }`",
    ),
    field(
        "client.reconnect.base",
        Is("1s"),
        "first backoff delay; doubles after each failed attempt, up to `cap`",
    ),
    field("client.reconnect.cap", Is("30s"), "largest backoff delay (at least `base`)"),
    field(
        "client.reconnect.jitter",
        Is("0.0"),
        "fraction of the delay added at random (0.0 to 1.0), from the seeded RNG",
    ),
    field(
        "client.reconnect.max_attempts",
        Is("3"),
        "at most this many attempts per `window` (at least 1)",
    ),
    field("client.reconnect.window", Is("60s"), "the rate limit's window"),
    field("client.reconnect.min_gap", Is("5s"), "at least this long between two attempts"),
    field("client.serve", Is("[]"), "channels served from the start (fields below)"),
    field("client.serve[].channel", Required, "the channel"),
    field(
        "client.serve[].reply",
        Is("echo"),
        "`echo` (the request body), `ignore` (never answer), `{ fixed: body }` or `{ error: code }`",
    ),
    field("client.serve[].delay", Is("0s"), "delay before answering each request"),
    field(
        "client.serve[].chunks",
        Is("0"),
        "chunk frames the answer is split into (0: one `start` with `end: true`)",
    ),
    field(
        "client.serve[].concurrency",
        Is("1"),
        "requests served at the same time (receive credits, at least 1)",
    ),
    field("scripted.client", Required, "scripted client: the host it connects to"),
    field(
        "scripted.autoconnect",
        Is("true"),
        "scripted client: connect when the host starts; `false`: wait for a `connect` step",
    ),
    field("proxy.target", Required, "a broker or scripted server"),
    field(
        "proxy.rules",
        Is("[]"),
        "rules in order: the first matching rule acts; unmatched messages pass",
    ),
    field(
        "relay.backends",
        Required,
        "hosts to forward to (brokers, scripted servers, proxies), in order of preference",
    ),
    field(
        "relay.failover",
        Is("{}"),
        "`{ max_attempts, window, min_gap }`: the per-client failover rate limit",
    ),
    field(
        "relay.failover.max_attempts",
        Is("3"),
        "at most this many attempts per client per `window`; this many failed in a row and the relay closes the client (at least 1)",
    ),
    field("relay.failover.window", Is("60s"), "the rate limit's window"),
    field(
        "relay.failover.min_gap",
        Is("5s"),
        "at least this long between two attempts for one client",
    ),
    field(
        "relay.probe_interval",
        Is("1s"),
        "how often a backend the relay holds down is probed (more than 0s)",
    ),
    field(
        "relay.connect_timeout",
        Is("5s"),
        "a backend dial (connect and WebSocket handshake) longer than this fails (more than 0s)",
    ),
    field(
        "relay.buffer",
        Is("64"),
        "messages held per client while no backend serves it; one more closes the client (at least 1)",
    ),
    field(
        "relay.idle_timeout",
        Is("30s"),
        "a client connection silent this long is closed (more than 0s)",
    ),
    field(
        "rule.dir",
        Absent("both"),
        "`up` (client to target) or `down` (target to client)",
    ),
    field(
        "rule.kind",
        Absent("any"),
        "message type to match (any message, even undecodable text, when absent)",
    ),
    field("rule.req", Absent("any"), "request id to match"),
    field("rule.channel", Absent("any"), "channel to match (on `start` and `receive`)"),
    field(
        "rule.nth",
        Absent("every match"),
        "act only on the nth matching message of this rule (1-based)",
    ),
    field(
        "rule.probability",
        Absent("always"),
        "act with this probability (0.0 to 1.0), drawn from the seed",
    ),
    field(
        "rule.from",
        Absent("the start"),
        "act only from this simulated time on (since the start of the run), e.g. `1s`",
    ),
    field(
        "rule.until",
        Absent("the end"),
        "act only before this simulated time, e.g. `5s` (a message fault's interval: `[from, until)`)",
    ),
    field("rule.action", Required, "what to do (proxy actions below)"),
    field(
        "connect.id",
        Is("connect"),
        "call id of a client's `connect` step (a scripted client's takes none)",
    ),
    field("request.id", Required, "call id, unique in the scenario"),
    field("request.channel", Required, "the channel (wirecheck-v1)"),
    field("request.body", Is("\"\""), "body of the `start` frame (wirecheck-v1)"),
    field("request.method", Required, "JSON-RPC: the method (instead of `channel`)"),
    field(
        "request.params",
        Absent("none"),
        "JSON-RPC: the params, any YAML value (absent: no `params` member)",
    ),
    field(
        "request.chunks",
        Is("[]"),
        "chunks sent after `start`, then `end` (none: one `start` with `end: true`)",
    ),
    field(
        "request.timeout",
        Text("the client's `request_timeout`"),
        "the call's timeout",
    ),
    field(
        "batch.calls",
        Required,
        "JSON-RPC: the calls sent as one array, each `{ id, method, params }` like a request (no `timeout`)",
    ),
    field(
        "batch.timeout",
        Text("the client's `request_timeout`"),
        "the timeout of every call of the batch",
    ),
    field("notify.method", Required, "JSON-RPC: the notification's method"),
    field(
        "notify.params",
        Absent("none"),
        "JSON-RPC: the params, any YAML value (absent: no `params` member)",
    ),
    field(
        "heal.within",
        Required,
        "the bound each request made after the `heal` step must be answered within (CONN-7)",
    ),
    field(
        "latency.between",
        Required,
        "the two hosts whose link (both directions) the `latency` step changes",
    ),
    field(
        "latency.to",
        Required,
        "the link's latency from then on: `50ms` or `{ min: 10ms, max: 50ms }`; it stays until the next `latency` step on the link (write the network's latency back to end the change)",
    ),
    field(
        "first.of",
        Required,
        "two or more scripted hosts of one kind, any of which may receive the message",
    ),
    field(
        "first.expect",
        Required,
        "the message, as `<host>.expect` writes it (with its `within`)",
    ),
    field(
        "first.as",
        Required,
        "the name later steps use for the host that received it (not a host's name)",
    ),
    field("cancel.id", Required, "call id of the request to cancel (not a call of a batch)"),
    field(
        "result.id",
        Required,
        "call id: a request's, or a connect's (`connect` by default)",
    ),
    field(
        "result.ok",
        Text("one of `ok`, `error`, `fails`"),
        "success with this body (`welcome` for a connect); JSON-RPC: the result, any YAML value (`null` included)",
    ),
    field(
        "result.error",
        Text("one of `ok`, `error`, `fails`"),
        "the peer answered `error` with this code; JSON-RPC: the error object's integer code",
    ),
    field(
        "result.fails",
        Text("one of `ok`, `error`, `fails`"),
        "the call failed locally this way (failure kinds above)",
    ),
    field("result.within", Is("30s"), "how long to wait for the result"),
    field("expect.within", Is("30s"), "how long to wait for the message"),
    field(
        "send.to",
        Absent("the latest connection"),
        "send on the connection with this host (a scripted server with several connections)",
    ),
    field(
        "workload.broker",
        Required,
        "the broker every workload client reaches (through the nemesis' proxy when it has message faults)",
    ),
    field("workload.senders", Is("2"), "sender clients `s0`, `s1`, ... (at least 1)"),
    field(
        "workload.receivers",
        Is("2"),
        "receiver clients `w0`, `w1`, ..., serving `channel` with `echo` (at least 1)",
    ),
    field(
        "workload.requests",
        Is("20"),
        "requests made during the fault phase, each by a sender drawn at random",
    ),
    field(
        "workload.rate",
        Is("100"),
        "requests per second over all senders (each gap drawn in `[0, 2/rate]`)",
    ),
    field("workload.channel", Is("jobs"), "the channel requests go to"),
    field(
        "workload.body",
        Is("{ min: 0, max: 32 }"),
        "padding bytes after each body's tag `<sender>/<id>|` (which lets a checker tie an answer to its request): a number or `{ min, max }`",
    ),
    field(
        "workload.chunks",
        Is("{ min: 0, max: 2 }"),
        "chunk frames after each request's `start`: a number or `{ min, max }`",
    ),
    field(
        "workload.timeout",
        Is("{ min: 500ms, max: 2s }"),
        "each request's timeout: a duration or `{ min, max }`",
    ),
    field(
        "workload.cancel",
        Is("0.0"),
        "probability that the sender cancels a request before its timeout",
    ),
    field(
        "workload.info",
        Is("0.0"),
        "probability that a request is a `$info` query to the broker instead (body: the sender's id)",
    ),
    field(
        "workload.reply_delay",
        Is("{ min: 0ms, max: 50ms }"),
        "each receiver's delay before answering (drawn once per receiver)",
    ),
    field(
        "workload.reply_chunks",
        Is("{ min: 0, max: 2 }"),
        "chunk frames of each receiver's answers (drawn once per receiver)",
    ),
    field(
        "workload.concurrency",
        Is("{ min: 1, max: 2 }"),
        "requests each receiver serves at once (drawn once per receiver)",
    ),
    field(
        "nemesis.faults",
        Is("3"),
        "network and process faults drawn during the fault phase (0: message faults only)",
    ),
    field(
        "nemesis.kinds",
        Is("[partition, majority, hold, crash, bounce]"),
        "the faults drawn from (nemesis faults below; `oneway` and `latency` only when listed)",
    ),
    field(
        "nemesis.length",
        Is("{ min: 200ms, max: 1s }"),
        "how long each fault lasts before it heals (a crashed host restarts then)",
    ),
    field(
        "nemesis.messages",
        Is("{}"),
        "the chaos proxy's message faults, or `off` (no proxy: clients reach the broker directly)",
    ),
    field(
        "nemesis.messages.rate",
        Is("0.02"),
        "probability that a rule acts on a message it matches (one rule per action)",
    ),
    field(
        "nemesis.messages.actions",
        Is("[drop, duplicate, delay, reorder, corrupt, close]"),
        "the proxy actions used, each active during the fault phase only",
    ),
    field(
        "nemesis.heal",
        Is("{}"),
        "after the fault phase: every fault healed, then `settle`, then `requests` that must succeed",
    ),
    field(
        "nemesis.heal.settle",
        Is("4s"),
        "time for the system to notice dead connections and recover (longer than the broker's `idle_timeout` plus 1.5s)",
    ),
    field(
        "nemesis.heal.requests",
        Is("10"),
        "requests made after the heal (their rate is the workload's)",
    ),
    field(
        "nemesis.heal.within",
        Is("2s"),
        "each request made after the heal must be answered within this (CONN-7)",
    ),
];
