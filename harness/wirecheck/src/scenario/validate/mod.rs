//! The checker: raw structures to the model, one problem at a time.
//!
//! [`Checker::scenario`] checks the top level here; hosts, proxies, steps and messages
//! are checked in the submodules. Every error points at the offending node and says
//! what to do.

mod chaos;
mod global_steps;
mod hosts;
mod jsonrpc;
mod message;
mod proxy;
mod relay;
mod steps;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde_saphyr::{Location, MessageFormatter};

use super::duration::{parse_duration, DURATION_HINT};
use super::error::{clean, closest, distance, snippet, yaml_hint, LoadError};
use super::raw::{RawLatency, RawNetwork, RawScenario};
use super::shapes::{OrderedMap, ScalarOrMap, S};
use crate::model::vocab::{counter_names, Kind};
use crate::model::{Expectation, HostKind, Loc, Network, Protocol, Scenario};

pub(super) struct Checker<'a> {
    src: &'a str,
    file: &'a Path,
    /// Declared hosts (name, kind), in order, once known.
    hosts: Vec<(String, Kind)>,
    /// The scenario's protocol (`protocol:`), known before hosts and steps are checked.
    protocol: Protocol,
}

type R<T> = Result<T, LoadError>;

/// How long `result` and `expect` steps wait when they give no `within`.
const DEFAULT_WITHIN: Duration = Duration::from_secs(30);

/// Per-scenario state of the script check.
#[derive(Default)]
struct Calls {
    /// Call ids defined so far, per host.
    defined: HashMap<String, HashSet<String>>,
    /// Request ids used so far (whole scenario), with where.
    requests: HashMap<String, Loc>,
    /// JSON-RPC: request id → (client host, method, canonical params), for `call:`.
    rpc: HashMap<String, (String, String, String)>,
    /// JSON-RPC: calls sent in a batch → the batch's first call.
    batched: HashMap<String, String>,
    /// Names bound by `first` steps → the kind of the hosts they may stand for.
    aliases: HashMap<String, Kind>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(src: &'a str, file: &'a Path) -> Self {
        Checker {
            src,
            file,
            hosts: Vec::new(),
            protocol: Protocol::default(),
        }
    }

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

    pub(super) fn yaml_error(&self, e: &serde_saphyr::Error) -> LoadError {
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

    pub(super) fn scenario(mut self, raw: S<RawScenario>) -> R<Scenario> {
        let start = raw.referenced;
        let raw = raw.value;
        let missing = |key: &str, example: &str| {
            self.err(
                &start,
                format!("missing `{key}`"),
                format!("every scenario has `about`, `rules` and `hosts` (`name` is optional); add e.g. `{key}: {example}`"),
            )
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
        let (name, name_loc) = match &raw.name {
            Some(raw_name) => {
                let name = raw_name.value.trim().to_string();
                if name.is_empty() {
                    return Err(self.err(
                        &raw_name.referenced,
                        "`name` is empty",
                        format!(
                            "write `name: {}` (the file's path without `.yaml`), or delete the line: the name is then derived from the path",
                            super::derived_name(self.file)
                        ),
                    ));
                }
                (name, self.loc(&raw_name.referenced))
            }
            None => (
                super::derived_name(self.file),
                Loc {
                    file: self.file.to_path_buf(),
                    line: 1,
                    column: 1,
                },
            ),
        };
        let about = raw_about.value.trim().to_string();
        if about.is_empty() {
            return Err(self.err(
                &raw_about.referenced,
                "`about` is empty",
                "write one paragraph saying what the scenario shows".to_string(),
            ));
        }
        let rules = self.rules(raw_rules)?;
        if let Some(p) = &raw.protocol {
            self.protocol = Protocol::from_name(p.value.trim()).ok_or_else(|| {
                let names: Vec<&str> = Protocol::ALL.iter().map(|p| p.name()).collect();
                let mut hint = String::new();
                if let Some(c) = closest(p.value.trim(), names.iter().copied()) {
                    hint.push_str(&format!("did you mean `{c}`? "));
                }
                hint.push_str(&format!(
                    "protocols: {} (default {})",
                    names.join(", "),
                    Protocol::default()
                ));
                self.err(
                    &p.referenced,
                    format!("unknown protocol `{}`", p.value),
                    hint,
                )
            })?;
        }
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
        let first_step = raw.script.iter().flatten().next().map(|s| s.referenced);
        let chaos = self.chaos(&raw.workload, &raw.nemesis, &hosts, first_step)?;
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
        heal_is_last_fault(&script).map_err(|mut e| {
            if let Some(l) = &e.loc {
                e.snippet = snippet(self.src, l.line, l.column);
            }
            e
        })?;
        let mut expect = Vec::new();
        for (host, counters) in raw.expect.iter().flat_map(|e| e.0.iter()) {
            expect.push(self.expectation(host, counters)?);
        }
        let expect_violations = match &raw.expect_violations {
            Some(v) => self.expect_violations(v)?,
            None => Vec::new(),
        };
        Ok(Scenario {
            name_written: raw.name.is_some(),
            name,
            name_loc,
            about,
            rules,
            protocol: self.protocol,
            seed: raw.seed.unwrap_or(0),
            network,
            duration,
            hosts,
            script,
            expect,
            expect_violations,
            chaos,
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
        let (min, max) = self.range(
            latency,
            "latency",
            "write `latency: 5ms` or `latency: { min: 1ms, max: 20ms }`",
        )?;
        Ok(Network {
            min_latency: min,
            max_latency: max,
        })
    }

    /// A fixed duration or a `{ min, max }` range (`what`: `latency` or `delay`); `example`
    /// is the hint for a node of another shape.
    fn range(&self, d: &S<RawLatency>, what: &str, example: &str) -> R<(Duration, Duration)> {
        match &d.value {
            ScalarOrMap::Scalar(text) => {
                let v = self.duration(&S::new(text.clone(), d.referenced, d.defined))?;
                Ok((v, v))
            }
            ScalarOrMap::Map(range) => {
                let min = self.duration(&range.min)?;
                let max = self.duration(&range.max)?;
                if min > max {
                    return Err(self.err(
                        &range.min.referenced,
                        format!(
                            "{what} min `{}` is larger than max `{}`",
                            range.min.value, range.max.value
                        ),
                        format!("min must be <= max; swap them or write a single fixed {what}"),
                    ));
                }
                Ok((min, max))
            }
            ScalarOrMap::Invalid(found) => Err(self.err(
                &d.referenced,
                format!("bad {what}: found {found}"),
                example.to_string(),
            )),
        }
    }

    fn expectation(&self, host: &S<String>, counters: &OrderedMap<S<u64>>) -> R<Expectation> {
        self.expectation_of(host, self.host(host)?, counters)
    }

    /// The expectation of `counters` on `host`, a host (or a name `first` bound) of `kind`.
    fn expectation_of(
        &self,
        host: &S<String>,
        kind: Kind,
        counters: &OrderedMap<S<u64>>,
    ) -> R<Expectation> {
        let allowed = counter_names(kind.counters());
        let mut out = BTreeMap::new();
        for (name, value) in &counters.0 {
            if kind.counter(&name.value).is_none() {
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

/// `a, b, c or d`, with each word in backticks when `quote`.
/// After a `heal` step nothing may break links or hosts again, and there is one `heal`.
fn heal_is_last_fault(script: &[crate::model::Step]) -> R<()> {
    use crate::model::Action;
    let Some(heal) = script
        .iter()
        .position(|s| matches!(s.action, Action::Heal { .. }))
    else {
        return Ok(());
    };
    for s in &script[heal + 1..] {
        let what = match &s.action {
            Action::Heal { .. } => "a second `heal`",
            Action::Partition { .. }
            | Action::PartitionOneway { .. }
            | Action::Latency { .. }
            | Action::Hold { .. } => "a link fault",
            Action::Crash { .. } | Action::Bounce { .. } => "a crash or bounce",
            _ => continue,
        };
        return Err(LoadError {
            loc: Some(s.loc.clone()),
            message: format!("{what} after `heal`"),
            hint: Some(format!(
                "`heal` (line {}) says every fault is over: put the fault before it, or the `heal` after the last fault",
                script[heal].loc.line
            )),
            snippet: None,
        });
    }
    Ok(())
}

fn or_list(words: &[&str], quote: bool) -> String {
    let words: Vec<String> = words
        .iter()
        .map(|w| {
            if quote {
                format!("`{w}`")
            } else {
                w.to_string()
            }
        })
        .collect();
    match words.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}
