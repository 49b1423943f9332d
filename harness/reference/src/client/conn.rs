//! One connection: the WebSocket handshake, its writer, its one reader (MUX-1) and the
//! registration through that reader (AUTH-1..3).

use super::{Client, Connector, Link, Out, Payload};
use crate::time::Instant;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as Ws;
use wirecheck_core::jsonrpc::codec;
use wirecheck_core::mux::ConnNo;
use wirecheck_core::pending::CallError;
use wirecheck_core::wire::Message;
use wirecheck_core::Protocol;

/// Opens connection `no` to `addr`, starts its reader and writer, and registers through the
/// reader (AUTH-1..3). Returns the reader's handle, which yields why the connection ended.
pub(super) async fn connect<C: Connector>(
    client: &Client,
    connector: &C,
    addr: &str,
    no: ConnNo,
) -> Result<tokio::task::JoinHandle<String>, CallError> {
    let inner = &client.inner;
    let limit = inner.config.register_timeout;
    let stream = crate::time::timeout(limit, connector.connect(addr))
        .await
        .map_err(|_| CallError::Timeout)?
        .map_err(|e| CallError::SendFailed(format!("connect to {addr}: {e}")))?;
    let (ws, _) = crate::time::timeout(
        limit,
        tokio_tungstenite::client_async_with_config(
            format!("ws://{addr}/"),
            stream,
            Some(crate::ws::config()),
        ),
    )
    .await
    .map_err(|_| CallError::Timeout)?
    .map_err(|e| CallError::SendFailed(format!("WebSocket handshake with {addr}: {e}")))?;
    let (mut sink, source) = ws.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Out>();
    let protocol = inner.config.protocol;
    tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            match out {
                Out::Write(payload, ack) => {
                    let text = match (payload, protocol) {
                        (Payload::Msg(m), Protocol::WirecheckV1) => Some(m.encode()),
                        (Payload::Msg(m), Protocol::JsonRpc2) => codec::encode(&m),
                        (Payload::Batch(ms), Protocol::JsonRpc2) => codec::encode_batch(&ms),
                        // wirecheck-v1 has no batches (`Client::request_batch` refuses them).
                        (Payload::Batch(_), Protocol::WirecheckV1) => None,
                        (Payload::Text(t), _) => Some(t),
                    };
                    let r = match text {
                        Some(t) => sink
                            .send(Ws::Text(t.into()))
                            .await
                            .map_err(|e| e.to_string()),
                        None => Ok(()), // no such message in the protocol: nothing to send
                    };
                    let failed = r.is_err();
                    if let Some(ack) = ack {
                        let _ = ack.send(r);
                    }
                    if failed {
                        break;
                    }
                }
                Out::Close => break,
            }
        }
        let _ = sink.close().await;
    });
    let (reg_tx, mut reg_rx) = oneshot::channel();
    let hello = inner.mux.with(|m| {
        let mut io = inner.io();
        io.link = Some(Link { no, out: out_tx });
        io.registration = Some((no, reg_tx));
        m.on_connected(no)
    });
    // Until registration succeeds, the reader belongs to this attempt: any early return
    // (or this future being dropped) must stop it, or a reader of an abandoned connection
    // would go on dispatching frames into the client.
    let reader = AbortOnDrop(Some(tokio::spawn(read_loop(
        client.clone(),
        source,
        addr.to_owned(),
        no,
    ))));
    if protocol == Protocol::JsonRpc2 {
        // No registration in JSON-RPC: the open socket is the welcome.
        let welcome = Message::Welcome {
            client: inner.config.client_id.clone(),
        };
        inner.act(|m| m.on_text(no, &welcome.encode()));
    }
    let sent = match protocol {
        Protocol::WirecheckV1 => client.send(hello).await,
        Protocol::JsonRpc2 => Ok(()),
    };
    let outcome = match sent {
        Err(e) => {
            inner.act(|m| m.on_hello_failed(no, e.clone()));
            reg_rx.try_recv().unwrap_or(Err(e))
        }
        Ok(()) => match crate::time::timeout(limit, &mut reg_rx).await {
            Ok(o) => o.unwrap_or(Err(CallError::NotConnected)),
            Err(_) => {
                inner.act(|m| m.on_register_deadline(no));
                reg_rx.try_recv().unwrap_or(Err(CallError::Timeout))
            }
        },
    };
    inner.act(|m| m.finish_registration(no, &outcome));
    match outcome {
        Ok(_) => Ok(reader.into_inner()),
        Err(e) => {
            drop(reader); // aborts it
            Err(e)
        }
    }
}

/// A task handle that aborts the task when dropped, unless taken out.
struct AbortOnDrop<T>(Option<tokio::task::JoinHandle<T>>);

impl<T> AbortOnDrop<T> {
    fn into_inner(mut self) -> tokio::task::JoinHandle<T> {
        self.0.take().expect("handle present until taken")
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}

/// The one reader of connection `no` (MUX-1): feeds every frame and every heartbeat
/// deadline to the machine. Returns why the connection ended.
async fn read_loop<S>(
    client: Client,
    mut source: futures_util::stream::SplitStream<tokio_tungstenite::WebSocketStream<S>>,
    peer: String,
    no: ConnNo,
) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let inner = &client.inner;
    // JSON-RPC has no heartbeat: silence is not a dead connection there.
    let hb = (inner.config.protocol == Protocol::WirecheckV1)
        .then(|| inner.config.heartbeat.clone())
        .flatten();
    let mut last_seen = Instant::now();
    let far = Duration::from_secs(86_400 * 365);
    let mut next_ping = Instant::now() + hb.as_ref().map_or(far, |h| h.interval);
    loop {
        let dead_at = last_seen + hb.as_ref().map_or(far, |h| h.timeout);
        tokio::select! {
            biased;
            frame = source.next() => {
                last_seen = Instant::now();
                match frame {
                    None => return "connection ended".into(),
                    Some(Err(e)) => return format!("read error: {e}"),
                    Some(Ok(Ws::Close(_))) => return "closed by peer".into(),
                    Some(Ok(Ws::Text(text))) => {
                        inner.observer.received(&peer, text.as_str());
                        if let Some(why) = receive(inner, no, text.as_str()) {
                            return why;
                        }
                    }
                    // JSON-RPC peers (web3.py among them) send binary frames of UTF-8 JSON.
                    Some(Ok(Ws::Binary(bytes))) if inner.config.protocol == Protocol::JsonRpc2 => {
                        let text = String::from_utf8_lossy(&bytes);
                        inner.observer.received(&peer, &text);
                        if let Some(why) = receive(inner, no, &text) {
                            return why;
                        }
                    }
                    Some(Ok(_)) => {}
                }
                // Let the callers this frame completed take their results before the
                // next frame is read: a trace then shows a result before the duplicate
                // that follows it, not after.
                tokio::task::yield_now().await;
            }
            _ = crate::time::sleep_until(next_ping), if hb.is_some() && !inner.mux.with(|m| m.is_registering()) => {
                next_ping += hb.as_ref().map_or(far, |h| h.interval);
                inner.act(|m| m.on_ping_due(no));
            }
            _ = crate::time::sleep_until(dead_at), if hb.is_some() => {
                let timeout = hb.as_ref().map_or(far, |h| h.timeout);
                if let Some(why) = inner.act(|m| m.on_silence(no, timeout)) {
                    return why;
                }
            }
        }
    }
}

/// Feeds one received text to the machine, through the codec in JSON-RPC mode.
fn receive(inner: &super::Inner, no: ConnNo, text: &str) -> Option<String> {
    match inner.config.protocol {
        Protocol::WirecheckV1 => inner.act(|m| m.on_text(no, text)),
        Protocol::JsonRpc2 => {
            let incoming = codec::decode(text);
            for note in &incoming.notes {
                inner.observer.note(note);
            }
            for msg in incoming.messages {
                if let Some(why) = inner.act(|m| m.on_text(no, &msg.encode())) {
                    return Some(why);
                }
            }
            None
        }
    }
}
