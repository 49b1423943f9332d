//! Backend links: a dial that succeeded or failed, a link lost, the frames a backend
//! sends (the replayed registration's answer, then ordinary traffic), and a client served
//! again once its session is replayed.

use super::{forward, session, Action, ClientNo, Frame, LinkClose, LinkNo, Phase, Relay};
use crate::flaws::Flaw;
use std::time::Duration;

impl Relay {
    /// The dial of `link` succeeded (the WebSocket is open).
    pub fn on_link_up(&mut self, link: LinkNo) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(l) = self.links.get_mut(&link) else {
            // Its client is gone: the driver closes what it opened.
            out.push(Action::CloseLink {
                link,
                why: LinkClose::Superseded,
            });
            return out;
        };
        l.up = true;
        let (client, backend) = (l.client, l.backend);
        self.backends[backend].count += 1;
        self.set_up(backend, &mut out);
        let current = self.clients.get(&client).map(|c| c.phase) == Some(Phase::Dialing(link));
        if !current {
            if self.flaw(Flaw::RelayDuplicateHandlers) {
                // Zoo flaw: the second handler's link stays open beside the current one.
                out.push(Action::Note(format!(
                    "client {client}: a second link {link} is open"
                )));
            } else {
                self.unlink(link, &mut out);
                out.push(Action::CloseLink {
                    link,
                    why: LinkClose::Superseded,
                });
            }
            return out;
        }
        let Some(c) = self.clients.get_mut(&client) else {
            return out;
        };
        match c.session.hello() {
            Some(hello) => {
                c.phase = Phase::Replaying(link);
                out.push(Action::SendBackend {
                    link,
                    frame: Frame::Text(hello.to_owned()),
                });
            }
            None => self.become_ready(client, link, &mut out),
        }
        out
    }

    /// The dial of `link` failed (refused, reset, timed out) at `now`.
    pub fn on_link_failed(&mut self, link: LinkNo, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(l) = self.links.remove(&link) else {
            return out;
        };
        self.set_down(l.backend, now, &mut out);
        let Some(c) = self.clients.get_mut(&l.client) else {
            return out;
        };
        c.links.remove(&link);
        if c.phase == Phase::Dialing(link) {
            c.failures += 1;
            out.extend(self.schedule_failover(l.client, now));
        }
        out
    }

    /// The open `link` ended at `now` without the relay closing it: the backend closed it,
    /// crashed or reset it.
    pub fn on_link_lost(&mut self, link: LinkNo, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(l) = self.links.get(&link) else {
            return out;
        };
        let (client, backend) = (l.client, l.backend);
        self.unlink(link, &mut out);
        self.set_down(backend, now, &mut out);
        let Some(c) = self.clients.get_mut(&client) else {
            return out;
        };
        match c.phase {
            Phase::Ready(l) if l == link => {
                for msg in c.session.on_loss(&mut self.totals) {
                    out.push(Action::SendClient {
                        client,
                        frame: Frame::Text(msg.encode()),
                    });
                }
                c.moving = true;
                c.failures = 0;
                out.extend(self.schedule_failover(client, now));
                if self.flaw(Flaw::RelayDuplicateHandlers) {
                    // Zoo flaw: the other direction's handler noticed the loss too and
                    // starts its own failover.
                    out.extend(self.second_handler(client));
                }
            }
            Phase::Replaying(l) if l == link => {
                c.failures += 1;
                out.extend(self.schedule_failover(client, now));
            }
            _ => {}
        }
        out
    }

    /// `link`'s backend sent `frame`.
    pub fn on_backend_frame(&mut self, link: LinkNo, frame: Frame, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(l) = self.links.get(&link) else {
            return out;
        };
        let (client, backend) = (l.client, l.backend);
        let Some(c) = self.clients.get_mut(&client) else {
            return out;
        };
        let msg = match &frame {
            Frame::Text(t) => crate::wire::Message::decode(t).ok(),
            Frame::Binary(_) => None,
        };
        match c.phase {
            Phase::Replaying(l) if l == link => match c.session.replay_answer(msg.as_ref()) {
                session::Answer::Accepted { forward } => {
                    if forward {
                        out.push(Action::SendClient { client, frame });
                    }
                    self.become_ready(client, link, &mut out);
                }
                session::Answer::Refused { forward: true } => {
                    // The client's own registration was refused: it hears it, as it would
                    // from the backend directly, and decides.
                    out.push(Action::SendClient { client, frame });
                    self.become_ready(client, link, &mut out);
                }
                session::Answer::Refused { forward: false } => {
                    out.push(Action::Note(format!(
                        "client {client}: backend {backend} refused the replayed registration"
                    )));
                    self.unlink(link, &mut out);
                    out.push(Action::CloseLink {
                        link,
                        why: LinkClose::Refused,
                    });
                    self.set_down(backend, now, &mut out);
                    if let Some(c) = self.clients.get_mut(&client) {
                        c.failures += 1;
                    }
                    out.extend(self.schedule_failover(client, now));
                }
                session::Answer::Other => out.push(Action::SendClient { client, frame }),
            },
            Phase::Ready(l) if l == link => {
                if let Some(m) = &msg {
                    c.session.backend_sent(m);
                }
                out.push(Action::SendClient { client, frame });
            }
            _ => out.push(Action::Note(format!(
                "client {client}: a frame from link {link}, which does not serve it: dropped"
            ))),
        }
        out
    }

    /// Moves `client` onto `link`: the replay is done (or not needed); credits, then
    /// what it sent meanwhile, go to the backend.
    fn become_ready(&mut self, client: ClientNo, link: LinkNo, out: &mut Vec<Action>) {
        let two_readers = self.flaw(Flaw::RelayTwoReaders);
        let Some(c) = self.clients.get_mut(&client) else {
            return;
        };
        c.phase = Phase::Ready(link);
        c.failures = 0;
        out.push(Action::Ready { client, link });
        if c.moving {
            c.moving = false;
            self.totals.failovers += 1;
            if two_readers {
                // Zoo flaw: the new link's handler starts its own reader of the client's
                // socket; the old one keeps running, bound to the old link.
                c.stale_readers.insert(c.reader);
                c.reader += 1;
                out.push(Action::ReadClient {
                    client,
                    reader: c.reader,
                });
            }
        }
        for msg in c.session.replay_credits() {
            out.push(Action::SendBackend {
                link,
                frame: Frame::Text(msg.encode()),
            });
        }
        while let Some(frame) = c.buffer.pop_front() {
            forward(c, link, frame, out);
        }
    }
}
