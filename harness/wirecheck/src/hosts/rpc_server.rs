//! The `rpc-server` host: the reference JSON-RPC 2.0 server
//! ([`wirecheck_reference::rpc_server`]) on the simulated network. Every text it receives
//! goes into the trace; it takes no script steps.

use super::{CmdError, Counters, Ctx, Driver, Facts, HostCtl, Mailbox};
use crate::world::HostFuture;

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
                        let (a, b) = (ctx.clone(), ctx.clone());
                        tokio::spawn(wirecheck_reference::rpc_server::serve_connection(
                            stream,
                            move |text| {
                                a.received(&peer, conn, text);
                                a.ctl.state().received += 1;
                            },
                            move |note| b.note(note),
                        ));
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
