//! External targets: an implementation under test, started as a process, that replaces
//! every scenario host of its role: a `broker` reached over loopback TCP, or a `client`
//! library driven through an adapter that speaks DRIVER.md on stdin/stdout.
//!
//! A target file (YAML) says how to start it and when it is ready:
//!
//! ```yaml
//! name: refbroker
//! role: broker
//! start: ["{target_dir}/wirecheck-broker", --listen, "{host}:{port}", --quiet,
//!         --max-message, "{max_message}", --queue, "{queue}", --idle-timeout, "{idle_timeout_s}",
//!         [--token, "{client}={token}"]]          # a nested list repeats once per token
//! ready: { stdout: "listening on", timeout: 10s }  # or { stderr: TEXT } or { tcp: true }
//! env: { RUST_LOG: info }
//! capabilities: [tokens, info, heartbeat, max_message, queue, idle_timeout]  # default: all
//! ```
//!
//! Placeholders (in `start` and `env` values): `{host}` (the process's own loopback
//! address), `{port}` (a free port on it), `{max_message}` (bytes), `{queue}` (messages),
//! `{idle_timeout_s}` (whole seconds, rounded up), `{idle_timeout_ms}`, `{tokens}`
//! (`client=token,...`), `{client}`/`{token}` (inside a per-token list), `{target_dir}`
//! (`$WIRECHECK_TARGET_DIR`, else the folder of the running executable: cargo's
//! `target/debug`), `{dir}` (the target file's folder).
//!
//! A `client` target has no `ready` (its reply to `init` is its readiness; `ready:
//! { timeout }` may still bound it) and no `capabilities` (the reply lists them). Either
//! role may list `flaws:` (name → `{ about, rules }`): the switchable bugs the target
//! carries, turned on one at a time with `WIRECHECK_FLAW=name` for the kill matrix.
//! `documented:` (scenario name → `{ why, link, rules }`) lists behaviour the target's own
//! documentation states as intended: a run of that scenario that breaks only those rules
//! is INFORMATIONAL (reported, not a failure), as Autobahn grades documented deviations.

mod apply;
pub mod flaws;
mod load;
pub mod process;
pub mod run;
pub mod table;

pub use apply::{applicability, Applicability};
pub use load::{load_file, load_str};

use crate::model::BrokerSpec;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A loaded target file.
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub about: String,
    pub role: Role,
    /// The wire protocol it speaks (`protocol:`; default wirecheck-v1): it is tried only on
    /// scenarios of that protocol.
    pub protocol: crate::model::Protocol,
    /// The command: program first, then arguments (with placeholders).
    pub start: Vec<Arg>,
    pub ready: Ready,
    pub ready_timeout: Duration,
    pub env: BTreeMap<String, String>,
    /// Working directory (relative paths are relative to the target file).
    pub cwd: Option<PathBuf>,
    /// Broker targets: what it supports (client adapters report theirs in `init`).
    pub capabilities: Vec<Capability>,
    /// Switchable flaws of the target (`WIRECHECK_FLAW=name`), by name.
    pub flaws: BTreeMap<String, FlawSpec>,
    /// Behaviour the implementation documents as intended, by scenario name: a run of
    /// that scenario that fails only as documented is INFORMATIONAL, not FAILED.
    pub documented: BTreeMap<String, Documented>,
    /// Environment set for this run on top of `env` (a flaw switched on).
    pub extra_env: BTreeMap<String, String>,
    pub file: PathBuf,
}

/// One switchable flaw a target declares.
#[derive(Clone, Debug, PartialEq)]
pub struct FlawSpec {
    pub about: String,
    /// The rules its author expects to catch it.
    pub rules: Vec<String>,
}

/// A behaviour the implementation's own documentation states as intended (a size limit,
/// a library that does not reconnect by design), which a scenario shows as a failure.
#[derive(Clone, Debug, PartialEq)]
pub struct Documented {
    /// What the documentation says, in one sentence.
    pub why: String,
    /// Where it says it (a URL, or a file and section).
    pub link: String,
    /// The rules the behaviour breaks in that scenario; empty: whatever fails in it.
    pub rules: Vec<String>,
}

impl Documented {
    /// Whether a failed run broke nothing beyond what this entry documents.
    pub fn covers(&self, broken: &[&str]) -> bool {
        self.rules.is_empty() || broken.iter().all(|r| self.rules.iter().any(|d| d == r))
    }

    /// The verdict's note: what is documented, and where.
    pub fn note(&self) -> String {
        format!("documented: {} ({})", self.why, self.link)
    }
}

/// Which scenario hosts a target replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Broker,
    /// A client library behind a DRIVER.md adapter.
    Client,
    /// A JSON-RPC server: replaces the scenario's `rpc-server` hosts.
    Server,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Broker => "broker",
            Role::Client => "client",
            Role::Server => "server",
        }
    }
}

/// What a client adapter may report in its `init` reply (DRIVER.md, "Capabilities").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientCap {
    Chunks,
    Cancel,
    Serve,
    Token,
    Heartbeat,
    Reconnect,
    Events,
    Stats,
    /// JSON-RPC: the `notify` op.
    Notify,
    /// JSON-RPC: the `batch` op.
    Batch,
    /// JSON-RPC: the library's own per-call timeout is set to `timeout_ms`.
    Timeout,
}

impl ClientCap {
    pub const ALL: [ClientCap; 11] = [
        ClientCap::Chunks,
        ClientCap::Cancel,
        ClientCap::Serve,
        ClientCap::Token,
        ClientCap::Heartbeat,
        ClientCap::Reconnect,
        ClientCap::Events,
        ClientCap::Stats,
        ClientCap::Notify,
        ClientCap::Batch,
        ClientCap::Timeout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ClientCap::Chunks => "chunks",
            ClientCap::Cancel => "cancel",
            ClientCap::Serve => "serve",
            ClientCap::Token => "token",
            ClientCap::Heartbeat => "heartbeat",
            ClientCap::Reconnect => "reconnect",
            ClientCap::Events => "events",
            ClientCap::Stats => "stats",
            ClientCap::Notify => "notify",
            ClientCap::Batch => "batch",
            ClientCap::Timeout => "timeout",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// One element of `start`.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    One(String),
    /// Repeated once per token of the scenario's broker (`{client}`, `{token}`), dropped
    /// when it has none.
    PerToken(Vec<String>),
}

/// When a started target is ready for connections.
#[derive(Clone, Debug, PartialEq)]
pub enum Ready {
    /// A line of its standard output contains the text.
    Stdout(String),
    /// A line of its standard error contains the text.
    Stderr(String),
    /// Its port accepts a TCP connection.
    Tcp,
}

/// What a target may declare it supports; a scenario that needs more is UNIMPLEMENTED.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    /// Checks `hello` tokens per client (passed with `{tokens}` or a per-token list).
    Tokens,
    /// Answers `$info` requests.
    Info,
    /// Answers `ping` with `pong`.
    Heartbeat,
    /// Refuses messages above `{max_message}` bytes with `too_large`.
    MaxMessage,
    /// Bounds each connection's outbound queue at `{queue}` messages (slow consumers).
    Queue,
    /// Closes connections silent for `{idle_timeout_s}`.
    IdleTimeout,
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Capability::Tokens,
        Capability::Info,
        Capability::Heartbeat,
        Capability::MaxMessage,
        Capability::Queue,
        Capability::IdleTimeout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Capability::Tokens => "tokens",
            Capability::Info => "info",
            Capability::Heartbeat => "heartbeat",
            Capability::MaxMessage => "max_message",
            Capability::Queue => "queue",
            Capability::IdleTimeout => "idle_timeout",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// Where a started target listens.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub host: std::net::Ipv4Addr,
    pub port: u16,
}

impl Target {
    /// Does any `start` argument or `env` value use `{name}`?
    pub fn uses(&self, name: &str) -> bool {
        let pat = format!("{{{name}}}");
        self.start.iter().any(|a| match a {
            Arg::One(s) => s.contains(&pat),
            Arg::PerToken(v) => v.iter().any(|s| s.contains(&pat)),
        }) || self.env.values().any(|v| v.contains(&pat))
    }

    /// Passes tokens at all (`{tokens}` or a per-token list)?
    pub fn passes_tokens(&self) -> bool {
        self.uses("tokens") || self.start.iter().any(|a| matches!(a, Arg::PerToken(_)))
    }

    /// The command line and environment for a client adapter (`{dir}`, `{target_dir}`).
    pub fn client_command(&self) -> (Vec<String>, BTreeMap<String, String>) {
        self.substitute(&[], &BTreeMap::new())
    }

    /// The command line and environment for one broker host, placeholders substituted.
    pub fn command(
        &self,
        spec: &BrokerSpec,
        at: &Endpoint,
    ) -> (Vec<String>, BTreeMap<String, String>) {
        let idle = spec.idle_timeout;
        let idle_s = idle.as_secs() + u64::from(idle.subsec_nanos() > 0);
        let tokens: Vec<String> = spec
            .tokens
            .iter()
            .map(|(c, t)| format!("{c}={t}"))
            .collect();
        let vars: Vec<(&str, String)> = vec![
            ("host", at.host.to_string()),
            ("port", at.port.to_string()),
            ("max_message", spec.max_message.to_string()),
            ("queue", spec.queue.to_string()),
            ("idle_timeout_s", idle_s.max(1).to_string()),
            ("idle_timeout_ms", idle.as_millis().to_string()),
            ("tokens", tokens.join(",")),
        ];
        self.substitute(&vars, &spec.tokens)
    }

    fn substitute(
        &self,
        vars: &[(&str, String)],
        tokens: &BTreeMap<String, String>,
    ) -> (Vec<String>, BTreeMap<String, String>) {
        let common = [
            ("target_dir", target_dir().display().to_string()),
            ("dir", self.dir().display().to_string()),
        ];
        let subst = |s: &str, extra: &[(&str, String)]| {
            let mut out = s.to_owned();
            for (k, v) in vars.iter().chain(&common).chain(extra) {
                out = out.replace(&format!("{{{k}}}"), v);
            }
            out
        };
        let mut argv = Vec::new();
        for a in &self.start {
            match a {
                Arg::One(s) => argv.push(subst(s, &[])),
                Arg::PerToken(group) => {
                    for (c, t) in tokens {
                        let extra = [("client", c.clone()), ("token", t.clone())];
                        argv.extend(group.iter().map(|s| subst(s, &extra)));
                    }
                }
            }
        }
        let mut env: BTreeMap<String, String> = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), subst(v, &[])))
            .collect();
        env.extend(self.extra_env.clone());
        (argv, env)
    }
}

impl Target {
    /// `{dir}`: the target file's folder, absolute when it exists.
    pub fn dir(&self) -> PathBuf {
        let parent = match self.file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf())
    }
}

/// `{target_dir}`: `$WIRECHECK_TARGET_DIR`, else the running executable's folder (with a
/// trailing `deps` removed, so test binaries resolve to `target/debug` too).
pub fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("WIRECHECK_TARGET_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().unwrap_or(Path::new(".")).to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}
