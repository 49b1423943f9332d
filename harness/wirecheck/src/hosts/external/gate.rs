//! A client target's gates: one loopback listener per broker the scenario's client dials,
//! handed to the adapter as its broker URLs. Each connection the adapter opens is relayed
//! into the world through the client host's own network (so the broker sees the client's
//! address, and link faults apply), and every message the broker sends it is recorded as a
//! `Recv` of the client host, as the reference client's observer records it.

use super::tap::{copy, Seen};
use crate::hosts::Ctx;
use crate::world::addr_of;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a gate waits for the adapter's `connecting` event of a connection it accepted.
const EVENT_WAIT: Duration = Duration::from_millis(200);

/// Orders each connection after the adapter's `connecting` event for it: the event comes
/// through the adapter's stdout, the connection's messages through the gate, and the
/// trace must show the attempt start before what the attempt received.
#[derive(Clone)]
pub(super) struct Attempts {
    /// `connecting` events read so far.
    pub(super) announced: watch::Receiver<u64>,
    /// Connections accepted so far, over every gate of the host.
    pub(super) accepted: Arc<AtomicU64>,
}

/// Accepts the adapter's connections on `listener` and relays each to `broker`.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    broker: String,
    ctx: Ctx,
    attempts: Option<Attempts>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let _ = stream.set_nodelay(true);
        if let Some(a) = &attempts {
            let n = a.accepted.fetch_add(1, Ordering::SeqCst) + 1;
            let mut rx = a.announced.clone();
            let _ = tokio::time::timeout(EVENT_WAIT, rx.wait_for(|seen| *seen >= n)).await;
        }
        tokio::spawn(relay(stream, broker.clone(), ctx.clone()));
    }
}

async fn relay(adapter: tokio::net::TcpStream, broker: String, ctx: Ctx) {
    let upstream = match ctx.net.connect(&addr_of(&broker)).await {
        Ok((io, _)) => io,
        Err(e) => {
            // The adapter sees its connection end before the handshake: a failed attempt.
            ctx.note(format!("gate: cannot reach `{broker}`: {e}"));
            return;
        }
    };
    let (ar, aw) = adapter.into_split();
    let (ur, uw) = tokio::io::split(upstream);
    let up = copy(ar, uw, |_| {});
    let down = copy(ur, aw, |seen| {
        if let Seen::Message(text) = seen {
            ctx.received(&broker, None, &text);
        }
    });
    // Whichever side ends first ends the connection: what the broker sends after the
    // adapter closed its socket is not received by the client.
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}
