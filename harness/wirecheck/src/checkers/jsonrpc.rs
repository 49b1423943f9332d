//! The JSONRPC family: what the JSON-RPC 2.0 specification adds to the MUX rules (which
//! judge JSON-RPC runs through the profile, [`crate::trace::jsonrpc`]).
//!
//! Server rules (JSONRPC-1..5) judge the scenario's `rpc-server` hosts (the reference
//! server, or a server target in its place), per client that talked to them: what the
//! server received from that client against what the client received from the server.
//! The client rules (JSONRPC-6, JSONRPC-7) judge the `client` hosts.

use super::input::{v, Input, PROMPT};
use super::verdict::Findings;
use crate::model::{Action, FailKind, HostKind, Outcome};
use crate::render::fmt_clock;
use crate::trace::jsonrpc::params_text;
use crate::trace::{Call, CloseCause, EventKind, FaultKind, Lifecycle};
use std::time::Duration;
use wirecheck_core::jsonrpc::{codes, Frame, Id, Item};

/// One frame on a hop: event index, time, the sender's connection (its port, when the
/// receiver knows it), frame.
struct Hop<'a> {
    i: usize,
    at: Duration,
    conn: Option<u16>,
    frame: &'a Frame,
}

/// The scenario's `rpc-server` hosts.
fn servers<'a>(input: &Input<'a>) -> Vec<&'a str> {
    input
        .scenario
        .hosts
        .iter()
        .filter(|h| matches!(h.kind, HostKind::RpcServer))
        .map(|h| h.name.as_str())
        .collect()
}

/// Frames `to` received from `from`, in trace order.
fn hop<'a>(input: &Input<'a>, from: &str, to: &str) -> Vec<Hop<'a>> {
    let Some(rpc) = input.rpc else {
        return Vec::new();
    };
    rpc.frames
        .iter()
        .filter_map(|(i, frame)| match &input.events[*i].kind {
            EventKind::Recv { from: f, conn, .. } if f == from && input.events[*i].host == to => {
                Some(Hop {
                    i: *i,
                    at: input.events[*i].at,
                    conn: *conn,
                    frame,
                })
            }
            _ => None,
        })
        .collect()
}

/// The clients that sent something to `server`.
fn clients_of<'a>(input: &Input<'a>, server: &str) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for (i, _) in input.rpc.map(|r| r.frames.as_slice()).unwrap_or_default() {
        let e = &input.events[*i];
        if let EventKind::Recv { from, .. } = &e.kind {
            if e.host == server && !out.contains(&from.as_str()) {
                out.push(from);
            }
        }
    }
    out
}

/// The server was crashed, bounced or cut off from the client at some point.
fn excused(input: &Input, server: &str, client: &str) -> bool {
    input.disturbed(server)
        || input.link_faulted(server, client, Duration::ZERO, input.end)
        || closes_itself(input, client)
}

/// The script closes `host`'s connections (a scripted `close`) or crashes it.
fn closes_itself(input: &Input, host: &str) -> bool {
    input.scenario.script.iter().any(|s| match &s.action {
        Action::ScriptedClose { host: h }
        | Action::Crash { host: h }
        | Action::Bounce { host: h }
        | Action::Disconnect { host: h } => h == host,
        _ => false,
    })
}

/// When `server` recorded that `client` ended their connection `conn` (or, for `None`,
/// any of their connections) after event `after`: the reference server never closes one
/// by itself, so such an end is the client's doing and excuses answers it made
/// impossible. A server target records nothing, so nothing is excused for it.
fn client_ended(
    input: &Input,
    server: &str,
    client: &str,
    conn: Option<u16>,
    after: usize,
) -> Option<Duration> {
    input.of(server).find_map(|(i, e)| match &e.kind {
        EventKind::Life(Lifecycle::ConnClosed {
            peer,
            cause: CloseCause::Peer,
            ..
        }) if i > after && peer.host == client && (conn.is_none() || peer.conn == conn) => {
            Some(e.at)
        }
        _ => None,
    })
}

/// The longest `sleep` a request asks for (its answer may come that late).
fn slept(item: &Item) -> Duration {
    match item {
        Item::Request {
            method,
            params: Some(p),
            ..
        } if method == "sleep" => p
            .get(0)
            .and_then(|ms| ms.as_u64())
            .map_or(Duration::ZERO, Duration::from_millis),
        _ => Duration::ZERO,
    }
}

fn is_error(item: &Item, code: i64) -> bool {
    matches!(item, Item::Response { outcome: Err(e), .. } if e.code == code)
}

fn id_text(id: &Option<Id>) -> String {
    id.as_ref().map_or("none".into(), |i| i.to_string())
}

/// JSONRPC-1 and JSONRPC-2: every request answered once with its own id; nothing
/// answers a notification.
pub(super) fn ids_echoed(input: &Input, out: &mut Findings) {
    for server in servers(input) {
        for client in clients_of(input, server) {
            let sent = hop(input, client, server);
            let got = hop(input, server, client);
            // Request ids sent and not answered yet: id, event, connection, when, and how
            // long they may take.
            let mut open: Vec<(Id, usize, Option<u16>, Duration, Duration)> = Vec::new();
            let mut notified = false;
            let (mut s, mut g) = (sent.iter().peekable(), got.iter().peekable());
            loop {
                let take_sent = match (s.peek(), g.peek()) {
                    (Some(a), Some(b)) => a.i < b.i,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => break,
                };
                if take_sent {
                    let h = s.next().expect("peeked");
                    for item in h.frame.items() {
                        match item {
                            Item::Request { id: Some(id), .. } => {
                                open.push((id.clone(), h.i, h.conn, h.at, slept(item)))
                            }
                            Item::Request { id: None, .. } => notified = true,
                            _ => {}
                        }
                    }
                    continue;
                }
                let h = g.next().expect("peeked");
                for item in h.frame.items() {
                    // Something that is not a valid response, carrying a request's id: the
                    // request got no response it could use.
                    if let Item::Invalid {
                        id: Some(id),
                        reason,
                    } = item
                    {
                        if let Some(k) = open.iter().position(|(o, ..)| o == id) {
                            open.remove(k);
                            out.push(v(
                                rule!("JSONRPC-1"),
                                h.at,
                                vec![h.i],
                                format!("{server} answered {client}'s request id {id} with something that is not a response ({reason})"),
                            ));
                        }
                        continue;
                    }
                    let Item::Response { id, .. } = item else {
                        continue;
                    };
                    let null = matches!(id, None | Some(Id::Null));
                    if null
                        && (is_error(item, codes::PARSE_ERROR)
                            || is_error(item, codes::INVALID_REQUEST))
                    {
                        continue; // JSONRPC-3's to judge
                    }
                    if let Some(k) = id
                        .as_ref()
                        .and_then(|id| open.iter().position(|(o, ..)| o == id))
                    {
                        open.remove(k);
                    } else if null && notified {
                        out.push(v(
                            rule!("JSONRPC-2"),
                            h.at,
                            vec![h.i],
                            format!("{server} sent {client} a response with id {} after {client} sent a notification: a notification gets no reply", id_text(id)),
                        ));
                    } else {
                        out.push(v(
                            rule!("JSONRPC-1"),
                            h.at,
                            vec![h.i],
                            format!("{server} sent {client} a response with id {}, which no unanswered request of {client} carried", id_text(id)),
                        ));
                    }
                }
            }
            if excused(input, server, client) {
                continue;
            }
            for (id, i, conn, at, sleep) in open {
                let due = at + sleep + PROMPT;
                // The client ended the connection before the answer was due.
                let left = client_ended(input, server, client, conn, i).is_some_and(|t| t < due);
                if input.end > due && !left {
                    out.push(v(
                        rule!("JSONRPC-1"),
                        at,
                        vec![i],
                        format!(
                            "{server} never answered {client}'s request id {id} (sent at {})",
                            fmt_clock(at).trim()
                        ),
                    ));
                }
            }
        }
    }
}

/// JSONRPC-3 and JSONRPC-4: bad input gets its error with `id: null`; a batch gets one
/// array with one response per request.
pub(super) fn bad_input_and_batches(input: &Input, out: &mut Findings) {
    for server in servers(input) {
        for client in clients_of(input, server) {
            let got = hop(input, server, client);
            let mut used = vec![false; got.len()];
            // The first unused answer after `after` that `fits`.
            let mut find = |after: usize, fits: &dyn Fn(&Frame) -> bool| -> Option<usize> {
                let k = got
                    .iter()
                    .enumerate()
                    .position(|(k, h)| !used[k] && h.i > after && fits(h.frame))?;
                used[k] = true;
                Some(k)
            };
            let mut missing: Vec<(usize, Duration, Duration, &'static str, String)> = Vec::new();
            for h in hop(input, client, server) {
                match h.frame {
                    Frame::NotJson => {
                        let fits = |f: &Frame| matches!(f, Frame::Single(item @ Item::Response { id: Some(Id::Null), .. }) if is_error(item, codes::PARSE_ERROR));
                        if find(h.i, &fits).is_none() {
                            missing.push((h.i, h.at, Duration::ZERO, "JSONRPC-3", format!("{client} sent {server} text that is not JSON, and no error -32700 with id null came back")));
                        }
                    }
                    Frame::Single(Item::Invalid { id, .. } | Item::Response { id, .. }) => {
                        let want = id.clone().unwrap_or(Id::Null);
                        let fits = |f: &Frame| matches!(f, Frame::Single(item @ Item::Response { id: Some(got), .. }) if is_error(item, codes::INVALID_REQUEST) && (*got == Id::Null || *got == want));
                        if find(h.i, &fits).is_none() {
                            missing.push((h.i, h.at, Duration::ZERO, "JSONRPC-3", format!("{client} sent {server} an invalid request, and no error -32600 with id null came back")));
                        }
                    }
                    Frame::Batch(items) if items.is_empty() => {
                        let fits = |f: &Frame| matches!(f, Frame::Single(item) if is_error(item, codes::INVALID_REQUEST));
                        if find(h.i, &fits).is_none() {
                            missing.push((h.i, h.at, Duration::ZERO, "JSONRPC-4", format!("{client} sent {server} an empty batch `[]`, and no single error -32600 came back")));
                        }
                    }
                    Frame::Batch(items) => {
                        let expected = items.iter().filter(|i| !i.is_notification()).count();
                        if expected == 0 {
                            continue; // nothing comes back; a reply shows in JSONRPC-2
                        }
                        let ids: Vec<Id> = items
                            .iter()
                            .filter_map(|i| match i {
                                Item::Request { id: Some(id), .. } => Some(id.clone()),
                                _ => None,
                            })
                            .collect();
                        let fits = |f: &Frame| match f {
                            Frame::Batch(rs) => {
                                rs.len() == expected
                                    && ids.iter().all(|id| {
                                        rs.iter().any(
                                    |r| matches!(r, Item::Response { id: Some(x), .. } if x == id),
                                )
                                    })
                            }
                            _ => false,
                        };
                        if find(h.i, &fits).is_none() {
                            let sleep = items.iter().map(slept).max().unwrap_or_default();
                            missing.push((h.i, h.at, sleep, "JSONRPC-4", format!("{client} sent {server} a batch of {} items ({expected} to answer), and no array of {expected} responses with their ids came back", items.len())));
                        }
                    }
                    _ => {}
                }
            }
            if excused(input, server, client) {
                continue;
            }
            for (i, at, sleep, rule, what) in missing {
                if input.end > at + sleep + PROMPT {
                    let id = if rule == "JSONRPC-3" {
                        rule!("JSONRPC-3")
                    } else {
                        rule!("JSONRPC-4")
                    };
                    out.push(v(id, at, vec![i], what));
                }
            }
        }
    }
}

/// JSONRPC-5: a server keeps the connection after an error or bad input.
pub(super) fn server_keeps_connection(input: &Input, out: &mut Findings) {
    for server in servers(input) {
        for client in clients_of(input, server) {
            if excused(input, server, client) {
                continue;
            }
            let bad = hop(input, server, client).into_iter().find(|h| {
                h.frame.items().iter().any(|i| {
                    matches!(
                        i,
                        Item::Response {
                            outcome: Err(_),
                            ..
                        }
                    )
                })
            });
            let first_bad_in = hop(input, client, server).into_iter().find(|h| {
                matches!(h.frame, Frame::NotJson)
                    || h.frame
                        .items()
                        .iter()
                        .any(|i| matches!(i, Item::Invalid { .. } | Item::Response { .. }))
            });
            let since = [bad.map(|h| (h.i, h.at)), first_bad_in.map(|h| (h.i, h.at))]
                .into_iter()
                .flatten()
                .min();
            let Some((since_i, since_at)) = since else {
                continue;
            };
            let closed = input.of(client).find(|(i, e)| {
                *i > since_i
                    && match &e.kind {
                        EventKind::Life(Lifecycle::ConnClosed { peer, .. }) => peer.host == server,
                        EventKind::Life(Lifecycle::Disconnected { .. }) => true,
                        _ => false,
                    }
            });
            // The server's own record says the client ended it (see `client_ended`).
            let closed =
                closed.filter(|_| client_ended(input, server, client, None, since_i).is_none());
            if let Some((i, e)) = closed {
                out.push(v(
                    rule!("JSONRPC-5"),
                    e.at,
                    vec![since_i, i],
                    format!(
                        "{server} closed its connection with {client} at {}, after the error or bad input at {}",
                        fmt_clock(e.at).trim(),
                        fmt_clock(since_at).trim()
                    ),
                ));
            }
        }
    }
}

/// What makes a received item unusable to a client, if it is.
fn unusable(
    input: &Input,
    host: &str,
    frame: &Frame,
    item: Option<&Item>,
    at: Duration,
) -> Option<String> {
    let Some(item) = item else {
        return (*frame == Frame::NotJson).then(|| "text that is not JSON".to_owned());
    };
    match item {
        Item::Request {
            id: None, method, ..
        } => Some(format!("a notification `{method}`")),
        Item::Request { method, .. } => Some(format!("a request `{method}` from the server")),
        Item::Invalid { reason, .. } => Some(format!("an invalid item ({reason})")),
        Item::Response { id: None, .. } => Some("a response without `id`".into()),
        Item::Response {
            id: Some(Id::Null), ..
        } => Some("a response with `id: null`".into()),
        Item::Response { id: Some(id), .. } => {
            let rpc = input.rpc?;
            let call = rpc
                .bindings
                .calls_by_id(host, id)
                .into_iter()
                .find(|c| input.ix.calls(host).contains_key(*c));
            match call.and_then(|c| input.ix.calls(host).get(c)) {
                None => Some(format!("a response with an unknown id {id}")),
                Some(c) => match c.result {
                    Some((_, t, _)) if t < at => Some(format!(
                        "a response with id {id}, whose call had already ended"
                    )),
                    _ => None,
                },
            }
        }
    }
}

/// JSONRPC-6: one unusable message does not end a client's connection or its calls.
pub(super) fn client_keeps_connection(input: &Input, out: &mut Findings) {
    let Some(rpc) = input.rpc else { return };
    for (host, _) in input.client_hosts() {
        if input.disturbed(host) {
            continue;
        }
        for (i, frame) in &rpc.frames {
            let e = &input.events[*i];
            let EventKind::Recv { from, .. } = &e.kind else {
                continue;
            };
            if e.host != host || closes_itself(input, from) || closes_itself(input, host) {
                continue;
            }
            let items: Vec<Option<&Item>> = match frame {
                Frame::NotJson => vec![None],
                f => f.items().iter().map(Some).collect(),
            };
            let what = match frame {
                // An array of responses (a batch's answer, or answers coalesced by an
                // off-spec server): one a client cannot use must not cost it the connection.
                Frame::Batch(all) if !all.is_empty() => {
                    Some(format!("an array of {} items", all.len()))
                }
                _ => items
                    .into_iter()
                    .find_map(|it| unusable(input, host, frame, it, e.at)),
            };
            let Some(what) = what else {
                continue;
            };
            let until = e.at + PROMPT;
            if input.link_faulted(host, from, e.at, until)
                || input.ix.faults().any(|(_, f)| {
                    matches!(
                        f.kind,
                        EventKind::Fault {
                            fault: FaultKind::Crash | FaultKind::Bounce,
                            ..
                        }
                    ) && f.host == *from
                })
            {
                continue;
            }
            let died = input.of(host).find(|(j, ev)| {
                *j > *i
                    && ev.at <= until
                    && match &ev.kind {
                        EventKind::Life(Lifecycle::Disconnected { .. }) => true,
                        EventKind::Result {
                            outcome: Outcome::Fails(k),
                            ..
                        } => matches!(
                            k,
                            FailKind::Disconnected | FailKind::Protocol | FailKind::NotConnected
                        ),
                        _ => false,
                    }
            });
            if let Some((j, ev)) = died {
                out.push(v(
                    rule!("JSONRPC-6"),
                    ev.at,
                    vec![*i, j],
                    format!(
                        "{host} lost its connection or failed a call at {} after receiving {what} from {from} at {}",
                        fmt_clock(ev.at).trim(),
                        fmt_clock(e.at).trim()
                    ),
                ));
                break; // one per host: the rest follow from the first
            }
        }
    }
}

/// JSONRPC-7: a notification the script made reaches its server without an id. A request
/// with the notification's method and params that carries an id and is bound to no call
/// the script made (the profile binds ids to calls by method and params) is the
/// notification sent as a request.
pub(super) fn notifications_without_id(input: &Input, out: &mut Findings) {
    let Some(rpc) = input.rpc else { return };
    for (host, _) in input.client_hosts() {
        let notes: Vec<(usize, &str, &str)> = input
            .of(host)
            .filter_map(|(i, e)| match &e.kind {
                EventKind::Call {
                    call: Call::Notify { method, params },
                    ..
                } => Some((i, method.as_str(), params.as_str())),
                _ => None,
            })
            .collect();
        if notes.is_empty() {
            continue;
        }
        'frames: for (i, frame) in &rpc.frames {
            let e = &input.events[*i];
            let EventKind::Recv { from, .. } = &e.kind else {
                continue;
            };
            if from != host {
                continue;
            }
            for item in frame.items() {
                let Item::Request {
                    id: Some(id),
                    method,
                    params,
                } = item
                else {
                    continue;
                };
                let params = params_text(params.as_ref());
                let bound = rpc.bindings.call(&(host.to_owned(), None), id).is_some();
                let made = notes
                    .iter()
                    .find(|(j, m, p)| *j < *i && *m == method && *p == params);
                if let (false, Some((j, ..))) = (bound, made) {
                    out.push(v(
                        rule!("JSONRPC-7"),
                        e.at,
                        vec![*j, *i],
                        format!(
                            "{host} sent the notification `{method}` as a request with id {id}: {} received it at {} and must answer it",
                            e.host,
                            fmt_clock(e.at).trim()
                        ),
                    ));
                    break 'frames; // one per host
                }
            }
        }
    }
}
