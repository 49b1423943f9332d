//! The `rpc-server` host: the reference JSON-RPC 2.0 server
//! ([`wirecheck_reference::rpc_server`]) on the simulated network. Every text it receives
//! goes into the trace, and how each connection ended (the reference server never closes
//! one by itself: the peer did, or the transport failed); it takes no script steps.

use super::{CmdError, Counters, Ctx, Driver, Facts, HostCtl, Mailbox};
use crate::trace::{CloseCause, EventKind, Lifecycle, Peer};
use crate::world::HostFuture;
use wirecheck_reference::rpc_server::Ended;

pub struct RpcServerDriver;

impl Driver for RpcServerDriver {
    fn software(&self, ctx: Ctx) -> HostFuture {
        Box::pin(async move {
            let mut cmds: Mailbox = ctx.ctl.attach();
            let mut listener = ctx.net.listen().await?;
            loop {
                tokio::select! {
                    biased;
                    Some((cmd, ack)) = cmds.recv() => {
                        let _ = ack.send(Err(CmdError::Unsupported {
                            kind: "rpc-server",
                            cmd: format!("{cmd:?}"),
                        }));
                    }
                    accepted = listener.accept() => {
                        let (stream, addr) = accepted?;
                        ctx.ctl.state().connections += 1;
                        let (peer, conn) = ctx.peer_of(addr);
                        let (a, b, c) = (ctx.clone(), ctx.clone(), ctx.clone());
                        let from = peer.clone();
                        tokio::spawn(async move {
                            let ended = wirecheck_reference::rpc_server::serve_connection(
                                stream,
                                move |text| {
                                    a.received(&from, conn, text);
                                    a.ctl.state().received += 1;
                                },
                                move |note| b.note(note),
                            )
                            .await;
                            // Who ended it goes into the trace: the server rules excuse
                            // answers a client made impossible by closing (JSONRPC-1, -5).
                            let (reason, cause) = match ended {
                                Ended::Handshake(e) => (format!("handshake failed: {e}"), CloseCause::Error),
                                Ended::ByPeer => ("the client closed it".to_owned(), CloseCause::Peer),
                                Ended::ReadError(e) => (format!("read error: {e}"), CloseCause::Error),
                            };
                            c.trace.host_event(
                                &c.ctl.name,
                                EventKind::Life(Lifecycle::ConnClosed {
                                    peer: Peer { host: peer, conn },
                                    reason,
                                    cause,
                                }),
                            );
                        });
                    }
                }
            }
        })
    }

    fn counters(&self, ctl: &HostCtl) -> Counters {
        super::scripted::scripted_counters(ctl)
    }

    fn facts(&self) -> Facts {
        Facts::default()
    }
}
