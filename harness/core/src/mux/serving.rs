//! Served channels: incoming requests assembled from their frames and delivered once,
//! `not_serving` for other channels, `serve` with its credits, and answers, each returning
//! the credit it held (MUX-9).

use super::{answer_frames, Action, Answer, Assembly, ConnNo, Incoming, Mux};
use crate::wire::{code, Message};

impl Mux {
    pub(super) fn incoming_start(
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

    pub(super) fn incoming_frame(
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
}
