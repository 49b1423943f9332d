//! Expectations: a call's result, a frame a scripted peer must receive, final counters.

use super::{fail, Failure, Runner, Step};
use crate::model::{Expectation, FramePattern, Outcome, Protocol, Scenario};
use crate::render::fmt_time;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use wirecheck_core::jsonrpc::{Frame, Item};

impl Runner<'_> {
    pub(super) fn check_result(
        &mut self,
        host: &str,
        id: &str,
        expect: &Outcome,
        within: Duration,
    ) -> Step<()> {
        let h = self.host(host)?;
        let (ctl, driver) = (h.ctl.clone(), h.driver.clone());
        let until = self.now() + within;
        let arrived = self.advance_until(until, |_| ctl.state().results.contains_key(id))?;
        if !arrived {
            let mut f = fail(
                self.now(),
                format!("no result for `{id}` within {}", fmt_time(within)),
            );
            f.hint = Some(format!(
                "the call is still running; raise `within:` if it is slow, or check the trace for where its answer went{}",
                driver
                    .pending()
                    .map(|p| format!(" (pending now: {p:?})"))
                    .unwrap_or_default()
            ));
            return Err(f);
        }
        let (at, got) = ctl.state().results[id].clone();
        if same_outcome(&got, expect) {
            Ok(())
        } else {
            Err(fail(
                self.now(),
                format!("expected {}, got {} (at {})", expect, got, fmt_time(at)),
            ))
        }
    }

    pub(super) fn expect_frame(
        &mut self,
        host: &str,
        pattern: &FramePattern,
        within: Duration,
    ) -> Step<()> {
        self.expect_any(&[host.to_owned()], pattern, within)
            .map(|_| ())
    }

    /// Ticks until one of `hosts` (in their order, tick by tick) has received a message
    /// matching `pattern`, takes it from that host's inbox and returns the host.
    pub(super) fn expect_any(
        &mut self,
        hosts: &[String],
        pattern: &FramePattern,
        within: Duration,
    ) -> Step<String> {
        let ctls = hosts
            .iter()
            .map(|h| Ok((h.clone(), self.host(h)?.ctl.clone())))
            .collect::<Step<Vec<_>>>()?;
        let until = self.now() + within;
        let mut winner = None;
        let found = self.advance_until(until, |_| {
            for (name, ctl) in &ctls {
                let mut st = ctl.state();
                if let Some(i) = st.inbox.iter().position(|(_, t)| matches(pattern, t)) {
                    st.inbox.remove(i);
                    winner = Some(name.clone());
                    return true;
                }
            }
            false
        })?;
        if let (true, Some(w)) = (found, winner) {
            return Ok(w);
        }
        let seen: Vec<String> = ctls
            .iter()
            .flat_map(|(name, ctl)| {
                let st = ctl.state();
                let of_many = ctls.len() > 1;
                st.inbox
                    .iter()
                    .map(|(_, t)| {
                        if of_many {
                            format!("{name}: {t}")
                        } else {
                            t.clone()
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut f = fail(
            self.now(),
            format!(
                "no `{}` matching {} arrived within {}",
                pattern.kind,
                serde_json::to_string(&pattern.fields).unwrap_or_default(),
                fmt_time(within)
            ),
        );
        f.hint = Some(if seen.is_empty() {
            "nothing unmatched arrived; check the trace for where the message went".into()
        } else {
            format!("unmatched messages received: {}", seen.join(", "))
        });
        Err(f)
    }
}

impl Runner<'_> {
    /// `<host>.counters`: ticks until every listed counter has its value, or fails after
    /// `within` naming each counter that differs.
    pub(super) fn await_counters(&mut self, e: &Expectation, within: Duration) -> Step<()> {
        self.host(&e.host)?;
        let until = self.now() + within;
        let differing = |r: &Self| -> Vec<String> {
            let h = &r.hosts[&e.host];
            let now = h.driver.counters(&h.ctl);
            e.counters
                .iter()
                .filter(|(name, want)| now.get(*name) != Some(*want))
                .map(|(name, want)| match now.get(name) {
                    Some(got) => format!("{name} = {got} (want {want})"),
                    None => format!("{name}: not reported (want {want})"),
                })
                .collect()
        };
        if self.advance_until(until, |r| differing(r).is_empty())? {
            return Ok(());
        }
        let mut f = fail(
            self.now(),
            format!(
                "`{}`'s counters did not reach the values within {}: {}",
                e.host,
                fmt_time(within),
                differing(self).join(", ")
            ),
        );
        f.hint = Some(
            "counters are read as the run goes; a `not reported` counter means the host was not running (crashed?). Raise `within` if the change is only late".into(),
        );
        Err(f)
    }
}

/// Equal outcomes; bodies that are both JSON objects (`$info`'s) are compared as JSON,
/// since PROTOCOL.md fixes their fields, not their key order or spacing.
fn same_outcome(got: &Outcome, want: &Outcome) -> bool {
    match (got, want) {
        (Outcome::Ok(g), Outcome::Ok(w)) if g != w => {
            let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).ok();
            matches!((parse(g), parse(w)), (Some(a @ serde_json::Value::Object(_)), Some(b)) if a == b)
        }
        _ => got == want,
    }
}

pub(super) fn check_expectations(
    scenario: &Scenario,
    counters: &[(String, BTreeMap<String, u64>)],
    at: Duration,
) -> Vec<Failure> {
    let mut out = Vec::new();
    for e in &scenario.expect {
        let actual = counters.iter().find(|(h, _)| h == &e.host).map(|(_, c)| c);
        for (name, want) in &e.counters {
            let got = actual.and_then(|c| c.get(name)).copied();
            if got != Some(*want) {
                out.push(Failure {
                    loc: Some(e.loc.clone()),
                    step: format!("expect {}.{name}", e.host),
                    at,
                    what: match got {
                        Some(g) => format!("expected {name} = {want}, got {g}"),
                        None => format!(
                            "`{}` has no counter `{name}` (was the host running at the end?)",
                            e.host
                        ),
                    },
                    hint: None,
                });
            }
        }
    }
    out
}

/// Does received `text` match `pattern` (same `type`, every listed field equal)?
pub fn matches(pattern: &FramePattern, text: &str) -> bool {
    if pattern.protocol == Protocol::JsonRpc2 {
        return rpc_matches(&pattern.kind, &pattern.fields, &Frame::parse(text));
    }
    let Ok(serde_json::Value::Object(obj)) = serde_json::from_str::<serde_json::Value>(text) else {
        return false;
    };
    obj.get("type").and_then(|t| t.as_str()) == Some(pattern.kind.as_str())
        && pattern
            .fields
            .iter()
            .all(|(k, v)| obj.get(k).is_some_and(|got| json_eq(got, v)))
}

/// Does a JSON-RPC frame match: one item of `kind` whose listed fields are equal (`error`
/// as a subset, or its code alone; `call` was resolved to method and params at load), or a
/// `batch` whose items match the listed patterns one to one, in any order?
fn rpc_matches(kind: &str, fields: &BTreeMap<String, Value>, frame: &Frame) -> bool {
    match (kind, frame) {
        ("batch", Frame::Batch(items)) => {
            let pats: Vec<&serde_json::Map<String, Value>> = fields
                .get("items")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_object).collect())
                .unwrap_or_default();
            pats.len() == items.len() && assign(&pats, items, &mut vec![false; items.len()])
        }
        (_, Frame::Single(item)) => item_matches(kind, fields.iter(), item),
        _ => false,
    }
}

/// Can each pattern take a distinct item (backtracking; batches are small)?
fn assign(pats: &[&serde_json::Map<String, Value>], items: &[Item], used: &mut [bool]) -> bool {
    let Some((first, rest)) = pats.split_first() else {
        return true;
    };
    let kind = first.get("kind").and_then(Value::as_str).unwrap_or("");
    for i in 0..items.len() {
        if !used[i] && item_matches(kind, first.iter().filter(|(k, _)| *k != "kind"), &items[i]) {
            used[i] = true;
            if assign(rest, items, used) {
                return true;
            }
            used[i] = false;
        }
    }
    false
}

fn item_matches<'a>(
    kind: &str,
    mut fields: impl Iterator<Item = (&'a String, &'a Value)>,
    item: &Item,
) -> bool {
    let id_value = |id: &Option<wirecheck_core::jsonrpc::Id>| id.as_ref().map(|i| i.to_value());
    match item {
        Item::Request { id, method, params } => {
            let is_kind = if id.is_some() {
                "request"
            } else {
                "notification"
            };
            kind == is_kind
                && fields.all(|(k, want)| match k.as_str() {
                    "method" => want.as_str() == Some(method.as_str()),
                    "params" => match params {
                        Some(p) => json_eq(p, want),
                        // Empty params may be left out (the specification allows it).
                        None => {
                            want.as_array().is_some_and(Vec::is_empty)
                                || want.as_object().is_some_and(|o| o.is_empty())
                        }
                    },
                    "id" => id_value(id).is_some_and(|got| json_eq(&got, want)),
                    "call" => true,
                    _ => false,
                })
        }
        Item::Response { id, outcome } => {
            kind == "response"
                && fields.all(|(k, want)| match (k.as_str(), outcome) {
                    ("id", _) => match id {
                        Some(id) => json_eq(&id.to_value(), want),
                        None => false,
                    },
                    ("result", Ok(r)) => json_eq(r, want),
                    ("error", Err(e)) => match want {
                        Value::Object(w) => {
                            let got = wirecheck_core::jsonrpc::frame::error_value(e);
                            w.iter()
                                .all(|(k, v)| got.get(k).is_some_and(|g| json_eq(g, v)))
                        }
                        code => code.as_i64() == Some(e.code),
                    },
                    _ => false,
                })
        }
        Item::Invalid { .. } => false,
    }
}

/// JSON equality that treats `5` and `5.0` alike (YAML and JSON disagree on numbers).
fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::same_outcome;
    use crate::model::Outcome;

    #[test]
    fn json_object_bodies_compare_as_json() {
        let ok = |s: &str| Outcome::Ok(s.into());
        assert!(same_outcome(
            &ok(r#"{"waiting_on": [], "client": "w"}"#),
            &ok(r#"{"client":"w","waiting_on":[]}"#)
        ));
        assert!(!same_outcome(
            &ok(r#"{"client":"w"}"#),
            &ok(r#"{"client":"x"}"#)
        ));
        // Not objects: the text itself.
        assert!(!same_outcome(&ok("1.0"), &ok("1")));
        assert!(same_outcome(&ok("pong"), &ok("pong")));
    }
}
