//! The in-path tap in front of an external broker: a byte relay between a wirecheck host
//! and the target process that passively decodes the WebSocket stream (handshake, frames,
//! masking, fragmentation) in both directions. Every text (or binary) message the target
//! *receives* becomes a `Recv` event of its host, before the bytes are passed on, as the
//! reference broker's observer records them; what it sends is recorded by its receivers,
//! as in the simulation. The bytes themselves pass unchanged.

use crate::hosts::Ctx;
use crate::trace::{CloseCause, EventKind, Lifecycle, Peer};
use crate::world::BoxIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A target that has not answered a WebSocket handshake this long after it got the
/// client's request is misbehaving.
pub const HANDSHAKE_LIMIT: Duration = Duration::from_secs(5);
/// Larger frames are passed on without being decoded.
const MAX_FRAME: usize = 16 << 20;

/// What the sniffer saw in a stream.
#[derive(Debug, PartialEq)]
pub(crate) enum Seen {
    /// The HTTP head's first line (`GET / HTTP/1.1`, `HTTP/1.1 101 Switching Protocols`).
    Head(String),
    /// A complete data message (text, or binary as lossy UTF-8).
    Message(String),
    Close,
}

/// A passive WebSocket decoder for one direction of a connection.
#[derive(Default)]
pub(crate) struct Sniffer {
    head_done: bool,
    buf: Vec<u8>,
    msg: Vec<u8>,
    /// Gave up decoding (oversized frame or head): bytes still pass.
    stopped: bool,
}

impl Sniffer {
    pub(crate) fn feed(&mut self, data: &[u8], out: &mut Vec<Seen>) {
        if self.stopped {
            return;
        }
        self.buf.extend_from_slice(data);
        if !self.head_done {
            let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                if self.buf.len() > 64 * 1024 {
                    self.stopped = true;
                }
                return;
            };
            let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
            out.push(Seen::Head(head.lines().next().unwrap_or("").to_owned()));
            self.buf.drain(..end + 4);
            self.head_done = true;
        }
        loop {
            let b = &self.buf;
            if b.len() < 2 {
                return;
            }
            let (fin, op, masked) = (b[0] & 0x80 != 0, b[0] & 0x0f, b[1] & 0x80 != 0);
            let (len, mut at) = match b[1] & 0x7f {
                126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
                127 if b.len() >= 10 => {
                    let mut n = [0u8; 8];
                    n.copy_from_slice(&b[2..10]);
                    (
                        usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX),
                        10,
                    )
                }
                126 | 127 => return,
                n => (n as usize, 2),
            };
            if len > MAX_FRAME {
                self.stopped = true;
                return;
            }
            let mask = if masked {
                if b.len() < at + 4 {
                    return;
                }
                let m = [b[at], b[at + 1], b[at + 2], b[at + 3]];
                at += 4;
                Some(m)
            } else {
                None
            };
            if b.len() < at + len {
                return;
            }
            let mut payload = b[at..at + len].to_vec();
            if let Some(m) = mask {
                for (i, x) in payload.iter_mut().enumerate() {
                    *x ^= m[i % 4];
                }
            }
            self.buf.drain(..at + len);
            match op {
                1 | 2 => self.msg = payload,
                0 => self.msg.extend_from_slice(&payload),
                8 => {
                    out.push(Seen::Close);
                    continue;
                }
                _ => continue,
            }
            if fin {
                let m = std::mem::take(&mut self.msg);
                out.push(Seen::Message(String::from_utf8_lossy(&m).into_owned()));
            }
        }
    }
}

/// Relays one accepted connection from `peer` to the target at `target`.
pub(super) async fn tap(
    client: BoxIo,
    peer: String,
    conn: Option<u16>,
    target: SocketAddr,
    ctx: Ctx,
    error: Arc<Mutex<Option<String>>>,
) {
    let upstream = match tokio::net::TcpStream::connect(target).await {
        Ok(s) => s,
        Err(e) => {
            ctx.note(format!("tap: cannot reach the target at {target}: {e}"));
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let (cr, cw) = tokio::io::split(client);
    let (ur, uw) = upstream.into_split();
    let answered = Arc::new(AtomicBool::new(false));
    // The client's handshake request has passed the tap (a partitioned link in front of
    // the tap may keep it back: the target cannot answer what it never got).
    let asked = tokio::sync::Notify::new();
    // A close frame from the client: whoever's socket ends first after it, the client
    // closed the connection.
    let client_closed = AtomicBool::new(false);
    let up = copy(cr, uw, |seen| match seen {
        Seen::Head(_) => asked.notify_one(),
        Seen::Message(text) => ctx.received(&peer, conn, &text),
        Seen::Close => client_closed.store(true, Ordering::SeqCst),
    });
    let down = copy(ur, cw, |seen| {
        if matches!(seen, Seen::Head(_)) {
            answered.store(true, Ordering::SeqCst);
        }
    });
    let watchdog = async {
        asked.notified().await;
        tokio::time::sleep(HANDSHAKE_LIMIT).await;
        if !answered.load(Ordering::SeqCst) {
            error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(format!(
                "accepted a connection from `{peer}` but never answered its WebSocket handshake within {}s",
                HANDSHAKE_LIMIT.as_secs()
            ));
        }
        std::future::pending::<()>().await
    };
    let relay = async {
        tokio::pin!(up, down);
        // The first side to end closes the connection, for the checkers.
        let up_ended = tokio::select! {
            biased;
            _ = &mut up => true,
            _ = &mut down => false,
        };
        let client_ended = up_ended || client_closed.load(Ordering::SeqCst);
        let reason = if client_ended {
            "connection ended"
        } else {
            "closed by broker"
        };
        ctx.trace.host_event(
            &ctx.ctl.name,
            EventKind::Life(Lifecycle::ConnClosed {
                peer: Peer {
                    host: peer.clone(),
                    conn,
                },
                reason: reason.into(),
                // The target ending first is its own decision (the tap cannot tell an
                // idle close from another; the checkers excuse a silent peer).
                cause: if client_ended {
                    CloseCause::Peer
                } else {
                    CloseCause::Local
                },
            }),
        );
        if up_ended {
            down.await
        } else {
            up.await
        }
    };
    tokio::select! {
        biased;
        _ = relay => {}
        _ = watchdog => {}
    }
}

pub(super) async fn copy(
    mut src: impl AsyncRead + Unpin,
    mut dst: impl AsyncWrite + Unpin,
    mut seen: impl FnMut(Seen),
) {
    let mut sniffer = Sniffer::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::new();
    loop {
        let n = match src.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        sniffer.feed(&buf[..n], &mut out);
        for s in out.drain(..) {
            seen(s);
        }
        if dst.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = dst.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, op: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut f = vec![(u8::from(fin) << 7) | op];
        let m = if mask.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => f.push(m | n as u8),
            n if n < 65536 => {
                f.push(m | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(m | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(k) => {
                f.extend_from_slice(&k);
                f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
            }
            None => f.extend_from_slice(payload),
        }
        f
    }

    #[test]
    fn decodes_head_masked_fragmented_and_split_frames() {
        let mut bytes = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        let k = Some([1, 2, 3, 4]);
        bytes.extend(frame(true, 1, br#"{"type":"hello"}"#, k));
        bytes.extend(frame(false, 1, b"par", k));
        bytes.extend(frame(true, 9, b"ping", k));
        bytes.extend(frame(true, 0, b"ts", k));
        let big = "x".repeat(70_000);
        bytes.extend(frame(true, 1, big.as_bytes(), k));
        bytes.extend(frame(true, 8, b"", k));
        let mut s = Sniffer::default();
        let mut out = Vec::new();
        // Fed one byte at a time: every boundary falls mid-header somewhere.
        for b in &bytes {
            s.feed(std::slice::from_ref(b), &mut out);
        }
        assert_eq!(
            out,
            [
                Seen::Head("GET / HTTP/1.1".into()),
                Seen::Message(r#"{"type":"hello"}"#.into()),
                Seen::Message("parts".into()),
                Seen::Message(big),
                Seen::Close,
            ]
        );
    }

    #[test]
    fn unmasked_server_frames_decode_too() {
        let mut bytes = b"HTTP/1.1 101 Switching Protocols\r\n\r\n".to_vec();
        bytes.extend(frame(true, 1, b"welcome", None));
        let mut s = Sniffer::default();
        let mut out = Vec::new();
        s.feed(&bytes, &mut out);
        assert_eq!(
            out[0],
            Seen::Head("HTTP/1.1 101 Switching Protocols".into())
        );
        assert_eq!(out[1], Seen::Message("welcome".into()));
    }
}
