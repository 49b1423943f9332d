//! A connection's outbound side (BRK-9): a queue bounded in **bytes**, and the writer task
//! that drains it with a **write deadline**. A peer is a slow consumer when it does not
//! keep up: the bytes waiting for it pass its budget, or one write makes no progress for
//! the write timeout (the peer stopped reading and the socket buffers are full). A burst
//! of messages to a peer that reads is neither: it drains as fast as the peer reads.

use futures_util::{Sink, SinkExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as Ws;

/// What the writer is asked to do.
pub(super) enum Out {
    /// A message's text, as it goes on the wire.
    Text(String),
    /// Close after what was queued before (a refusal, say).
    Close,
    /// Close with this status code (RFC 6455 §7.4) and reason, then stop writing.
    CloseWith(u16, String),
}

/// The producer side: any task may queue for the connection without waiting.
pub(super) struct Outbox {
    tx: mpsc::UnboundedSender<Out>,
    waiting: Arc<AtomicUsize>,
    budget: usize,
}

/// Why a message was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// The bytes waiting for the peer would pass its budget: it does not keep up.
    OverBudget { waiting: usize },
    /// The writer is gone (the connection is closing).
    Closed,
}

/// How the writer ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum WriterEnd {
    /// Closed as asked, or the queue's last producer went away.
    Done,
    /// The socket failed.
    Failed,
    /// One write made no progress for the write timeout: the peer stopped reading.
    Stalled,
}

impl Outbox {
    /// A queue allowing `budget` bytes to wait for the peer, and its receiving side.
    pub(super) fn new(budget: usize) -> (Self, Inbox) {
        let (tx, rx) = mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        (
            Outbox {
                tx,
                waiting: waiting.clone(),
                budget,
            },
            Inbox { rx, waiting },
        )
    }

    /// Queues a message's text, unless the peer is already that far behind.
    pub(super) fn push_text(&self, text: String) -> Result<(), Refused> {
        let len = text.len();
        let before = self.waiting.fetch_add(len, Ordering::AcqRel);
        if before + len > self.budget && before > 0 {
            self.waiting.fetch_sub(len, Ordering::AcqRel);
            return Err(Refused::OverBudget { waiting: before });
        }
        self.tx.send(Out::Text(text)).map_err(|_| {
            self.waiting.fetch_sub(len, Ordering::AcqRel);
            Refused::Closed
        })
    }

    /// Queues a control instruction (never refused for the budget).
    pub(super) fn push(&self, out: Out) -> Result<(), Refused> {
        self.tx.send(out).map_err(|_| Refused::Closed)
    }
}

/// The writer's side of the queue.
pub(super) struct Inbox {
    rx: mpsc::UnboundedReceiver<Out>,
    waiting: Arc<AtomicUsize>,
}

impl Inbox {
    /// Writes everything queued to `sink`, each message flushed on its own within
    /// `write_timeout`, until told to close or every producer is gone; then closes the
    /// sink (unless stalled: a stalled socket is aborted by the caller, not flushed).
    pub(super) async fn drain<S>(mut self, mut sink: S, write_timeout: Duration) -> WriterEnd
    where
        S: Sink<Ws> + Unpin,
    {
        let end = loop {
            let Some(out) = self.rx.recv().await else {
                break WriterEnd::Done;
            };
            let (msg, len, last) = match out {
                Out::Text(text) => {
                    let len = text.len();
                    (Ws::Text(text.into()), len, false)
                }
                Out::Close => break WriterEnd::Done,
                Out::CloseWith(code, reason) => {
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.into(),
                    };
                    (Ws::Close(Some(frame)), 0, true)
                }
            };
            let sent = crate::time::timeout(write_timeout, sink.send(msg)).await;
            self.waiting.fetch_sub(len, Ordering::AcqRel);
            match sent {
                Err(_) => return WriterEnd::Stalled,
                Ok(Err(_)) => break WriterEnd::Failed,
                Ok(Ok(())) if last => break WriterEnd::Done,
                Ok(Ok(())) => {}
            }
        };
        // A peer that stopped reading must not hold the close either.
        let _ = crate::time::timeout(write_timeout, sink.close()).await;
        end
    }
}
