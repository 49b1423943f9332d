//! [`SharedRelay`]: the relay behind a mutex, shared between the driver's tasks (or loom
//! threads), and the planted race the loom tests must catch.

#[cfg(any(test, loom))]
use super::{Action, ClientNo, LinkClose};
use super::{Relay, RelayConfig};
use crate::sync::{lock, Arc, Mutex};

/// A [`Relay`] shared between tasks: every event is one critical section, and the actions
/// it returns are carried out in the order they were decided.
#[derive(Clone)]
pub struct SharedRelay {
    inner: Arc<Mutex<Relay>>,
}

impl SharedRelay {
    pub fn new(config: RelayConfig) -> Self {
        SharedRelay {
            inner: Arc::new(Mutex::new(Relay::new(config))),
        }
    }

    /// Runs `f` with the relay locked. Keep `f` short and free of I/O.
    pub fn with<R>(&self, f: impl FnOnce(&mut Relay) -> R) -> R {
        f(&mut lock(&self.inner))
    }

    // ---- planted race: a test-only variant with a known bug (see tests/loom_relay.rs) ----

    /// KNOWN BUG, for the loom tests only: [`Relay::on_client_closed`] in two critical
    /// sections: the client's links (and whether each is counted) are read in one, and
    /// forgotten, each count decremented, in another. A link lost in between has already
    /// been taken out of its count: it is decremented twice (LB-6: a count below 0).
    #[doc(hidden)]
    #[cfg(any(test, loom))]
    pub fn close_client_racy(&self, client: ClientNo) -> Vec<Action> {
        let owned: Vec<(super::LinkNo, super::BackendNo, bool)> = self.with(|r| {
            let links = r.clients.get(&client).map(|c| c.links.clone());
            links
                .into_iter()
                .flatten()
                .filter_map(|l| r.links.get(&l).map(|x| (l, x.backend, x.up)))
                .collect()
        });
        // The bug: a link can be lost (and uncounted) here.
        self.with(|r| {
            let mut out = Vec::new();
            for (link, backend, up) in owned {
                r.links.remove(&link);
                if up {
                    let b = &mut r.backends[backend];
                    match b.count.checked_sub(1) {
                        Some(n) => b.count = n,
                        None => r.totals.underflows += 1,
                    }
                }
                out.push(Action::CloseLink {
                    link,
                    why: LinkClose::ClientGone,
                });
            }
            r.clients.remove(&client);
            out
        })
    }
}
