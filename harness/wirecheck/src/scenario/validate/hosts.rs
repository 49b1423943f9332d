//! Hosts: names, kinds, and the settings of brokers, clients and scripted peers.

use std::time::Duration;

use serde_saphyr::Location;

use super::{or_list, Checker, R};
use crate::model::vocab::{Kind, HOST_KEYS};
use crate::model::Protocol;
use crate::model::{
    BrokerSpec, ClientSpec, HeartbeatSpec, Host, HostKind, ReconnectSpec, Reply, ScriptedSpec,
    ServeSpec,
};
use crate::scenario::error::closest;
use crate::scenario::raw::{
    HostBody, RawBroker, RawClient, RawHeartbeat, RawHost, RawProxy, RawReconnect, RawReply,
    RawScriptedClient, RawServe,
};
use crate::scenario::shapes::{OneKey, OrderedMap, Switch, WordOrMap, S};

impl Checker<'_> {
    pub(super) fn hosts(&mut self, raw: &S<OrderedMap<S<RawHost>>>) -> R<Vec<Host>> {
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
            let (key, body) = match &kind.value {
                OneKey::Entry {
                    extra: Some(extra), ..
                } => {
                    return Err(self.err(
                        &extra.referenced,
                        format!(
                            "host `{}` has a second kind key `{}`",
                            name.value, extra.value
                        ),
                        format!(
                            "a host map has exactly one key: {}",
                            or_list(HOST_KEYS, false)
                        ),
                    ))
                }
                OneKey::Entry {
                    key,
                    value,
                    extra: None,
                } => (key, value),
                other @ (OneKey::Word(_) | OneKey::Invalid(_)) => {
                    return Err(self.err(
                        &kind.referenced,
                        format!("bad host `{}`: found {}", name.value, other.found()),
                        HOST_SHAPES.to_string(),
                    ));
                }
            };
            let shape = match body {
                HostBody::Broker(b) => Shape::Broker(b),
                HostBody::Client(c) => Shape::Client(c),
                HostBody::Scripted(s) => match &s.value {
                    WordOrMap::Word(w) if w == "server" => Shape::ScriptedServer,
                    WordOrMap::Map(c) => Shape::ScriptedClient(c),
                    other @ (WordOrMap::Word(_) | WordOrMap::Invalid(_)) => {
                        return Err(self.err(
                            &s.referenced,
                            format!("bad scripted host: found {}", other.found()),
                            "write `scripted: server` or `scripted: { client: <host> }`"
                                .to_string(),
                        ));
                    }
                },
                HostBody::Proxy(p) => Shape::Proxy(p),
                HostBody::RpcServer => Shape::RpcServer,
                HostBody::Unknown => {
                    let hint = match closest(&key.value, HOST_KEYS.iter().copied()) {
                        Some(c) => {
                            format!("did you mean `{c}`? a host is {}", or_list(HOST_KEYS, true))
                        }
                        None => HOST_SHAPES.to_string(),
                    };
                    return Err(self.err(
                        &key.referenced,
                        format!("unknown host kind `{}`", key.value),
                        hint,
                    ));
                }
            };
            let k = match shape {
                Shape::Broker(_) => Kind::Broker,
                Shape::Client(_) => Kind::Client,
                Shape::ScriptedServer => Kind::ScriptedServer,
                Shape::ScriptedClient(_) => Kind::ScriptedClient,
                Shape::Proxy(_) => Kind::Proxy,
                Shape::RpcServer => Kind::RpcServer,
            };
            self.protocol_allows(name, k)?;
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
                Shape::RpcServer => HostKind::RpcServer,
            };
            out.push(Host {
                name: name.value.clone(),
                kind,
                loc: self.loc(&name.referenced),
            });
        }
        Ok(out)
    }

    /// A broker speaks wirecheck-v1 only, an `rpc-server` JSON-RPC only.
    fn protocol_allows(&self, name: &S<String>, kind: Kind) -> R<()> {
        let wrong = match (self.protocol, kind) {
            (Protocol::JsonRpc2, Kind::Broker) => Some((
                "a broker speaks wirecheck-v1, and this scenario speaks jsonrpc-2.0",
                "use `{ rpc-server: {} }` (the reference JSON-RPC server) or `{ scripted: server }`",
            )),
            (Protocol::WirecheckV1, Kind::RpcServer) => Some((
                "an rpc-server speaks jsonrpc-2.0, and this scenario speaks wirecheck-v1",
                "put `protocol: jsonrpc-2.0` at the top of the file, or use `{ broker: {} }`",
            )),
            _ => None,
        };
        match wrong {
            Some((what, hint)) => Err(self.err(
                &name.referenced,
                format!("host `{}`: {what}", name.value),
                hint.to_string(),
            )),
            None => Ok(()),
        }
    }

    /// The declared hosts whose kind satisfies `pred`, in declaration order.
    pub(super) fn hosts_where(&self, pred: impl Fn(&Kind) -> bool) -> Vec<&str> {
        self.hosts
            .iter()
            .filter(|(_, k)| pred(k))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Checks that `target` names a host that accepts connections.
    pub(super) fn listening_target(&self, target: &S<String>, who: &str) -> R<()> {
        let kind = self.host(target)?;
        if !kind.listens() {
            let listeners = self.hosts_where(|k| k.listens());
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
    pub(super) fn broker(&self, b: &RawBroker) -> R<BrokerSpec> {
        let d = BrokerSpec::default();
        let queue =
            match &b.queue {
                Some(q) if q.value == 0 => return Err(self.err(
                    &q.referenced,
                    "`queue` must be at least 1",
                    "it is each connection's outbound budget, in messages of `max_message` bytes"
                        .to_string(),
                )),
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

    pub(super) fn client(&self, host: &str, c: &RawClient) -> R<ClientSpec> {
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
        if self.protocol == Protocol::JsonRpc2 {
            let v1_only = [
                ("heartbeat", c.heartbeat.as_ref().map(|h| h.referenced)),
                ("token", c.token.as_ref().map(|_| c.connect.referenced)),
            ];
            if let Some((field, Some(at))) = v1_only.into_iter().find(|(_, at)| at.is_some()) {
                return Err(self.err(
                    &at,
                    format!("`{field}` is a wirecheck-v1 setting; JSON-RPC has no {field}s"),
                    format!("remove `{field}:` from this jsonrpc-2.0 scenario's client"),
                ));
            }
        }
        let heartbeat = match &c.heartbeat {
            // JSON-RPC has no heartbeat (the reference never pings there).
            None if self.protocol == Protocol::JsonRpc2 => None,
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

    pub(super) fn heartbeat(&self, h: &RawHeartbeat, at: &Location) -> R<HeartbeatSpec> {
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

    pub(super) fn reconnect(&self, r: &RawReconnect) -> R<ReconnectSpec> {
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

    pub(super) fn serve(&self, s: &RawServe) -> R<ServeSpec> {
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
}

/// A host whose shape is known to be valid.
enum Shape<'a> {
    Broker(&'a RawBroker),
    Client(&'a RawClient),
    ScriptedServer,
    ScriptedClient(&'a RawScriptedClient),
    Proxy(&'a RawProxy),
    RpcServer,
}

const HOST_SHAPES: &str =
    "a host is `{ broker: {} }`, `{ client: {..} }`, `{ scripted: .. }`, `{ proxy: { target: .. } }` or `{ rpc-server: {} }`";

fn valid_host_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}
