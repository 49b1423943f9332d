//! Script steps: global steps (time, faults) and host steps (calls, results, frames).

use super::{Calls, Checker, DEFAULT_WITHIN, R};
use crate::model::vocab::{
    fail_kind_names, is_global_step, is_host_step, step_names, FailKind, Kind,
};
use crate::model::{Action, BatchCall, NotifyCall, Outcome, Protocol, RequestCall, Step};
use crate::scenario::error::closest;
use crate::scenario::raw::{Body, RawBatch, RawFirst, RawNotify, RawRequest, RawStep};
use crate::scenario::shapes::{OneKey, OrderedMap, S};
use serde_saphyr::Location;

impl Checker<'_> {
    pub(super) fn step(&self, step: &S<RawStep>, calls: &mut Calls) -> R<Step> {
        let (key, body, extra) = match &step.value {
            OneKey::Entry { key, value, extra } => (key, value, extra),
            other @ (OneKey::Word(_) | OneKey::Invalid(_)) => {
                return Err(self.err(
                    &step.referenced,
                    format!("bad step: found {}", other.found()),
                    "a step is a one-key map, e.g. `- wait: 2s` or `- app.request: { id: r1, channel: jobs }`"
                        .to_string(),
                ));
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
        let action = match (key.value.split_once('.'), body) {
            (None, Body::First(f)) => self.first(f, calls)?,
            (None, _) => self.global_step(key, body)?,
            (Some((host, action)), _) => {
                let host = S::new(host.to_string(), key.referenced, key.defined);
                let kind = match calls.aliases.get(&host.value) {
                    Some(k) => *k,
                    None => self.host(&host)?,
                };
                let action = S::new(action.to_string(), key.referenced, key.defined);
                self.host_step(&host, kind, &action, body, calls)?
            }
        };
        Ok(Step {
            loc: self.loc(at),
            action,
        })
    }

    pub(super) fn host_step(
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
        if is_global_step(name) && name != "release" {
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
        if !kind.takes(name) {
            let valid = step_names(kind.steps());
            let known = is_host_step(name);
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
            // Every kind takes at least `counters`.
            hint.push_str(&format!(
                "actions of a {}: {}",
                kind.label(),
                valid.join(", ")
            ));
            if known {
                let owners: Vec<&str> = Kind::ALL
                    .into_iter()
                    .filter(|k| k.takes(name))
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
        Ok(match (kind, name, body) {
            (Kind::Client, "connect", Body::Connect(c)) => {
                let id =
                    c.id.clone()
                        .unwrap_or_else(|| S::new("connect".to_string(), *at, action.defined));
                self.define(&h, calls, &id, "connect")?;
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
            (_, "request", Body::Request(r)) => Action::Request {
                call: self.request_call(&h, at, r, calls)?,
                host: h,
            },
            (_, "batch", Body::Batch(b)) => Action::Batch {
                batch: self.batch(&h, at, b, calls)?,
                host: h,
            },
            (_, "notify", Body::Notify(n)) => Action::Notify {
                notify: self.notify(at, n)?,
                host: h,
            },
            (_, "cancel", Body::Cancel(c)) => {
                defined(calls, &c.id)?;
                if let Some(first) = calls.batched.get(&c.id.value) {
                    return Err(self.err(
                        &c.id.referenced,
                        format!("`{}` was sent in a batch (the batch of `{first}`)", c.id.value),
                        "a call of a batch cannot be cancelled alone (the libraries' batch calls have one outcome); cancel a call made with `request:`".to_string(),
                    ));
                }
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
                let is_request = calls.requests.contains_key(&r.id.value);
                let ok =
                    r.ok.as_ref()
                        .map(|v| self.outcome_text(v, "ok", is_request))
                        .transpose()?;
                let error = r
                    .error
                    .as_ref()
                    .map(|v| self.outcome_text(v, "error", is_request))
                    .transpose()?;
                let outcomes: Vec<(&str, &S<String>)> =
                    [("ok", &ok), ("error", &error), ("fails", &r.fails)]
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
                        if FailKind::from_name(&v.value).is_none() {
                            let kinds = fail_kind_names();
                            let mut hint = String::new();
                            if let Some(c) = closest(&v.value, kinds.iter().copied()) {
                                hint.push_str(&format!("did you mean `{c}`? "));
                            }
                            if v.value == "rejected" {
                                hint.push_str(
                                        "a refused registration is the broker's error code: write `error: <code>`, e.g. `error: unauthorized`; ",
                                    );
                            }
                            hint.push_str(&format!("kinds: {}", kinds.join(", ")));
                            return Err(self.err(
                                &v.referenced,
                                format!("unknown failure kind `{}`", v.value),
                                hint,
                            ));
                        }
                        Outcome::Fails(
                            FailKind::from_name(&v.value).expect("checked against the kinds"),
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
            (_, "counters", Body::Counters(m)) => self.counters_step(host, kind, m)?,
            (_, "send" | "expect", Body::Message(m)) => self.message(h, name, m, calls)?,
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
                        step_names(kind.steps()).join(", ")
                    ),
                ))
            }
        })
    }
}

impl Checker<'_> {
    /// `<host>.counters: { pending: 0, within: 5s }`: the counters are checked like the
    /// final `expect:` (names against the host's kind), `within` is a duration.
    fn counters_step(
        &self,
        host: &S<String>,
        kind: Kind,
        m: &S<OrderedMap<S<String>>>,
    ) -> R<Action> {
        let mut within = None;
        let mut counters = Vec::new();
        for (key, value) in &m.value.0 {
            if key.value == "within" {
                within = Some(self.duration(value)?);
                continue;
            }
            let n = value.value.trim().parse::<u64>().map_err(|_| {
                self.err(
                    &value.referenced,
                    format!(
                        "counter `{}` wants a whole number, got `{}`",
                        key.value, value.value
                    ),
                    format!("write e.g. `{}: 1`", key.value),
                )
            })?;
            counters.push((key.clone(), S::new(n, value.referenced, value.defined)));
        }
        if counters.is_empty() {
            return Err(self.err(
                &m.referenced,
                format!("`{}.counters` names no counter", host.value),
                "list the counters to wait for, e.g. `{ pending: 0, within: 5s }`".to_string(),
            ));
        }
        Ok(Action::Counters {
            expect: self.expectation_of(host, kind, &OrderedMap(counters))?,
            within: within.unwrap_or(DEFAULT_WITHIN),
        })
    }
}

impl Checker<'_> {
    /// Defines call id `id` on host `h` (unique per host).
    fn define(&self, h: &str, calls: &mut Calls, id: &S<String>, what: &str) -> R<()> {
        let ids = calls.defined.entry(h.to_owned()).or_default();
        if ids.contains(&id.value) {
            return Err(self.err(
                &id.referenced,
                format!("call id `{}` is already used on `{h}`", id.value),
                format!("give this {what} its own id, e.g. `id: {}-2`", id.value),
            ));
        }
        ids.insert(id.value.clone());
        Ok(())
    }

    /// A request's call: its id unique in the scenario, its target in the protocol.
    fn request_call(
        &self,
        h: &str,
        at: &Location,
        r: &RawRequest,
        calls: &mut Calls,
    ) -> R<RequestCall> {
        if let Some(first) = calls.requests.get(&r.id.value) {
            return Err(self.err(
                &r.id.referenced,
                // Same file: the line and column say where, without a machine path.
                format!(
                    "request id `{}` is already used (at line {}, column {})",
                    r.id.value, first.line, first.column
                ),
                format!(
                    "request ids must be unique in the whole scenario (the broker requires unique in-flight ids); pick a new one, e.g. `{}-2`",
                    r.id.value
                ),
            ));
        }
        self.define(h, calls, &r.id, "request")?;
        calls
            .requests
            .insert(r.id.value.clone(), self.loc(&r.id.referenced));
        let (channel, body) = self.request_target(at, r)?;
        calls.rpc.insert(
            r.id.value.clone(),
            (h.to_owned(), channel.clone(), body.clone()),
        );
        Ok(RequestCall {
            id: r.id.value.clone(),
            channel,
            body,
            chunks: r.chunks.clone().unwrap_or_default(),
            timeout: r.timeout.as_ref().map(|t| self.duration(t)).transpose()?,
        })
    }

    /// `<client>.batch: { calls: [..], timeout }` (JSON-RPC only).
    fn batch(&self, h: &str, at: &Location, b: &RawBatch, calls: &mut Calls) -> R<BatchCall> {
        self.rpc_only(at, "batch", "`request:` steps, one per call")?;
        if b.calls.value.is_empty() {
            return Err(self.err(
                &b.calls.referenced,
                "a batch needs at least one call (an empty array is an invalid request)",
                "list the calls, e.g. `calls: [ { id: r1, method: echo, params: [1] } ]`"
                    .to_string(),
            ));
        }
        let mut out = Vec::new();
        for item in &b.calls.value {
            if let Some(t) = &item.value.timeout {
                return Err(self.err(
                    &t.referenced,
                    "a call of a batch has no timeout of its own",
                    "give the batch one: `{ calls: [..], timeout: 5s }`".to_string(),
                ));
            }
            let call = self.request_call(h, &item.referenced, &item.value, calls)?;
            calls
                .batched
                .insert(call.id.clone(), b.calls.value[0].value.id.value.clone());
            out.push(call);
        }
        Ok(BatchCall {
            calls: out,
            timeout: b.timeout.as_ref().map(|t| self.duration(t)).transpose()?,
        })
    }

    /// `<client>.notify: { method, params }` (JSON-RPC only).
    fn notify(&self, at: &Location, n: &RawNotify) -> R<NotifyCall> {
        self.rpc_only(at, "notify", "a `request:` without waiting for its result")?;
        Ok(NotifyCall {
            method: n.method.value.clone(),
            params: n
                .params
                .as_ref()
                .map(|p| wirecheck_core::jsonrpc::canonical(&p.value))
                .unwrap_or_default(),
        })
    }

    /// Steps that exist only under `protocol: jsonrpc-2.0`.
    fn rpc_only(&self, at: &Location, step: &str, instead: &str) -> R<()> {
        if self.protocol == Protocol::JsonRpc2 {
            return Ok(());
        }
        Err(self.err(
            at,
            format!("`{step}` is a JSON-RPC step; this scenario speaks wirecheck-v1"),
            format!("put `protocol: jsonrpc-2.0` at the top of the file, or use {instead}"),
        ))
    }
}

impl Checker<'_> {
    /// `first: { of: [a, b], expect: {..}, as: name }`: scripted hosts of one kind, a
    /// message pattern as `expect` writes it, and a new name for whichever host gets it.
    fn first(&self, f: &RawFirst, calls: &mut Calls) -> R<Action> {
        let of = &f.of;
        if of.value.len() < 2 {
            return Err(self.err(
                &of.referenced,
                format!("`first` needs two or more hosts, found {}", of.value.len()),
                "for one host write `<host>.expect: {..}`".to_string(),
            ));
        }
        let mut kind: Option<(Kind, &S<String>)> = None;
        for (i, h) in of.value.iter().enumerate() {
            let k = self.host(h)?;
            if !matches!(k, Kind::ScriptedServer | Kind::ScriptedClient) {
                return Err(self.err(
                    &h.referenced,
                    format!("`first` waits on scripted hosts; `{}` is a {}", h.value, k.label()),
                    "list scripted hosts (`{ scripted: server }` or `{ scripted: { client: .. } }`): a reference client or broker answers by itself".to_string(),
                ));
            }
            if of.value[..i].iter().any(|o| o.value == h.value) {
                return Err(self.err(
                    &h.referenced,
                    format!("`{}` is listed twice", h.value),
                    "list each host once".to_string(),
                ));
            }
            match kind {
                Some((k0, h0)) if k0 != k => {
                    return Err(self.err(
                        &h.referenced,
                        format!(
                            "the hosts of `first` are of one kind: `{}` is a {} and `{}` a {}",
                            h0.value,
                            k0.label(),
                            h.value,
                            k.label()
                        ),
                        "later steps of the bound name must fit whichever host it is".to_string(),
                    ))
                }
                Some(_) => {}
                None => kind = Some((k, h)),
            }
        }
        let (kind, _) = kind.expect("two or more hosts were checked");
        let alias = &f.alias;
        let ok_name = !alias.value.is_empty()
            && alias
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let taken = if self.kind_of(&alias.value).is_some() {
            Some("a host")
        } else if calls.aliases.contains_key(&alias.value) {
            Some("bound by an earlier `first`")
        } else {
            None
        };
        if !ok_name || taken.is_some() {
            return Err(self.err(
                &alias.referenced,
                match taken {
                    Some(what) => format!("`as: {}` is {what}", alias.value),
                    None => format!("bad name `{}`", alias.value),
                },
                "give it a new name of letters, digits, `-` and `_`, e.g. `as: worker`".to_string(),
            ));
        }
        let Action::Expect {
            pattern, within, ..
        } = self.message(of.value[0].value.clone(), "expect", &f.expect, calls)?
        else {
            unreachable!("an `expect` message is an Expect action")
        };
        calls.aliases.insert(alias.value.clone(), kind);
        Ok(Action::First {
            of: of.value.iter().map(|h| h.value.clone()).collect(),
            pattern,
            within,
            alias: alias.value.clone(),
        })
    }
}
