//! Scripted peers: raw WebSocket servers and clients whose every frame the script writes
//! (`send`) and checks (`expect`). They play misbehaving brokers and clients.

use super::{lock, Cmd, CmdError, Counters, Ctx, Driver, Facts, HostCtl, Mailbox};
use crate::model::vocab::ScriptedCounter;
use crate::model::Frame;
use crate::trace::{CloseCause, EventKind, Lifecycle, Peer};
use crate::world::{addr_of, HostFuture, HostResult};
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;

/// A raw WebSocket server that accepts connections.
pub struct ScriptedServer;

/// A raw WebSocket client of `target`.
pub struct ScriptedClient {
    pub target: String,
    pub autoconnect: bool,
}

/// A scripted peer's (and the rpc-server's) counters: what it received, how often it was
/// connected.
pub(crate) fn scripted_counters(ctl: &HostCtl) -> Counters {
    let st = ctl.state();
    ScriptedCounter::ALL
        .iter()
        .map(|c| {
            let v = match c {
                ScriptedCounter::Received => st.received,
                ScriptedCounter::Connections => st.connections,
            };
            (c.name().to_owned(), v)
        })
        .collect()
}

impl Driver for ScriptedServer {
    fn software(&self, ctx: Ctx) -> HostFuture {
        Box::pin(scripted_server(ctx))
    }

    fn counters(&self, ctl: &HostCtl) -> Counters {
        scripted_counters(ctl)
    }

    fn facts(&self) -> Facts {
        Facts::default()
    }
}

impl Driver for ScriptedClient {
    fn software(&self, ctx: Ctx) -> HostFuture {
        Box::pin(scripted_client(self.target.clone(), self.autoconnect, ctx))
    }

    fn counters(&self, ctl: &HostCtl) -> Counters {
        scripted_counters(ctl)
    }

    fn facts(&self) -> Facts {
        Facts::default()
    }
}

type Writer = mpsc::UnboundedSender<Ws>;

/// A scripted peer's open connections: the latest one (the default target of `send` and
/// `close`) and each by the peer host's name (the target of `send` with `to:`).
#[derive(Default)]
struct Conns {
    latest: Option<Writer>,
    by_peer: BTreeMap<String, Writer>,
}

type SharedConns = Arc<Mutex<Conns>>;

async fn scripted_server(ctx: Ctx) -> HostResult {
    let mut cmds: Mailbox = ctx.ctl.attach();
    let mut listener = ctx.net.listen().await?;
    let open: SharedConns = Arc::default();
    loop {
        tokio::select! {
            biased;
            Some((cmd, ack)) = cmds.recv() => {
                let _ = ack.send(scripted_command(cmd, &open, &ctx));
            }
            accepted = listener.accept() => {
                let (stream, addr) = accepted?;
                let (peer, conn) = ctx.peer_of(addr);
                let ctx = ctx.clone();
                let open = open.clone();
                tokio::spawn(async move {
                    match wirecheck_reference::handshake::accept(stream).await {
                        Ok(ws) => scripted_io(ws, peer, conn, open, ctx).await,
                        Err(e) => ctx.note(format!("handshake with {peer} failed: {e}")),
                    }
                });
            }
        }
    }
}

async fn scripted_client(target: String, autoconnect: bool, ctx: Ctx) -> HostResult {
    let mut cmds = ctx.ctl.attach();
    let open: SharedConns = Arc::default();
    if autoconnect {
        connect_scripted(&target, &open, &ctx).await;
    }
    while let Some((cmd, ack)) = cmds.recv().await {
        let reply = match cmd {
            Cmd::ScriptedConnect => {
                let connected = lock(&open)
                    .by_peer
                    .get(&target)
                    .is_some_and(|w| !w.is_closed());
                if connected {
                    Err(CmdError::Refused(format!(
                        "`{}` is already connected to `{target}` (autoconnect, or an earlier connect); \
                         write `autoconnect: false` on the host to connect from the script, or `close` first",
                        ctx.ctl.name
                    )))
                } else {
                    connect_scripted(&target, &open, &ctx).await;
                    Ok(())
                }
            }
            other => scripted_command(other, &open, &ctx),
        };
        let _ = ack.send(reply);
    }
    Ok(())
}

async fn connect_scripted(target: &str, open: &SharedConns, ctx: &Ctx) {
    let addr = addr_of(target);
    let (stream, port) = match ctx.net.connect(&addr).await {
        Ok(s) => s,
        Err(e) => {
            ctx.note(format!("connect {addr} failed: {e}"));
            return;
        }
    };
    match tokio_tungstenite::client_async_with_config(
        format!("ws://{addr}/"),
        stream,
        Some(wirecheck_reference::ws::config()),
    )
    .await
    {
        Ok((ws, _)) => {
            ctx.trace.host_event(
                &ctx.ctl.name,
                EventKind::Life(Lifecycle::ConnOpened {
                    to: Peer {
                        host: target.to_owned(),
                        conn: port,
                    },
                }),
            );
            let (ctx, open, target) = (ctx.clone(), open.clone(), target.to_owned());
            tokio::spawn(async move { scripted_io(ws, target, None, open, ctx).await });
            // Let the new connection register itself before the next script step.
            tokio::task::yield_now().await;
        }
        Err(e) => ctx.note(format!("WebSocket handshake with {addr} failed: {e}")),
    }
}

fn scripted_command(cmd: Cmd, open: &SharedConns, ctx: &Ctx) -> Result<(), CmdError> {
    let c = lock(open);
    let pick = |to: Option<&str>| -> Result<Writer, CmdError> {
        let w = match to {
            None => c.latest.as_ref(),
            Some(peer) => c.by_peer.get(peer),
        };
        w.filter(|w| !w.is_closed())
            .cloned()
            .ok_or_else(|| CmdError::NoConnection {
                host: ctx.ctl.name.clone(),
                peer: to.map(str::to_owned),
                open: c
                    .by_peer
                    .iter()
                    .filter(|(_, w)| !w.is_closed())
                    .map(|(p, _)| p.clone())
                    .collect(),
            })
    };
    let text = |f: Frame| match f {
        Frame::Json(v) => Ws::Text(v.to_string().into()),
        Frame::Raw(t) => Ws::Text(t.into()),
        // The runner gives the wire ids before sending; unresolved calls go without.
        Frame::Rpc(r) => Ws::Text(r.text(|_| None).into()),
    };
    let (writer, msg) = match cmd {
        Cmd::Send(f) => (pick(None)?, text(f)),
        Cmd::SendTo(to, f) => (pick(Some(&to))?, text(f)),
        Cmd::Close => (pick(None)?, Ws::Close(None)),
        other => {
            return Err(CmdError::Unsupported {
                kind: "scripted",
                cmd: format!("{other:?}"),
            })
        }
    };
    writer.send(msg).map_err(|_| CmdError::Closed)
}

/// Reads one scripted connection into the inbox and writes what the script sends.
async fn scripted_io<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    peer: String,
    conn: Option<u16>,
    open: SharedConns,
    ctx: Ctx,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel();
    {
        let mut c = lock(&open);
        c.latest = Some(tx.clone());
        c.by_peer.insert(peer.clone(), tx);
    }
    ctx.ctl.state().connections += 1;
    let (mut sink, mut source) = ws.split();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let closing = matches!(m, Ws::Close(_));
            if sink.send(m).await.is_err() || closing {
                break;
            }
        }
    });
    let mut cause = CloseCause::Peer;
    while let Some(frame) = source.next().await {
        match frame {
            Ok(Ws::Text(t)) => {
                let text = t.as_str().to_owned();
                ctx.received(&peer, conn, &text);
                let at = ctx.trace.now();
                let mut st = ctx.ctl.state();
                st.received += 1;
                st.inbox.push_back((at, text));
            }
            // JSON-RPC peers (web3.py among them) send binary frames of UTF-8 JSON.
            Ok(Ws::Binary(b)) if ctx.protocol == crate::model::Protocol::JsonRpc2 => {
                let text = String::from_utf8_lossy(&b).into_owned();
                ctx.received(&peer, conn, &text);
                let at = ctx.trace.now();
                let mut st = ctx.ctl.state();
                st.received += 1;
                st.inbox.push_back((at, text));
            }
            Ok(Ws::Close(_)) => break,
            Err(_) => {
                cause = CloseCause::Error;
                break;
            }
            Ok(_) => {}
        }
    }
    ctx.trace.host_event(
        &ctx.ctl.name,
        EventKind::Life(Lifecycle::ConnClosed {
            peer: Peer { host: peer, conn },
            reason: "connection ended".into(),
            cause,
        }),
    );
    writer.abort();
}
