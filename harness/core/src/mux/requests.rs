//! Outgoing calls (MUX-2, MUX-7, MUX-8): how a request starts ([`Begin`]), failed writes,
//! removals by timeout or cancellation turned into `cancel`, and the `second-reader`
//! flaw's stolen frame.

use super::{request_frames, Action, Mux, Request};
use crate::flaws::Flaw;
use crate::pending::{CallError, Outcome, Removal, Waiter};
use crate::wire::Message;

/// How [`Mux::request`] starts a call.
#[derive(Debug)]
pub enum Begin {
    /// Send `frames` in order (each write acknowledged; on a failed write call
    /// [`Mux::on_send_failed`]), then wait on `waiter` until the timeout.
    Send {
        waiter: Waiter,
        frames: Vec<Message>,
        /// Zoo flaw `second-reader`: the caller takes the next frame the connection
        /// delivers ([`Action::Stolen`]) instead of waiting on `waiter`.
        steal: bool,
    },
    /// Fail at once.
    Fail(CallError),
    /// Zoo flaw `swallow-send-errors`: wait out the timeout, then fail `timeout`.
    Stall,
}
impl Mux {
    /// Starts request `req` (MUX-2, MUX-8): registers its pending entry and returns the
    /// frames to send. The caller waits until its timeout and then calls
    /// [`Waiter::expire`]; dropping the waiter cancels.
    pub fn request(&mut self, req: &Request) -> Begin {
        if !self.active {
            if self.swallows_send_errors() {
                return Begin::Stall;
            }
            return Begin::Fail(CallError::NotConnected);
        }
        let waiter = match self.pending.insert(&req.id) {
            Ok(w) => w,
            Err(e) => return Begin::Fail(e),
        };
        let steal = self.flaw(Flaw::SecondReader) && req.channel.starts_with('$');
        if steal {
            self.side_reader = true;
        }
        Begin::Send {
            waiter,
            frames: request_frames(req),
            steal,
        }
    }

    /// A frame of request `id` could not be written. Returns whether the caller was told
    /// (MUX-7: its entry failed with `err`; wait on the waiter for it) or not (zoo flaw:
    /// stop sending and wait for the timeout).
    pub fn on_send_failed(&mut self, id: &str, err: CallError) -> bool {
        if self.swallows_send_errors() {
            return false; // zoo flaw: logged nowhere, the caller waits for its timeout
        }
        self.pending.fail(id, err);
        true
    }

    /// Zoo flaw `swallow-send-errors`: its one hook point.
    fn swallows_send_errors(&self) -> bool {
        self.flaw(Flaw::SwallowSendErrors)
    }

    /// Pending entry `id` was removed by timeout or cancellation (the pending map's
    /// removal hook): tell the broker, so it frees the assignment (MUX-8).
    pub fn on_removed(&mut self, id: &str, _why: Removal) -> Vec<Action> {
        self.link
            .map(|c| Action::Send(c, Message::Cancel { req: id.to_owned() }))
            .into_iter()
            .collect()
    }

    /// Zoo flaw `second-reader`: what the caller makes of the frame it stole.
    pub fn stolen_outcome(text: &str) -> Outcome {
        match Message::decode(text) {
            Ok(Message::Start { body, .. }) => Ok(body),
            _ => Ok(text.to_owned()),
        }
    }
}
