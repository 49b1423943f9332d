//! Shared by the loopback tests: the real `wirecheck-broker` binary on a free port.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A child process killed (and reaped) when dropped.
pub struct Proc {
    pub child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `wirecheck-broker --listen 127.0.0.1:0 --quiet EXTRA...` and returns it with the
/// URL from its banner (`ws://127.0.0.1:PORT/`).
pub fn start_broker(extra: &[&str]) -> (Proc, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirecheck-broker"));
    cmd.args(["--listen", "127.0.0.1:0", "--quiet"]).args(extra);
    spawn_broker(cmd)
}

/// Starts `cmd` (which runs the broker and lets it print its banner on stdout) and returns
/// it with the URL from the banner.
pub fn spawn_broker(cmd: Command) -> (Proc, String) {
    spawn_server(cmd, "wirecheck-broker")
}

/// Starts `cmd`, a server binary `name` whose first stdout line is
/// "NAME listening on URL", and returns it with the URL.
pub fn spawn_server(mut cmd: Command, name: &str) -> (Proc, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix(&format!("{name} listening on "))
        .unwrap_or_else(|| panic!("unexpected banner {line:?}"))
        .to_owned();
    (Proc { child }, url)
}

/// `ws://127.0.0.1:PORT/` → `127.0.0.1:PORT`.
#[allow(dead_code)]
pub fn addr_of(url: &str) -> String {
    url.trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned()
}

/// A raw WebSocket client of the broker, speaking the protocol's messages.
#[allow(dead_code)]
pub mod raw {
    use futures_util::{SinkExt, StreamExt};
    use std::time::Duration;
    use tokio_tungstenite::tungstenite::Message as Ws;
    use wirecheck_core::wire::{Dir, Message};

    pub type Conn = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    pub async fn send(ws: &mut Conn, m: &Message) {
        ws.send(Ws::Text(m.encode().into())).await.unwrap();
    }

    /// Queues `m` without flushing (a burst goes out in one `flush`).
    pub async fn feed(ws: &mut Conn, m: &Message) {
        ws.feed(Ws::Text(m.encode().into())).await.unwrap();
    }

    /// The next protocol message, or `None` when the connection ends (or errs) first;
    /// panics when nothing comes within 10 s.
    pub async fn next(ws: &mut Conn) -> Option<Message> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("no frame within 10s");
            match frame {
                Some(Ok(Ws::Text(t))) => {
                    return Some(Message::decode(t.as_str()).expect("a valid message"))
                }
                Some(Ok(Ws::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn recv(ws: &mut Conn) -> Message {
        next(ws).await.expect("the connection ended")
    }

    pub async fn connect(addr: &str) -> Conn {
        tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .expect("connect")
            .0
    }

    pub async fn register(addr: &str, id: &str) -> Conn {
        let mut ws = connect(addr).await;
        send(
            &mut ws,
            &Message::Hello {
                client: id.into(),
                token: None,
            },
        )
        .await;
        assert_eq!(recv(&mut ws).await, Message::Welcome { client: id.into() });
        ws
    }

    pub fn start(req: &str, channel: &str, body: &str, end: bool) -> Message {
        Message::Start {
            req: req.into(),
            channel: channel.into(),
            dir: Dir::Request,
            body: body.into(),
            end,
        }
    }

    pub fn receive(channel: &str) -> Message {
        Message::Receive {
            channel: channel.into(),
        }
    }

    /// Whether the connection still answers a ping (it was not closed by the broker).
    pub async fn alive(ws: &mut Conn) -> bool {
        if ws
            .send(Ws::Text(Message::Ping { nonce: 77 }.encode().into()))
            .await
            .is_err()
        {
            return false;
        }
        loop {
            match next(ws).await {
                Some(Message::Pong { nonce: 77 }) => return true,
                Some(_) => {}
                None => return false,
            }
        }
    }
}
