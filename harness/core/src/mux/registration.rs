//! Registration (AUTH-1..3): the `hello` of a new connection, the end of the attempt
//! (answer, failed write, deadline), activation on success, and whether a refusal ends the
//! client for good.

use super::{Action, ConnNo, Mux};
use crate::pending::{CallError, Outcome};
use crate::wire::{code, Message};

impl Mux {
    /// Connection `conn` is open (its reader runs): it becomes the current one and
    /// registration starts. Returns the `hello` to send, acknowledged: on a failed write
    /// call [`Mux::on_hello_failed`].
    pub fn on_connected(&mut self, conn: ConnNo) -> Message {
        self.link = Some(conn);
        self.registering = Some(conn);
        self.nonce = 0;
        Message::Hello {
            client: self.config.client_id.clone(),
            token: self.config.token.clone(),
        }
    }

    /// The `hello` of `conn` could not be written.
    pub fn on_hello_failed(&mut self, conn: ConnNo, err: CallError) -> Vec<Action> {
        self.registered_with(conn, Err(err))
    }

    /// The registration deadline of `conn` passed (AUTH-2).
    pub fn on_register_deadline(&mut self, conn: ConnNo) -> Vec<Action> {
        self.registered_with(conn, Err(CallError::Timeout))
    }

    /// Ends the registration of `conn` with `outcome` if it is still waiting.
    pub(super) fn registered_with(&mut self, conn: ConnNo, outcome: Outcome) -> Vec<Action> {
        if self.registering != Some(conn) {
            return Vec::new();
        }
        self.registering = None;
        vec![Action::Registration(conn, outcome)]
    }

    /// Whether `conn`'s `hello` still awaits an answer (no heartbeats meanwhile).
    pub fn is_registering(&self) -> bool {
        self.registering.is_some()
    }

    /// The driver took the registration outcome of `conn`. Success activates the
    /// connection: requests may flow, and every served channel gets its credits (on every
    /// (re)connection). Failure closes the connection.
    pub fn finish_registration(&mut self, conn: ConnNo, outcome: &Outcome) -> Vec<Action> {
        if outcome.is_err() {
            return vec![Action::Close(conn)];
        }
        self.active = true;
        self.stats.registrations += 1;
        if self.stats.registrations > 1 {
            self.stats.reconnects += 1;
        }
        let mut out = Vec::new();
        for (channel, &credits) in &self.serving {
            for _ in 0..credits {
                out.push(Action::Send(
                    conn,
                    Message::Receive {
                        channel: channel.clone(),
                    },
                ));
            }
        }
        out
    }

    /// Whether a failed registration ends the client for good: `Some(reason)` to stop.
    /// A refused identity or token will be refused again. `client_id_taken` is different:
    /// after a partition the broker may still hold our previous, dead connection until
    /// its idle timeout frees the id, so the client keeps trying.
    pub fn gives_up_after(err: &CallError) -> Option<String> {
        match err {
            CallError::Rejected { code, .. } if code != code::CLIENT_ID_TAKEN => {
                Some(format!("registration refused: {code}"))
            }
            _ => None,
        }
    }
}
