//! Registration rules (AUTH-1, AUTH-2 on clients; AUTH-4, AUTH-5 on brokers).

use super::input::{v, Input, PROMPT, SLACK};
use super::verdict::Findings;
use crate::render::fmt_clock;
use crate::trace::index::Welcome;
use crate::trace::{EventKind, Lifecycle};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use wirecheck_core::wire::{code, Message};

/// AUTH-1: a client registers only after receiving `welcome` with its own id.
pub(super) fn welcome_only(input: &Input, out: &mut Findings) {
    for (host, spec) in input.client_hosts() {
        let mut since = Duration::ZERO;
        let mut attempt_i = 0;
        for (i, e) in input.of(host) {
            match &e.kind {
                EventKind::Life(Lifecycle::Connecting { .. }) => {
                    since = e.at;
                    attempt_i = i;
                }
                EventKind::Life(Lifecycle::Registered { to: addr }) => {
                    let welcomed = input.ix.rx_to(host).any(|r| {
                        r.host == host
                            && r.at >= since
                            && r.at <= e.at
                            && matches!(r.msg, Message::Welcome { client } if client == &spec.id)
                    });
                    if !welcomed {
                        out.push(v(
                            rule!("AUTH-1"),
                            e.at,
                            vec![attempt_i, i],
                            format!("{host} considered itself registered with {addr} without receiving `welcome {}`", spec.id),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
}

/// AUTH-2: a registration attempt ends within the registration timeout.
pub(super) fn timeout(input: &Input, out: &mut Findings) {
    for (host, spec) in input.client_hosts() {
        // `register_timeout` limits each phase of an attempt, as the field is documented:
        // connect and WebSocket handshake, then the wait for `welcome` from the moment
        // `hello` reached the peer (a held link may delay the first phases).
        let limit_from = |at: Duration, end: Duration| {
            let hello = input
                .ix
                .rx_from(host)
                .find(|r| r.at >= at && r.at <= end && matches!(r.msg, Message::Hello { .. }))
                .map(|r| r.at);
            match hello {
                Some(h) => (h - at) + spec.register_timeout + input.max_latency(),
                None => spec.register_timeout * 2,
            }
        };
        let mut open: Option<(usize, Duration)> = None;
        for (i, e) in input.of(host) {
            match &e.kind {
                EventKind::Life(Lifecycle::Connecting { .. }) => open = Some((i, e.at)),
                EventKind::Life(
                    Lifecycle::Registered { .. } | Lifecycle::RegistrationFailed { .. },
                ) => {
                    if let Some((ci, at)) = open.take() {
                        if e.at > at + limit_from(at, e.at) + SLACK {
                            out.push(v(
                                rule!("AUTH-2"),
                                e.at,
                                vec![ci, i],
                                format!(
                                    "{host}'s registration attempt took {} (timeout {} per phase: connect, handshake, `welcome`)",
                                    fmt_clock(e.at - at).trim(),
                                    fmt_clock(spec.register_timeout).trim()
                                ),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some((ci, at)) = open {
            let limit = limit_from(at, input.end);
            if !input.disturbed(host) && input.end > at + limit + SLACK {
                out.push(v(
                    rule!("AUTH-2"),
                    at + limit,
                    vec![ci],
                    format!(
                        "{host}'s registration attempt never ended (timeout {})",
                        fmt_clock(spec.register_timeout).trim()
                    ),
                ));
            }
        }
    }
}

/// AUTH-4: a broker answers anything but `hello` before registration with `not_registered`.
pub(super) fn nothing_before_hello(input: &Input, out: &mut Findings) {
    for b in input.broker_hosts() {
        let mut hello_seen: BTreeSet<(&str, Option<u16>)> = BTreeSet::new();
        let mut items: Vec<usize> = Vec::new();
        for r in input.ix.rx_to(b) {
            if matches!(r.msg, Message::Hello { .. }) {
                hello_seen.insert((r.from, r.conn));
            } else if !hello_seen.contains(&(r.from, r.conn)) {
                items.push(r.i);
            }
        }
        for i in items {
            let e = &input.events[i];
            let EventKind::Recv {
                from, msg: Some(m), ..
            } = &e.kind
            else {
                continue;
            };
            if input.end <= e.at + PROMPT || input.disturbed(b) {
                continue;
            }
            // A `welcome` is never a client's message: `malformed`, registered or not.
            let want = if matches!(m, Message::Welcome { .. }) {
                code::MALFORMED
            } else {
                code::NOT_REGISTERED
            };
            let refused = input.reacted(
                from,
                b,
                e.at,
                e.at + PROMPT,
                |r| matches!(r, Message::Error { code: c, .. } if c == want),
            );
            if !refused {
                out.push(v(
                    rule!("AUTH-4"),
                    e.at,
                    vec![i],
                    format!("{b} got `{}` from {from} before registration and did not answer `error {want}`", m.kind()),
                ));
            }
        }
    }
}

/// AUTH-5: a broker never welcomes a client id that is live on another connection.
pub(super) fn no_takeover(input: &Input, out: &mut Findings) {
    for b in input.broker_hosts() {
        let s = input.sessions(b);
        // Merge welcomes and registered closes in trace order.
        let mut owner: BTreeMap<&str, &Welcome> = BTreeMap::new();
        let mut wi = s.welcomes.iter().peekable();
        let mut ci = s.closes.iter().peekable();
        loop {
            let take_close = match (wi.peek(), ci.peek()) {
                (Some(w), Some(c)) => c.i < w.i,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (None, None) => break,
            };
            if take_close {
                let c = ci.next().expect("peeked");
                owner.retain(|_, w| !(w.host == c.host && (c.conn.is_none() || w.conn == c.conn)));
                continue;
            }
            let w = wi.next().expect("peeked");
            match owner.get(w.client.as_str()) {
                Some(prev) if prev.host != w.host || prev.conn != w.conn => out.push(v(
                    rule!("AUTH-5"),
                    w.at,
                    vec![prev.i, w.i],
                    format!(
                        "{b} welcomed {} as `{}` while `{}` was live on {}",
                        w.host, w.client, w.client, prev.host
                    ),
                )),
                _ => {
                    owner.insert(&w.client, w);
                }
            }
        }
    }
}
