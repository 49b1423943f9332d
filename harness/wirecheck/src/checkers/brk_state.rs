//! What a broker keeps and frees (BRK-5, BRK-6, BRK-7, BRK-12), how it answers bad input
//! (BRK-10, BRK-11), and that it never cuts off a peer that keeps reading (BRK-9).

use super::input::{ends_response, v, Input, PROMPT, SLACK};
use super::verdict::Findings;
use crate::render::fmt_clock;
use crate::trace::index::Routing;
use crate::trace::{CloseCause, EventKind, Lifecycle};
use std::time::Duration;
use wirecheck_core::wire::{code, Message};

/// BRK-5: requests whose response ended (or that were cancelled) are gone from the broker.
pub(super) fn unassigned(input: &Input, out: &mut Findings) {
    for b in input.broker_hosts() {
        let Some(f) = input.finals.get(b) else {
            continue;
        };
        let held = match &f.broker_requests {
            Some(held) => held,
            // A host wirecheck plays, or one whose process is gone, has no state to show.
            None if !input.under_test(b) || !f.running => continue,
            None => {
                out.skip(
                    b,
                    "its driver does not report the requests the broker holds",
                );
                continue;
            }
        };
        let r = input.ix.routing(b);
        for req in held {
            let Some((sender, si, _)) = r.sender.get(req.as_str()) else {
                continue;
            };
            let ended = input.ix.rx_to(b).find(|x| {
                x.host == b
                    && x.msg.req() == Some(req.as_str())
                    && ((ends_response(x.msg) && r.assignee(req) == Some(x.from))
                        || (matches!(x.msg, Message::Cancel { .. }) && x.from == *sender))
            });
            if let Some(x) = ended {
                out.push(v(
                    rule!("BRK-5"),
                    input.end,
                    vec![*si, x.i],
                    format!(
                        "{b} still holds request {req} after it ended at {}",
                        fmt_clock(x.at).trim()
                    ),
                ));
            }
        }
    }
}

/// An assignment that was open at some moment: request, sender and receiver with the
/// connections they use at the broker (when known).
struct Open<'a> {
    req: &'a str,
    sender: &'a str,
    sender_conn: Option<u16>,
    rcv: &'a str,
    rcv_conn: Option<u16>,
}

/// Assignments made by `b` that were still open at `t`.
fn open_assignments<'a>(input: &Input<'a>, r: &Routing<'a>, b: &str, t: Duration) -> Vec<Open<'a>> {
    let mut out = Vec::new();
    for (req, rx) in &r.receivers {
        let Some(&(rcv, _, assigned_at)) = rx.first() else {
            continue;
        };
        let Some(&(sender, _, _)) = r.sender.get(req) else {
            continue;
        };
        if assigned_at > t {
            continue;
        }
        // Ended by: the receiver's answer, the sender's cancel, a cancel or an error from the
        // broker (receiver_gone...), or the receiver's connection closing.
        let finished = input.ix.rx_about(req).any(|x| {
            x.at <= t
                && x.msg.req() == Some(req)
                && ((x.host == b && x.from == rcv && ends_response(x.msg))
                    || (x.host == b && x.from == sender && matches!(x.msg, Message::Cancel { .. }))
                    || (x.host == rcv && x.from == b && matches!(x.msg, Message::Cancel { .. }))
                    || (x.host == sender && x.from == b && matches!(x.msg, Message::Error { .. })))
        }) || input.closed_at(b, rcv, assigned_at).is_some_and(|c| c < t);
        if !finished {
            out.push(Open {
                req,
                sender,
                sender_conn: r.sender_conn.get(req).copied().flatten(),
                rcv,
                rcv_conn: input.live_conn(b, rcv, assigned_at),
            });
        }
    }
    out
}

/// BRK-6: a receiver's loss is reported to the sender as `receiver_gone`.
pub(super) fn receiver_gone(input: &Input, out: &mut Findings) {
    peer_loss(input, true, out)
}

/// BRK-7: a sender's loss cancels its requests toward their receivers.
pub(super) fn sender_gone(input: &Input, out: &mut Findings) {
    peer_loss(input, false, out)
}

/// When one side of an open assignment leaves, the broker must tell the other side
/// within `PROMPT`: the sender gets `error receiver_gone` (receiver lost) or the receiver
/// gets `cancel` (sender lost). Skipped when the other side leaves too.
fn peer_loss(input: &Input, receiver_lost: bool, out: &mut Findings) {
    for b in input.broker_hosts() {
        let r = input.ix.routing(b);
        for c in &input.sessions(b).closes {
            let (i, peer) = (c.i, c.host.as_str());
            let at = input.events[i].at;
            for o in open_assignments(input, r, b, at) {
                let (req, sender, rcv) = (o.req, o.sender, o.rcv);
                let (lost, lost_conn, other) = if receiver_lost {
                    (rcv, o.rcv_conn, sender)
                } else {
                    (sender, o.sender_conn, rcv)
                };
                // The connection that closed must be the one the request used.
                let same_conn = c.conn.is_none() || lost_conn.is_none() || c.conn == lost_conn;
                if lost != peer || !same_conn || other == peer || input.end <= at + PROMPT {
                    continue;
                }
                if input
                    .closed_at(b, other, at)
                    .is_some_and(|c| c <= at + PROMPT)
                {
                    continue;
                }
                // The other side's own connection had already closed: nobody to tell (a
                // proxy in between keeps other connections to the broker open).
                let other_conn = if receiver_lost {
                    o.sender_conn
                } else {
                    o.rcv_conn
                };
                let other_gone = input.sessions(b).closes.iter().any(|x| {
                    x.host == other && x.at <= at && x.conn.is_some() && x.conn == other_conn
                });
                if other_gone {
                    continue;
                }
                let told = input.reacted(other, b, at, at + PROMPT, |m| match m {
                    Message::Error {
                        req: Some(q),
                        code: c,
                        ..
                    } if receiver_lost => q == req && c == code::RECEIVER_GONE,
                    Message::Cancel { req: q } if !receiver_lost => q == req,
                    _ => false,
                });
                if told {
                    continue;
                }
                let within = fmt_clock(PROMPT);
                out.push(if receiver_lost {
                    v(
                        rule!("BRK-6"),
                        at,
                        vec![i],
                        format!("{rcv} left holding {req}, but {b} did not tell {sender} `receiver_gone` within {}", within.trim()),
                    )
                } else {
                    v(
                        rule!("BRK-7"),
                        at,
                        vec![i],
                        format!("{sender} left with {req} in flight, but {b} did not send `cancel {req}` to {rcv} within {}", within.trim()),
                    )
                });
            }
        }
    }
}

/// BRK-10, BRK-11: malformed or oversized input is answered with an error.
pub(super) fn bad_input(input: &Input, out: &mut Findings) {
    let brokers = input.broker_hosts();
    for (i, e) in input.events.iter().enumerate() {
        let EventKind::Recv {
            from, text, msg, ..
        } = &e.kind
        else {
            continue;
        };
        if !brokers.contains(e.host.as_str())
            || input.disturbed(&e.host)
            || input.end <= e.at + PROMPT
        {
            continue;
        }
        let max = input.max_message(&e.host);
        let (rule, want) = if max.is_some_and(|m| text.len() > m) {
            (rule!("BRK-10"), code::TOO_LARGE)
        } else if msg.is_none() {
            (rule!("BRK-11"), code::MALFORMED)
        } else {
            continue;
        };
        let answered = input.reacted(
            from,
            &e.host,
            e.at,
            e.at + PROMPT,
            |m| matches!(m, Message::Error { code: c, .. } if c == want),
        );
        // Nobody to answer if the peer's connection went away right after.
        let gone = input.of(&e.host).any(|(_, c)| {
            c.at >= e.at
                && c.at <= e.at + PROMPT
                && matches!(&c.kind, EventKind::Life(Lifecycle::ConnClosed { peer, .. }) if peer.host == *from)
        });
        if !answered && !gone {
            out.push(v(
                rule,
                e.at,
                vec![i],
                format!(
                    "{} got {} input from {from} and did not answer `error {want}`",
                    e.host,
                    if rule == rule!("BRK-10") {
                        "oversized"
                    } else {
                        "malformed"
                    }
                ),
            ));
        }
    }
}

/// BRK-12: a broker under test reports its structure consistent, holding nothing of
/// closed connections; and, from the wire (black boxes too), it never refuses a client id
/// that no live connection holds.
pub(super) fn state_freed(input: &Input, out: &mut Findings) {
    closed_ids_free(input, out);
    for (host, _) in input.broker_impls() {
        let Some(f) = input.finals.get(host) else {
            continue;
        };
        match &f.broker_invariants {
            Some(Err(why)) => out.push(v(
                rule!("BRK-12"),
                input.end,
                vec![],
                format!("{host}: {why}"),
            )),
            Some(Ok(())) => {}
            None if f.running => {
                out.skip(host, "its driver does not report the broker's self-check")
            }
            None => {}
        }
    }
}

/// BRK-9: a broker closes a registered connection on its own (as a slow consumer) only when
/// that peer does not keep up. Every peer wirecheck plays reads all the time, so a close
/// of its registered connection decided by the broker, while the link between them was
/// neither held nor cut (nor either side crashed), cut off a healthy peer: a burst, or
/// other clients' traffic, cost an innocent peer its connection.
pub(super) fn readers_kept(input: &Input, out: &mut Findings) {
    for b in input.broker_hosts() {
        let sessions = input.ix.sessions(b);
        for c in &sessions.closes {
            let EventKind::Life(Lifecycle::ConnClosed {
                cause: CloseCause::Local,
                reason,
                ..
            }) = &input.events[c.i].kind
            else {
                continue;
            };
            let since = sessions
                .welcomes
                .iter()
                .rev()
                .find(|w| {
                    w.host == c.host && w.at <= c.at && (c.conn.is_none() || w.conn == c.conn)
                })
                .map_or(Duration::ZERO, |w| w.at);
            if input.link_faulted(b, &c.host, since, c.at) || input.disturbed(&c.host) {
                continue;
            }
            // A peer silent for the broker's idle timeout may be closed for it (a black box's
            // close does not say why). A frame that arrives within the latency tolerance of
            // the close raced the idle timer and does not count as breaking the silence.
            let idle = input.idle_timeout(b).unwrap_or(Duration::MAX);
            let tolerance = SLACK + input.max_latency();
            let last = input
                .ix
                .rx_to(b)
                // On that connection: a proxy's other connections (other clients') do
                // not keep this one alive.
                .filter(|r| r.from == c.host && r.at + tolerance <= c.at)
                .filter(|r| c.conn.is_none() || r.conn.is_none() || r.conn == c.conn)
                .map(|r| r.at)
                .last()
                .unwrap_or(since);
            if c.at.saturating_sub(last) + tolerance >= idle {
                continue;
            }
            out.push(v(
                rule!("BRK-9"),
                c.at,
                vec![c.i],
                format!(
                    "{b} closed {}'s registered connection at {} ({reason}) though {} kept reading, the link was healthy and it had last sent {} before",
                    c.host,
                    fmt_clock(c.at).trim(),
                    c.host,
                    crate::render::fmt_time(c.at.saturating_sub(last))
                ),
            ));
        }
    }
}

/// BRK-12 from the wire: a broker that answers `client_id_taken` to a `hello` for an id no
/// live connection holds kept a closed connection's registry entry. (The state checker
/// needs the broker's own facts; this one works on a black box.)
fn closed_ids_free(input: &Input, out: &mut Findings) {
    for b in input.broker_hosts() {
        let s = input.sessions(b);
        for r in input.ix.rx_from(b).filter(|r| r.from == b) {
            let Message::Error { code: c, .. } = r.msg else {
                continue;
            };
            if c != code::CLIENT_ID_TAKEN {
                continue;
            }
            // The hello it answered: the latest from that peer before the refusal, on the
            // same connection when both ends name it (a proxy relays several clients).
            let Some((client, conn)) = input
                .ix
                .rx_to(b)
                .filter(|h| {
                    h.from == r.host
                        && h.i < r.i
                        && (h.conn.is_none() || r.conn.is_none() || h.conn == r.conn)
                })
                .filter_map(|h| match h.msg {
                    Message::Hello { client, .. } => Some((client.as_str(), h.conn)),
                    _ => None,
                })
                .last()
            else {
                continue;
            };
            // Live: welcomed on another connection (before or after, the broker may have
            // sent it before its peer read it) and not closed before the refusal.
            let live = s.welcomes.iter().any(|w| {
                w.client == client
                    && !(w.host == r.host && w.conn == conn && conn.is_some())
                    && !s.closes.iter().any(|c| {
                        c.host == w.host
                            && (c.conn.is_none() || c.conn == w.conn)
                            && c.i > w.i
                            && c.i < r.i
                    })
            });
            if !live {
                out.push(v(
                    rule!("BRK-12"),
                    r.at,
                    vec![r.i],
                    format!(
                        "{b} refused {}'s hello as `{client}` with client_id_taken, but no connection registered as `{client}` was live: a closed connection's registry entry was kept",
                        r.host
                    ),
                ));
            }
        }
    }
}
