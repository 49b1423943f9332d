//! What a client's broker session holds, as the relay follows it: its registration, its
//! outstanding `receive` credits, the requests in flight through its current link (sent
//! and served). A lost link ends the in-flight work (`error backend_gone`, `cancel`);
//! the next link gets the registration and the credits again.
//!
//! Only frames that reach a backend update the session (a frame held in the buffer
//! during a failover counts when it is flushed), so "in flight" always means "sent
//! through the current link".

use super::Totals;
use crate::wire::{code, Dir, Message};
use std::collections::{BTreeMap, BTreeSet};

/// The client's registration, as the relay saw it pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Registration {
    #[default]
    None,
    /// `hello` (its text) went to a backend, which has not answered.
    Sent(String),
    /// The backend answered `welcome`.
    Done(String),
}

/// A client's session state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Session {
    registration: Registration,
    /// Channel → `receive` credits sent and not yet used by a request.
    credits: BTreeMap<String, u32>,
    /// Requests the client sent through the current link and not ended: id → its upload
    /// is done (`start` with `end`, or `end`).
    sent: BTreeMap<String, bool>,
    /// Requests the current link delivered to the client and the client has not answered.
    served: BTreeSet<String>,
    /// Requests the relay ended (`backend_gone`) while the client was still uploading
    /// them: their remaining frames are dropped until their `end` (as a broker does,
    /// BRK-9), not sent to a backend that never heard of them.
    dropping: BTreeSet<String>,
}

/// The backend's answer to a replayed `hello`.
pub(super) enum Answer {
    /// `welcome`: `forward` it when the client is still waiting for it.
    Accepted { forward: bool },
    /// `error` without `req`: `forward` it when the client is still waiting.
    Refused { forward: bool },
    /// Something else (a broker sends nothing before its answer): passed on.
    Other,
}

/// A request's last frame in the response direction (or an error about it).
fn ends_response(m: &Message) -> Option<&str> {
    match m {
        Message::Start {
            req,
            dir: Dir::Response,
            end: true,
            ..
        }
        | Message::End {
            req,
            dir: Dir::Response,
        }
        | Message::Error { req: Some(req), .. } => Some(req),
        _ => None,
    }
}

impl Session {
    /// The `hello` to replay on a new link, if the client sent one.
    pub(super) fn hello(&self) -> Option<&str> {
        match &self.registration {
            Registration::None => None,
            Registration::Sent(h) | Registration::Done(h) => Some(h),
        }
    }

    /// The client sent `m` (its text `text`) toward the backend: `false` to drop it
    /// (a frame of a request the relay already ended).
    pub(super) fn client_sent(&mut self, m: &Message, text: &str) -> bool {
        match m {
            Message::Hello { .. } => {
                if self.registration == Registration::None {
                    self.registration = Registration::Sent(text.to_owned());
                }
            }
            Message::Receive { channel } => *self.credits.entry(channel.clone()).or_default() += 1,
            Message::Start {
                req,
                dir: Dir::Request,
                end,
                ..
            } => {
                // A new request may reuse the id of one that ended.
                self.dropping.remove(req);
                self.sent.insert(req.clone(), *end);
            }
            Message::Chunk {
                req,
                dir: Dir::Request,
                ..
            } => return !self.dropping.contains(req),
            Message::End {
                req,
                dir: Dir::Request,
            } => {
                if self.dropping.remove(req) {
                    return false;
                }
                if let Some(done) = self.sent.get_mut(req) {
                    *done = true;
                }
            }
            Message::Cancel { req } => {
                self.sent.remove(req);
                if self.dropping.remove(req) {
                    return false;
                }
            }
            other => {
                if let Some(req) = ends_response(other) {
                    self.served.remove(req);
                }
            }
        }
        true
    }

    /// The current link's backend sent `m` to the client.
    pub(super) fn backend_sent(&mut self, m: &Message) {
        match m {
            Message::Welcome { .. } => {
                if let Registration::Sent(h) = &self.registration {
                    self.registration = Registration::Done(h.clone());
                }
            }
            Message::Error {
                req: None, code, ..
            } if matches!(self.registration, Registration::Sent(_))
                && (code == code::UNAUTHORIZED || code == code::CLIENT_ID_TAKEN) =>
            {
                // The registration was refused (the broker closes the connection).
                self.registration = Registration::None;
            }
            Message::Start {
                req,
                channel,
                dir: Dir::Request,
                ..
            } => {
                self.served.insert(req.clone());
                if let Some(n) = self.credits.get_mut(channel) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.credits.remove(channel);
                    }
                }
            }
            Message::Cancel { req } => {
                self.served.remove(req);
            }
            other => {
                if let Some(req) = ends_response(other) {
                    self.sent.remove(req);
                }
            }
        }
    }

    /// The backend answered the replayed `hello` with `m` (`None`: not a protocol
    /// message).
    pub(super) fn replay_answer(&mut self, m: Option<&Message>) -> Answer {
        let waiting = matches!(self.registration, Registration::Sent(_));
        match m {
            Some(welcome @ Message::Welcome { .. }) => {
                self.backend_sent(welcome);
                Answer::Accepted { forward: waiting }
            }
            Some(refusal @ Message::Error { req: None, .. }) => {
                if waiting {
                    // The client hears its own refusal; a replayed registration's
                    // refusal is the relay's (it tries another backend).
                    self.registration = Registration::None;
                }
                let _ = refusal;
                Answer::Refused { forward: waiting }
            }
            _ => Answer::Other,
        }
    }

    /// The current link was lost: what the client is told (`error backend_gone` for each
    /// request it sent, `cancel` for each it was serving). Nothing stays in flight.
    pub(super) fn on_loss(&mut self, totals: &mut Totals) -> Vec<Message> {
        let mut out = Vec::new();
        for (req, done) in std::mem::take(&mut self.sent) {
            out.push(Message::error(
                Some(&req),
                code::BACKEND_GONE,
                "the relay lost the backend this request was sent to",
            ));
            totals.backend_gone += 1;
            if !done {
                self.dropping.insert(req);
            }
        }
        for req in std::mem::take(&mut self.served) {
            out.push(Message::Cancel { req });
            totals.cancelled += 1;
        }
        out
    }

    /// The credits to send again on a new link, once registered there.
    pub(super) fn replay_credits(&self) -> Vec<Message> {
        if !matches!(self.registration, Registration::Done(_)) {
            return Vec::new();
        }
        self.credits
            .iter()
            .flat_map(|(channel, n)| {
                (0..*n).map(|_| Message::Receive {
                    channel: channel.clone(),
                })
            })
            .collect()
    }

    /// Sizes of what the session tracks: (sent, served, dropping).
    pub(super) fn sizes(&self) -> (usize, usize, usize) {
        (self.sent.len(), self.served.len(), self.dropping.len())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn req(id: &str, end: bool) -> Message {
        Message::Start {
            req: id.into(),
            channel: "jobs".into(),
            dir: Dir::Request,
            body: String::new(),
            end,
        }
    }

    #[test]
    fn loss_ends_what_was_in_flight_and_replays_registration_and_credits() {
        let mut s = Session::default();
        let hello = r#"{"type":"hello","client":"app"}"#;
        assert!(s.client_sent(&Message::decode(hello).unwrap(), hello));
        assert_eq!(s.hello(), Some(hello));
        assert!(s.replay_credits().is_empty(), "not registered yet");
        s.backend_sent(&Message::Welcome {
            client: "app".into(),
        });
        for _ in 0..2 {
            s.client_sent(
                &Message::Receive {
                    channel: "jobs".into(),
                },
                "",
            );
        }
        // One credit used by a delivered request.
        s.backend_sent(&req("in", true));
        s.client_sent(&req("r1", true), "");
        s.client_sent(&req("r2", false), "");
        s.client_sent(&req("r3", true), "");
        s.backend_sent(&Message::Start {
            req: "r3".into(),
            channel: String::new(),
            dir: Dir::Response,
            body: "x".into(),
            end: true,
        });
        let mut t = Totals::default();
        let told = s.on_loss(&mut t);
        assert_eq!(
            told.iter().map(|m| m.kind()).collect::<Vec<_>>(),
            ["error", "error", "cancel"],
            "r1, r2 backend_gone; `in` cancelled; r3 had ended"
        );
        assert_eq!((t.backend_gone, t.cancelled), (2, 1));
        assert_eq!(s.sizes(), (0, 0, 1), "r2's upload is not done");
        let chunk = Message::Chunk {
            req: "r2".into(),
            dir: Dir::Request,
            seq: 0,
            data: "d".into(),
        };
        assert!(!s.client_sent(&chunk, ""), "late chunk of an ended request");
        let end = Message::End {
            req: "r2".into(),
            dir: Dir::Request,
        };
        assert!(!s.client_sent(&end, ""));
        assert_eq!(s.sizes(), (0, 0, 0), "its end frees it");
        assert_eq!(
            s.replay_credits(),
            vec![Message::Receive {
                channel: "jobs".into()
            }],
            "one credit outstanding"
        );
    }

    #[test]
    fn replay_answers() {
        let mut s = Session::default();
        let hello = r#"{"type":"hello","client":"app"}"#;
        s.client_sent(&Message::decode(hello).unwrap(), hello);
        // The client still waits for its welcome: forward it.
        let w = Message::Welcome {
            client: "app".into(),
        };
        assert!(matches!(
            s.replay_answer(Some(&w)),
            Answer::Accepted { forward: true }
        ));
        // Registered: a replay's welcome is swallowed, a refusal is not the client's.
        assert!(matches!(
            s.replay_answer(Some(&w)),
            Answer::Accepted { forward: false }
        ));
        let no = Message::error(None, code::CLIENT_ID_TAKEN, "");
        assert!(matches!(
            s.replay_answer(Some(&no)),
            Answer::Refused { forward: false }
        ));
        assert_eq!(s.hello(), Some(hello), "still registered elsewhere");
        assert!(matches!(s.replay_answer(None), Answer::Other));
    }
}
