//! [`SharedBroker`]: the broker behind a mutex, shared between connection tasks (or loom
//! threads), and the planted race the loom tests must catch.

use super::{Broker, BrokerConfig};
use crate::sync::{lock, Arc, Mutex};
#[cfg(any(test, loom))]
use {
    super::{Action, ConnId},
    crate::wire::{code, Message},
};

/// A [`Broker`] shared between connection tasks (or loom threads).
#[derive(Clone)]
pub struct SharedBroker {
    inner: Arc<Mutex<Broker>>,
}

impl SharedBroker {
    pub fn new(config: BrokerConfig) -> Self {
        SharedBroker {
            inner: Arc::new(Mutex::new(Broker::new(config))),
        }
    }

    /// Runs `f` with the broker locked. Keep `f` short and free of I/O.
    pub fn with<R>(&self, f: impl FnOnce(&mut Broker) -> R) -> R {
        f(&mut lock(&self.inner))
    }

    // ---- planted races: test-only variants with known bugs (see tests/loom_*.rs) ----

    /// KNOWN BUG, for the loom tests only: the response path of [`Broker::on_message`] with
    /// its assignment check and its routing/unassignment in two critical sections. Between
    /// them the receiver can be unregistered (the sender already got `receiver_gone`) or a
    /// second response can end the request, and this one is still routed: the sender gets
    /// a frame from a receiver that is no longer assigned, and a second end (BRK-4, BRK-8).
    #[doc(hidden)]
    #[cfg(any(test, loom))]
    pub fn route_response_racy(&self, conn: ConnId, msg: Message) -> Vec<Action> {
        let req = msg.req().unwrap_or_default().to_owned();
        let sender = {
            let mut b = lock(&self.inner);
            match b.requests.get(&req) {
                Some(r) if r.receiver == Some(conn) => r.sender,
                _ => {
                    return b.reject(
                        conn,
                        Some(req.clone()),
                        code::NOT_ASSIGNED,
                        format!("request `{req}` is not assigned to this connection"),
                    );
                }
            }
        };
        // The bug: the assignment can change here.
        let ends = matches!(
            msg,
            Message::Start { end: true, .. } | Message::End { .. } | Message::Error { .. }
        );
        if ends {
            lock(&self.inner).remove_request(&req);
        }
        vec![Action::Send(sender, msg)]
    }
}
