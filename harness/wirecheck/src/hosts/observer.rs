//! Turns what a reference host observes (`wirecheck_reference::Observer`) into typed trace
//! events, and the reference's call errors into the scenario vocabulary.

use super::Ctx;
use crate::model::{FailKind, Outcome};
use crate::trace::{
    CloseCause, Endpoint, EventKind, Lifecycle, LinkEnd, Peer, RegError, RelayLife,
};
use crate::world::{addr_of, Net, PORT};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use wirecheck_core::pending::{self, CallError};
use wirecheck_reference::observe::{
    CloseCause as RefCause, Lifecycle as RefLife, LinkEnd as RefEnd, RelayEvent,
};
use wirecheck_reference::Observer;

/// An observer for `ctx`'s host, which dials `brokers` (host names, in order: a client's
/// brokers, a relay's backends).
pub(super) fn observer(ctx: &Ctx, brokers: &[String]) -> Arc<dyn Observer> {
    Arc::new(HostObserver {
        ctx: ctx.clone(),
        endpoints: brokers
            .iter()
            .map(|h| {
                (
                    addr_of(h),
                    Endpoint {
                        host: h.clone(),
                        port: PORT,
                    },
                )
            })
            .collect(),
    })
}

/// Records what a reference host reads and notes.
struct HostObserver {
    ctx: Ctx,
    /// The addresses this host dials (as the reference was configured) and what they are.
    endpoints: BTreeMap<String, Endpoint>,
}

impl HostObserver {
    fn endpoint(&self, addr: &str) -> Endpoint {
        self.endpoints
            .get(addr)
            .cloned()
            .unwrap_or_else(|| Endpoint {
                host: addr.to_owned(),
                port: 0,
            })
    }

    /// The reference labels a peer by the address it accepted (`10.0.0.2:49152`: resolved
    /// to a host, keeping the port that names the connection) or by the address it dialed
    /// (`broker:7300`: that host).
    fn peer(&self, label: &str) -> Peer {
        if let Ok(addr) = label.parse::<SocketAddr>() {
            if let Some(host) = self.ctx.net.host_of(addr) {
                return Peer {
                    host,
                    conn: Some(addr.port()),
                };
            }
        }
        Peer {
            host: self.endpoint(label).host,
            conn: None,
        }
    }
}

impl HostObserver {
    /// A relay's event, with its clients as peers and its backends as hosts.
    fn relay(&self, e: RelayEvent) -> RelayLife {
        let backend = |addr: &str| self.endpoint(addr).host;
        match e {
            RelayEvent::Reader {
                client,
                reader,
                running,
            } => RelayLife::Reader {
                client: self.peer(&client),
                reader,
                running,
            },
            RelayEvent::Dial {
                client,
                link,
                backend: b,
                attempt,
            } => RelayLife::Dial {
                client: self.peer(&client),
                link,
                backend: backend(&b),
                attempt,
            },
            RelayEvent::Linked {
                client,
                link,
                backend: b,
                conn,
            } => RelayLife::Linked {
                client: self.peer(&client),
                link,
                backend: backend(&b),
                conn,
            },
            RelayEvent::Ready {
                client,
                link,
                backend: b,
            } => RelayLife::Ready {
                client: self.peer(&client),
                link,
                backend: backend(&b),
            },
            RelayEvent::Unlinked {
                client,
                link,
                backend: b,
                end,
            } => RelayLife::Unlinked {
                client: self.peer(&client),
                link,
                backend: backend(&b),
                end: match end {
                    RefEnd::Failed => LinkEnd::Failed,
                    RefEnd::Lost => LinkEnd::Lost,
                    RefEnd::Closed => LinkEnd::Closed,
                },
            },
            RelayEvent::Health { backend: b, up } => RelayLife::Health {
                backend: backend(&b),
                up,
            },
            RelayEvent::GaveUp { client, attempts } => RelayLife::GaveUp {
                client: self.peer(&client),
                attempts,
            },
        }
    }
}

impl Observer for HostObserver {
    fn received(&self, peer: &str, text: &str) {
        let p = self.peer(peer);
        self.ctx.received(&p.host, p.conn, text);
    }

    fn received_on(&self, peer: &str, conn: Option<u16>, text: &str) {
        let p = self.peer(peer);
        self.ctx.received(&p.host, conn, text);
    }

    fn lifecycle(&self, event: RefLife) {
        let event = match event {
            RefLife::Connecting { addr, attempt } => Lifecycle::Connecting {
                to: self.endpoint(&addr),
                attempt,
            },
            RefLife::Registered { addr } => Lifecycle::Registered {
                to: self.endpoint(&addr),
            },
            RefLife::RegistrationFailed { addr, error } => Lifecycle::RegistrationFailed {
                to: self.endpoint(&addr),
                error: reg_error(&error),
            },
            RefLife::Disconnected { reason, failed } => Lifecycle::Disconnected { reason, failed },
            RefLife::Backoff { delay } => Lifecycle::Backoff { delay },
            RefLife::RateLimited { wait } => Lifecycle::RateLimited { wait },
            RefLife::Stopped { reason } => Lifecycle::Stopped { reason },
            RefLife::ConnClosed {
                peer,
                reason,
                cause,
            } => Lifecycle::ConnClosed {
                peer: self.peer(&peer),
                reason,
                cause: match cause {
                    RefCause::Peer => CloseCause::Peer,
                    RefCause::Idle => CloseCause::Idle,
                    RefCause::Local => CloseCause::Local,
                    RefCause::Error => CloseCause::Error,
                },
            },
            RefLife::Relay(e) => Lifecycle::Relay(self.relay(e)),
        };
        self.ctx
            .trace
            .host_event(&self.ctx.ctl.name, EventKind::Life(event));
    }

    fn note(&self, what: &str) {
        self.ctx.note(what);
    }
}

/// Maps a call's outcome onto the scenario vocabulary.
pub(super) fn classify(o: &pending::Outcome) -> Outcome {
    match o {
        Ok(body) => Outcome::Ok(body.clone()),
        Err(CallError::Remote { code, .. }) | Err(CallError::Rejected { code, .. }) => {
            Outcome::Error(code.clone())
        }
        Err(e) => Outcome::Fails(fail_kind(e).unwrap_or(FailKind::Protocol)),
    }
}

/// The local failure kind of a core call error (`None` for an answer from the peer).
fn fail_kind(e: &CallError) -> Option<FailKind> {
    Some(match e {
        CallError::Remote { .. } | CallError::Rejected { .. } => return None,
        CallError::Timeout => FailKind::Timeout,
        CallError::Disconnected => FailKind::Disconnected,
        CallError::SendFailed(_) => FailKind::SendFailed,
        CallError::Cancelled => FailKind::Cancelled,
        CallError::UnexpectedReply(_) => FailKind::UnexpectedReply,
        CallError::NotConnected => FailKind::NotConnected,
        CallError::Protocol(_) => FailKind::Protocol,
        CallError::DuplicateId => FailKind::DuplicateId,
    })
}

/// Why a registration attempt failed, as the trace types it.
fn reg_error(e: &CallError) -> RegError {
    match e {
        CallError::Remote { code, message } | CallError::Rejected { code, message } => {
            RegError::Refused {
                code: code.clone(),
                message: message.clone(),
            }
        }
        CallError::SendFailed(m) | CallError::UnexpectedReply(m) | CallError::Protocol(m) => {
            RegError::Failed {
                kind: fail_kind(e).unwrap_or(FailKind::Protocol),
                detail: Some(m.clone()),
            }
        }
        other => RegError::Failed {
            kind: fail_kind(other).unwrap_or(FailKind::Protocol),
            detail: None,
        },
    }
}

/// A reference client's connector over the world's network.
pub(super) struct NetConnector(pub Arc<dyn Net>);

impl wirecheck_reference::client::Connector for NetConnector {
    type Stream = crate::world::BoxIo;
    fn connect<'a>(
        &'a self,
        addr: &'a str,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<Self::Stream>> + Send + 'a>,
    > {
        Box::pin(async move { self.0.connect(addr).await.map(|(s, _)| s) })
    }
}
