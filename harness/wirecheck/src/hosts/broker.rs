//! The reference broker's driver: a `wirecheck_reference` broker serving the world's
//! network on [`crate::world::PORT`].

use super::{lock, observer::observer, CmdError, Counters, Ctx, Driver, Facts, HostCtl};
use crate::model::vocab::BrokerCounter;
use crate::model::BrokerSpec;
use crate::world::HostFuture;
use std::sync::{Arc, Mutex};
use wirecheck_core::broker::BrokerConfig;
use wirecheck_reference::broker::{BrokerOptions, BrokerServer};

pub struct BrokerDriver {
    spec: BrokerSpec,
    /// The running broker (`None` before the start and after a crash).
    server: Arc<Mutex<Option<Arc<BrokerServer>>>>,
}

impl BrokerDriver {
    pub fn new(spec: BrokerSpec) -> Self {
        BrokerDriver {
            spec,
            server: Arc::default(),
        }
    }
}

impl Driver for BrokerDriver {
    fn software(&self, ctx: Ctx) -> HostFuture {
        let spec = self.spec.clone();
        let slot = self.server.clone();
        Box::pin(async move {
            let mut cmds = ctx.ctl.attach();
            let opts = BrokerOptions {
                config: BrokerConfig {
                    max_message: spec.max_message,
                    tokens: spec.tokens.clone(),
                    flaws: ctx.flaws.clone(),
                    ..BrokerConfig::default()
                },
                queue: spec.queue,
                idle_timeout: spec.idle_timeout,
                ..BrokerOptions::default()
            };
            let server = BrokerServer::new(opts, observer(&ctx, &[]));
            *lock(&slot) = Some(server.clone());
            let mut listener = ctx.net.listen().await?;
            loop {
                tokio::select! {
                    biased;
                    Some((cmd, ack)) = cmds.recv() => {
                        let _ = ack.send(Err(CmdError::Unsupported {
                            kind: "broker",
                            cmd: format!("{cmd:?}"),
                        }));
                    }
                    accepted = listener.accept() => {
                        let (stream, peer) = accepted?;
                        ctx.ctl.state().connections += 1;
                        tokio::spawn(server.clone().serve_connection(stream, peer.to_string()));
                    }
                }
            }
        })
    }

    fn counters(&self, _ctl: &HostCtl) -> Counters {
        let Some(b) = lock(&self.server).clone() else {
            return Counters::new();
        };
        let s = b.stats();
        BrokerCounter::ALL
            .iter()
            .map(|c| {
                let v = match c {
                    BrokerCounter::Connections => s.connections,
                    BrokerCounter::Clients => s.clients,
                    BrokerCounter::Requests => s.requests,
                    BrokerCounter::Queued => s.queued,
                    BrokerCounter::Waiting => s.waiting,
                    BrokerCounter::Assignments => s.assignments,
                    BrokerCounter::Rejected => s.rejected,
                    BrokerCounter::Wakeups => s.wakeups,
                };
                (c.name().to_owned(), v)
            })
            .collect()
    }

    fn facts(&self) -> Facts {
        match lock(&self.server).clone() {
            Some(b) => Facts {
                broker_requests: Some(b.request_ids()),
                broker_invariants: Some(b.check_invariants()),
                ..Facts::default()
            },
            None => Facts::default(),
        }
    }

    fn crashed(&self) {
        *lock(&self.server) = None;
    }
}
