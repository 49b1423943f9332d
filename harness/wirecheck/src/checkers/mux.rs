//! Client rules of the multiplexer (MUX-2..9, AUTH-3): results, pending map, stray
//! frames, disconnects, send errors, deadlines, served requests.

use super::input::{is_response_frame, v, Input, PROMPT, SLACK};
use super::verdict::Findings;
use crate::model::{FailKind, Outcome};
use crate::render::fmt_clock;
use crate::trace::{Call, EventKind, FaultKind, Lifecycle};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use wirecheck_core::wire::{Dir, Message};

/// MUX-2: a successful result carries the first complete response for that id.
pub(super) fn correlation(input: &Input, out: &mut Findings) {
    super::history::answers_are_their_callers(input, out, super::history::Crossed::SameSender);
    for (host, _) in input.client_hosts() {
        let calls = input.ix.calls(host);
        for (id, c) in calls {
            let Some((ri, rat, outcome)) = &c.result else {
                continue;
            };
            let expected = first_response(input, host, id, c.at, *rat);
            let ok_body = match outcome {
                Outcome::Ok(b) => Some(b),
                _ => None,
            };
            let err_code = match outcome {
                Outcome::Error(c) => Some(c),
                _ => None,
            };
            match (&expected, ok_body, err_code) {
                (None, Some(_), _) | (None, _, Some(_)) => out.push(v(
                    rule!("MUX-2"),
                    *rat,
                    vec![c.call, *ri],
                    format!("{host}'s call {id} ended `{outcome}` but no complete response for {id} had arrived"),
                )),
                (Some((fi, Ok(body))), Some(got), _) if body != got => out.push(v(
                    rule!("MUX-2"),
                    *rat,
                    vec![c.call, *fi, *ri],
                    format!("{host}'s call {id} got {got:?} but the first response for {id} carried {body:?}"),
                )),
                (Some((fi, Err(code))), _, Some(got)) if code != got => out.push(v(
                    rule!("MUX-2"),
                    *rat,
                    vec![c.call, *fi, *ri],
                    format!("{host}'s call {id} got error {got} but the peer answered error {code}"),
                )),
                (Some((fi, first)), Some(_), _) if first.is_err() => out.push(v(
                    rule!("MUX-2"),
                    *rat,
                    vec![c.call, *fi, *ri],
                    format!("{host}'s call {id} succeeded but the first answer for {id} was an error"),
                )),
                _ => {}
            }
        }
    }
}

/// The first complete response (`Ok(body)`) or error (`Err(code)`) for `id` received by
/// `host` in `[from, to]`.
fn first_response(
    input: &Input,
    host: &str,
    id: &str,
    from: Duration,
    to: Duration,
) -> Option<(usize, Result<String, String>)> {
    // The peer the request went to: its answer must come back over that hop.
    let hop = input
        .ix
        .rx_from(host)
        .find(|r| {
            r.from == host
                && r.at >= from
                && r.msg.req() == Some(id)
                && matches!(
                    r.msg,
                    Message::Start {
                        dir: Dir::Request,
                        ..
                    }
                )
        })
        .map(|r| r.host);
    let mut partial: Option<(String, u64)> = None;
    for r in input.ix.rx_to(host) {
        if r.host != host || r.at < from || r.at > to || r.msg.req() != Some(id) {
            continue;
        }
        if hop.is_some_and(|h| h != r.from) {
            continue;
        }
        match r.msg {
            Message::Start {
                dir: Dir::Response,
                body,
                end,
                ..
            } => {
                if *end {
                    return Some((r.i, Ok(body.clone())));
                }
                partial.get_or_insert((body.clone(), 0));
            }
            Message::Chunk {
                dir: Dir::Response,
                seq,
                data,
                ..
            } => {
                if let Some((b, next)) = &mut partial {
                    if *seq == *next {
                        b.push_str(data);
                        *next += 1;
                    } else {
                        return Some((r.i, Err("protocol".into())));
                    }
                }
            }
            Message::End {
                dir: Dir::Response, ..
            } => {
                if let Some((b, _)) = partial.take() {
                    return Some((r.i, Ok(b)));
                }
            }
            Message::Error { code, .. } => return Some((r.i, Err(code.clone()))),
            _ => {}
        }
    }
    None
}

/// MUX-3: no call ends twice.
pub(super) fn at_most_once(input: &Input, out: &mut Findings) {
    for (host, _) in input.client_hosts() {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, e) in input.of(host) {
            // A restarted host runs new software: its `connect` is a new call.
            if let EventKind::Fault {
                fault: FaultKind::Crash | FaultKind::Bounce,
                ..
            } = &e.kind
            {
                seen.clear();
            }
            if let EventKind::Result { id, .. } = &e.kind {
                if let Some(&first) = seen.get(id.as_str()) {
                    out.push(v(
                        rule!("MUX-3"),
                        e.at,
                        vec![first, i],
                        format!("{host}'s call {id} completed a second time"),
                    ));
                } else {
                    seen.insert(id, i);
                }
            }
        }
    }
}

/// MUX-4: frames for ids that are not pending are counted as dropped.
pub(super) fn strays_counted(input: &Input, out: &mut Findings) {
    for (host, _) in input.client_hosts() {
        if input.disturbed(host) {
            continue;
        }
        let Some(f) = input.finals.get(host) else {
            continue;
        };
        let calls = input.ix.calls(host);
        let served: BTreeSet<&str> = input
            .ix
            .rx_to(host)
            .filter(|r| r.host == host && r.msg.dir() == Some(Dir::Request))
            .filter_map(|r| r.msg.req())
            .collect();
        let mut strays = Vec::new();
        for r in input
            .ix
            .rx_to(host)
            .filter(|r| r.host == host && is_response_frame(r.msg))
        {
            let id = r.msg.req().unwrap_or_default();
            if served.contains(id) {
                continue;
            }
            let pending = calls.get(id).is_some_and(|c| {
                r.at >= c.at && c.result.as_ref().is_none_or(|(_, at, _)| r.at < *at)
            });
            // A frame that arrives in the tick its call ended may be the one that ended it.
            let ending = calls.get(id).is_some_and(|c| {
                c.result
                    .as_ref()
                    .is_some_and(|(_, at, _)| r.at == *at && !strays.iter().any(|(_, s)| *s == id))
            });
            if !pending && !ending {
                strays.push((r.i, id));
            }
        }
        let names = ["duplicates_dropped", "late_dropped", "unknown_dropped"];
        // A black box that reports none of the counters is judged on delivery alone.
        let reported = names.iter().any(|k| f.counters.contains_key(*k));
        let counted = names
            .iter()
            .map(|k| f.counters.get(*k).copied().unwrap_or(0))
            .sum::<u64>();
        if reported && (counted as usize) < strays.len() {
            out.push(v(
                rule!("MUX-4"),
                input.end,
                strays.iter().map(|(i, _)| *i).collect(),
                format!(
                    "{host} received {} frame(s) for ids that were not pending but counted only {counted} as dropped",
                    strays.len()
                ),
            ));
        }
    }
}

/// MUX-5: at the end, the pending map holds exactly the calls still running.
pub(super) fn no_leak(input: &Input, out: &mut Findings) {
    for (host, _) in input.client_hosts() {
        if input.disturbed(host) {
            continue;
        }
        let Some(f) = input.finals.get(host) else {
            continue;
        };
        let calls = input.ix.calls(host);
        let Some(pending) = &f.pending_ids else {
            out.skip(
                host,
                "its driver does not report the ids in its pending map",
            );
            continue;
        };
        for id in pending {
            if let Some(c) = calls.get(id) {
                if let Some((ri, _, outcome)) = &c.result {
                    out.push(v(
                        rule!("MUX-5"),
                        input.end,
                        vec![c.call, *ri],
                        format!("{host}'s call {id} ended `{outcome}` but {id} is still in its pending map"),
                    ));
                }
            }
        }
    }
}

/// MUX-6: when a connection is lost, every request in flight fails `disconnected` at once.
pub(super) fn disconnect_fails_all(input: &Input, out: &mut Findings) {
    for (host, _) in input.client_hosts() {
        let calls = input.ix.calls(host);
        // A crash or restart ends the host's software and its callers with it.
        let restarts: Vec<usize> = input
            .of(host)
            .filter(|(_, e)| {
                matches!(
                    e.kind,
                    EventKind::Fault {
                        fault: FaultKind::Crash | FaultKind::Bounce,
                        ..
                    }
                )
            })
            .map(|(i, _)| i)
            .collect();
        for (di, e) in input.of(host) {
            let EventKind::Life(Lifecycle::Disconnected { .. }) = &e.kind else {
                continue;
            };
            for (id, c) in calls {
                // In flight: called before the loss (in the same life of the host), and not
                // ended before it (by trace order: an answer delivered in the same tick,
                // before the loss, counts as ended).
                let same_life = !restarts.iter().any(|&r| c.call < r && r < di);
                let in_flight =
                    c.call < di && same_life && c.result.as_ref().is_none_or(|(ri, _, _)| *ri > di);
                if !in_flight {
                    continue;
                }
                // The caller had dropped it already (its result is recorded when the
                // cancellation takes effect, maybe after the loss's in the same tick).
                let cancelled_before = input.of(host).any(|(ci, ce)| {
                    ci < di
                        && matches!(&ce.kind, EventKind::Call { id: cid, call: Call::Cancel, .. } if cid == id)
                });
                match &c.result {
                    Some((_, at, Outcome::Fails(FailKind::Disconnected))) if *at <= e.at + SLACK => {}
                    Some((_, at, Outcome::Fails(FailKind::Cancelled)))
                        if cancelled_before && *at <= e.at + SLACK => {}
                    // Called just as the loss happened: a library that saw the loss first
                    // refuses it at once, which is MUX-7's business, not a lost request.
                    Some((_, at, Outcome::Fails(FailKind::NotConnected | FailKind::SendFailed)))
                        if c.at + SLACK >= e.at && *at <= e.at + SLACK => {}
                    Some((ri, at, o)) => out.push(v(
                        rule!("MUX-6"),
                        *at,
                        vec![di, *ri],
                        format!(
                            "{host}'s call {id} was in flight when the connection was lost at {} but ended `{o}` at {}",
                            fmt_clock(e.at).trim(),
                            fmt_clock(*at).trim()
                        ),
                    )),
                    None if input.end > e.at + SLACK => out.push(v(
                        rule!("MUX-6"),
                        e.at,
                        vec![c.call, di],
                        format!("{host}'s call {id} was in flight when the connection was lost and never failed"),
                    )),
                    None => {}
                }
            }
        }
    }
}

/// MUX-7: a request made while the client has no registered connection cannot be sent,
/// and the caller must learn that at once (`not_connected` or `send_failed`), not by timeout.
/// What the rule forbids is the silence: a call that ends by its timeout, or never, after
/// being made with no connection. A client that dials on demand or queues calls until it
/// is connected, and then sends them (the call ends `ok`, or with the server's error, or
/// with some other definite failure), swallowed nothing.
pub(super) fn send_errors(input: &Input, out: &mut Findings) {
    for (host, _) in input.client_hosts() {
        let mut registered = false;
        for (i, e) in input.of(host) {
            match &e.kind {
                EventKind::Life(Lifecycle::Registered { .. }) => registered = true,
                EventKind::Life(
                    Lifecycle::Disconnected { .. }
                    | Lifecycle::Connecting { .. }
                    | Lifecycle::Stopped { .. },
                ) => registered = false,
                EventKind::Call {
                    id,
                    call: Call::Request { .. },
                    ..
                } if !registered => {
                    let calls = input.ix.calls(host);
                    let Some(c) = calls.get(id) else { continue };
                    let prompt = matches!(&c.result, Some((_, at, Outcome::Fails(
                        FailKind::NotConnected | FailKind::SendFailed | FailKind::Disconnected
                    ))) if *at <= e.at + SLACK);
                    let silent = match &c.result {
                        None => input.end > e.at + SLACK,
                        Some((_, _, Outcome::Fails(FailKind::Timeout))) => true,
                        Some(_) => false,
                    };
                    if !prompt && silent {
                        out.push(v(
                            rule!("MUX-7"),
                            e.at,
                            vec![i],
                            format!(
                                "{host}'s call {id} was made with no registered connection but the caller was not told at once (it ended {})",
                                c.result
                                    .as_ref()
                                    .map(|(_, at, o)| format!("`{o}` at {}", fmt_clock(*at).trim()))
                                    .unwrap_or_else(|| "never".into())
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
}

/// MUX-8: every request ends by its timeout, and a timed-out request is cancelled toward
/// the peer.
pub(super) fn deadlines(input: &Input, out: &mut Findings) {
    // A result is stamped when the caller's side reads it: in real time an adapter's
    // reply (and its own timer) can lag by as much as a message does.
    let late = SLACK + input.max_latency();
    for (host, _) in input.client_hosts() {
        if input.disturbed(host) {
            continue;
        }
        for (id, c) in input.ix.calls(host) {
            let Some(deadline) = c.deadline else { continue };
            match &c.result {
                Some((ri, at, _)) if *at > deadline + late => out.push(v(
                    rule!("MUX-8"),
                    *at,
                    vec![c.call, *ri],
                    format!(
                        "{host}'s call {id} ended at {}, after its deadline {}",
                        fmt_clock(*at).trim(),
                        fmt_clock(deadline).trim()
                    ),
                )),
                None if input.end > deadline + SLACK => out.push(v(
                    rule!("MUX-8"),
                    deadline,
                    vec![c.call],
                    format!(
                        "{host}'s call {id} was still running at the end, past its deadline {}",
                        fmt_clock(deadline).trim()
                    ),
                )),
                // JSON-RPC has no cancellation: only the deadline is judged.
                Some((ri, at, Outcome::Fails(FailKind::Timeout)))
                    if input.scenario.protocol == crate::model::Protocol::WirecheckV1 =>
                {
                    // The peer that got the request must get `cancel`, unless the link died.
                    let peer = input
                        .ix
                        .rx_from(host)
                        .find(|r| {
                            r.from == host
                                && r.msg.req() == Some(id.as_str())
                                && matches!(r.msg, Message::Start { .. })
                        })
                        .map(|r| r.host.to_owned());
                    let Some(peer) = peer else { continue };
                    let lost = input.of(host).any(|(_, e)| {
                        matches!(e.kind, EventKind::Life(Lifecycle::Disconnected { .. }))
                            && e.at >= *at
                            && e.at <= *at + PROMPT
                    }) || input.link_faulted(host, &peer, c.at, *at + PROMPT);
                    if !lost
                        && input.end > *at + PROMPT
                        && input
                            .received_by(
                                &peer,
                                host,
                                // An external client may send `cancel` before wirecheck
                                // reads its timeout result: from the deadline on.
                                (*at).min(deadline),
                                *at + PROMPT,
                                |m| matches!(m, Message::Cancel { req } if req == id),
                            )
                            .is_none()
                    {
                        out.push(v(
                            rule!("MUX-8"),
                            *at,
                            vec![c.call, *ri],
                            format!("{host}'s call {id} timed out but {peer} never received `cancel {id}`"),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
}

/// MUX-9 / AUTH-3: requests delivered on a served channel get an answer.
pub(super) fn requests_answered(input: &Input, out: &mut Findings) {
    for (host, spec) in input.client_hosts() {
        if input.disturbed(host) {
            continue;
        }
        let serving: BTreeMap<&str, &crate::model::ServeSpec> =
            spec.serve.iter().map(|s| (s.channel.as_str(), s)).collect();
        let windows = registration_windows(input, host);
        for r in input.ix.rx_to(host) {
            let Message::Start {
                req,
                channel,
                dir: Dir::Request,
                ..
            } = r.msg
            else {
                continue;
            };
            let Some(s) = serving.get(channel.as_str()) else {
                continue;
            };
            if s.reply == crate::model::Reply::Ignore {
                continue;
            }
            // Only a request that arrived whole can be answered: its `end` (or `end: true`).
            let whole_at = match r.msg {
                Message::Start { end: true, .. } => Some(r.at),
                _ => input
                    .ix.rx_to(host)
                    .find(|e| {
                        e.host == host
                            && e.at >= r.at
                            && matches!(e.msg, Message::End { req: q, dir: Dir::Request } if q == req)
                    })
                    .map(|e| e.at),
            };
            let Some(whole_at) = whole_at else { continue };
            let due = whole_at + s.delay + PROMPT;
            if input.end <= due {
                continue;
            }
            let answered = input.reacted(r.from, host, r.at, input.end, |m| {
                m.req() == Some(req.as_str()) && is_response_frame(m)
            });
            let excused = input.ix.rx_to(host).any(|c| {
                c.host == host
                    && c.at >= r.at
                    && matches!(c.msg, Message::Cancel { req: x } if x == req)
            }) || input.of(host).any(|(_, e)| {
                e.at >= r.at
                    && matches!(
                        e.kind,
                        EventKind::Life(Lifecycle::Disconnected { .. })
                            | EventKind::Life(Lifecycle::Stopped { .. })
                    )
            });
            if !answered && !excused {
                let during = windows
                    .iter()
                    .any(|(a, b)| r.at >= *a && r.at <= *b + PROMPT);
                out.push(v(
                    if during { rule!("AUTH-3") } else { rule!("MUX-9") },
                    r.at,
                    vec![r.i],
                    format!(
                        "{host} got request {req} on served channel {channel}{} and never answered it",
                        if during { " while registering" } else { "" }
                    ),
                ));
            }
        }
    }
}

/// `[Connecting, Registered]` intervals of a client.
fn registration_windows(input: &Input, host: &str) -> Vec<(Duration, Duration)> {
    let mut out = Vec::new();
    let mut open = None;
    for (_, e) in input.of(host) {
        match &e.kind {
            EventKind::Life(Lifecycle::Connecting { .. }) => open = Some(e.at),
            EventKind::Life(Lifecycle::Registered { .. }) => {
                if let Some(a) = open.take() {
                    out.push((a, e.at));
                }
            }
            _ => {}
        }
    }
    out
}

/// MUX-1: one reader per connection. A black box cannot be watched reading, but its
/// library may say so itself: Python websockets raises "cannot call recv while another
/// coroutine is already running recv" (the adapter's stderr becomes a typed event).
pub(super) fn one_reader(input: &Input, out: &mut Findings) {
    for (host, _) in input.client_hosts() {
        for (i, e) in input.of(host) {
            if let EventKind::Life(Lifecycle::TwoReaders { said }) = &e.kind {
                out.push(v(
                    rule!("MUX-1"),
                    e.at,
                    vec![i],
                    format!("{host}'s library reports a second reader on its connection: {said}"),
                ));
            }
        }
    }
}
