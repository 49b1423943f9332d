//! The reference relay's driver: a `wirecheck_reference` relay serving the world's network
//! on [`crate::world::PORT`] and dialing its backends through it.

use super::{lock, observer::observer, CmdError, Counters, Ctx, Driver, Facts, HostCtl};
use crate::model::vocab::RelayCounter;
use crate::model::RelaySpec;
use crate::trace::RelayFacts;
use crate::world::{addr_of, BoxIo, HostFuture, Net};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use wirecheck_core::relay::{FailoverPolicy, RelayConfig};
use wirecheck_reference::relay::{DialFuture, Dialer, RelayOptions, RelayServer};

/// Backend dials over the world's network.
pub struct NetDialer(Arc<dyn Net>);

impl Dialer for NetDialer {
    type Stream = BoxIo;
    fn dial<'a>(&'a self, addr: &'a str) -> DialFuture<'a, BoxIo> {
        self.0.connect(addr)
    }
}

/// The running relay and the connections its current software accepted.
struct Running {
    server: Arc<RelayServer<NetDialer>>,
    accepted: Arc<AtomicU64>,
}

pub struct RelayDriver {
    spec: RelaySpec,
    /// `None` before the start and after a crash.
    running: Arc<Mutex<Option<Running>>>,
}

impl RelayDriver {
    pub fn new(spec: RelaySpec) -> Self {
        RelayDriver {
            spec,
            running: Arc::default(),
        }
    }
}

impl Driver for RelayDriver {
    fn software(&self, ctx: Ctx) -> HostFuture {
        let spec = self.spec.clone();
        let slot = self.running.clone();
        Box::pin(async move {
            let mut cmds = ctx.ctl.attach();
            let opts = RelayOptions {
                config: RelayConfig {
                    backends: spec.backends.iter().map(|b| addr_of(b)).collect(),
                    failover: FailoverPolicy {
                        max_attempts: spec.max_attempts,
                        window: spec.window,
                        min_gap: spec.min_gap,
                    },
                    probe_interval: spec.probe_interval,
                    connect_timeout: spec.connect_timeout,
                    buffer: spec.buffer,
                    flaws: ctx.flaws.clone(),
                },
                idle_timeout: spec.idle_timeout,
                ..RelayOptions::default()
            };
            let server = RelayServer::new(
                opts,
                NetDialer(ctx.net.clone()),
                observer(&ctx, &spec.backends),
            );
            let accepted = Arc::new(AtomicU64::new(0));
            *lock(&slot) = Some(Running {
                server: server.clone(),
                accepted: accepted.clone(),
            });
            let mut listener = ctx.net.listen().await?;
            loop {
                tokio::select! {
                    biased;
                    Some((cmd, ack)) = cmds.recv() => {
                        let _ = ack.send(Err(CmdError::Unsupported {
                            kind: "relay",
                            cmd: format!("{cmd:?}"),
                        }));
                    }
                    conn = listener.accept() => {
                        let (stream, peer) = conn?;
                        ctx.ctl.state().connections += 1;
                        accepted.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(server.clone().serve_connection(stream, peer.to_string()));
                    }
                }
            }
        })
    }

    fn counters(&self, _ctl: &HostCtl) -> Counters {
        let guard = lock(&self.running);
        let Some(r) = guard.as_ref() else {
            return Counters::new();
        };
        let s = r.server.stats();
        RelayCounter::ALL
            .iter()
            .map(|c| {
                let v = match c {
                    RelayCounter::Connections => r.accepted.load(Ordering::Relaxed),
                    RelayCounter::Clients => s.clients,
                    RelayCounter::Links => s.links,
                    RelayCounter::Waiting => s.waiting,
                    RelayCounter::Failovers => s.failovers,
                    RelayCounter::Attempts => s.attempts,
                    RelayCounter::GaveUp => s.gave_up,
                    RelayCounter::BackendGone => s.backend_gone,
                    RelayCounter::Cancelled => s.cancelled,
                };
                (c.name().to_owned(), v)
            })
            .collect()
    }

    fn facts(&self) -> Facts {
        let guard = lock(&self.running);
        let Some(r) = guard.as_ref() else {
            return Facts::default();
        };
        let s = r.server.stats();
        Facts {
            relay: Some(RelayFacts {
                counts: self.spec.backends.iter().cloned().zip(s.counts).collect(),
                clients: s.clients,
                links: s.links,
                invariants: r.server.check_invariants(),
            }),
            ..Facts::default()
        }
    }

    fn crashed(&self) {
        *lock(&self.running) = None;
    }
}
