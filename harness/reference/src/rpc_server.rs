//! The reference JSON-RPC 2.0 server: one connection's reader, writer and delayed answers.
//! Every decision is [`wirecheck_core::jsonrpc::server::answer`]'s; this owns the socket
//! and the timers. Generic over the stream, so the same code serves turmoil's simulated
//! TCP (the `rpc-server` host) and real sockets (`wirecheck-rpc-server`).

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;
use wirecheck_core::jsonrpc::server::answer;

/// How a served connection ended. The server never closes a connection by itself: each
/// end is the peer's doing or a failure of the transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The WebSocket handshake failed (the connection never carried a message).
    Handshake(String),
    /// The peer sent a close frame, or its stream ended.
    ByPeer,
    /// Reading failed (a reset, a WebSocket protocol error).
    ReadError(String),
}

/// Serves one accepted connection until it closes, and says how it ended. `on_text` sees
/// every received text (binary frames are read as UTF-8 text), `on_note` what went wrong.
/// Answers with a delay (`sleep`) are sent by their own task, so other calls are answered
/// meanwhile; they are dropped when the connection ends.
pub async fn serve_connection<S>(
    stream: S,
    on_text: impl Fn(&str) + Send,
    on_note: impl Fn(String) + Send,
) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws = match crate::handshake::accept(stream).await {
        Ok(ws) => ws,
        Err(e) => {
            on_note(format!("WebSocket handshake failed: {e}"));
            return Ended::Handshake(e.to_string());
        }
    };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            if sink.send(Ws::Text(text.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut delayed: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    let mut ended = Ended::ByPeer;
    while let Some(frame) = source.next().await {
        let text = match frame {
            Ok(Ws::Text(t)) => t.as_str().to_owned(),
            Ok(Ws::Binary(b)) => String::from_utf8_lossy(&b).into_owned(),
            Ok(Ws::Close(_)) => break,
            Ok(_) => continue,
            Err(e) => {
                on_note(format!("read error: {e}"));
                ended = Ended::ReadError(e.to_string());
                break;
            }
        };
        on_text(&text);
        let Some(a) = answer(&text) else { continue };
        if a.after.is_zero() {
            let _ = tx.send(a.text);
        } else {
            let tx = tx.clone();
            delayed.retain(|h| !h.is_finished());
            delayed.push(tokio::spawn(async move {
                crate::time::sleep(a.after).await;
                let _ = tx.send(a.text);
            }));
        }
    }
    for h in delayed {
        h.abort();
    }
    drop(tx);
    let _ = writer.await;
    ended
}

/// Accepts connections on `listener` forever; accept errors (`EMFILE`) are survived
/// with a short pause.
pub async fn run_tcp(listener: tokio::net::TcpListener, quiet: bool) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(async move {
                    let peer = peer.to_string();
                    let p = peer.clone();
                    serve_connection(
                        stream,
                        move |text| {
                            if !quiet {
                                eprintln!("{p} -> {} bytes", text.len());
                            }
                        },
                        move |note| eprintln!("{peer}: {note}"),
                    )
                    .await;
                });
            }
            Err(e) => {
                eprintln!("accept failed: {e}");
                crate::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
