//! Proxy hosts: the target and the rules (filters and actions).

use super::{Checker, R};
use crate::model::vocab::{
    word_names, CORRUPTIONS, KINDS_WITH_CHANNEL, KINDS_WITH_REQ, PROXY_ACTIONS,
};
use crate::model::{Corruption, ProxyAction, ProxyDir, ProxyRule, ProxySpec};
use crate::scenario::error::closest;
use crate::scenario::raw::{ActionBody, RawDir, RawProxy, RawProxyAction, RawProxyRule};
use crate::scenario::shapes::{OneKey, S};

impl Checker<'_> {
    pub(super) fn proxy(&self, host: &str, p: &RawProxy) -> R<ProxySpec> {
        let kind = self.host(&p.target)?;
        if !kind.proxyable() {
            let targets = self.hosts_where(|k| k.proxyable());
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

    pub(super) fn proxy_rule(&self, r: &S<RawProxyRule>) -> R<ProxyRule> {
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
        let from = match &rule.from {
            Some(t) => Some(self.duration(t)?),
            None => None,
        };
        let until = match &rule.until {
            Some(t) => Some(self.duration(t)?),
            None => None,
        };
        if let (Some(f), Some(u), Some(at)) = (from, until, &rule.until) {
            if u <= f {
                return Err(self.err(
                    &at.referenced,
                    format!("`until` ({}) is not after `from` ({})", at.value, rule.from.as_ref().map_or("", |f| f.value.as_str())),
                    "the rule acts in `[from, until)`, simulated time since the start of the run; make `until` later or leave one out".to_string(),
                ));
            }
        }
        Ok(ProxyRule {
            from,
            until,
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

    pub(super) fn proxy_action(&self, a: &S<RawProxyAction>) -> R<ProxyAction> {
        const ACTION_HINT: &str = "actions: `drop`, `duplicate`, `hold`, `close`, `{ delay: 50ms }` (or `{ delay: { min: 10ms, max: 80ms } }`), `{ reorder: 3 }`, `{ corrupt: invalid_json | wrong_id | truncate }`";
        let unknown = |name: &S<String>| {
            let mut hint = String::new();
            if let Some(c) = closest(&name.value, word_names(PROXY_ACTIONS)) {
                hint.push_str(&format!("did you mean `{c}`? "));
            }
            hint.push_str(ACTION_HINT);
            self.err(
                &name.referenced,
                format!("unknown proxy action `{}`", name.value),
                hint,
            )
        };
        let (key, body) = match &a.value {
            OneKey::Word(n) => {
                return match n.as_str() {
                    "drop" => Ok(ProxyAction::Drop),
                    "duplicate" => Ok(ProxyAction::Duplicate),
                    "hold" => Ok(ProxyAction::Hold),
                    "close" => Ok(ProxyAction::Close),
                    "delay" | "reorder" | "corrupt" => {
                        let example = match n.as_str() {
                            "delay" => "{ delay: 50ms }",
                            "reorder" => "{ reorder: 3 }",
                            _ => "{ corrupt: wrong_id }",
                        };
                        Err(self.err(
                            &a.referenced,
                            format!("proxy action `{n}` needs a value"),
                            format!("write `action: {example}`"),
                        ))
                    }
                    _ => Err(unknown(&S::new(n.clone(), a.referenced, a.defined))),
                }
            }
            OneKey::Entry {
                extra: Some(extra), ..
            } => {
                return Err(self.err(
                    &extra.referenced,
                    format!(
                        "a proxy action has one key; found a second key `{}`",
                        extra.value
                    ),
                    "a rule has exactly one action; write a second rule for another action"
                        .to_string(),
                ))
            }
            OneKey::Entry {
                key,
                value,
                extra: None,
            } => (key, value),
            OneKey::Invalid(what) => {
                return Err(self.err(
                    &a.referenced,
                    format!("bad proxy action: found {what}"),
                    ACTION_HINT.to_string(),
                ))
            }
        };
        Ok(match body {
            ActionBody::Delay(d) => {
                let (min, max) = self.range(
                    d,
                    "delay",
                    "write `{ delay: 50ms }` or `{ delay: { min: 10ms, max: 80ms } }`",
                )?;
                ProxyAction::Delay { min, max }
            }
            ActionBody::Reorder(w) => {
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
            ActionBody::Corrupt(c) => ProxyAction::Corrupt(match c.value.as_str() {
                "invalid_json" => Corruption::InvalidJson,
                "wrong_id" => Corruption::WrongId,
                "truncate" => Corruption::Truncate,
                other => {
                    let names = word_names(CORRUPTIONS);
                    let mut hint = String::new();
                    if let Some(close) = closest(other, names.iter().copied()) {
                        hint.push_str(&format!("did you mean `{close}`? "));
                    }
                    hint.push_str(&format!("corruptions: {}", names.join(", ")));
                    return Err(self.err(
                        &c.referenced,
                        format!("unknown corruption `{other}`"),
                        hint,
                    ));
                }
            }),
            ActionBody::Unknown => return Err(unknown(key)),
        })
    }
}
