//! The broker binary under abuse over loopback (bounded in count and time): it survives
//! running out of file descriptors and refuses connections beyond its limit at once.

mod support;

use futures_util::{SinkExt, StreamExt};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{spawn_broker, start_broker};
use tokio_tungstenite::tungstenite::Message as Ws;
use wirecheck_core::wire::Message;

/// Registers `client` on `url` and returns whether `welcome` came back within 5 s.
async fn registers(url: &str, client: &str) -> bool {
    let Ok(Ok((mut ws, _))) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(url),
    )
    .await
    else {
        return false;
    };
    let hello = Message::Hello {
        client: client.into(),
        token: None,
    };
    if ws.send(Ws::Text(hello.encode().into())).await.is_err() {
        return false;
    }
    matches!(
        tokio::time::timeout(Duration::from_secs(5), ws.next()).await,
        Ok(Some(Ok(Ws::Text(t)))) if t.as_str().contains("welcome")
    )
}

#[test]
fn connections_beyond_the_limit_are_refused_at_once_and_the_rest_served() {
    let (_broker, url) = start_broker(&["--max-connections", "2"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (a, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let (b, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let third = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        .expect("refused at once, not left hanging");
        assert!(third.is_err(), "a third connection was served");
        drop(a);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(registers(&url, "late").await, "a freed slot serves again");
        drop(b);
    });
}

#[test]
fn running_out_of_file_descriptors_does_not_end_the_broker() {
    // 48 descriptors: the broker runs out after a few dozen connections.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -n 48 && exec {} --listen 127.0.0.1:0 --quiet",
            env!("CARGO_BIN_EXE_wirecheck-broker")
        ))
        .stderr(Stdio::null());
    let (mut broker, url) = spawn_broker(cmd);
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned();
    let held: Vec<std::net::TcpStream> = (0..80)
        .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
        .collect();
    assert!(held.len() > 48, "only {} connections opened", held.len());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        broker.child.try_wait().unwrap().is_none(),
        "the broker exited when it ran out of file descriptors"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(1500));
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert!(
        rt.block_on(registers(&url, "after")),
        "the broker serves again once descriptors are free"
    );
}

#[test]
fn a_half_sent_handshake_is_closed_at_the_handshake_deadline() {
    use std::io::{Read, Write};
    let (_broker, url) = start_broker(&["--handshake-timeout", "1"]);
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Without a deadline the read would wait out its own 10 s timeout and fail.
    let mut buf = [0u8; 64];
    let n = s
        .read(&mut buf)
        .expect("closed by the broker, not left hanging until the read timeout");
    assert_eq!(n, 0, "the broker answered a half handshake");
}
