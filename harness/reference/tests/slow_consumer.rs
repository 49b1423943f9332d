//! BRK-9 over loopback with the broker binary: a peer that keeps reading is never closed
//! as a slow consumer, by a burst or by another client's traffic (no cascades), and one
//! that stops reading is closed at once, its socket reset. Bounded: at most a few hundred
//! messages per test, every wait has a limit.

mod support;

use futures_util::SinkExt;
use std::time::Duration;
use support::raw::{self, alive, feed, next, receive, recv, register, start};
use support::{addr_of, start_broker};
use wirecheck_core::wire::{code, Dir, Message};

const N: usize = 100;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A worker with `N` credits on `jobs` and a sender that sends it `N` requests, in one
/// burst (`burst`) or in bursts of 16 that the worker reads before the next (so only the
/// later steps of a test send more than 16 messages at once); returns both once the worker
/// has read all `N` starts.
async fn assigned(addr: &str, burst: bool) -> (raw::Conn, raw::Conn) {
    let mut worker = register(addr, "worker").await;
    for _ in 0..N {
        feed(&mut worker, &receive("jobs")).await;
    }
    worker.flush().await.unwrap();
    let mut app = register(addr, "app").await;
    // The credits are in before the requests: `$info` is answered after them.
    raw::send(&mut app, &start("i0", "$info", "worker", true)).await;
    assert!(matches!(recv(&mut app).await, Message::Start { .. }));
    let step = if burst { N } else { 16 };
    for first in (0..N).step_by(step) {
        let batch = first..(first + step).min(N);
        for i in batch.clone() {
            feed(&mut app, &start(&format!("r{i}"), "jobs", "x", true)).await;
        }
        app.flush().await.unwrap();
        for i in batch {
            match next(&mut worker).await {
                Some(Message::Start { req, .. }) => assert_eq!(req, format!("r{i}")),
                other => panic!("worker got {other:?} as request {i}: closed as a slow consumer?"),
            }
        }
    }
    (worker, app)
}

#[test]
fn a_burst_to_a_reading_receiver_does_not_close_it() {
    let (_b, url) = start_broker(&[]);
    rt().block_on(async {
        let (mut worker, mut app) = assigned(&addr_of(&url), true).await;
        for i in 0..N {
            feed(
                &mut worker,
                &Message::Start {
                    req: format!("r{i}"),
                    channel: String::new(),
                    dir: Dir::Response,
                    body: "ok".into(),
                    end: true,
                },
            )
            .await;
        }
        worker.flush().await.unwrap();
        for _ in 0..N {
            assert!(matches!(
                recv(&mut app).await,
                Message::Start {
                    dir: Dir::Response,
                    ..
                }
            ));
        }
        assert!(alive(&mut worker).await, "the worker was cut off");
    });
}

#[test]
fn a_receiver_leaving_with_many_requests_does_not_close_their_sender() {
    let (_b, url) = start_broker(&[]);
    rt().block_on(async {
        let (worker, mut app) = assigned(&addr_of(&url), false).await;
        drop(worker);
        for _ in 0..N {
            match next(&mut app).await {
                Some(Message::Error { code: c, .. }) => assert_eq!(c, code::RECEIVER_GONE),
                other => panic!("sender got {other:?}: closed as a slow consumer?"),
            }
        }
        assert!(alive(&mut app).await, "the sender was cut off");
    });
}

#[test]
fn a_sender_leaving_with_many_requests_does_not_close_their_receiver() {
    let (_b, url) = start_broker(&[]);
    rt().block_on(async {
        let (mut worker, app) = assigned(&addr_of(&url), false).await;
        drop(app);
        for _ in 0..N {
            match next(&mut worker).await {
                Some(Message::Cancel { .. }) => {}
                other => panic!("receiver got {other:?}: closed as a slow consumer?"),
            }
        }
        assert!(alive(&mut worker).await, "the receiver was cut off");
    });
}

#[test]
fn a_request_with_many_chunks_queued_does_not_close_the_receiver_that_takes_it() {
    let (_b, url) = start_broker(&[]);
    rt().block_on(async {
        let addr = addr_of(&url);
        let mut app = register(&addr, "app").await;
        feed(&mut app, &start("big", "jobs", "head", false)).await;
        for seq in 0..N as u64 {
            let data = format!("part {seq}");
            feed(
                &mut app,
                &Message::Chunk {
                    req: "big".into(),
                    dir: Dir::Request,
                    seq,
                    data,
                },
            )
            .await;
        }
        feed(
            &mut app,
            &Message::End {
                req: "big".into(),
                dir: Dir::Request,
            },
        )
        .await;
        app.flush().await.unwrap();
        // Everything is buffered at the broker before the receiver asks.
        raw::send(&mut app, &start("i0", "$info", "app", true)).await;
        assert!(matches!(recv(&mut app).await, Message::Start { .. }));
        let mut worker = register(&addr, "worker").await;
        raw::send(&mut worker, &receive("jobs")).await;
        for i in 0..N + 2 {
            let m = next(&mut worker).await;
            assert!(
                matches!(
                    m,
                    Some(Message::Start { .. } | Message::Chunk { .. } | Message::End { .. })
                ),
                "frame {i}: {m:?}: closed as a slow consumer?"
            );
        }
        assert!(alive(&mut worker).await, "the receiver was cut off");
    });
}

/// The broker's side of the TCP connection between the broker's `port` and the client's
/// `client_port`, as its state in /proc/net/tcp (01 is ESTABLISHED), if it exists.
fn broker_side_state(port: u16, client_port: u16) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let local = u16::from_str_radix(f.get(1)?.split(':').nth(1)?, 16).ok()?;
        let remote = u16::from_str_radix(f.get(2)?.split(':').nth(1)?, 16).ok()?;
        (local == port && remote == client_port).then(|| f[3].to_owned())
    })
}

/// A receiver that stops reading is killed as a slow consumer, and its socket is reset
/// then and there (nothing stays ESTABLISHED holding buffers), while the senders that
/// flooded it keep their connections. Eight senders share the flood, so that none of them
/// gets more than a few `receiver_gone`s at once.
#[test]
fn a_receiver_that_stops_reading_is_closed_at_once() {
    let (_b, url) = start_broker(&["--write-timeout", "2"]);
    rt().block_on(async {
        let addr = addr_of(&url);
        let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
        let mut sleeper = register(&addr, "sleeper").await;
        let sleeper_port = match sleeper.get_ref() {
            tokio_tungstenite::MaybeTlsStream::Plain(s) => s.local_addr().unwrap().port(),
            _ => unreachable!(),
        };
        for _ in 0..1000 {
            feed(&mut sleeper, &receive("jobs")).await;
        }
        sleeper.flush().await.unwrap();
        let mut senders = Vec::new();
        for k in 0..8 {
            senders.push(register(&addr, &format!("app{k}")).await);
        }
        let body = "x".repeat(60_000);
        let mut gone = false;
        // At most 1000 × 60 KB; the sleeper's buffers hold a few MB at most.
        for i in 0..1000 {
            let app = &mut senders[i % 8];
            raw::send(app, &start(&format!("r{i}"), "jobs", &body, true)).await;
            if i % 8 != 7 {
                continue;
            }
            raw::send(app, &start(&format!("i{i}"), "$info", "sleeper", true)).await;
            loop {
                match recv(app).await {
                    Message::Start { req, .. } if req == format!("i{i}") => break,
                    Message::Error {
                        req: Some(r),
                        code: c,
                        ..
                    } if r == format!("i{i}") => {
                        assert_eq!(c, code::UNKNOWN_CLIENT);
                        gone = true;
                        break;
                    }
                    Message::Error { code: c, .. } => assert_eq!(c, code::RECEIVER_GONE),
                    other => panic!("a sender got {other:?}"),
                }
            }
            if gone {
                break;
            }
        }
        assert!(gone, "the sleeper was never closed as a slow consumer");
        let mut state = broker_side_state(port, sleeper_port);
        for _ in 0..50 {
            if state.as_deref() != Some("01") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            state = broker_side_state(port, sleeper_port);
        }
        assert_ne!(
            state.as_deref(),
            Some("01"),
            "the killed consumer's socket is still ESTABLISHED 5 s later"
        );
        for app in &mut senders {
            assert!(alive(app).await, "a sender was cut off");
        }
        drop(sleeper);
    });
}
