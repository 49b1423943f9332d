//! The scenario model: what a scenario file means, after loading and validation.
//!
//! These types describe behaviour (hosts, calls, wire messages, faults), never the
//! Rust types of the system under test, so the same scenario can later drive an
//! implementation in another language over real sockets.
//!
//! The names a scenario can use (host kinds, steps, counters, failure kinds) are defined
//! once, in [`vocab`].

pub mod chaos;
pub mod vocab;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
pub use vocab::FailKind;
pub use wirecheck_core::Protocol;

/// A position in a scenario file (1-based line and column).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loc {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A loaded, validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Name, e.g. `mux/duplicate-response`: the `name:` written in the file (which
    /// [`crate::scenario::load_file`] requires to be the file's path without `.yaml`, or a
    /// tail of it), else [`crate::scenario::derived_name`] of the file.
    pub name: String,
    /// Where the `name` value is written; line 1, column 1 when the name is derived.
    pub name_loc: Loc,
    /// Whether the file writes `name:` (false: the name is derived from the path).
    pub name_written: bool,
    /// One paragraph saying what the scenario shows.
    pub about: String,
    /// Rule ids the scenario exercises (validated against the rule list).
    pub rules: Vec<String>,
    /// The wire protocol the hosts speak (`protocol:`; default `wirecheck-v1`).
    pub protocol: Protocol,
    /// Seed of the simulation and of every RNG in it.
    pub seed: u64,
    pub network: Network,
    /// Hard limit of simulated time for the whole run.
    pub duration: Duration,
    /// Hosts in declaration order (this is also the lane order of the diagram).
    pub hosts: Vec<Host>,
    pub script: Vec<Step>,
    /// Final expectations, checked after the script and a quiet period.
    pub expect: Vec<Expectation>,
    /// Rules this scenario breaks on purpose (a scripted peer misbehaves): the checkers
    /// must report exactly these rules, and the scenario passes only if they do.
    pub expect_violations: Vec<String>,
    /// `workload:` and `nemesis:`: drawn from the seed into hosts and script steps when
    /// the scenario runs (`crate::chaos::expand`); `None` for a scripted scenario.
    pub chaos: Option<chaos::ChaosSpec>,
    /// The file the scenario came from.
    pub file: PathBuf,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Message latency is drawn uniformly from `[min_latency, max_latency]` by turmoil.
    pub min_latency: Duration,
    pub max_latency: Duration,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            min_latency: Duration::from_millis(1),
            max_latency: Duration::from_millis(1),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    pub name: String,
    pub kind: HostKind,
    pub loc: Loc,
}

#[derive(Clone, Debug, PartialEq)]
pub enum HostKind {
    Broker(BrokerSpec),
    Client(ClientSpec),
    Scripted(ScriptedSpec),
    /// A message-level chaos proxy in front of `target`.
    Proxy(ProxySpec),
    /// The reference JSON-RPC 2.0 server.
    RpcServer,
    /// The reference relay in front of `backends`.
    Relay(RelaySpec),
}

impl HostKind {
    /// The kind without its settings.
    pub fn kind(&self) -> vocab::Kind {
        match self {
            HostKind::Broker(_) => vocab::Kind::Broker,
            HostKind::Client(_) => vocab::Kind::Client,
            HostKind::Scripted(ScriptedSpec::Server) => vocab::Kind::ScriptedServer,
            HostKind::Scripted(ScriptedSpec::Client { .. }) => vocab::Kind::ScriptedClient,
            HostKind::Proxy(_) => vocab::Kind::Proxy,
            HostKind::RpcServer => vocab::Kind::RpcServer,
            HostKind::Relay(_) => vocab::Kind::Relay,
        }
    }

    /// `broker`, `client`, `scripted server`, `scripted client` or `proxy`.
    pub fn label(&self) -> &'static str {
        self.kind().label()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BrokerSpec {
    /// Largest accepted message, in bytes.
    pub max_message: usize,
    /// Outbound budget of each connection, in messages of `max_message` bytes.
    pub queue: usize,
    /// A connection silent for this long is closed.
    pub idle_timeout: Duration,
    /// When non-empty, `hello` must carry the token listed for its client id.
    pub tokens: BTreeMap<String, String>,
}

impl Default for BrokerSpec {
    fn default() -> Self {
        BrokerSpec {
            max_message: 64 * 1024,
            queue: 64,
            idle_timeout: Duration::from_secs(30),
            tokens: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClientSpec {
    /// Client id sent in `hello`; defaults to the host name.
    pub id: String,
    pub token: Option<String>,
    /// Broker (or scripted server) hosts, in failover order. At least one.
    pub connect: Vec<String>,
    /// Connect when the host starts (call id `connect`); otherwise wait for a `connect` step.
    pub autoconnect: bool,
    pub register_timeout: Duration,
    /// Default timeout of a request when the step gives none.
    pub request_timeout: Duration,
    /// `None`: no heartbeats.
    pub heartbeat: Option<HeartbeatSpec>,
    /// `None`: never reconnect.
    pub reconnect: Option<ReconnectSpec>,
    /// Channels served from the start.
    pub serve: Vec<ServeSpec>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HeartbeatSpec {
    pub interval: Duration,
    /// No frame received for this long: the connection is dead.
    pub timeout: Duration,
}

impl Default for HeartbeatSpec {
    fn default() -> Self {
        HeartbeatSpec {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReconnectSpec {
    /// First backoff delay; doubles each failed attempt up to `cap`.
    pub base: Duration,
    pub cap: Duration,
    /// Fraction of the delay added at random (0.0 to 1.0), drawn from the seeded RNG.
    pub jitter: f64,
    /// At most this many attempts per `window`.
    pub max_attempts: u32,
    pub window: Duration,
    /// At least this long between two attempts.
    pub min_gap: Duration,
}

impl Default for ReconnectSpec {
    fn default() -> Self {
        ReconnectSpec {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            jitter: 0.0,
            max_attempts: 3,
            window: Duration::from_secs(60),
            min_gap: Duration::from_secs(5),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServeSpec {
    pub channel: String,
    pub reply: Reply,
    /// Delay before answering each request.
    pub delay: Duration,
    /// Number of chunk frames the answer is split into (0: a single `start` with `end: true`).
    pub chunks: u32,
    /// Requests served at the same time (receive credits).
    pub concurrency: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Answer with the request body.
    Echo,
    /// Answer with this body.
    Fixed(String),
    /// Answer with `error` carrying this code.
    Error(String),
    /// Never answer.
    Ignore,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ScriptedSpec {
    /// A raw WebSocket server that accepts connections; the script sends and expects frames.
    Server,
    /// A raw WebSocket client that connects to `target` (a host name).
    Client { target: String, autoconnect: bool },
}

/// A message-level chaos proxy: listens like a broker, opens one connection to `target`
/// per accepted connection, and pumps WebSocket messages both ways, applying `rules` in
/// order (the first matching rule acts on a message; unmatched messages pass unchanged).
#[derive(Clone, Debug, PartialEq)]
pub struct ProxySpec {
    /// A broker or scripted server host.
    pub target: String,
    pub rules: Vec<ProxyRule>,
}

/// A relay: clients connect to it; it forwards each to the first healthy backend and moves
/// it to the next one when its backend dies (PROTOCOL.md, "The relay").
#[derive(Clone, Debug, PartialEq)]
pub struct RelaySpec {
    /// Broker, scripted server or proxy hosts, in order of preference. At least one.
    pub backends: Vec<String>,
    /// At most this many failover attempts per client per `window`; this many failed in a
    /// row and the relay closes the client.
    pub max_attempts: u32,
    pub window: Duration,
    /// At least this long between two failover attempts for one client.
    pub min_gap: Duration,
    /// How often a backend held down is probed.
    pub probe_interval: Duration,
    /// A backend dial longer than this fails.
    pub connect_timeout: Duration,
    /// Messages held per client while no backend serves it.
    pub buffer: usize,
    /// A client connection silent this long is closed.
    pub idle_timeout: Duration,
}

impl Default for RelaySpec {
    fn default() -> Self {
        RelaySpec {
            backends: Vec::new(),
            max_attempts: 3,
            window: Duration::from_secs(60),
            min_gap: Duration::from_secs(5),
            probe_interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            buffer: 64,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Which way a message travels through the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyDir {
    /// From the connecting client toward the target.
    Up,
    /// From the target back to the client.
    Down,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProxyRule {
    /// `None`: both directions.
    pub dir: Option<ProxyDir>,
    /// Message `type` to match (`start`, `chunk`...); `None`: any, including undecodable text.
    pub kind: Option<String>,
    /// Request id to match.
    pub req: Option<String>,
    /// Channel to match (on `start` and `receive`).
    pub channel: Option<String>,
    /// Act only on the nth matching message (1-based), counted per rule over the run.
    pub nth: Option<u32>,
    /// Act with this probability (drawn from the scenario seed); `None`: always.
    pub probability: Option<f64>,
    /// Act only from this simulated time on (since the start of the run).
    pub from: Option<Duration>,
    /// Act only before this simulated time.
    pub until: Option<Duration>,
    pub action: ProxyAction,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ProxyAction {
    /// The message is not forwarded.
    Drop,
    /// Forwarded twice.
    Duplicate,
    /// Forwarded after a delay drawn uniformly from `[min, max]`. The connection's order
    /// is kept: later messages in the same direction wait behind it.
    Delay {
        min: Duration,
        max: Duration,
    },
    /// Kept until a `<proxy>.release` step, then forwarded in order.
    Hold,
    /// Collected until `window` messages matched, then forwarded in reverse order.
    Reorder {
        window: u32,
    },
    Corrupt(Corruption),
    /// Both sides of this connection are closed instead of forwarding the message.
    Close,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// Replaced by text that is not JSON.
    InvalidJson,
    /// `req` replaced by an id nobody uses.
    WrongId,
    /// Cut to half its length.
    Truncate,
}

/// One script step.
#[derive(Clone, Debug)]
pub struct Step {
    pub loc: Loc,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Advance simulated time.
    Wait(Duration),
    /// Network faults between hosts (all pairs of `a` × `b`).
    Partition {
        a: String,
        b: String,
    },
    Repair {
        a: String,
        b: String,
    },
    /// Messages from `from` to `to` are lost; the other direction still delivers.
    PartitionOneway {
        from: String,
        to: String,
    },
    /// Ends a `PartitionOneway` from `from` to `to`.
    RepairOneway {
        from: String,
        to: String,
    },
    /// Messages between `a` and `b` (both ways) take `[min, max]` from now on.
    Latency {
        a: String,
        b: String,
        min: Duration,
        max: Duration,
    },
    Hold {
        a: String,
        b: String,
    },
    Release {
        a: String,
        b: String,
    },
    Crash {
        host: String,
    },
    Bounce {
        host: String,
    },
    /// Every fault is over: from here on, each request must be answered within `within`
    /// (CONN-7).
    Heal {
        within: Duration,
    },
    /// Calls on a reference client host.
    Connect {
        host: String,
        id: String,
    },
    Request {
        host: String,
        call: RequestCall,
    },
    /// JSON-RPC: calls sent together as one batch; each completes on its own, by id.
    Batch {
        host: String,
        batch: BatchCall,
    },
    /// JSON-RPC: a notification (no id, no result).
    Notify {
        host: String,
        notify: NotifyCall,
    },
    Cancel {
        host: String,
        id: String,
    },
    Disconnect {
        host: String,
    },
    Serve {
        host: String,
        serve: ServeSpec,
    },
    /// Wait until call `id` on `host` has a result (at most `within`), then compare.
    Result {
        host: String,
        id: String,
        expect: Outcome,
        within: Duration,
    },
    /// Scripted peers.
    Send {
        host: String,
        frame: Frame,
    },
    Expect {
        host: String,
        pattern: FramePattern,
        within: Duration,
    },
    /// `<host>.counters: { pending: 0, within: 5s }`: wait until every listed counter of
    /// the host has its value (fails after `within`).
    Counters {
        expect: Expectation,
        within: Duration,
    },
    /// Wait until one of the scripted hosts `of` receives a message matching `pattern`;
    /// from then on `alias` names that host.
    First {
        of: Vec<String>,
        pattern: FramePattern,
        within: Duration,
        alias: String,
    },
    /// Scripted client connects to its target / scripted peer closes its connection.
    ScriptedConnect {
        host: String,
    },
    ScriptedClose {
        host: String,
    },
    /// A proxy forwards every held message.
    ProxyRelease {
        host: String,
    },
    /// A scripted peer sends on its connection with host `to` (rather than its latest).
    SendTo {
        host: String,
        to: String,
        frame: Frame,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct RequestCall {
    pub id: String,
    pub channel: String,
    /// Body of the `start` frame.
    pub body: String,
    /// Chunks sent after `start` (then `end`); empty: a single `start` with `end: true`.
    pub chunks: Vec<String>,
    pub timeout: Option<Duration>,
}

/// JSON-RPC calls sent as one batch (an array), with one timeout for all of them.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchCall {
    /// Each call's `channel` is its method and `body` its canonical params; `timeout` and
    /// `chunks` are unused (the batch's `timeout` applies to every call).
    pub calls: Vec<RequestCall>,
    pub timeout: Option<Duration>,
}

/// A JSON-RPC notification the caller sends.
#[derive(Clone, Debug, PartialEq)]
pub struct NotifyCall {
    pub method: String,
    /// Canonical JSON; empty: no `params` member.
    pub params: String,
}

/// The expected outcome of a call.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Success with this body (`connect` succeeds with body `welcome`).
    Ok(String),
    /// The peer answered `error` with this code.
    Error(String),
    /// The call failed locally.
    Fails(FailKind),
}

/// A wire message a scripted peer sends.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `{kind: {fields}}` in YAML: JSON object `{"type": kind, ...fields}`. Kind and fields are
    /// not validated, so a misbehaving peer can send anything well-formed as JSON.
    Json(serde_json::Value),
    /// Text sent verbatim (malformed JSON, garbage).
    Raw(String),
    /// JSON-RPC items (one, or a batch): sent once the wire ids they refer to are known.
    Rpc(RpcFrame),
}

/// A JSON-RPC message a scripted peer sends, whose ids may name a call (`call: r1`):
/// the wire id the call's request carried, found in the trace when the step runs.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcFrame {
    pub items: Vec<RpcItem>,
    /// `batch:` (a JSON array, even of one item) rather than one object.
    pub batch: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RpcItem {
    /// The whole object, with `id` left out when `call` gives it.
    pub value: serde_json::Value,
    /// The call whose request's wire id goes in `id`.
    pub call: Option<RpcCall>,
}

impl RpcFrame {
    /// The text sent: each item with the wire id `id_of` gives its call (an item whose
    /// call has none goes without `id`).
    pub fn text(&self, id_of: impl Fn(&RpcCall) -> Option<serde_json::Value>) -> String {
        let items: Vec<serde_json::Value> = self
            .items
            .iter()
            .map(|item| {
                let mut v = item.value.clone();
                if let (Some(call), serde_json::Value::Object(obj)) = (&item.call, &mut v) {
                    if let Some(id) = id_of(call) {
                        obj.insert("id".into(), id);
                    }
                }
                v
            })
            .collect();
        match (self.batch, items.as_slice()) {
            (false, [one]) => one.to_string(),
            _ => serde_json::Value::Array(items).to_string(),
        }
    }
}

/// A call of a client host, named by a scripted peer's `call: r1`.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcCall {
    pub client: String,
    pub call: String,
}

/// A pattern a received message must match: same `type`, and every listed field equal.
#[derive(Clone, Debug, PartialEq)]
pub struct FramePattern {
    pub kind: String,
    pub fields: BTreeMap<String, serde_json::Value>,
    /// How `kind` and `fields` are read: wirecheck-v1 (`type` and fields) or JSON-RPC
    /// (`request`, `notification`, `response`, `batch`; `call: r1` matches the call's wire
    /// id; `error` matches as a subset; a batch's `items` match in any order).
    pub protocol: Protocol,
}

/// Counters expected on a host (names are the host's counter names): at the end (`expect:`)
/// or during the script (`<host>.counters`).
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    pub host: String,
    pub loc: Loc,
    pub counters: BTreeMap<String, u64>,
}
