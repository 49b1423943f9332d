//! The limit: a raw tokio-tungstenite echo server (every text message sent straight back,
//! nothing decoded), and its load, N connections each doing one round trip at a time with
//! a message of the same size as the broker load's requests.

use super::{LoadSpec, Summary};
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio_tungstenite::tungstenite::Message as Ws;
use wirecheck_core::wire::{Dir, Message};

/// Serves WebSocket echo on `listener` until the process ends.
pub async fn serve_echo(listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(m)) = ws.next().await {
                if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The text the echo load sends: a request `start` like the broker load's.
pub(super) fn request_text(req: &str, body: &str) -> String {
    Message::Start {
        req: req.into(),
        channel: "bench".into(),
        dir: Dir::Request,
        body: body.into(),
        end: true,
    }
    .encode()
}

/// Round trips against an echo server at `addr`.
pub async fn echo_load(addr: &str, spec: &LoadSpec) -> Result<Summary, String> {
    let started = Instant::now();
    let left = Arc::new(AtomicU64::new(spec.requests));
    let deadline = started + spec.max_time;
    let body = "x".repeat(spec.body);
    let mut tasks = Vec::new();
    for c in 0..spec.connections {
        let url = format!("ws://{addr}/");
        let (left, body) = (left.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .map_err(|e| format!("echo: connect: {e}"))?;
            let mut lat = Vec::new();
            let mut k = 0u64;
            while take(&left) && Instant::now() < deadline {
                let text = request_text(&format!("e{c}-{k}"), &body);
                k += 1;
                let t0 = Instant::now();
                ws.send(Ws::Text(text.into()))
                    .await
                    .map_err(|e| format!("echo: send: {e}"))?;
                match ws.next().await {
                    Some(Ok(Ws::Text(_))) => lat.push(t0.elapsed()),
                    other => return Err(format!("echo: expected the echo, got {other:?}")),
                }
            }
            let _ = ws.close(None).await;
            Ok::<_, String>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    Ok(Summary::of(all, started.elapsed()))
}

/// Takes one round trip from the shared budget, if any is left.
pub(super) fn take(left: &AtomicU64) -> bool {
    left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}
