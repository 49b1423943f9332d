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

/// A connection that never registers is closed at the registration deadline, however
/// often it pings (pings keep the idle timeout away, not the deadline).
#[test]
fn an_unregistered_connection_that_pings_is_closed_at_the_registration_deadline() {
    let (_broker, url) = start_broker(&["--register-timeout", "1", "--idle-timeout", "30"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let mut told = None;
        // Up to 5 s of pings every 200 ms, reading what comes back.
        for _ in 0..25 {
            let closed = ws.send(Ws::Ping(vec![1].into())).await.is_err()
                || match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
                    Ok(Some(Ok(Ws::Text(t)))) => {
                        told = Some(t.to_string());
                        false
                    }
                    Ok(Some(Ok(Ws::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => true,
                    _ => false,
                };
            if closed {
                let told = told.expect("an error before the close");
                assert!(told.contains("not_registered"), "{told}");
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("an unregistered connection that pings was still open after 5 s (told: {told:?})");
    });
}

/// Failed registrations are limited per address: after `--max-auth-failures`, the
/// address's next connections are refused before they can guess again.
#[test]
fn token_guessing_is_limited_per_address() {
    let (_broker, url) = start_broker(&["--token", "app=right", "--max-auth-failures", "3"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let answered = rt.block_on(async {
        let mut answered = 0;
        for i in 0..10 {
            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await else {
                continue;
            };
            let hello = Message::Hello {
                client: "app".into(),
                token: Some(format!("guess{i}")),
            };
            if ws.send(Ws::Text(hello.encode().into())).await.is_err() {
                continue;
            }
            if let Ok(Some(Ok(Ws::Text(t)))) =
                tokio::time::timeout(Duration::from_secs(5), ws.next()).await
            {
                assert!(t.contains("unauthorized"), "{t}");
                answered += 1;
            }
        }
        answered
    });
    assert_eq!(answered, 3, "guesses answered out of 10");
}

/// Requests parked without a receiver are bounded per client: past the limit (1,000 by
/// default) a `start` is answered `error queue_full` for that request.
#[test]
fn parked_requests_are_bounded_per_client() {
    use support::raw::{feed, recv, register, start};
    let (_broker, url) = start_broker(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut app = register(&support::addr_of(&url), "app").await;
        for i in 0..1001 {
            feed(&mut app, &start(&format!("p{i}"), "nobody", "x", true)).await;
        }
        app.flush().await.unwrap();
        match recv(&mut app).await {
            Message::Error { req, code, .. } => {
                assert_eq!(
                    (req.as_deref(), code.as_str()),
                    (Some("p1000"), "queue_full")
                )
            }
            other => panic!("expected queue_full for p1000, got {other:?}"),
        }
    });
}

/// Freeing a connection's state costs in proportion to what it owns: a sender leaving with
/// 30,000 parked requests does not freeze the broker for everyone else.
#[test]
fn a_sender_leaving_with_many_parked_requests_does_not_freeze_the_broker() {
    use support::raw::{feed, recv, register, start};
    let (_broker, url) = start_broker(&[
        "--max-parked-per-client",
        "100000",
        "--max-parked-per-channel",
        "100000",
    ]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let addr = support::addr_of(&url);
        let mut other = register(&addr, "other").await;
        let mut parker = register(&addr, "parker").await;
        for i in 0..30_000 {
            feed(&mut parker, &start(&format!("p{i:05}"), "nobody", "", true)).await;
        }
        // Everything is parked once `$info` about it is answered.
        feed(&mut parker, &start("i", "$info", "parker", true)).await;
        parker.flush().await.unwrap();
        assert!(matches!(recv(&mut parker).await, Message::Start { .. }));
        drop(parker);
        // The broker frees 30,000 requests; `other` must still be answered promptly
        // (`recv` gives up after 10 s).
        for nonce in 0..5 {
            support::raw::send(&mut other, &Message::Ping { nonce }).await;
            assert_eq!(recv(&mut other).await, Message::Pong { nonce });
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// A connection's read buffer is sized to the largest message the broker accepts, not
/// tungstenite's 128 KiB default: 400 connections that each sent a ping cost the broker
/// well under 64 KiB each.
#[test]
fn open_connections_cost_a_few_kib_each() {
    let (broker, url) = start_broker(&["--max-message", "4096"]);
    let pid = broker.child.id();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Warm up the broker's runtime and allocator with a few connections first.
        let mut conns = Vec::new();
        for _ in 0..20 {
            conns.push(support::raw::connect(&support::addr_of(&url)).await);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = rss_kib(pid);
        for _ in 0..400 {
            let mut ws = support::raw::connect(&support::addr_of(&url)).await;
            ws.send(Ws::Ping(vec![1; 8].into())).await.unwrap();
            assert!(matches!(ws.next().await, Some(Ok(Ws::Pong(_)))));
            conns.push(ws);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let per_conn = (rss_kib(pid) - before) / 400;
        eprintln!("each open connection costs the broker {per_conn} KiB");
        assert!(
            per_conn < 64,
            "each open connection costs the broker {per_conn} KiB"
        );
    });
}
