//! Broker routing rules (BRK-1..4, BRK-8): requests go to waiting receivers, one receiver
//! per request with its frames in order, responses only from the assignee to the sender.

use super::input::{is_response_frame, v, Input, PROMPT, REFUSALS, SLACK};
use super::verdict::Findings;
use crate::render::fmt_clock;
use crate::trace::{EventKind, FaultKind};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use wirecheck_core::wire::{code, Dir, Message};

/// Whose `receive` credit: (receiver, its connection, channel).
type Credit<'a> = (&'a str, Option<u16>, &'a str);

/// BRK-1: a receiver gets a request only against a `receive` the broker had received when
/// it sent the request, and gets it as soon as both the request and that `receive` are at
/// the broker (no polling).
pub(super) fn credits(input: &Input, out: &mut Findings) {
    let budget = input.max_latency() + SLACK + Duration::from_millis(10);
    let min_latency = input.min_latency();
    for b in input.broker_hosts() {
        let sessions = input.sessions(b);
        let start_at: BTreeMap<&str, Duration> = input
            .ix
            .rx_to(b)
            .filter(|x| {
                x.host == b
                    && matches!(
                        x.msg,
                        Message::Start {
                            dir: Dir::Request,
                            ..
                        }
                    )
            })
            .filter_map(|x| Some((x.msg.req()?, x.at)))
            .collect();
        // Outstanding `receive`s per (receiver, connection, channel), oldest first.
        let mut credits: BTreeMap<Credit, VecDeque<Duration>> = BTreeMap::new();
        // The credits of connections that ended (closed, or the broker crashed), with when:
        // a push that arrives within one maximum latency after the end was in flight then
        // (a broker sends nothing on a connection it no longer has) and may use them.
        let mut ended: BTreeMap<Credit, (Duration, VecDeque<Duration>)> = BTreeMap::new();
        let in_flight = input.max_latency() + SLACK;
        let mut closes = sessions.closes.iter().peekable();
        for r in input.rx() {
            while let Some(c) = closes.peek() {
                if c.i > r.i {
                    break;
                }
                let gone: Vec<_> = credits
                    .keys()
                    .filter(|(h, conn, _)| *h == c.host && (c.conn.is_none() || *conn == c.conn))
                    .copied()
                    .collect();
                for k in gone {
                    if let Some(q) = credits.remove(&k) {
                        ended.insert(k, (c.at, q));
                    }
                }
                closes.next();
            }
            match r.msg {
                Message::Receive { channel } if r.host == b => {
                    credits
                        .entry((r.from, r.conn, channel))
                        .or_default()
                        .push_back(r.at);
                }
                Message::Start {
                    req,
                    channel,
                    dir: Dir::Request,
                    ..
                } if r.from == b => {
                    // The receiver names its connection when it knows it (a proxy or a
                    // relay with several connections to the broker); else it is the one
                    // it is registered on.
                    let conn = r.conn.or_else(|| input.live_conn(b, r.host, r.at));
                    // Judged from the broker's side: it sent the push at least one link
                    // latency before the receiver got it, and only a `receive` that had
                    // reached it by then is a credit it could honour (a later one crossed
                    // the push on the wire).
                    let sent_by = r.at.saturating_sub(min_latency);
                    let key = (r.host, conn, channel.as_str());
                    let was_in_flight = ended
                        .get_mut(&key)
                        .filter(|(at, _)| r.at <= *at + in_flight)
                        .and_then(|(_, q)| q.pop_front());
                    let queue = credits.entry(key).or_default();
                    let asked = match queue.front() {
                        _ if was_in_flight.is_some() => was_in_flight,
                        Some(&t) if t <= sent_by => queue.pop_front(),
                        _ => None,
                    };
                    // Delivered by a `release` of a held link: sent long before, perhaps
                    // on a session that has ended since (a broker crash clears credits).
                    // Or sent by the broker just before it crashed or restarted (which
                    // ends its sessions and their credits in the trace).
                    let released = input.ix.faults().any(|(_, f)| {
                        let near = f.at <= r.at && f.at + input.max_latency() + SLACK >= r.at;
                        near && match &f.kind {
                            EventKind::Fault {
                                fault: FaultKind::Release,
                                other: Some(o),
                            } => (f.host == b && o == r.host) || (f.host == r.host && o == b),
                            EventKind::Fault {
                                fault: FaultKind::Crash | FaultKind::Bounce,
                                ..
                            } => f.host == b,
                            _ => false,
                        }
                    });
                    if asked.is_none() && released {
                        continue;
                    }
                    let Some(asked) = asked else {
                        let diagnosis = match queue.front() {
                            Some(&late) => format!(
                                "{b} pushed request {req} to {} before its `receive {channel}` reached {b} (the push left by {}, the `receive` arrived at {})",
                                r.host,
                                fmt_clock(sent_by).trim(),
                                fmt_clock(late).trim()
                            ),
                            None => format!(
                                "{b} pushed request {req} to {} which had no outstanding `receive {channel}`",
                                r.host
                            ),
                        };
                        out.push(v(rule!("BRK-1"), r.at, vec![r.i], diagnosis));
                        continue;
                    };
                    let Some(&arrived) = start_at.get(req.as_str()) else {
                        continue;
                    };
                    let ready = arrived.max(asked);
                    // A held or cut link delays delivery, not the broker's decision.
                    let link_slowed = input.link_faulted(b, r.host, ready, r.at);
                    if let Some(took) =
                        r.at.checked_sub(ready)
                            .filter(|t| *t > budget && !link_slowed)
                    {
                        out.push(v(
                            rule!("BRK-1"),
                            r.at,
                            vec![r.i],
                            format!(
                                "{b} held request {req} for {} after {} was waiting on `{channel}` (polling?)",
                                fmt_clock(took).trim(),
                                r.host
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
}

/// BRK-2, BRK-3: one receiver per request; its frames reach only it, in order.
pub(super) fn one_receiver(input: &Input, out: &mut Findings) {
    super::history::one_receiver_per_request(input, out);
    for b in input.broker_hosts() {
        let r = input.ix.routing(b);
        for (req, rx) in &r.receivers {
            if rx.len() > 1 {
                let names: Vec<&str> = rx.iter().map(|x| x.0).collect();
                out.push(v(
                    rule!("BRK-2"),
                    rx[1].2,
                    rx.iter().map(|x| x.1).collect(),
                    format!(
                        "{b} delivered request {req} to {} receivers: {}",
                        rx.len(),
                        names.join(", ")
                    ),
                ));
            }
        }
        // Request chunk/end frames: only to the assignee, in the order the broker got them.
        let mut state: BTreeMap<&str, usize> = BTreeMap::new();
        let mut sent_frames: BTreeMap<&str, Vec<(usize, &Message)>> = BTreeMap::new();
        for x in input.ix.rx_to(b) {
            if matches!(
                x.msg,
                Message::Chunk {
                    dir: Dir::Request,
                    ..
                } | Message::End {
                    dir: Dir::Request,
                    ..
                }
            ) && r
                .sender
                .get(x.msg.req().unwrap_or_default())
                // Frames that arrived before the request's start were refused, not queued.
                .is_some_and(|s| s.0 == x.from && s.1 < x.i)
            {
                sent_frames
                    .entry(x.msg.req().unwrap_or_default())
                    .or_default()
                    .push((x.i, x.msg));
            }
        }
        for x in input.ix.rx_from(b) {
            let req = match x.msg {
                Message::Chunk {
                    req,
                    dir: Dir::Request,
                    ..
                }
                | Message::End {
                    req,
                    dir: Dir::Request,
                } => req.as_str(),
                _ => continue,
            };
            let assignee = r.receivers.get(req).and_then(|v| v.first()).map(|x| x.0);
            if assignee != Some(x.host) {
                out.push(v(
                    rule!("BRK-3"),
                    x.at,
                    vec![x.i],
                    format!(
                        "{b} sent a frame of request {req} to {}, which {}",
                        x.host,
                        match assignee {
                            Some(a) => format!("is not its assigned receiver ({a})"),
                            None => "never received its start".into(),
                        }
                    ),
                ));
                continue;
            }
            // In order: the k-th frame delivered is the k-th frame the broker received from
            // the sender (whatever the sender or the network did to them before).
            let k = state.entry(req).or_insert(0);
            let sent = sent_frames.get(req).and_then(|v| v.get(*k));
            match sent {
                Some((_, m)) if *m == x.msg => *k += 1,
                other => {
                    out.push(v(
                        rule!("BRK-3"),
                        x.at,
                        vec![x.i],
                        format!(
                            "{b} delivered `{}` of request {req} to {} as frame {} of the stream, where the sender's frame {} was {}",
                            wirecheck_core::wire::summary(x.msg),
                            x.host,
                            *k + 1,
                            *k + 1,
                            other
                                .map(|(_, m)| format!("`{}`", wirecheck_core::wire::summary(m)))
                                .unwrap_or_else(|| "never received".into())
                        ),
                    ));
                    *k += 1;
                }
            }
        }
    }
}

/// BRK-4, BRK-8: response frames reach only the original sender, and only those the
/// assigned receiver sent; others are refused with `not_assigned`.
pub(super) fn responses(input: &Input, out: &mut Findings) {
    super::history::answers_are_their_callers(input, out, super::history::Crossed::OtherSender);
    for b in input.broker_hosts() {
        let r = input.ix.routing(b);
        let assignee = |req: &str| r.receivers.get(req).and_then(|v| v.first()).map(|x| x.0);
        // Frames the broker accepted from assignees, per request: count of each summary.
        let mut accepted: BTreeMap<(&str, String), i64> = BTreeMap::new();
        for x in input.rx() {
            if !is_response_frame(x.msg) {
                continue;
            }
            let req = x.msg.req().unwrap_or_default();
            if x.host == b {
                if assignee(req) == Some(x.from) {
                    *accepted
                        .entry((req, wirecheck_core::wire::summary(x.msg)))
                        .or_default() += 1;
                } else if input.end > x.at + PROMPT && !input.disturbed(b) {
                    // A response from a non-assignee: must be refused.
                    let refused = input
                        .reacted(x.from, b, x.at, x.at + PROMPT, |m| {
                            matches!(m, Message::Error { req: Some(q), code: c, .. } if q == req && c == code::NOT_ASSIGNED)
                        })
                        ;
                    if !refused
                        && matches!(
                            x.msg,
                            Message::Start { .. } | Message::Chunk { .. } | Message::End { .. }
                        )
                    {
                        out.push(v(
                            rule!("BRK-8"),
                            x.at,
                            vec![x.i],
                            format!(
                                "{b} took a response for {req} from {}, which is not its assigned receiver, without answering `not_assigned`",
                                x.from
                            ),
                        ));
                    }
                }
            } else if x.from == b {
                if matches!(x.msg, Message::Error { code: c, .. } if REFUSALS.contains(&c.as_str()))
                {
                    continue; // the broker refusing something of this peer's, not a response
                }
                let sender = r.sender.get(req).map(|s| s.0);
                if sender.is_some_and(|s| s != x.host) {
                    out.push(v(
                        rule!("BRK-4"),
                        x.at,
                        vec![x.i],
                        format!(
                            "{b} delivered a response for {req} to {}, but {req} was sent by {}",
                            x.host,
                            sender.unwrap_or("?")
                        ),
                    ));
                    continue;
                }
                if sender.is_none() || assignee(req).is_none() {
                    continue; // answered by the broker itself (`$info`, a scripted broker)
                }
                if matches!(x.msg, Message::Error { .. }) {
                    continue; // broker-originated errors (receiver_gone...) are not forwarded frames
                }
                let key = (req, wirecheck_core::wire::summary(x.msg));
                let left = accepted.entry(key).or_default();
                if *left <= 0 {
                    out.push(v(
                        rule!("BRK-8"),
                        x.at,
                        vec![x.i],
                        format!("{b} delivered a response frame for {req} to {} that its assigned receiver never sent", x.host),
                    ));
                } else {
                    *left -= 1;
                }
            }
        }
    }
}
