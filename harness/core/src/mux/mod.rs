//! The multiplexer's state machine: registration, dispatch of every received frame,
//! served channels and their credits, heartbeat nonces, request and answer framing.
//!
//! Sans-IO, in the style of [`crate::broker`]: a driver feeds it events (a connection was
//! opened, a text arrived, the registration deadline passed, the heartbeat is due, the
//! connection closed) and API calls (request, serve, respond, close), and carries out the
//! [`Action`]s it returns (send a frame, report a registration outcome, deliver an
//! incoming request, note something, stop reading a connection, close it). It reads no
//! clock and touches no socket: timers and writes belong to the driver.
//!
//! Requests wait in a [`PendingMap`] owned by the state machine; callers hold the
//! [`Waiter`] it hands out. A removal by timeout or cancellation fires the map's removal
//! hook, which the driver routes to [`Mux::on_removed`] (the `cancel` to the broker).
//! [`SharedMux`] wraps the machine in a mutex for the reader task and the API callers.
//! [`Supervisor`] makes the reconnect loop's decisions (failover order, rate limit,
//! backoff, giving up).
//!
//! Decisions made here (rules in PROTOCOL.md):
//! - registration (AUTH-1..3): `welcome` for our id succeeds; `error` without `req` is a
//!   refusal with the broker's code; anything else that is not ordinary traffic fails
//!   `unexpected_reply`; ordinary traffic during registration is dispatched as usual;
//!   the deadline fails `timeout`;
//! - responses go into the pending map by id; stray ones are dropped, counted and noted
//!   (MUX-2..4); the connection's loss fails every pending request (MUX-6);
//! - a request for a channel this client does not serve is answered `not_serving`; a
//!   served request is assembled and delivered once; its credit (`receive`) comes back
//!   when it is answered, cancelled or refused for a bad chunk (MUX-9).

use crate::flaws::{Flaw, Flaws};
use crate::pending::{CallError, Delivery, Outcome, PendingMap, Removal, Stats, Waiter};
use crate::sync::{lock, Arc, Mutex};
use crate::wire::{code, summary, Dir, Message};
use std::collections::BTreeMap;
use std::time::Duration;

mod frames;
mod supervisor;
pub use frames::{answer_frames, fmt_dur, request_frames, Answer, Incoming, Request};
pub use supervisor::{Attempt, Supervisor};

/// Identifies one connection attempt. Chosen by the driver (increasing), never reused.
pub type ConnNo = u64;

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Queue this message on connection `conn` (nobody waits for the write).
    Send(ConnNo, Message),
    /// The registration attempt on `conn` ended with this outcome.
    Registration(ConnNo, Outcome),
    /// Hand this assembled request to the server of its channel. If that is impossible
    /// (the server is gone), tell [`Mux::on_undeliverable`].
    Deliver(Incoming),
    /// Free-form detail for the trace (a dropped frame, an ignored message...).
    Note(String),
    /// The established connection was lost: `failed` pending requests failed.
    Disconnected { reason: String, failed: usize },
    /// Stop reading `conn` and end it, for this reason.
    Stop(ConnNo, String),
    /// Close connection `conn` (after flushing what was queued before).
    Close(ConnNo),
    /// Zoo flaw `second-reader`: this text goes to the side reader, not to dispatch.
    Stolen(String),
}

/// The multiplexer's identity and switches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MuxConfig {
    pub client_id: String,
    pub token: Option<String>,
    /// Zoo flaws to switch on (empty: the correct multiplexer).
    pub flaws: Flaws,
}

/// Counters beyond the pending map's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MuxStats {
    pub pending: Stats,
    pub connect_attempts: u64,
    pub registrations: u64,
    /// Successful registrations after the first.
    pub reconnects: u64,
    pub disconnects: u64,
    /// Incoming requests answered.
    pub served: u64,
    /// Incoming requests cancelled by the broker before they were answered.
    pub served_cancelled: u64,
}

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

/// An incoming request being assembled from its frames.
#[derive(Clone, Debug)]
struct Assembly {
    channel: String,
    body: String,
    next_seq: u64,
}

/// The multiplexer. Single-threaded; wrap it in [`SharedMux`] to share it between tasks.
pub struct Mux {
    config: MuxConfig,
    /// Requests in flight, by request id.
    pending: PendingMap,
    /// The current connection (registering or registered).
    link: Option<ConnNo>,
    /// The connection whose `hello` awaits an answer.
    registering: Option<ConnNo>,
    /// Registered and activated: requests may be sent.
    active: bool,
    /// Served channels and their credits (concurrency).
    serving: BTreeMap<String, u32>,
    assembling: BTreeMap<String, Assembly>,
    /// Incoming requests delivered and not answered yet: req → (channel, conn).
    in_service: BTreeMap<String, (String, ConnNo)>,
    stats: MuxStats,
    closing: bool,
    /// Last heartbeat nonce sent on the current connection.
    nonce: u64,
    /// Zoo flaw `second-reader` only: a caller waits to grab the next frame.
    side_reader: bool,
}

impl Mux {
    /// A multiplexer whose requests wait in `pending` (give the map a removal hook that
    /// calls [`Mux::on_removed`], so timeouts and cancellations reach the broker).
    pub fn new(config: MuxConfig, pending: PendingMap) -> Self {
        Mux {
            config,
            pending,
            link: None,
            registering: None,
            active: false,
            serving: BTreeMap::new(),
            assembling: BTreeMap::new(),
            in_service: BTreeMap::new(),
            stats: MuxStats::default(),
            closing: false,
            nonce: 0,
            side_reader: false,
        }
    }

    pub fn config(&self) -> &MuxConfig {
        &self.config
    }

    fn flaw(&self, f: Flaw) -> bool {
        self.config.flaws.has(f)
    }

    // ---- connection lifecycle -------------------------------------------------------

    /// A connection attempt starts. Returns its number among all attempts (from 1).
    pub fn on_connecting(&mut self) -> u64 {
        self.stats.connect_attempts += 1;
        self.stats.connect_attempts
    }

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
    fn registered_with(&mut self, conn: ConnNo, outcome: Outcome) -> Vec<Action> {
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

    /// Connection `conn` ended. `why` is `Some` for an established (registered) one,
    /// `None` for an attempt that never registered. If it was the current connection, its
    /// served requests are forgotten and every pending request fails `disconnected`
    /// (MUX-6).
    pub fn on_closed(&mut self, conn: ConnNo, why: Option<&str>) -> Vec<Action> {
        if self.link != Some(conn) {
            return Vec::new();
        }
        self.link = None;
        self.active = false;
        if self.registering == Some(conn) {
            self.registering = None;
        }
        self.assembling.clear();
        self.in_service.clear();
        let failed = if self.flaw(Flaw::DisconnectLeavesPending) {
            0
        } else {
            self.pending.fail_all(CallError::Disconnected)
        };
        let Some(why) = why else {
            return Vec::new();
        };
        self.stats.disconnects += 1;
        let reason = if self.closing {
            "closed by the client".to_owned()
        } else {
            why.to_owned()
        };
        vec![Action::Disconnected { reason, failed }]
    }

    /// The client stops for good: every pending request fails `disconnected`.
    pub fn on_stopped(&mut self) -> usize {
        self.active = false;
        self.pending.fail_all(CallError::Disconnected)
    }

    /// The user closes the client: no more reconnects, the current connection closes.
    pub fn close(&mut self) -> Vec<Action> {
        self.closing = true;
        self.link.map(Action::Close).into_iter().collect()
    }

    pub fn is_closing(&self) -> bool {
        self.closing
    }

    // ---- heartbeats -----------------------------------------------------------------

    /// The ping interval of `conn` elapsed (the driver does not ask while registering).
    pub fn on_ping_due(&mut self, conn: ConnNo) -> Vec<Action> {
        if self.link != Some(conn) {
            return Vec::new();
        }
        self.nonce += 1;
        vec![Action::Send(conn, Message::Ping { nonce: self.nonce })]
    }

    /// Nothing was received on `conn` for `timeout`: it is dead (CONN-1).
    pub fn on_silence(&mut self, conn: ConnNo, timeout: Duration) -> Vec<Action> {
        vec![Action::Stop(
            conn,
            format!(
                "heartbeat timeout: nothing received for {}",
                fmt_dur(timeout)
            ),
        )]
    }

    // ---- received frames ------------------------------------------------------------

    /// A text arrived on `conn`. Never blocks: every decision is an action.
    pub fn on_text(&mut self, conn: ConnNo, text: &str) -> Vec<Action> {
        if self.link != Some(conn) {
            // Belt and braces: a superseded connection dispatches nothing.
            return vec![Action::Stop(
                conn,
                "superseded by a newer connection".into(),
            )];
        }
        if self.side_reader {
            self.side_reader = false;
            return vec![Action::Stolen(text.to_owned())];
        }
        let mut out = Vec::new();
        self.dispatch(conn, text, &mut out);
        out
    }

    fn dispatch(&mut self, conn: ConnNo, text: &str, out: &mut Vec<Action>) {
        let registering = self.registering == Some(conn);
        let decoded = Message::decode(text);
        if registering && self.flaw(Flaw::AnyReplyRegisters) {
            let refused = matches!(decoded, Ok(Message::Error { req: None, .. }));
            if !refused {
                out.extend(self.registered_with(conn, Ok("welcome".into())));
                return;
            }
        }
        if registering && self.flaw(Flaw::DropDuringRegistration) {
            let reply = matches!(
                decoded,
                Ok(Message::Welcome { .. } | Message::Error { req: None, .. })
            );
            if !reply {
                return; // the registration step read it and threw it away
            }
        }
        let msg = match decoded {
            Ok(m) => m,
            Err(e) => {
                if registering {
                    out.extend(self.registered_with(
                        conn,
                        Err(CallError::UnexpectedReply(format!(
                            "not a protocol message ({e})"
                        ))),
                    ));
                } else {
                    out.push(Action::Note(format!("dropped undecodable frame: {e}")));
                }
                return;
            }
        };
        let what = summary(&msg);
        let dropped = |d: Delivery| -> Option<Action> {
            matches!(d, Delivery::Duplicate | Delivery::Late | Delivery::Unknown)
                .then(|| Action::Note(format!("dropped {what} ({d:?})").to_lowercase()))
        };
        match msg {
            Message::Welcome { client: id } if registering => {
                let outcome = if id == self.config.client_id {
                    Ok("welcome".to_owned())
                } else {
                    Err(CallError::UnexpectedReply(format!(
                        "welcome for client `{id}`, not `{}`",
                        self.config.client_id
                    )))
                };
                out.extend(self.registered_with(conn, outcome));
            }
            Message::Error {
                req: None,
                code,
                message,
            } if registering => {
                out.extend(self.registered_with(conn, Err(CallError::Rejected { code, message })));
            }
            Message::Error {
                req: None,
                code,
                message,
            } => out.push(Action::Note(format!("broker error `{code}`: {message}"))),
            Message::Start {
                req,
                dir: Dir::Response,
                body,
                end,
                ..
            } => out.extend(dropped(self.pending.on_start(&req, &body, end))),
            Message::Chunk {
                req,
                dir: Dir::Response,
                seq,
                data,
            } => out.extend(dropped(self.pending.on_chunk(&req, seq, &data))),
            Message::End {
                req,
                dir: Dir::Response,
            } => out.extend(dropped(self.pending.on_end(&req))),
            Message::Error {
                req: Some(req),
                code,
                message,
            } => {
                if self.in_service.remove(&req).is_some() {
                    out.push(Action::Note(format!(
                        "broker refused our answer to {req}: {code}"
                    )));
                } else {
                    let d = self
                        .pending
                        .complete(&req, Err(CallError::Remote { code, message }));
                    out.extend(dropped(d));
                }
            }
            Message::Start {
                req,
                channel,
                dir: Dir::Request,
                body,
                end,
            } => self.incoming_start(conn, req, channel, body, end, out),
            Message::Chunk {
                req,
                dir: Dir::Request,
                seq,
                data,
            } => self.incoming_frame(conn, &req, Some((seq, data)), out),
            Message::End {
                req,
                dir: Dir::Request,
            } => self.incoming_frame(conn, &req, None, out),
            Message::Cancel { req } => {
                let channel = match (self.assembling.remove(&req), self.in_service.remove(&req)) {
                    (Some(a), _) => Some(a.channel),
                    (None, Some((channel, _))) => Some(channel),
                    (None, None) => None,
                };
                if let Some(channel) = channel {
                    self.stats.served_cancelled += 1;
                    // The credit the cancelled request held comes back.
                    out.push(Action::Send(conn, Message::Receive { channel }));
                }
            }
            Message::Ping { nonce } => out.push(Action::Send(conn, Message::Pong { nonce })),
            Message::Pong { .. } => {}
            other if registering => {
                let e = CallError::UnexpectedReply(format!(
                    "`{}` instead of `welcome` or `error`",
                    other.kind()
                ));
                out.extend(self.registered_with(conn, Err(e)));
            }
            other => out.push(Action::Note(format!(
                "ignored unexpected `{}`",
                other.kind()
            ))),
        }
    }

    fn incoming_start(
        &mut self,
        conn: ConnNo,
        req: String,
        channel: String,
        body: String,
        end: bool,
        out: &mut Vec<Action>,
    ) {
        if !self.serving.contains_key(&channel) {
            out.push(Action::Send(
                conn,
                Message::error(
                    Some(&req),
                    code::NOT_SERVING,
                    format!("this client does not serve `{channel}`"),
                ),
            ));
            return;
        }
        self.assembling.insert(
            req.clone(),
            Assembly {
                channel,
                body,
                next_seq: 0,
            },
        );
        if end {
            self.finish_incoming(conn, &req, out);
        }
    }

    fn incoming_frame(
        &mut self,
        conn: ConnNo,
        req: &str,
        chunk: Option<(u64, String)>,
        out: &mut Vec<Action>,
    ) {
        let Some(a) = self.assembling.get_mut(req) else {
            out.push(Action::Note(format!(
                "dropped request frame for unknown {req}"
            )));
            return;
        };
        match chunk {
            Some((seq, data)) if seq == a.next_seq => {
                a.body.push_str(&data);
                a.next_seq += 1;
            }
            Some((seq, _)) => {
                let expected = a.next_seq;
                let channel = a.channel.clone();
                self.assembling.remove(req);
                out.push(Action::Send(
                    conn,
                    Message::error(
                        Some(req),
                        code::MALFORMED,
                        format!("chunk #{seq} where #{expected} was expected"),
                    ),
                ));
                // The refused request used a credit: ask for the next one.
                out.push(Action::Send(conn, Message::Receive { channel }));
            }
            None => self.finish_incoming(conn, req, out),
        }
    }

    fn finish_incoming(&mut self, conn: ConnNo, req: &str, out: &mut Vec<Action>) {
        let Some(a) = self.assembling.remove(req) else {
            return;
        };
        if !self.serving.contains_key(&a.channel) {
            return;
        }
        self.in_service
            .insert(req.to_owned(), (a.channel.clone(), conn));
        out.push(Action::Deliver(Incoming {
            req: req.to_owned(),
            channel: a.channel,
            body: a.body,
            conn,
        }));
    }

    /// The delivered request `req` found no server: it is not in service.
    pub fn on_undeliverable(&mut self, req: &str) {
        self.in_service.remove(req);
    }

    // ---- API calls ------------------------------------------------------------------

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

    /// Starts serving `channel` with `concurrency` credits (at least 1). Registered: the
    /// credits go out now; otherwise on registration.
    pub fn serve(&mut self, channel: &str, concurrency: u32) -> Vec<Action> {
        let credits = concurrency.max(1);
        self.serving.insert(channel.to_owned(), credits);
        match self.link {
            Some(conn) if self.active => (0..credits)
                .map(|_| {
                    Action::Send(
                        conn,
                        Message::Receive {
                            channel: channel.to_owned(),
                        },
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Answers incoming request `incoming`: the frames to send (each acknowledged), the
    /// last one the `receive` that returns its credit. `None` if the request was
    /// cancelled, already answered, or its connection is gone (the broker forgot it).
    pub fn respond(&mut self, incoming: &Incoming, answer: Answer) -> Option<Vec<Message>> {
        // A stale answer (its connection is gone) must not touch the service set: the same
        // id may have been delivered again on the new connection.
        let live = self.link == Some(incoming.conn);
        if !live || self.in_service.remove(&incoming.req).is_none() {
            return None;
        }
        self.stats.served += 1;
        let mut frames = answer_frames(&incoming.req, answer);
        frames.push(Message::Receive {
            channel: incoming.channel.clone(),
        });
        Some(frames)
    }

    // ---- observables ----------------------------------------------------------------

    pub fn stats(&self) -> MuxStats {
        MuxStats {
            pending: self.pending.stats(),
            ..self.stats
        }
    }

    /// Ids of requests still pending, in order.
    pub fn pending_ids(&self) -> Vec<String> {
        self.pending.ids()
    }

    /// The current connection, if any.
    pub fn link(&self) -> Option<ConnNo> {
        self.link
    }

    /// Whether requests may be sent now.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Served requests delivered and not answered yet, by id.
    pub fn in_service(&self) -> Vec<String> {
        self.in_service.keys().cloned().collect()
    }

    /// Served requests whose frames are still arriving, by id.
    pub fn assembling(&self) -> Vec<String> {
        self.assembling.keys().cloned().collect()
    }
}

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
    /// drop a [`Waiter`] inside it (its removal hook locks the multiplexer).
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

#[cfg(all(test, not(loom)))]
mod tests;
