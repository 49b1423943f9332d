//! History checks over the whole run, end to end rather than per hop. They rely on the
//! workload's tagged bodies: a request's body starts with `<sender>/<id>|` and the
//! workload's receivers echo it, so an answer names the request it belongs to, and so
//! does every copy of the request a receiver got.
//!
//! Each check is part of the checker of the rule it judges (one checker per rule):
//! - an answer carrying another caller's tag: BRK-4 (another sender's) or MUX-2 (another
//!   call of the same sender), from `brk::responses` and `mux::correlation`;
//! - a tagged request received by two receivers: BRK-2, from `brk::one_receiver`;
//! - after the `heal` step, a request not answered within the bound: CONN-7, its own
//!   checker ([`after_heal`]).
//!
//! "Every request ends exactly once" is MUX-3 (`mux::at_most_once`: no second result) and
//! MUX-8 (`mux::deadlines`: none still running past its deadline); "nothing left at the
//! end" is MUX-5, BRK-5 and BRK-12 — those checkers judge the whole run already.

use super::input::{v, Input, SLACK};
use super::verdict::Findings;
use crate::model::{Action, FailKind, Outcome};
use crate::render::fmt_time;
use crate::trace::{Call, EventKind, FaultKind, ProxyAct};
use std::collections::{BTreeMap, BTreeSet};
use wirecheck_core::wire::{Dir, Message};

/// The tag a body starts with: (sender, request id).
pub(super) fn tag_of(body: &str) -> Option<(&str, &str)> {
    let (head, _) = body.split_once('|')?;
    let (sender, id) = head.split_once('/')?;
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (plain(sender) && plain(id)).then_some((sender, id))
}

/// Which crossing an answer check reports.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Crossed {
    /// The answer is another sender's request's (BRK-4).
    OtherSender,
    /// The answer is another request's of the same sender, or carries no tag (MUX-2).
    SameSender,
}

/// A tagged request's successful answer must carry the request's own tag.
pub(super) fn answers_are_their_callers(input: &Input, out: &mut Findings, which: Crossed) {
    for (host, _) in input.client_hosts() {
        for (id, c) in input.ix.calls(host) {
            let EventKind::Call {
                call: Call::Request { body, .. },
                ..
            } = &input.events[c.call].kind
            else {
                continue;
            };
            if tag_of(body) != Some((host, id.as_str())) {
                continue;
            }
            let Some((ri, _, Outcome::Ok(answer))) = &c.result else {
                continue;
            };
            let got = tag_of(answer);
            if got == Some((host, id.as_str())) {
                continue;
            }
            let (rule, whose) = match got {
                Some((s, other)) if s != host => (rule!("BRK-4"), format!("{s}'s request {other}")),
                Some((_, other)) => (rule!("MUX-2"), format!("its own request {other}")),
                None => (
                    rule!("MUX-2"),
                    "no request (the answer has no tag)".to_string(),
                ),
            };
            let is_other = rule == rule!("BRK-4");
            if is_other != (which == Crossed::OtherSender) {
                continue;
            }
            out.push(v(
                rule,
                input.events[*ri].at,
                vec![c.call, *ri],
                format!("{host}'s call {id} was answered with the echo of {whose}: {answer:?}"),
            ));
        }
    }
}

/// A tagged request reaches at most one receiver (unless a proxy duplicated its `start`,
/// which makes a second request of the same id).
pub(super) fn one_receiver_per_request(input: &Input, out: &mut Findings) {
    let mut got: BTreeMap<(&str, &str), BTreeMap<&str, usize>> = BTreeMap::new();
    for r in input.rx() {
        if let Message::Start {
            dir: Dir::Request,
            body,
            ..
        } = r.msg
        {
            if input.client_hosts().any(|(h, _)| h == r.host) {
                if let Some(t) = tag_of(body) {
                    got.entry(t).or_default().entry(r.host).or_insert(r.i);
                }
            }
        }
    }
    let duplicated: BTreeSet<(&str, &str)> = input
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Proxy {
                action: ProxyAct::Duplicate,
                text,
                ..
            } => match Message::decode(text) {
                Ok(Message::Start { body, .. }) => {
                    tag_of(&body).map(|(s, i)| (s.to_owned(), i.to_owned()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect::<BTreeSet<(String, String)>>()
        .iter()
        .filter_map(|(s, i)| got.keys().find(|(a, b)| a == s && b == i).copied())
        .collect();
    for ((sender, id), receivers) in &got {
        if receivers.len() < 2 || duplicated.contains(&(*sender, *id)) {
            continue;
        }
        let names: Vec<&str> = receivers.keys().copied().collect();
        let events: Vec<usize> = receivers.values().copied().collect();
        let at = events
            .iter()
            .map(|&i| input.events[i].at)
            .max()
            .unwrap_or_default();
        out.push(v(
            rule!("BRK-2"),
            at,
            events,
            format!(
                "{sender}'s request {id} was handled by {} receivers: {}",
                names.len(),
                names.join(", ")
            ),
        ));
    }
}

/// CONN-7: after the `heal` step, every request is answered (a response or an `error`
/// reply) within the step's bound.
pub(super) fn after_heal(input: &Input, out: &mut Findings) {
    let Some(within) = input.scenario.script.iter().find_map(|s| match s.action {
        Action::Heal { within } => Some(within),
        _ => None,
    }) else {
        return;
    };
    let Some(healed) = input.events.iter().find_map(|e| match e.kind {
        EventKind::Fault {
            fault: FaultKind::Heal,
            ..
        } => Some(e.at),
        _ => None,
    }) else {
        return;
    };
    for (host, _) in input.client_hosts() {
        for (id, c) in input.ix.calls(host) {
            let is_request = matches!(
                input.events[c.call].kind,
                EventKind::Call {
                    call: Call::Request { .. },
                    ..
                }
            );
            if !is_request || c.at < healed {
                continue;
            }
            let due = c.at + within;
            let what = match &c.result {
                Some((_, at, Outcome::Ok(_) | Outcome::Error(_))) if *at <= due + SLACK => continue,
                Some((_, _, Outcome::Fails(FailKind::Cancelled))) => continue,
                Some((_, at, o)) if *at <= due + SLACK => format!("ended {o} at {}", fmt_time(*at)),
                Some((_, at, _)) => format!("was answered only at {}", fmt_time(*at)),
                None if input.end <= due + SLACK => continue,
                None => "was never answered".to_string(),
            };
            let mut ev = vec![c.call];
            ev.extend(c.result.as_ref().map(|r| r.0));
            out.push(v(
                rule!("CONN-7"),
                due,
                ev,
                format!(
                    "{host}'s call {id}, made {} after the heal, {what}: it was due by {}",
                    fmt_time(c.at - healed),
                    fmt_time(due)
                ),
            ));
        }
    }
}
