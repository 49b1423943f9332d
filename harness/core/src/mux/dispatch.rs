//! Every received text: the superseded-connection and side-reader checks, decoding,
//! registration replies, responses into the pending map (stray ones noted), request
//! frames to the serving side, broker `cancel`s, heartbeats.

use super::{Action, ConnNo, Mux};
use crate::flaws::Flaw;
use crate::pending::{CallError, Delivery};
use crate::wire::{summary, Dir, Message};

impl Mux {
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
}
