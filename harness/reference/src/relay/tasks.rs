//! The relay driver's tasks: socket writers, the reader of a client's socket, a backend
//! link (dial, then read), a health probe, and the timer.

use super::{Dialer, LinkSlot, RelayServer, Source};
use crate::observe::{CloseCause, Lifecycle, LinkEnd, RelayEvent};
use futures_util::{Sink, SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as Ws;
use wirecheck_core::relay::{ClientNo, Frame, LinkNo, ReaderNo};

/// How long after a link's end the machine hears of it: long enough for every link lost
/// at the same moment (a backend's crash resets them all) to be handed over together.
const LOSS_SETTLE: Duration = Duration::from_millis(1);

/// What a socket's writer is asked to do.
pub(super) enum Out {
    Frame(Frame),
    /// Send a close frame with this status code and reason (code 1000 with no reason:
    /// a plain close), then stop.
    Close(u16, String),
}

/// Writes one socket from its queue until told to close or the queue's senders are gone.
/// What is queued together is written together: one flush for a burst, not one per
/// message.
pub(super) async fn write<S>(mut sink: S, mut rx: mpsc::Receiver<Out>)
where
    S: Sink<Ws> + Unpin,
{
    'run: while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(out) = next.take() {
            let m = match out {
                Out::Frame(Frame::Text(t)) => Ws::Text(t.into()),
                Out::Frame(Frame::Binary(b)) => Ws::Binary(b.into()),
                Out::Close(1000, reason) if reason.is_empty() => break 'run,
                Out::Close(code, reason) => {
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.into(),
                    };
                    let _ = sink.send(Ws::Close(Some(frame))).await;
                    break 'run;
                }
            };
            if sink.feed(m).await.is_err() {
                break 'run;
            }
            next = rx.try_recv().ok();
        }
        if sink.flush().await.is_err() {
            break;
        }
    }
    let _ = sink.close().await;
}

/// Waits until `kill` is set (or its sender is gone).
async fn killed(kill: &mut watch::Receiver<bool>) {
    let _ = kill.wait_for(|k| *k).await;
}

impl<D: Dialer> RelayServer<D> {
    /// Reader `reader` of `client`'s socket: every frame to the machine until the socket
    /// ends or the relay closes it.
    pub(super) async fn read_client(
        self: Arc<Self>,
        client: ClientNo,
        reader: ReaderNo,
        peer: String,
        source: Arc<tokio::sync::Mutex<Source>>,
        mut kill: watch::Receiver<bool>,
    ) {
        let idle = self.opts.idle_timeout;
        let ended = loop {
            let next = async { source.lock().await.next().await };
            let frame = tokio::select! {
                biased;
                _ = killed(&mut kill) => break None,
                f = crate::time::timeout(idle, next) => match f {
                    Ok(f) => f,
                    Err(_) => break Some((format!("idle for {idle:?}"), CloseCause::Idle)),
                },
            };
            let frame = match frame {
                Some(Ok(Ws::Text(t))) => Frame::Text(t.as_str().to_owned()),
                Some(Ok(Ws::Binary(b))) => Frame::Binary(b.to_vec()),
                Some(Ok(Ws::Close(_))) | None => {
                    break Some(("closed by the client".to_owned(), CloseCause::Peer))
                }
                Some(Err(e)) => break Some((format!("read error: {e}"), CloseCause::Error)),
                Some(Ok(_)) => continue,
            };
            self.event(|relay, _, _| {
                match &frame {
                    Frame::Text(t) => self.observer.received(&peer, t),
                    Frame::Binary(b) => self.observer.received(&peer, &String::from_utf8_lossy(b)),
                }
                (relay.on_client_frame(client, reader, frame), ())
            });
        };
        self.event(|relay, sockets, _| {
            self.relay(RelayEvent::Reader {
                client: peer.clone(),
                reader,
                running: false,
            });
            // The first reader to see the end reports it; the relay may have closed the
            // client already (then it has forgotten it). Killed while still known: its
            // outbound queue overflowed.
            let Some(slot) = sockets.clients.remove(&client) else {
                return (Vec::new(), ());
            };
            let (reason, cause) = ended.unwrap_or_else(|| {
                (
                    "its outbound queue overflowed: closed by the relay".to_owned(),
                    CloseCause::Local,
                )
            });
            let _ = slot.kill.send(true);
            let _ = slot.tx.try_send(Out::Close(1000, String::new()));
            self.observer.lifecycle(Lifecycle::ConnClosed {
                peer: peer.clone(),
                reason,
                cause,
            });
            (relay.on_client_closed(client), ())
        });
    }

    /// Backend link `link` to `addr`: dial it (connect and handshake within the connect
    /// timeout), then read it until it ends or the relay closes it.
    pub(super) async fn link(self: Arc<Self>, link: LinkNo, addr: String) {
        let limit = self.opts.config.connect_timeout;
        let opened = crate::time::timeout(limit, async {
            let (stream, port) = self.dialer.dial(&addr).await.map_err(|e| e.to_string())?;
            let url = format!("ws://{addr}/");
            let cfg = Some(self.opts.ws_config());
            tokio_tungstenite::client_async_with_config(url, stream, cfg)
                .await
                .map(|(ws, _)| (ws, port))
                .map_err(|e| format!("WebSocket handshake failed: {e}"))
        })
        .await
        .unwrap_or_else(|_| Err(format!("not open within {limit:?}")));
        let (ws, port) = match opened {
            Ok(x) => x,
            Err(why) => {
                self.event(|relay, sockets, now| match sockets.links.remove(&link) {
                    Some(LinkSlot::Dialing {
                        client,
                        backend,
                        cancelled: false,
                    }) => {
                        self.observer
                            .note(&format!("link {link}: dial {backend} failed: {why}"));
                        self.relay(RelayEvent::Unlinked {
                            client,
                            link,
                            backend,
                            end: LinkEnd::Failed,
                        });
                        (relay.on_link_failed(link, now), ())
                    }
                    _ => (Vec::new(), ()),
                });
                return;
            }
        };
        let (sink, mut source) = ws.split();
        let (tx, rx) = mpsc::channel(self.opts.queue.max(1));
        let (kill_tx, mut kill) = watch::channel(false);
        let open = self.event(|relay, sockets, _| match sockets.links.remove(&link) {
            Some(LinkSlot::Dialing {
                client,
                backend,
                cancelled: false,
            }) => {
                self.relay(RelayEvent::Linked {
                    client: client.clone(),
                    link,
                    backend: backend.clone(),
                    conn: port,
                });
                sockets.links.insert(
                    link,
                    LinkSlot::Open {
                        client,
                        backend,
                        tx,
                        kill: kill_tx,
                    },
                );
                (relay.on_link_up(link), true)
            }
            // Closed by the relay while dialing: dropping the socket closes it.
            _ => (Vec::new(), false),
        });
        if !open {
            return;
        }
        tokio::spawn(write(sink, rx));
        let lost = loop {
            let frame = tokio::select! {
                biased;
                _ = killed(&mut kill) => break None,
                f = source.next() => f,
            };
            let frame = match frame {
                Some(Ok(Ws::Text(t))) => Frame::Text(t.as_str().to_owned()),
                Some(Ok(Ws::Binary(b))) => Frame::Binary(b.to_vec()),
                Some(Ok(Ws::Close(_))) | None => break Some("closed by the backend".to_owned()),
                Some(Err(e)) => break Some(format!("read error: {e}")),
                Some(Ok(_)) => continue,
            };
            self.event(|relay, _, now| {
                match &frame {
                    Frame::Text(t) => self.observer.received_on(&addr, port, t),
                    Frame::Binary(b) => {
                        self.observer
                            .received_on(&addr, port, &String::from_utf8_lossy(b))
                    }
                }
                (relay.on_backend_frame(link, frame, now), ())
            });
        };
        // Killed: the relay closed it, or its queue overflowed (then it is still here).
        // The loss is handled by the timer task, [`LOSS_SETTLE`] later, with the others
        // of that moment, in link order: a crashed backend resets its connections in an
        // order the runtime does not fix, and the relay's decisions must not depend on it.
        let why = lost.unwrap_or_else(|| "its outbound queue overflowed".to_owned());
        self.losses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(link, (why, self.now()));
        self.wake.notify_one();
    }

    /// When the oldest loss not yet handed to the machine is due.
    fn losses_due(&self) -> Option<Duration> {
        let losses = self.losses.lock().unwrap_or_else(|p| p.into_inner());
        losses.values().map(|(_, at)| *at + LOSS_SETTLE).min()
    }

    /// Hands the machine the link losses noted at least [`LOSS_SETTLE`] ago, in link
    /// order.
    fn handle_losses(self: &Arc<Self>) {
        let now = self.now();
        let due: Vec<(LinkNo, String)> = {
            let mut losses = self.losses.lock().unwrap_or_else(|p| p.into_inner());
            let links: Vec<LinkNo> = losses
                .iter()
                .filter(|(_, (_, at))| *at + LOSS_SETTLE <= now)
                .map(|(l, _)| *l)
                .collect();
            links
                .into_iter()
                .filter_map(|l| losses.remove(&l).map(|(why, _)| (l, why)))
                .collect()
        };
        for (link, why) in due {
            self.event(|relay, sockets, now| match sockets.links.remove(&link) {
                Some(LinkSlot::Open {
                    client, backend, ..
                }) => {
                    self.observer
                        .note(&format!("link {link}: {backend} lost: {why}"));
                    self.relay(RelayEvent::Unlinked {
                        client,
                        link,
                        backend,
                        end: LinkEnd::Lost,
                    });
                    (relay.on_link_lost(link, now), ())
                }
                other => {
                    if let Some(slot) = other {
                        sockets.links.insert(link, slot);
                    }
                    (Vec::new(), ())
                }
            });
        }
    }

    /// Probes `backend` (at `addr`): opens a WebSocket to it and closes it again.
    pub(super) async fn probe(self: Arc<Self>, backend: usize, addr: String) {
        let limit = self.opts.config.connect_timeout;
        let ok = crate::time::timeout(limit, async {
            let (stream, _) = self.dialer.dial(&addr).await.ok()?;
            let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/"), stream)
                .await
                .ok()?;
            let _ = ws.close(None).await;
            Some(())
        })
        .await
        .ok()
        .flatten()
        .is_some();
        self.event(|relay, _, now| (relay.on_probe(backend, ok, now), ()));
    }

    /// Wakes the machine when a failover attempt or a probe is due, and hands it the
    /// links lost since it last ran.
    pub(super) async fn timer(self: Arc<Self>) {
        loop {
            self.handle_losses();
            let due = match (self.state.with(|r| r.next_deadline()), self.losses_due()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = async {
                match due {
                    Some(at) => crate::time::sleep_until(self.start + at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = self.wake.notified() => {}
                _ = sleep => self.event(|relay, _, now| (relay.on_time(now), ())),
            }
        }
    }
}
