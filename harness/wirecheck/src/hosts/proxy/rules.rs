//! The proxy's pure rule logic: which rule acts on a message, what it draws from the
//! seed, and how a message is corrupted. No sockets, no tasks: the pump in `mod.rs` feeds
//! messages in and carries out the returned action.

use crate::model::{Corruption, ProxyAction, ProxyDir, ProxyRule};
use std::time::Duration;
use wirecheck_core::rng::SplitMix64;

/// The rules of one run of a proxy, with what they have matched so far.
pub(super) struct RuleBook {
    rules: Vec<ProxyRule>,
    /// How many messages each rule's filters matched so far (for `nth`).
    matched: Vec<u64>,
    rng: SplitMix64,
}

impl RuleBook {
    pub(super) fn new(rules: Vec<ProxyRule>, seed: u64) -> Self {
        RuleBook {
            matched: vec![0; rules.len()],
            rules,
            rng: SplitMix64::new(seed),
        }
    }
}

pub(super) struct Info {
    kind: Option<String>,
    req: Option<String>,
    channel: Option<String>,
}

pub(super) fn info(text: &str) -> Info {
    let obj = serde_json::from_str::<serde_json::Value>(text).ok();
    let field = |k: &str| {
        obj.as_ref()
            .and_then(|v| v.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    Info {
        kind: field("type"),
        req: field("req"),
        channel: field("channel"),
    }
}

fn filters_match(rule: &ProxyRule, dir: ProxyDir, m: &Info) -> bool {
    let eq = |want: &Option<String>, got: &Option<String>| match want {
        None => true,
        Some(w) => got.as_deref() == Some(w.as_str()),
    };
    rule.dir.is_none_or(|d| d == dir)
        && eq(&rule.kind, &m.kind)
        && eq(&rule.req, &m.req)
        && eq(&rule.channel, &m.channel)
}

impl RuleBook {
    /// Picks the rule that acts on a message (and draws what the action needs).
    pub(super) fn choose(
        &mut self,
        dir: ProxyDir,
        m: &Info,
        now: Duration,
    ) -> Option<(usize, ProxyAction, Duration)> {
        let s = self;
        for i in 0..s.rules.len() {
            let r = &s.rules[i];
            let active = r.from.is_none_or(|f| now >= f) && r.until.is_none_or(|u| now < u);
            if !active || !filters_match(r, dir, m) {
                continue;
            }
            s.matched[i] += 1;
            if let Some(n) = s.rules[i].nth {
                if s.matched[i] != u64::from(n) {
                    continue;
                }
            }
            if let Some(p) = s.rules[i].probability {
                if s.rng.next_f64() >= p {
                    continue;
                }
            }
            let action = s.rules[i].action.clone();
            let delay = match &action {
                ProxyAction::Delay { min, max } => draw_delay(&mut s.rng, *min, *max),
                _ => Duration::ZERO,
            };
            return Some((i, action, delay));
        }
        None
    }
}

/// A delay drawn uniformly from `[min, max]`, in whole milliseconds when both bounds are.
fn draw_delay(rng: &mut SplitMix64, min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    let whole_ms = |d: Duration| d.subsec_nanos().is_multiple_of(1_000_000);
    if whole_ms(min) && whole_ms(max) {
        let (lo, hi) = (min.as_millis() as u64, max.as_millis() as u64);
        Duration::from_millis(lo + rng.next_u64() % (hi - lo + 1))
    } else {
        let span = u64::try_from((max - min).as_nanos()).unwrap_or(u64::MAX - 1);
        min + Duration::from_nanos(rng.next_u64() % (span + 1))
    }
}

/// The corrupted text; `None` when `wrong_id` finds no `req` to replace.
pub(super) fn corrupt(text: &str, c: Corruption) -> Option<String> {
    match c {
        Corruption::InvalidJson => {
            // Unquoted keys and values: still readable in a diagram, not JSON.
            let t = text.replace('"', "");
            Some(if serde_json::from_str::<serde_json::Value>(&t).is_ok() {
                format!("~{t}")
            } else {
                t
            })
        }
        Corruption::WrongId => {
            let mut v = serde_json::from_str::<serde_json::Value>(text).ok()?;
            let req = v.get("req")?.as_str()?.to_owned();
            v["req"] = serde_json::Value::String(format!("{req}~wrong"));
            Some(v.to_string())
        }
        Corruption::Truncate => {
            let n = text.chars().count();
            Some(text.chars().take(n / 2).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(action: ProxyAction) -> ProxyRule {
        ProxyRule {
            dir: None,
            kind: None,
            req: None,
            channel: None,
            nth: None,
            probability: None,
            from: None,
            until: None,
            action,
        }
    }

    fn shared(rules: Vec<ProxyRule>) -> RuleBook {
        RuleBook::new(rules, 1)
    }

    #[test]
    fn corruptions() {
        let t = r#"{"type":"start","req":"r1","dir":"response","body":"pong","end":true}"#;
        let bad = corrupt(t, Corruption::InvalidJson).unwrap();
        assert!(
            serde_json::from_str::<serde_json::Value>(&bad).is_err(),
            "{bad}"
        );
        let wrong = corrupt(t, Corruption::WrongId).unwrap();
        let v: serde_json::Value = serde_json::from_str(&wrong).unwrap();
        assert_eq!(v["req"], "r1~wrong");
        assert_eq!(v["body"], "pong");
        assert_eq!(
            corrupt(r#"{"type":"ping","nonce":1}"#, Corruption::WrongId),
            None
        );
        assert_eq!(corrupt("abcdef", Corruption::Truncate).unwrap(), "abc");
        // A number stays invalid JSON after corruption.
        assert!(serde_json::from_str::<serde_json::Value>(
            &corrupt("123", Corruption::InvalidJson).unwrap()
        )
        .is_err());
    }

    #[test]
    fn first_matching_rule_acts_and_nth_counts_matches() {
        let mut chunk2 = rule(ProxyAction::Drop);
        chunk2.kind = Some("chunk".into());
        chunk2.nth = Some(2);
        chunk2.dir = Some(ProxyDir::Down);
        let mut s = shared(vec![chunk2, rule(ProxyAction::Duplicate)]);
        let chunk = info(r#"{"type":"chunk","req":"r1","dir":"response","seq":0,"data":"x"}"#);
        let pick = |s: &mut RuleBook, d| s.choose(d, &chunk, Duration::ZERO).map(|(i, _, _)| i);
        assert_eq!(pick(&mut s, ProxyDir::Up), Some(1), "wrong direction");
        assert_eq!(pick(&mut s, ProxyDir::Down), Some(1), "1st match: not due");
        assert_eq!(pick(&mut s, ProxyDir::Down), Some(0), "2nd match acts");
        assert_eq!(pick(&mut s, ProxyDir::Down), Some(1), "nth has passed");
        let text = info("not json");
        assert_eq!(
            s.choose(ProxyDir::Up, &text, Duration::ZERO)
                .map(|(i, _, _)| i),
            Some(1)
        );
    }

    #[test]
    fn a_rule_acts_only_inside_its_window() {
        let mut r = rule(ProxyAction::Drop);
        r.from = Some(Duration::from_millis(100));
        r.until = Some(Duration::from_millis(200));
        let mut s = shared(vec![r, rule(ProxyAction::Duplicate)]);
        let m = info("{}");
        let at = |s: &mut RuleBook, ms| {
            s.choose(ProxyDir::Up, &m, Duration::from_millis(ms))
                .map(|(i, _, _)| i)
        };
        assert_eq!(at(&mut s, 99), Some(1), "before `from`");
        assert_eq!(at(&mut s, 100), Some(0), "at `from`");
        assert_eq!(at(&mut s, 199), Some(0));
        assert_eq!(at(&mut s, 200), Some(1), "`until` is excluded");
    }

    #[test]
    fn probability_and_delay_draws_are_seeded() {
        let mut r = rule(ProxyAction::Delay {
            min: Duration::from_millis(10),
            max: Duration::from_millis(80),
        });
        r.probability = Some(0.5);
        let run = || {
            let mut s = shared(vec![r.clone()]);
            (0..200)
                .map(|_| {
                    s.choose(ProxyDir::Up, &info("{}"), Duration::ZERO)
                        .map(|(_, _, d)| d)
                })
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let acted: Vec<Duration> = a.iter().flatten().copied().collect();
        assert!(acted.len() > 50 && acted.len() < 150, "{}", acted.len());
        assert!(acted
            .iter()
            .all(|d| *d >= Duration::from_millis(10) && *d <= Duration::from_millis(80)));
        assert!(acted
            .iter()
            .all(|d| d.subsec_nanos().is_multiple_of(1_000_000)));
    }
}
