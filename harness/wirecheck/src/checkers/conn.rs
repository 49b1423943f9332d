//! Connection rules (CONN-1..5 on clients, CONN-6 on relays): heartbeats, backoff, rate
//! limit, failover order, reconnect liveness, relays closing both sides.

use super::input::{v, Input, PROMPT, SLACK};
use super::verdict::Findings;
use crate::render::fmt_clock;
use crate::trace::{Call, Event, EventKind, FaultKind, Lifecycle, RegError};
use std::time::Duration;

/// CONN-1: a registered client that hears nothing for its heartbeat timeout declares the
/// connection dead by then. (Faults need not be modelled: a partition that loses nothing
/// breaks nothing, while one that swallows frames shows up as silence.)
pub(super) fn heartbeat(input: &Input, out: &mut Findings) {
    for (host, spec) in input.client_hosts() {
        let Some(hb) = &spec.heartbeat else { continue };
        if input.disturbed(host) {
            continue;
        }
        let limit = hb.timeout + SLACK;
        // (index of the last frame, its time) while registered.
        let mut heard: Option<(usize, Duration)> = None;
        let late = |at: Duration, last: (usize, Duration), now: Option<usize>| {
            let mut evs = vec![last.0];
            evs.extend(now);
            v(
                rule!("CONN-1"),
                at,
                evs,
                format!(
                    "{host} heard nothing from {} on but was still connected {} later (heartbeat timeout {})",
                    fmt_clock(last.1).trim(),
                    fmt_clock(at - last.1).trim(),
                    fmt_clock(hb.timeout).trim()
                ),
            )
        };
        for (i, e) in input.of(host) {
            match &e.kind {
                EventKind::Life(Lifecycle::Registered { .. }) => heard = Some((i, e.at)),
                EventKind::Recv { .. } => {
                    if let Some(last) = heard {
                        if e.at > last.1 + limit {
                            out.push(late(e.at, last, Some(i)));
                        }
                        heard = Some((i, e.at));
                    }
                }
                EventKind::Life(Lifecycle::Disconnected { .. } | Lifecycle::Stopped { .. }) => {
                    if let Some(last) = heard.take() {
                        if e.at > last.1 + limit {
                            out.push(late(e.at, last, Some(i)));
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(last) = heard {
            if input.end > last.1 + limit {
                out.push(late(input.end, last, None));
            }
        }
    }
}

/// CONN-2: attempts after a loss, or after a whole round of failed attempts, wait at least
/// the backoff `min(cap, base·2ⁿ)`.
pub(super) fn backoff(input: &Input, out: &mut Findings) {
    for (host, spec) in input.client_hosts() {
        let Some(rc) = &spec.reconnect else { continue };
        let backoff = |n: u32| rc.base.saturating_mul(1u32 << n.min(30)).min(rc.cap);
        let mut n = 0u32;
        let mut idx = 0usize;
        let mut lower: Option<(usize, Duration)> = None;
        for (i, e) in input.of(host) {
            match &e.kind {
                EventKind::Life(Lifecycle::Registered { .. }) => {
                    n = 0;
                    idx = 0;
                }
                // New software after a crash or restart: no backoff carried over.
                EventKind::Fault {
                    fault: FaultKind::Crash | FaultKind::Bounce,
                    ..
                } => {
                    n = 0;
                    idx = 0;
                    lower = None;
                }
                EventKind::Life(Lifecycle::Disconnected { .. }) => {
                    lower = Some((i, e.at + backoff(n)));
                    n += 1;
                    idx = 0;
                }
                EventKind::Life(Lifecycle::RegistrationFailed { .. }) => {
                    idx += 1;
                    if idx >= spec.connect.len() {
                        idx = 0;
                        lower = Some((i, e.at + backoff(n)));
                        n += 1;
                    }
                }
                EventKind::Life(Lifecycle::Connecting { attempt, .. }) => {
                    if let Some((li, min)) = lower.take() {
                        if e.at + timing_tolerance(input) < min {
                            out.push(v(
                                rule!("CONN-2"),
                                e.at,
                                vec![li, i],
                                format!(
                                    "{host}'s attempt {attempt} came at {}, before its backoff allowed ({})",
                                    fmt_clock(e.at).trim(),
                                    fmt_clock(min).trim()
                                ),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// A host's connection attempts, per life: a crash or restart starts new software, whose
/// backoff and rate limit start afresh.
fn lives<'a>(input: &'a Input, host: &'a str) -> Vec<Vec<(usize, Duration, &'a str, u64)>> {
    let mut lives = vec![Vec::new()];
    for (i, e) in input.of(host) {
        match &e.kind {
            EventKind::Life(Lifecycle::Connecting { to, attempt }) => {
                lives
                    .last_mut()
                    .expect("one life")
                    .push((i, e.at, to.host.as_str(), *attempt));
            }
            EventKind::Fault {
                fault: FaultKind::Crash | FaultKind::Bounce,
                ..
            } => lives.push(Vec::new()),
            _ => {}
        }
    }
    lives
}

/// How precisely a client's attempt times can be judged: 1 ms, plus the network's latency
/// spread. (A real-time run widens the spread: attempts are stamped when wirecheck reads
/// an external adapter's event, which adds scheduling jitter.)
fn timing_tolerance(input: &Input) -> Duration {
    Duration::from_millis(1) + input.max_latency().saturating_sub(input.min_latency())
}

/// CONN-3: at most `max_attempts` attempts per `window`, at least `min_gap` apart.
pub(super) fn rate_limit(input: &Input, out: &mut Findings) {
    for (host, spec) in input.client_hosts() {
        let Some(rc) = &spec.reconnect else { continue };
        let tol = timing_tolerance(input);
        for tries in lives(input, host) {
            for w in tries.windows(2) {
                let ((ai, at, _, _), (bi, bt, _, n)) = (w[0], w[1]);
                if bt + tol < at + rc.min_gap {
                    out.push(v(
                        rule!("CONN-3"),
                        bt,
                        vec![ai, bi],
                        format!(
                            "{host}'s attempt {n} came {} after the previous one (minimum gap {})",
                            fmt_clock(bt - at).trim(),
                            fmt_clock(rc.min_gap).trim()
                        ),
                    ));
                }
            }
            let max = rc.max_attempts as usize;
            for (k, &(bi, bt, _, n)) in tries.iter().enumerate() {
                if k >= max {
                    let (ai, at, _, _) = tries[k - max];
                    if bt + tol < at + rc.window {
                        out.push(v(
                            rule!("CONN-3"),
                            bt,
                            vec![ai, bi],
                            format!(
                                "{host} made {} attempts within {} (limit {max} per {})",
                                max + 1,
                                fmt_clock(bt - at).trim(),
                                fmt_clock(rc.window).trim()
                            ),
                        ));
                        let _ = n;
                    }
                }
            }
        }
    }
}

/// CONN-4: attempts follow the configured address order.
pub(super) fn failover_order(input: &Input, out: &mut Findings) {
    for (host, spec) in input.client_hosts() {
        let mut expected = 0usize;
        for (i, e) in input.of(host) {
            match &e.kind {
                EventKind::Life(Lifecycle::Registered { .. } | Lifecycle::Disconnected { .. }) => {
                    expected = 0;
                }
                EventKind::Life(Lifecycle::RegistrationFailed { to, .. }) => {
                    let h = to.host.as_str();
                    let pos = spec.connect.iter().position(|c| c == h).unwrap_or(0);
                    expected = (pos + 1) % spec.connect.len().max(1);
                }
                EventKind::Life(Lifecycle::Connecting { to, attempt }) => {
                    let h = to.host.as_str();
                    let want = spec.connect.get(expected).map(String::as_str).unwrap_or("");
                    if h != want {
                        out.push(v(
                            rule!("CONN-4"),
                            e.at,
                            vec![i],
                            format!("{host}'s attempt {attempt} went to {h}, but the failover order says {want}"),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
}

/// CONN-5: after losing its connection, a reconnecting client tries again in time.
pub(super) fn reconnects(input: &Input, out: &mut Findings) {
    for (host, spec) in input.client_hosts() {
        let Some(rc) = &spec.reconnect else { continue };
        if input.disturbed(host) {
            continue;
        }
        let limit =
            rc.cap.mul_f64(1.0 + rc.jitter) + rc.window + rc.min_gap + Duration::from_secs(1);
        let evs: Vec<(usize, &Event)> = input.of(host).collect();
        for (k, (i, e)) in evs.iter().enumerate() {
            let EventKind::Life(
                Lifecycle::Disconnected { .. } | Lifecycle::RegistrationFailed { .. },
            ) = &e.kind
            else {
                continue;
            };
            let refused = matches!(
                &e.kind,
                EventKind::Life(Lifecycle::RegistrationFailed {
                    error: RegError::Refused { .. },
                    ..
                })
            );
            let closed_by_user = evs.iter().any(|(_, c)| {
                matches!(
                    &c.kind,
                    EventKind::Call {
                        call: Call::Disconnect,
                        ..
                    }
                ) && c.at <= e.at
            });
            if refused || closed_by_user {
                continue;
            }
            let next = evs[k + 1..]
                .iter()
                .find(|(_, n)| matches!(n.kind, EventKind::Life(Lifecycle::Connecting { .. })));
            let deadline = e.at + limit;
            if next.is_none() && input.end > deadline {
                out.push(v(
                    rule!("CONN-5"),
                    deadline,
                    vec![*i],
                    format!(
                        "{host} lost its connection at {} and never tried to reconnect (reconnect is enabled)",
                        fmt_clock(e.at).trim()
                    ),
                ));
            }
        }
    }
}

/// CONN-6: when a proxy's upstream ends, the clients behind it lose their connection at
/// once (not at their heartbeat timeout).
pub(super) fn relay_closes(input: &Input, out: &mut Findings) {
    for (proxy, p) in input.proxy_hosts() {
        for (i, e) in input.of(proxy) {
            let EventKind::Life(Lifecycle::ConnClosed { peer, .. }) = &e.kind else {
                continue;
            };
            // `target:port`: the upstream of the proxied connection from client port `port`.
            let (upstream, port) = (peer.host.as_str(), peer.conn);
            if upstream != p.target || input.end <= e.at + PROMPT {
                continue;
            }
            // Whose connection it was: of the clients whose current connection to the
            // proxy (the one their latest `hello` came on) uses that port, the one that
            // opened it last. Each host numbers its own ports, so two clients may use the
            // same port at once, and ports are reused.
            let latest = |client: &str| {
                input
                    .ix
                    .rx_to(proxy)
                    .filter(|r| {
                        r.host == proxy
                            && r.from == client
                            && r.at <= e.at
                            && matches!(r.msg, wirecheck_core::wire::Message::Hello { .. })
                    })
                    .last()
                    .map(|r| (r.conn, r.i))
            };
            // Best: the target's own close of a connection from the proxy just before,
            // whose `hello` names the client (the proxy's upstream port is the one the
            // target saw).
            let slack = input.max_latency() + SLACK;
            let target_closes: Vec<Option<u16>> = input
                .of(upstream)
                .filter_map(|(_, t)| match &t.kind {
                    EventKind::Life(Lifecycle::ConnClosed { peer, .. })
                        if peer.host == proxy && t.at <= e.at && t.at + slack >= e.at =>
                    {
                        Some(peer.conn)
                    }
                    _ => None,
                })
                .collect();
            // The latest: the proxy's close follows its target's by one link latency.
            let by_target = match target_closes.last() {
                Some(Some(up)) => input
                    .ix
                    .rx_to(upstream)
                    .filter(|r| r.from == proxy && r.conn == Some(*up) && r.at <= e.at)
                    .filter_map(|r| match r.msg {
                        wirecheck_core::wire::Message::Hello { client, .. } => {
                            Some(client.as_str())
                        }
                        _ => None,
                    })
                    .last()
                    .and_then(|id| {
                        input
                            .client_hosts()
                            .find(|(_, spec)| spec.id == id)
                            .map(|(h, _)| h)
                    }),
                _ => None,
            };
            // A target close with no `hello` on it: that connection never registered.
            let target_saw = matches!(target_closes.last(), Some(Some(_)));
            let behind = by_target.or_else(|| {
                port.filter(|_| !target_saw).and_then(|port| {
                    input
                        .client_hosts()
                        .filter_map(|(c, _)| {
                            latest(c)
                                .filter(|(conn, _)| *conn == Some(port))
                                .map(|(_, i)| (i, c))
                        })
                        .max()
                        .map(|(_, c)| c)
                })
            });
            for (client, _) in input.client_hosts() {
                if port.is_some() && behind != Some(client) {
                    continue;
                }
                // Was `client` registered through this proxy when the upstream ended?
                let mut through = false;
                for (_, c) in input.of(client).filter(|(_, c)| c.at <= e.at) {
                    match &c.kind {
                        EventKind::Life(Lifecycle::Registered { to }) => {
                            through = to.host == proxy;
                        }
                        EventKind::Life(Lifecycle::Disconnected { .. }) => through = false,
                        _ => {}
                    }
                }
                // A cut or held link keeps the proxy's close from the client.
                if !through
                    || input.disturbed(client)
                    || input.link_cut_during(client, proxy, e.at, e.at + PROMPT)
                {
                    continue;
                }
                let noticed = input.of(client).any(|(_, c)| {
                    c.at >= e.at
                        && c.at <= e.at + PROMPT
                        && matches!(c.kind, EventKind::Life(Lifecycle::Disconnected { .. }))
                });
                if !noticed {
                    out.push(v(
                        rule!("CONN-6"),
                        e.at,
                        vec![i],
                        format!(
                            "{}'s upstream {} ended but {client}'s connection through it stayed open",
                            proxy, p.target
                        ),
                    ));
                }
            }
        }
    }
}
