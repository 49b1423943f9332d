//! Load on anything that speaks the broker protocol: N receivers serving channel `bench`
//! (one `receive` credit each, renewed with every answer) and N senders, each with one
//! request in flight at a time. A round trip is sender → broker → receiver → broker →
//! sender. Point it at a relay in front of a broker to measure the relay's overhead.

use super::echo::take;
use super::{LoadSpec, Summary};
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as Ws;
use wirecheck_core::wire::{Dir, Message};

type Conn =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Called with the number of round trips done so far, every `every` round trips.
pub struct Progress<'a> {
    pub every: u64,
    pub call: &'a (dyn Fn(u64) + Sync),
}

async fn register(addr: &str, id: &str) -> Result<Conn, String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .map_err(|e| format!("{id}: connect to {addr}: {e}"))?;
    send(
        &mut ws,
        &Message::Hello {
            client: id.into(),
            token: None,
        },
    )
    .await?;
    match recv(&mut ws).await? {
        Message::Welcome { .. } => Ok(ws),
        other => Err(format!("{id}: registration answered {other:?}")),
    }
}

async fn send(ws: &mut Conn, m: &Message) -> Result<(), String> {
    ws.send(Ws::Text(m.encode().into()))
        .await
        .map_err(|e| format!("send: {e}"))
}

async fn recv(ws: &mut Conn) -> Result<Message, String> {
    loop {
        match ws.next().await {
            Some(Ok(Ws::Text(t))) => {
                return Message::decode(t.as_str()).map_err(|e| format!("decode: {e}"))
            }
            Some(Ok(Ws::Close(_))) | None => return Err("connection closed".into()),
            Some(Err(e)) => return Err(format!("read: {e}")),
            Some(Ok(_)) => {}
        }
    }
}

/// A receiver: answers every request with its body and asks for the next.
async fn serve(mut ws: Conn) -> Result<(), String> {
    let credit = Message::Receive {
        channel: "bench".into(),
    };
    send(&mut ws, &credit).await?;
    loop {
        let Ok(m) = recv(&mut ws).await else {
            return Ok(()); // the load is over
        };
        if let Message::Start {
            req,
            body,
            dir: Dir::Request,
            ..
        } = m
        {
            let answer = Message::Start {
                req,
                channel: String::new(),
                dir: Dir::Response,
                body,
                end: true,
            };
            ws.feed(Ws::Text(answer.encode().into()))
                .await
                .map_err(|e| format!("feed: {e}"))?;
            ws.feed(Ws::Text(credit.encode().into()))
                .await
                .map_err(|e| format!("feed: {e}"))?;
            ws.flush().await.map_err(|e| format!("flush: {e}"))?;
        }
    }
}

/// Round trips through the broker (or relay) at `addr`.
pub async fn broker_load(
    addr: &str,
    spec: &LoadSpec,
    progress: Option<Progress<'_>>,
) -> Result<Summary, String> {
    let mut receivers = Vec::new();
    for r in 0..spec.connections {
        let ws = register(addr, &format!("rx{r}")).await?;
        receivers.push(tokio::spawn(serve(ws)));
    }
    let mut senders = Vec::new();
    for s in 0..spec.connections {
        senders.push(register(addr, &format!("tx{s}")).await?);
    }
    let started = Instant::now();
    let deadline = started + spec.max_time;
    let left = Arc::new(AtomicU64::new(spec.requests));
    let done = Arc::new(AtomicU64::new(0));
    let body = "x".repeat(spec.body);
    let mut tasks = Vec::new();
    for (s, mut ws) in senders.into_iter().enumerate() {
        let (left, done, body) = (left.clone(), done.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut k = 0u64;
            while take(&left) && Instant::now() < deadline {
                let req = format!("t{s}-{k}");
                k += 1;
                let t0 = Instant::now();
                send(
                    &mut ws,
                    &Message::Start {
                        req: req.clone(),
                        channel: "bench".into(),
                        dir: Dir::Request,
                        body: body.clone(),
                        end: true,
                    },
                )
                .await?;
                match recv(&mut ws).await? {
                    Message::Start { req: r, .. } if r == req => lat.push(t0.elapsed()),
                    other => return Err(format!("tx{s}: {req} answered {other:?}")),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            let _ = ws.close(None).await;
            Ok::<_, String>(lat)
        }));
    }
    if let Some(p) = progress {
        let mut next = p.every;
        while tasks.iter().any(|t| !t.is_finished()) {
            crate::time::sleep(Duration::from_millis(20)).await;
            let n = done.load(Ordering::Relaxed);
            while n >= next {
                (p.call)(next);
                next += p.every;
            }
        }
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    let summary = Summary::of(all, started.elapsed());
    for r in receivers {
        r.abort();
    }
    Ok(summary)
}
