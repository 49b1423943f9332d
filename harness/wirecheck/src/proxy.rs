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

use crate::model::{Corruption, ProxyAction, ProxyDir, ProxyRule, ProxySpec};
use crate::trace::{EventKind, Lifecycle, Peer, ProxyAct};
use crate::world::{peer_of, Cmd, Ctx, PORT};
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;
use wirecheck_core::flaws::Flaw;
use wirecheck_core::rng::SplitMix64;

/// Every counter a proxy host exposes to `expect:` (the loader checks names against it).
pub const EXPECT_COUNTERS: &[&str] = &[
    "connections",
    "forwarded",
    "dropped",
    "duplicated",
    "delayed",
    "held",
    "reordered",
    "corrupted",
    "closed",
];

/// The proxy's message counters (all but `connections`). Each received text message is
/// counted in exactly one of them: `forwarded` (no rule acted) or the action of the rule
/// that acted.
pub const COUNTERS: &[&str] = EXPECT_COUNTERS.split_at(1).1;

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
    rules: Vec<ProxyRule>,
    /// How many messages each rule's filters matched so far (for `nth`).
    matched: Vec<u64>,
    rng: SplitMix64,
    held: Vec<Held>,
    /// (rule index, connection, direction) → collected messages.
    reorder: BTreeMap<(usize, u64, u8), ReorderBuf>,
    next_conn: u64,
}

type SharedRef = Arc<Mutex<Shared>>;

fn lock(s: &SharedRef) -> MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

pub async fn proxy_host(spec: ProxySpec, ctx: Ctx) -> turmoil::Result {
    let mut cmds = ctx.ctl.attach();
    {
        let mut st = ctx.ctl.state();
        for name in COUNTERS {
            st.proxy.entry((*name).to_owned()).or_insert(0);
        }
    }
    let shared: SharedRef = Arc::new(Mutex::new(Shared {
        matched: vec![0; spec.rules.len()],
        rules: spec.rules.clone(),
        rng: SplitMix64::new(ctx.seed),
        held: Vec::new(),
        reorder: BTreeMap::new(),
        next_conn: 0,
    }));
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
    loop {
        tokio::select! {
            biased;
            Some((cmd, ack)) = cmds.recv() => {
                let reply = match cmd {
                    Cmd::Release => {
                        release(&shared, &ctx);
                        Ok(())
                    }
                    other => Err(format!("a proxy host only takes `release` (got {other:?})")),
                };
                let _ = ack.send(reply);
            }
            accepted = listener.accept() => {
                let (stream, peer) = accepted?;
                let (peer, peer_port) = peer_of(&peer.to_string());
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

fn count(ctx: &Ctx, name: &str) {
    *ctx.ctl.state().proxy.entry(name.to_owned()).or_insert(0) += 1;
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

/// One proxied connection: the two sides, by direction of travel.
struct Link {
    conn: u64,
    client: String,
    /// The client's port: identifies the client side in `Recv` events.
    client_port: Option<u16>,
    /// Our port toward the target: identifies the target side (as the target sees it).
    upstream_port: Option<u16>,
    target: String,
    to_client: Writer,
    to_target: Writer,
}

impl Link {
    /// The host a message travelling `dir` came from, and where it goes.
    fn route(&self, dir: ProxyDir) -> (&str, &Writer) {
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
    stream: turmoil::net::TcpStream,
    peer: String,
    peer_port: Option<u16>,
    conn: u64,
    target: String,
    shared: SharedRef,
    ctx: Ctx,
) {
    let mut client_ws = match tokio_tungstenite::accept_async(stream).await {
        Ok(ws) => ws,
        Err(e) => {
            ctx.note(format!("handshake with {peer} failed: {e}"));
            return;
        }
    };
    let addr = format!("{target}:{PORT}");
    let mut upstream_port = None;
    let target_ws = match turmoil::net::TcpStream::connect(addr.clone()).await {
        Ok(s) => {
            // The port the target sees this connection from: names it in our traces.
            upstream_port = s.local_addr().ok().map(|a| a.port());
            tokio_tungstenite::client_async(format!("ws://{addr}/"), s)
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
        to_client: spawn_writer(c_sink),
        to_target: spawn_writer(t_sink),
    };
    let (reason, ended) = loop {
        let (dir, frame) = tokio::select! {
            biased;
            f = c_src.next() => (ProxyDir::Up, f),
            f = t_src.next() => (ProxyDir::Down, f),
        };
        let (from, out) = link.route(dir);
        match frame {
            Some(Ok(Ws::Text(t))) => {
                if let Flow::Close = on_text(&link, dir, t.as_str().to_owned(), &shared, &ctx) {
                    break ("closed by a proxy rule".to_owned(), None);
                }
            }
            Some(Ok(Ws::Binary(b))) => {
                let _ = out.send(Out::Msg(Ws::Binary(b)));
            }
            Some(Ok(Ws::Close(_))) | None => break (format!("{from} closed its side"), Some(dir)),
            Some(Err(e)) => break (format!("read error from {from}: {e}"), Some(dir)),
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
            }),
        );
    }
    if ctx.flaws.has(Flaw::ProxyOneDirection) && ended == Some(ProxyDir::Down) {
        // Zoo flaw: the upstream is gone but the client's side is left open, unread.
        let _ = link.to_target.send(Out::Close);
        std::future::pending::<()>().await;
    }
    let _ = link.to_client.send(Out::Close);
    let _ = link.to_target.send(Out::Close);
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

/// Fields of a message that rules match on.
struct Info {
    kind: Option<String>,
    req: Option<String>,
    channel: Option<String>,
}

fn info(text: &str) -> Info {
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

/// Picks the rule that acts on a message (and draws what the action needs).
fn choose(s: &mut Shared, dir: ProxyDir, m: &Info) -> Option<(usize, ProxyAction, Duration)> {
    for i in 0..s.rules.len() {
        if !filters_match(&s.rules[i], dir, m) {
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
    let chosen = choose(&mut lock(shared), dir, &m);
    let Some((rule, action, delay)) = chosen else {
        let _ = out.send(Out::Msg(Ws::Text(text.into())));
        count(ctx, "forwarded");
        return Flow::Go;
    };
    let send = |t: String| {
        let _ = out.send(Out::Msg(Ws::Text(t.into())));
    };
    match action {
        ProxyAction::Drop => {
            proxy_event(ctx, ProxyAct::Drop, from, &text);
            count(ctx, "dropped");
        }
        ProxyAction::Duplicate => {
            proxy_event(ctx, ProxyAct::Duplicate, from, &text);
            count(ctx, "duplicated");
            send(text.clone());
            send(text);
        }
        ProxyAction::Delay { .. } => {
            proxy_event(ctx, ProxyAct::Delay(delay), from, &text);
            count(ctx, "delayed");
            let out = out.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = out.send(Out::Msg(Ws::Text(text.into())));
            });
        }
        ProxyAction::Hold => {
            proxy_event(ctx, ProxyAct::Hold, from, &text);
            count(ctx, "held");
            lock(shared).held.push(Held {
                conn: link.conn,
                peer: from.to_owned(),
                text,
                out: out.clone(),
            });
        }
        ProxyAction::Reorder { window } => {
            count(ctx, "reordered");
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
            count(ctx, "corrupted");
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
            count(ctx, "closed");
            return Flow::Close;
        }
    }
    Flow::Go
}

/// The corrupted text; `None` when `wrong_id` finds no `req` to replace.
fn corrupt(text: &str, c: Corruption) -> Option<String> {
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
            action,
        }
    }

    fn shared(rules: Vec<ProxyRule>) -> Shared {
        Shared {
            matched: vec![0; rules.len()],
            rules,
            rng: SplitMix64::new(1),
            held: Vec::new(),
            reorder: BTreeMap::new(),
            next_conn: 0,
        }
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
        let pick = |s: &mut Shared, d| choose(s, d, &chunk).map(|(i, _, _)| i);
        assert_eq!(pick(&mut s, ProxyDir::Up), Some(1), "wrong direction");
        assert_eq!(pick(&mut s, ProxyDir::Down), Some(1), "1st match: not due");
        assert_eq!(pick(&mut s, ProxyDir::Down), Some(0), "2nd match acts");
        assert_eq!(pick(&mut s, ProxyDir::Down), Some(1), "nth has passed");
        let text = info("not json");
        assert_eq!(
            choose(&mut s, ProxyDir::Up, &text).map(|(i, _, _)| i),
            Some(1)
        );
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
                .map(|_| choose(&mut s, ProxyDir::Up, &info("{}")).map(|(_, _, d)| d))
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
