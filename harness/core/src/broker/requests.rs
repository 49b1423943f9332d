//! The request paths: `start` (queued until a receiver waits), request frames to the
//! assigned receiver only, response frames back to the sender only, `cancel`, and the
//! dispatcher that pairs queued requests with waiting receivers.

use super::{Action, Broker, ConnId, Request, Seq};
use crate::flaws::Flaw;
use crate::wire::{code, Dir, Message};

impl Broker {
    pub(super) fn start_request(
        &mut self,
        conn: ConnId,
        req: String,
        channel: String,
        body: String,
        end: bool,
    ) -> Vec<Action> {
        if self.requests.contains_key(&req) {
            return self.reject(
                conn,
                Some(req.clone()),
                code::DUPLICATE_REQUEST,
                format!("request id `{req}` is already in flight"),
            );
        }
        if channel.starts_with('$') {
            return self.broker_request(conn, req, channel, body);
        }
        if let Some(why) = self.over_park_limit(conn, &channel, body.len(), true) {
            return self.reject(conn, Some(req), code::QUEUE_FULL, why);
        }
        self.forget_ended(conn, &req);
        let bytes = body.len();
        let start = Message::Start {
            req: req.clone(),
            channel: channel.clone(),
            dir: Dir::Request,
            body,
            end,
        };
        let seq = self.next_seq();
        self.requests.insert(
            req.clone(),
            Request {
                sender: conn,
                channel: channel.clone(),
                receiver: None,
                also: Vec::new(),
                buffered: vec![start],
                sender_done: end,
                queued: Some(seq),
                parked_bytes: bytes,
            },
        );
        if let Some(c) = self.conns.get_mut(&conn) {
            c.sent.insert(req.clone());
        }
        self.channels
            .entry(channel.clone())
            .or_default()
            .queue
            .insert(seq, req);
        self.park(conn, &channel, bytes, true);
        self.dispatch(&channel)
    }

    /// Pairs queued requests with waiting receivers, oldest with oldest (BRK-1, BRK-2).
    /// Runs when a request or a receiver arrives: nothing polls.
    pub(super) fn dispatch(&mut self, channel: &str) -> Vec<Action> {
        if self.flaw(Flaw::PollingReceivers) {
            return Vec::new(); // the zoo's polling loop calls `poll` instead
        }
        self.dispatch_now(channel)
    }

    fn dispatch_now(&mut self, channel: &str) -> Vec<Action> {
        self.wakeups += 1;
        let broadcast = self.flaw(Flaw::Broadcast);
        let mut out = Vec::new();
        loop {
            let Some(ch) = self.channels.get_mut(channel) else {
                return out;
            };
            if ch.queue.is_empty() || ch.waiting.is_empty() {
                break;
            }
            let (Some((_, req)), Some((credit, rx))) =
                (ch.queue.pop_first(), ch.waiting.pop_first())
            else {
                break;
            };
            // Zoo flaw `broadcast`: every other waiting receiver gets the frames too.
            let others: Vec<(Seq, ConnId)> = if broadcast {
                std::mem::take(&mut ch.waiting).into_iter().collect()
            } else {
                Vec::new()
            };
            for (seq, c) in std::iter::once((credit, rx)).chain(others.iter().copied()) {
                if let Some(c) = self.conns.get_mut(&c) {
                    c.credits.remove(&(channel.to_owned(), seq));
                }
            }
            let Some(r) = self.requests.get_mut(&req) else {
                continue;
            };
            let (sender, bytes) = (r.sender, r.parked_bytes);
            r.receiver = Some(rx);
            r.queued = None;
            r.parked_bytes = 0;
            for &(_, other) in others.iter().filter(|&&(_, o)| o != rx) {
                out.extend(r.buffered.iter().cloned().map(|m| Action::Send(other, m)));
                r.also.push(other);
            }
            out.extend(r.buffered.drain(..).map(|m| Action::Send(rx, m)));
            // Already off the queue: `unpark` only moves the load.
            if let Some(c) = self.conns.get_mut(&sender) {
                c.parked.requests -= 1;
                c.parked.bytes -= bytes;
            }
            if let Some(ch) = self.channels.get_mut(channel) {
                ch.parked_bytes -= bytes;
            }
            if let Some(c) = self.conns.get_mut(&rx) {
                c.assigned.insert(req);
            }
        }
        if self.channels.get(channel).is_some_and(|ch| ch.is_empty()) {
            self.channels.remove(channel);
        }
        out
    }

    /// `chunk`/`end` of a request: forwarded to the assigned receiver only, in arrival order
    /// (BRK-3), or buffered until assignment.
    pub(super) fn request_frame(&mut self, conn: ConnId, msg: Message) -> Vec<Action> {
        let req = msg.req().unwrap_or_default().to_owned();
        let last = matches!(msg, Message::End { .. });
        if !self.requests.contains_key(&req)
            && self
                .ended_early
                .get(&conn)
                .is_some_and(|e| e.contains(&req))
        {
            // A late frame of a request that already ended: the sender was told once.
            if last {
                self.forget_ended(conn, &req);
            }
            return Vec::new();
        }
        let parked = match self.requests.get(&req) {
            Some(r) if r.sender == conn && r.receiver.is_none() => Some(r.channel.clone()),
            _ => None,
        };
        if let Some(channel) = parked {
            let bytes = match &msg {
                Message::Chunk { data, .. } => data.len(),
                _ => 0,
            };
            if let Some(why) = self.over_park_limit(conn, &channel, bytes, false) {
                // The request is dropped; the rest of its upload is dropped quietly.
                self.remove_request(&req);
                if !last {
                    self.ended_early
                        .entry(conn)
                        .or_default()
                        .insert(req.clone());
                }
                return self.reject(conn, Some(req), code::QUEUE_FULL, why);
            }
            self.park(conn, &channel, bytes, false);
            if let Some(r) = self.requests.get_mut(&req) {
                r.parked_bytes += bytes;
            }
        }
        match self.requests.get_mut(&req) {
            Some(r) if r.sender == conn => {
                r.sender_done |= last;
                match r.receiver {
                    Some(rx) => {
                        let mut out: Vec<Action> = r
                            .also
                            .iter()
                            .map(|&o| Action::Send(o, msg.clone()))
                            .collect();
                        out.push(Action::Send(rx, msg));
                        out
                    }
                    None => {
                        r.buffered.push(msg);
                        Vec::new()
                    }
                }
            }
            _ => self.reject(
                conn,
                Some(req.clone()),
                code::NOT_ASSIGNED,
                format!("request `{req}` is not in flight from this connection"),
            ),
        }
    }

    /// A response frame (or a request-scoped `error`) from a receiver: accepted only from the
    /// assigned receiver (BRK-8), routed only to the original sender (BRK-4); the end of
    /// the response removes the assignment (BRK-5).
    pub(super) fn response_frame(&mut self, conn: ConnId, msg: Message) -> Vec<Action> {
        let req = msg.req().unwrap_or_default().to_owned();
        let spoof_ok = self.flaw(Flaw::AcceptSpoofed);
        let sender = match self.requests.get(&req) {
            Some(r) if r.receiver == Some(conn) || spoof_ok => r.sender,
            _ => {
                return self.reject(
                    conn,
                    Some(req.clone()),
                    code::NOT_ASSIGNED,
                    format!("request `{req}` is not assigned to this connection"),
                )
            }
        };
        let ends = matches!(
            msg,
            Message::Start { end: true, .. } | Message::End { .. } | Message::Error { .. }
        );
        if ends && !self.flaw(Flaw::NoUnassign) {
            if self.requests.get(&req).is_some_and(|r| !r.sender_done) {
                self.ended_early
                    .entry(sender)
                    .or_default()
                    .insert(req.clone());
            }
            self.remove_request(&req);
        }
        vec![Action::Send(sender, msg)]
    }

    pub(super) fn cancel(&mut self, conn: ConnId, req: String) -> Vec<Action> {
        match self.requests.get(&req) {
            Some(r) if r.sender == conn => {
                let rx = r.receiver;
                self.remove_request(&req);
                rx.map(|rx| vec![Action::Send(rx, Message::Cancel { req })])
                    .unwrap_or_default()
            }
            // Cancelling something already finished is harmless: the race is normal.
            None => Vec::new(),
            Some(_) => self.reject(
                conn,
                Some(req.clone()),
                code::NOT_ASSIGNED,
                format!("request `{req}` was not sent by this connection"),
            ),
        }
    }

    /// Removes a request and every index entry pointing at it: its sender's and
    /// receiver's sets, its place in the channel's queue (a keyed removal).
    pub(super) fn remove_request(&mut self, req: &str) {
        let Some(r) = self.requests.remove(req) else {
            return;
        };
        if let Some(c) = self.conns.get_mut(&r.sender) {
            c.sent.remove(req);
        }
        if let Some(c) = r.receiver.and_then(|rx| self.conns.get_mut(&rx)) {
            c.assigned.remove(req);
        }
        if let Some(seq) = r.queued {
            self.unpark(r.sender, &r.channel, seq, r.parked_bytes);
            if self
                .channels
                .get(&r.channel)
                .is_some_and(|ch| ch.is_empty())
            {
                self.channels.remove(&r.channel);
            }
        }
    }

    /// `req` from `conn` is no longer a request that ended early (its `end` came, or the id
    /// starts a new request).
    fn forget_ended(&mut self, conn: ConnId, req: &str) {
        if let Some(e) = self.ended_early.get_mut(&conn) {
            e.remove(req);
            if e.is_empty() {
                self.ended_early.remove(&conn);
            }
        }
    }
    /// Zoo flaw `polling-receivers`: what a polling loop does on each tick.
    pub fn poll(&mut self) -> Vec<Action> {
        self.wakeups += 1;
        let channels: Vec<String> = self.channels.keys().cloned().collect();
        channels.iter().flat_map(|c| self.dispatch_now(c)).collect()
    }
}
