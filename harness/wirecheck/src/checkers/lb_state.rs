//! Relay rules on what it holds (LB-5..7): in-flight work answered when a backend is lost,
//! counts and tracking maps that match what is open, and a client's close closing its
//! backend link.

use super::input::{ends_response, v, Input, PROMPT};
use super::lb::{walk, Item};
use super::verdict::Findings;
use crate::render::fmt_clock;
use crate::trace::{EventKind, FaultKind, Lifecycle, LinkEnd, Peer, RelayLife};
use std::collections::{BTreeMap, BTreeSet};
use wirecheck_core::wire::{code, Dir, Message};

/// What one client has in flight through a relay, as the relay's lane shows it.
#[derive(Default)]
struct InFlight<'a> {
    /// Requests it sent and that have not ended: id → the event that brought them.
    sent: BTreeMap<&'a str, usize>,
    /// Requests delivered to it that it has not answered.
    served: BTreeMap<&'a str, usize>,
    /// Its current link, and whether that link serves it.
    link: Option<(u64, bool)>,
}

/// LB-5: when a link that served its client is lost, the client is told at once about
/// each request in flight through it: `error backend_gone` for the ones it sent, `cancel`
/// for the ones it was serving.
pub(super) fn in_flight_answered(input: &Input, out: &mut Findings) {
    for (relay, spec) in input.relay_hosts() {
        let backends: BTreeSet<&str> = spec.backends.iter().map(String::as_str).collect();
        let mut clients: BTreeMap<Peer, InFlight> = BTreeMap::new();
        // The relay's port toward a backend → the client that link serves.
        let mut by_conn: BTreeMap<u16, Peer> = BTreeMap::new();
        let mut closes: Vec<(&Peer, std::time::Duration)> = Vec::new();
        for (_, e, item) in walk(input, relay) {
            if let Item::Closed(p) = item {
                closes.push((p, e.at));
            }
        }
        for (i, e) in input.of(relay) {
            match &e.kind {
                EventKind::Recv {
                    from,
                    conn,
                    msg: Some(m),
                    ..
                } if backends.contains(from.as_str()) => {
                    let Some(f) = conn
                        .and_then(|c| by_conn.get(&c))
                        .and_then(|p| clients.get_mut(p))
                    else {
                        continue;
                    };
                    match m {
                        Message::Start {
                            req,
                            dir: Dir::Request,
                            ..
                        } => {
                            f.served.insert(req, i);
                        }
                        Message::Cancel { req } => {
                            f.served.remove(req.as_str());
                        }
                        other if ends_response(other) => {
                            if let Some(req) = other.req() {
                                f.sent.remove(req);
                            }
                        }
                        _ => {}
                    }
                }
                EventKind::Recv {
                    from,
                    conn,
                    msg: Some(m),
                    ..
                } => {
                    let p = Peer {
                        host: from.clone(),
                        conn: *conn,
                    };
                    let f = clients.entry(p).or_default();
                    match m {
                        Message::Start {
                            req,
                            dir: Dir::Request,
                            ..
                        } => {
                            f.sent.insert(req, i);
                        }
                        Message::Cancel { req } => {
                            f.sent.remove(req.as_str());
                        }
                        other if ends_response(other) => {
                            if let Some(req) = other.req() {
                                f.served.remove(req);
                            }
                        }
                        _ => {}
                    }
                }
                EventKind::Life(Lifecycle::Relay(r)) => match r {
                    RelayLife::Dial { client, link, .. } => {
                        clients.entry(client.clone()).or_default().link = Some((*link, false));
                    }
                    RelayLife::Linked {
                        client,
                        conn: Some(port),
                        ..
                    } => {
                        by_conn.insert(*port, client.clone());
                    }
                    RelayLife::Ready { client, link, .. } => {
                        clients.entry(client.clone()).or_default().link = Some((*link, true));
                    }
                    RelayLife::Unlinked {
                        client,
                        link,
                        end: LinkEnd::Lost,
                        backend,
                    } => {
                        let Some(f) = clients.get_mut(client) else {
                            continue;
                        };
                        if f.link != Some((*link, true)) {
                            continue;
                        }
                        f.link = None;
                        let (sent, served) =
                            (std::mem::take(&mut f.sent), std::mem::take(&mut f.served));
                        let until = e.at + PROMPT;
                        // Nothing to judge if the run ended, or the client left, meanwhile.
                        let gone = closes
                            .iter()
                            .any(|(p, at)| *p == client && *at >= e.at && *at <= until);
                        if input.end < until || gone {
                            continue;
                        }
                        let told = |pred: &dyn Fn(&Message) -> bool| {
                            input.reacted(&client.host, relay, e.at, until, pred)
                        };
                        for (req, si) in sent {
                            let ok = told(&|m: &Message| {
                                matches!(m, Message::Error { req: Some(r), code: c, .. }
                                    if r == req && c == code::BACKEND_GONE)
                            });
                            if !ok {
                                out.push(v(
                                    rule!("LB-5"),
                                    until,
                                    vec![si, i],
                                    format!(
                                        "{relay} lost {backend} with {client}'s request {req} in flight and did not answer it `backend_gone` within {}",
                                        fmt_clock(PROMPT).trim()
                                    ),
                                ));
                            }
                        }
                        for (req, si) in served {
                            let ok = told(
                                &|m: &Message| matches!(m, Message::Cancel { req: r } if r == req),
                            );
                            if !ok {
                                out.push(v(
                                    rule!("LB-5"),
                                    until,
                                    vec![si, i],
                                    format!(
                                        "{relay} lost {backend} while {client} was serving its request {req} and did not cancel it within {}",
                                        fmt_clock(PROMPT).trim()
                                    ),
                                ));
                            }
                        }
                    }
                    _ => {}
                },
                EventKind::Life(Lifecycle::ConnClosed { peer, .. }) => {
                    clients.remove(peer);
                }
                EventKind::Fault {
                    fault: FaultKind::Crash | FaultKind::Bounce,
                    ..
                } if e.host == relay => {
                    clients.clear();
                    by_conn.clear();
                }
                _ => {}
            }
        }
    }
}

/// LB-6: at the end, the relay's counts and maps match what its lane says is open: each
/// backend's count its open links, its client map the open client connections, its link
/// map the links dialing or open; and its self-check holds (no count went below 0).
pub(super) fn counts_and_maps(input: &Input, out: &mut Findings) {
    for (relay, spec) in input.relay_hosts() {
        let Some(f) = input.finals.get(relay) else {
            continue;
        };
        if !f.running {
            continue;
        }
        let Some(facts) = &f.relay else {
            out.skip(
                relay,
                "its driver does not report the relay's counts and tracking maps",
            );
            continue;
        };
        let mut clients: BTreeSet<&Peer> = BTreeSet::new();
        let mut links: BTreeMap<u64, usize> = BTreeMap::new();
        let mut up: BTreeMap<u64, &str> = BTreeMap::new();
        for (i, _, item) in walk(input, relay) {
            match item {
                Item::Restart => {
                    clients.clear();
                    links.clear();
                    up.clear();
                }
                Item::Closed(p) => {
                    clients.remove(p);
                }
                Item::Relay(r) => match r {
                    RelayLife::Reader {
                        client,
                        running: true,
                        ..
                    } => {
                        clients.insert(client);
                    }
                    RelayLife::Dial { link, .. } => {
                        links.insert(*link, i);
                    }
                    RelayLife::Linked { link, backend, .. } => {
                        up.insert(*link, backend);
                    }
                    RelayLife::Unlinked { link, .. } => {
                        links.remove(link);
                        up.remove(link);
                    }
                    _ => {}
                },
            }
        }
        let mut wrong = Vec::new();
        if let Err(e) = &facts.invariants {
            wrong.push(format!("its self-check fails: {e}"));
        }
        for (backend, count) in &facts.counts {
            let open = up.values().filter(|b| **b == backend).count() as u64;
            if *count != open {
                wrong.push(format!(
                    "its count for {backend} is {count} with {open} connection(s) to it open"
                ));
            }
        }
        for b in &spec.backends {
            if !facts.counts.iter().any(|(n, _)| n == b) {
                wrong.push(format!("it reports no count for {b}"));
            }
        }
        if facts.clients != clients.len() as u64 {
            wrong.push(format!(
                "it tracks {} client connection(s) with {} open",
                facts.clients,
                clients.len()
            ));
        }
        if facts.links != links.len() as u64 {
            wrong.push(format!(
                "it tracks {} backend connection(s) with {} dialing or open",
                facts.links,
                links.len()
            ));
        }
        if !wrong.is_empty() {
            out.push(v(
                rule!("LB-6"),
                input.end,
                Vec::new(),
                format!("{relay} at the end: {}", wrong.join("; ")),
            ));
        }
    }
}

/// LB-7: when a client connection ends, the relay closes that client's backend link at
/// once.
pub(super) fn close_follows_client(input: &Input, out: &mut Findings) {
    for (relay, _) in input.relay_hosts() {
        let items: Vec<_> = walk(input, relay).collect();
        let mut open: BTreeMap<&Peer, BTreeMap<u64, &str>> = BTreeMap::new();
        for (k, (i, e, item)) in items.iter().enumerate() {
            match item {
                Item::Restart => open.clear(),
                Item::Relay(RelayLife::Dial {
                    client,
                    link,
                    backend,
                    ..
                }) => {
                    open.entry(client).or_default().insert(*link, backend);
                }
                Item::Relay(RelayLife::Unlinked { client, link, .. }) => {
                    if let Some(l) = open.get_mut(client) {
                        l.remove(link);
                    }
                }
                Item::Closed(client) => {
                    let until = e.at + PROMPT;
                    for (link, backend) in open.remove(client).unwrap_or_default() {
                        let closed = items[k + 1..].iter().any(|(_, x, it)| {
                            x.at <= until
                                && matches!(it, Item::Relay(RelayLife::Unlinked { link: l, .. }) if *l == link)
                        });
                        let restarted = items[k + 1..]
                            .iter()
                            .any(|(_, x, it)| x.at <= until && matches!(it, Item::Restart));
                        if !closed && !restarted && input.end >= until {
                            out.push(v(
                                rule!("LB-7"),
                                until,
                                vec![*i],
                                format!(
                                    "{client}'s connection to {relay} ended but its link {link} to {backend} was still open {} later",
                                    fmt_clock(PROMPT).trim()
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
