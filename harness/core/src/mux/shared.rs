//! [`SharedMux`]: the multiplexer behind a mutex, shared between the reader task and the
//! API callers (or loom threads), and the planted race the loom tests must catch.

use super::Mux;
use crate::sync::{lock, Arc, Mutex};
#[cfg(any(test, loom))]
use {
    super::{answer_frames, Answer, Incoming},
    crate::wire::Message,
};

/// A [`Mux`] shared between the reader task and API callers (or loom threads).
#[derive(Clone)]
pub struct SharedMux {
    inner: Arc<Mutex<Mux>>,
}

impl SharedMux {
    pub fn new(mux: Mux) -> Self {
        SharedMux {
            inner: Arc::new(Mutex::new(mux)),
        }
    }

    /// Runs `f` with the multiplexer locked. Keep `f` short and free of I/O, and never
    /// drop a [`Waiter`](crate::pending::Waiter) inside it (its removal hook locks the
    /// multiplexer).
    pub fn with<R>(&self, f: impl FnOnce(&mut Mux) -> R) -> R {
        f(&mut lock(&self.inner))
    }

    // ---- planted races: test-only variants with known bugs (see tests/loom_*.rs) ----

    /// KNOWN BUG, for the loom tests only: [`Mux::respond`] with its in-service check and
    /// its removal in two critical sections. A broker `cancel` dispatched between them
    /// also finds the request in service and returns its credit, and this answer is still
    /// sent with a second `receive`: the channel gets one credit too many (MUX-9).
    #[doc(hidden)]
    #[cfg(any(test, loom))]
    pub fn respond_racy(&self, incoming: &Incoming, answer: Answer) -> Option<Vec<Message>> {
        {
            let m = lock(&self.inner);
            let live = m.link == Some(incoming.conn);
            if !m.in_service.contains_key(&incoming.req) || !live {
                return None;
            }
        }
        // The bug: the request can be cancelled here.
        let mut m = lock(&self.inner);
        m.in_service.remove(&incoming.req);
        m.stats.served += 1;
        let mut frames = answer_frames(&incoming.req, answer);
        frames.push(Message::Receive {
            channel: incoming.channel.clone(),
        });
        Some(frames)
    }
}
