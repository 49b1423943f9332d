//! The message-level chaos proxy host (see `model::ProxySpec`).
//!
//! A proxy listens on [`PORT`] like a broker. For each accepted WebSocket connection it
//! opens one connection to its target and pumps messages both ways. Every text message
//! it reads is recorded as a `Recv` event (so diagrams show `app→px` and `broker→px`
//! arrows) and then run through the rules, in order: the first rule whose filters match,
//! whose `nth` (if any) is due and whose probability draw (if any) succeeds acts on the
//! message; a message no rule acts on is forwarded unchanged. Every rule action is
//! recorded as a `Proxy` event on the proxy's lane.
//!
//! When either side of a connection closes or fails, or a `close` rule fires, both sides
//! are closed and the connection's single pump loop ends (one loop reads both sides, so
//! no direction can be left running).
//!
//! Determinism: one loop per connection with a `biased` select, ordered maps, simulated
//! time only, and one RNG seeded from the host's seed for probabilities and delays.

mod rules;

use super::{Cmd, CmdError, Counters, Ctx, Driver, Facts, HostCtl};
use crate::model::vocab::ProxyCounter;
use crate::model::{ProxyAction, ProxyDir, ProxySpec};
use crate::trace::{CloseCause, EventKind, Lifecycle, Peer, ProxyAct};
use crate::world::{addr_of, BoxIo, HostFuture, HostResult};
use futures_util::{SinkExt, StreamExt};
use rules::{corrupt, info, RuleBook};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;
use wirecheck_core::flaws::Flaw;
use wirecheck_reference::time::{self, Instant};

/// What a connection's writer task is asked to do.
enum Out {
    Msg(Ws),
    Close,
}

type Writer = mpsc::UnboundedSender<Out>;

/// A message kept by a `hold` rule until the next `release` step.
struct Held {
    conn: u64,
    peer: String,
    text: String,
    out: Writer,
}

/// Messages collected by a `reorder` rule on one connection and direction.
#[derive(Default)]
struct ReorderBuf {
    texts: Vec<String>,
}

/// Direction as an ordered key.
fn dir_key(dir: ProxyDir) -> u8 {
    match dir {
        ProxyDir::Up => 0,
        ProxyDir::Down => 1,
    }
}

/// State shared by all connections of one run of the proxy's software.
struct Shared {
    book: RuleBook,
    held: Vec<Held>,
    /// (rule index, connection, direction) → collected messages.
    reorder: BTreeMap<(usize, u64, u8), ReorderBuf>,
    next_conn: u64,
}

type SharedRef = Arc<Mutex<Shared>>;

fn lock(s: &SharedRef) -> MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The chaos proxy's driver.
pub struct ProxyDriver {
    pub spec: ProxySpec,
}

impl Driver for ProxyDriver {
    fn software(&self, ctx: Ctx) -> HostFuture {
        Box::pin(proxy_host(self.spec.clone(), ctx))
    }

    fn counters(&self, ctl: &HostCtl) -> Counters {
        let st = ctl.state();
        let mut c = Counters::from([(ProxyCounter::Connections.name().to_owned(), st.connections)]);
        for (k, v) in &st.proxy {
            c.insert(k.clone(), *v);
        }
        c
    }

    fn facts(&self) -> Facts {
        Facts::default()
    }
}

async fn proxy_host(spec: ProxySpec, ctx: Ctx) -> HostResult {
    let mut cmds = ctx.ctl.attach();
    {
        let mut st = ctx.ctl.state();
        // Every message counter, at 0 until it counts (`connections` is kept apart).
        for c in ProxyCounter::ALL
            .iter()
            .filter(|c| **c != ProxyCounter::Connections)
        {
            st.proxy.entry(c.name().to_owned()).or_insert(0);
        }
    }
    let shared: SharedRef = Arc::new(Mutex::new(Shared {
        book: RuleBook::new(spec.rules.clone(), ctx.seed),
        held: Vec::new(),
        reorder: BTreeMap::new(),
        next_conn: 0,
    }));
    let mut listener = ctx.net.listen().await?;
    loop {
        tokio::select! {
            biased;
            Some((cmd, ack)) = cmds.recv() => {
                let reply = match cmd {
                    Cmd::Release => {
                        release(&shared, &ctx);
                        Ok(())
                    }
                    other => Err(CmdError::Unsupported {
                        kind: "proxy",
                        cmd: format!("{other:?}"),
                    }),
                };
                let _ = ack.send(reply);
            }
            accepted = listener.accept() => {
                let (stream, addr) = accepted?;
                let (peer, peer_port) = ctx.peer_of(addr);
                ctx.ctl.state().connections += 1;
                let conn = {
                    let mut s = lock(&shared);
                    s.next_conn += 1;
                    s.next_conn
                };
                tokio::spawn(connection(
                    stream,
                    peer,
                    peer_port,
                    conn,
                    spec.target.clone(),
                    shared.clone(),
                    ctx.clone(),
                ));
            }
        }
    }
}

/// Forwards every held message, in the order they arrived, each on its own connection.
fn release(shared: &SharedRef, ctx: &Ctx) {
    let held = std::mem::take(&mut lock(shared).held);
    if held.is_empty() {
        ctx.note("release: nothing is held");
        return;
    }
    for h in held {
        proxy_event(ctx, ProxyAct::Release, &h.peer, &h.text);
        if h.out.send(Out::Msg(Ws::Text(h.text.into()))).is_err() {
            ctx.note(format!(
                "release: connection {} is closed, the message from {} is lost",
                h.conn, h.peer
            ));
        }
    }
}

fn proxy_event(ctx: &Ctx, action: ProxyAct, peer: &str, text: &str) {
    ctx.trace.host_event(
        &ctx.ctl.name,
        EventKind::Proxy {
            action,
            peer: peer.to_owned(),
            text: text.to_owned(),
        },
    );
}

fn count(ctx: &Ctx, counter: ProxyCounter) {
    *ctx.ctl
        .state()
        .proxy
        .entry(counter.name().to_owned())
        .or_insert(0) += 1;
}

/// Spawns the task that writes one side of a connection.
fn spawn_writer<S>(mut sink: S) -> Writer
where
    S: futures_util::Sink<Ws> + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Out::Msg(m) => {
                    if sink.send(m).await.is_err() {
                        break;
                    }
                }
                Out::Close => break,
            }
        }
        let _ = sink.close().await;
    });
    tx
}

/// One direction's way out: its writer and the FIFO that keeps its order when a message
/// is delayed. A delayed message delays every message behind it on the same connection
/// and direction (reordering is `reorder`'s job, not `delay`'s).
struct Lane {
    out: Writer,
    /// Messages waiting behind a delay, with the time each may go.
    line: mpsc::UnboundedSender<(Instant, Out)>,
    /// How many messages are in `line` (0: nothing waits, send at once).
    queued: Arc<std::sync::atomic::AtomicUsize>,
    /// When the last queued message may go.
    last_due: Mutex<Instant>,
}

impl Lane {
    fn new(out: Writer) -> Self {
        use std::sync::atomic::Ordering;
        let (line, mut rx) = mpsc::unbounded_channel::<(Instant, Out)>();
        let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (w, q) = (out.clone(), queued.clone());
        tokio::spawn(async move {
            while let Some((due, m)) = rx.recv().await {
                time::sleep_until(due).await;
                let _ = w.send(m);
                q.fetch_sub(1, Ordering::SeqCst);
            }
        });
        Lane {
            out,
            line,
            queued,
            last_due: Mutex::new(Instant::now()),
        }
    }

    /// Sends `m` after `delay`, and never before a message sent earlier on this lane.
    fn send_after(&self, delay: std::time::Duration, m: Out) {
        use std::sync::atomic::Ordering;
        if delay.is_zero() && self.queued.load(Ordering::SeqCst) == 0 {
            let _ = self.out.send(m);
            return;
        }
        let mut last = self.last_due.lock().unwrap_or_else(|p| p.into_inner());
        let due = (Instant::now() + delay).max(*last);
        *last = due;
        self.queued.fetch_add(1, Ordering::SeqCst);
        let _ = self.line.send((due, m));
    }

    fn send(&self, m: Out) {
        self.send_after(std::time::Duration::ZERO, m);
    }
}

/// One proxied connection: the two sides, by direction of travel.
struct Link {
    conn: u64,
    client: String,
    /// The client's port: identifies the client side in `Recv` events.
    client_port: Option<u16>,
    /// Our port toward the target: identifies the target side (as the target sees it).
    upstream_port: Option<u16>,
    target: String,
    to_client: Lane,
    to_target: Lane,
}

impl Link {
    /// The host a message travelling `dir` came from, and where it goes.
    fn route(&self, dir: ProxyDir) -> (&str, &Lane) {
        match dir {
            ProxyDir::Up => (&self.client, &self.to_target),
            ProxyDir::Down => (&self.target, &self.to_client),
        }
    }
}

/// Why a connection's pump stopped.
enum Flow {
    Go,
    Close,
}

async fn connection(
    stream: BoxIo,
    peer: String,
    peer_port: Option<u16>,
    conn: u64,
    target: String,
    shared: SharedRef,
    ctx: Ctx,
) {
    let mut client_ws = match tokio_tungstenite::accept_async_with_config(
        stream,
        Some(wirecheck_reference::ws::config()),
    )
    .await
    {
        Ok(ws) => ws,
        Err(e) => {
            ctx.note(format!("handshake with {peer} failed: {e}"));
            return;
        }
    };
    let addr = addr_of(&target);
    let mut upstream_port = None;
    let target_ws = match ctx.net.connect(&addr).await {
        Ok((s, port)) => {
            // The port the target sees this connection from: names it in our traces.
            upstream_port = port;
            tokio_tungstenite::client_async_with_config(
                format!("ws://{addr}/"),
                s,
                Some(wirecheck_reference::ws::config()),
            )
            .await
            .map(|(ws, _)| ws)
            .map_err(|e| format!("WebSocket handshake with {addr} failed: {e}"))
        }
        Err(e) => Err(format!("connect {addr} failed: {e}")),
    };
    let target_ws = match target_ws {
        Ok(ws) => ws,
        Err(e) => {
            ctx.note(format!(
                "connection {conn} from {peer}: {e}; closing {peer}'s side"
            ));
            let _ = client_ws.close(None).await;
            return;
        }
    };
    ctx.note(format!(
        "connection {conn}: {peer} connected, forwarding to {target}"
    ));
    let (c_sink, mut c_src) = client_ws.split();
    let (t_sink, mut t_src) = target_ws.split();
    let link = Link {
        conn,
        client: peer.clone(),
        client_port: peer_port,
        upstream_port,
        target: target.clone(),
        to_client: Lane::new(spawn_writer(c_sink)),
        to_target: Lane::new(spawn_writer(t_sink)),
    };
    let (reason, ended, cause) = loop {
        let (dir, frame) = tokio::select! {
            biased;
            f = c_src.next() => (ProxyDir::Up, f),
            f = t_src.next() => (ProxyDir::Down, f),
        };
        let (from, out) = link.route(dir);
        match frame {
            Some(Ok(Ws::Text(t))) => {
                if let Flow::Close = on_text(&link, dir, t.as_str().to_owned(), &shared, &ctx) {
                    break ("closed by a proxy rule".to_owned(), None, CloseCause::Local);
                }
            }
            Some(Ok(Ws::Binary(b))) => {
                out.send(Out::Msg(Ws::Binary(b)));
            }
            Some(Ok(Ws::Close(_))) | None => {
                break (
                    format!("{from} closed its side"),
                    Some(dir),
                    CloseCause::Peer,
                )
            }
            Some(Err(e)) => {
                break (
                    format!("read error from {from}: {e}"),
                    Some(dir),
                    CloseCause::Error,
                )
            }
            Some(Ok(_)) => {}
        }
    };
    if let Some(dir) = ended {
        let side = match dir {
            ProxyDir::Up => Peer {
                host: link.client.clone(),
                conn: link.client_port,
            },
            // The upstream of the connection from `client:port`.
            ProxyDir::Down => Peer {
                host: link.target.clone(),
                conn: link.client_port,
            },
        };
        ctx.trace.host_event(
            &ctx.ctl.name,
            EventKind::Life(Lifecycle::ConnClosed {
                peer: side,
                reason: reason.clone(),
                cause,
            }),
        );
    }
    if ctx.flaws.has(Flaw::ProxyOneDirection) && ended == Some(ProxyDir::Down) {
        // Zoo flaw: the upstream is gone but the client's side is left open, unread.
        let _ = link.to_target.out.send(Out::Close);
        std::future::pending::<()>().await;
    }
    let _ = link.to_client.out.send(Out::Close);
    let _ = link.to_target.out.send(Out::Close);
    count(&ctx, ProxyCounter::Closed);
    let lost: usize = {
        let mut s = lock(&shared);
        let keys: Vec<(usize, u64, u8)> = s
            .reorder
            .keys()
            .filter(|(_, c, _)| *c == conn)
            .copied()
            .collect();
        keys.iter()
            .filter_map(|k| s.reorder.remove(k))
            .map(|b| b.texts.len())
            .sum()
    };
    let mut what = format!("connection {conn} ended ({reason}): closing both sides");
    if lost > 0 {
        what.push_str(&format!(
            "; {lost} message(s) collected for reordering are lost"
        ));
    }
    ctx.note(what);
}

/// Acts on one received text message.
fn on_text(link: &Link, dir: ProxyDir, text: String, shared: &SharedRef, ctx: &Ctx) -> Flow {
    let (from, out) = link.route(dir);
    ctx.trace.host_event(
        &ctx.ctl.name,
        EventKind::Recv {
            from: from.to_owned(),
            conn: match dir {
                ProxyDir::Up => link.client_port,
                ProxyDir::Down => link.upstream_port,
            },
            text: text.clone(),
            msg: wirecheck_core::wire::Message::decode(&text).ok(),
        },
    );
    let m = info(&text);
    let chosen = lock(shared).book.choose(dir, &m, ctx.trace.now());
    let Some((rule, action, delay)) = chosen else {
        out.send(Out::Msg(Ws::Text(text.into())));
        count(ctx, ProxyCounter::Forwarded);
        return Flow::Go;
    };
    let send = |t: String| out.send(Out::Msg(Ws::Text(t.into())));
    match action {
        ProxyAction::Drop => {
            proxy_event(ctx, ProxyAct::Drop, from, &text);
            count(ctx, ProxyCounter::Dropped);
        }
        ProxyAction::Duplicate => {
            proxy_event(ctx, ProxyAct::Duplicate, from, &text);
            count(ctx, ProxyCounter::Duplicated);
            send(text.clone());
            send(text);
        }
        ProxyAction::Delay { .. } => {
            proxy_event(ctx, ProxyAct::Delay(delay), from, &text);
            count(ctx, ProxyCounter::Delayed);
            out.send_after(delay, Out::Msg(Ws::Text(text.into())));
        }
        ProxyAction::Hold => {
            proxy_event(ctx, ProxyAct::Hold, from, &text);
            count(ctx, ProxyCounter::Held);
            lock(shared).held.push(Held {
                conn: link.conn,
                peer: from.to_owned(),
                text,
                out: out.out.clone(),
            });
        }
        ProxyAction::Reorder { window } => {
            count(ctx, ProxyCounter::Reordered);
            let full = {
                let mut s = lock(shared);
                let buf = s
                    .reorder
                    .entry((rule, link.conn, dir_key(dir)))
                    .or_default();
                buf.texts.push(text.clone());
                let n = buf.texts.len();
                let full = n >= window as usize;
                let flushed = if full {
                    s.reorder
                        .remove(&(rule, link.conn, dir_key(dir)))
                        .map(|b| b.texts)
                } else {
                    None
                };
                (n, flushed)
            };
            proxy_event(
                ctx,
                ProxyAct::Reorder {
                    nth: full.0,
                    window,
                },
                from,
                &text,
            );
            if let Some(texts) = full.1 {
                ctx.note(format!(
                    "reorder: forwarding {} messages from {from} in reverse order",
                    texts.len()
                ));
                for t in texts.into_iter().rev() {
                    send(t);
                }
            }
        }
        ProxyAction::Corrupt(c) => {
            proxy_event(ctx, ProxyAct::Corrupt(c), from, &text);
            count(ctx, ProxyCounter::Corrupted);
            match corrupt(&text, c) {
                Some(t) => send(t),
                None => {
                    ctx.note("corrupt wrong_id: the message has no `req`; forwarded unchanged");
                    send(text);
                }
            }
        }
        ProxyAction::Close => {
            proxy_event(ctx, ProxyAct::Close, from, &text);
            return Flow::Close; // counted `closed` where both sides are closed
        }
    }
    Flow::Go
}
