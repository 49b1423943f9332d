//! The broker binary and the multiplexer over real loopback TCP.

mod support;

use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as Ws;
use wirecheck_core::pending::CallError;
use wirecheck_core::wire::{Dir, Message};
use wirecheck_reference::client::{Answer, Client, ClientConfig, Request, TcpConnector};
use wirecheck_reference::NoObserver;

struct Broker {
    _proc: support::Proc,
    addr: String,
}

/// Starts the real `wirecheck-broker` binary on a free loopback port.
fn start_broker(extra: &[&str]) -> Broker {
    let (proc_, url) = support::start_broker(extra);
    let addr = url
        .strip_prefix("ws://")
        .and_then(|s| s.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected URL {url:?}"))
        .to_owned();
    Broker { _proc: proc_, addr }
}

use support::raw::{recv, register, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_clients_register_and_round_trip_through_the_binary() {
    let broker = start_broker(&[]);
    let mut worker = register(&broker.addr, "worker").await;
    let mut app = register(&broker.addr, "app").await;
    send(
        &mut worker,
        &Message::Receive {
            channel: "jobs".into(),
        },
    )
    .await;
    send(
        &mut app,
        &Message::Start {
            req: "r1".into(),
            channel: "jobs".into(),
            dir: Dir::Request,
            body: "ping".into(),
            end: true,
        },
    )
    .await;
    match recv(&mut worker).await {
        Message::Start {
            req,
            body,
            dir: Dir::Request,
            end: true,
            ..
        } => {
            assert_eq!((req.as_str(), body.as_str()), ("r1", "ping"));
        }
        other => panic!("worker got {other:?}"),
    }
    let answer = Message::Start {
        req: "r1".into(),
        channel: String::new(),
        dir: Dir::Response,
        body: "pong".into(),
        end: true,
    };
    send(&mut worker, &answer).await;
    assert_eq!(recv(&mut app).await, answer);
    // A second connection cannot take over `app`.
    let (mut thief, _) = tokio_tungstenite::connect_async(format!("ws://{}/", broker.addr))
        .await
        .unwrap();
    send(
        &mut thief,
        &Message::Hello {
            client: "app".into(),
            token: None,
        },
    )
    .await;
    assert!(
        matches!(recv(&mut thief).await, Message::Error { code, .. } if code == "client_id_taken")
    );
    // Malformed input gets an error and the connection keeps being served.
    app.send(Ws::Text("{oops".into())).await.unwrap();
    assert!(matches!(recv(&mut app).await, Message::Error { code, .. } if code == "malformed"));
    send(&mut app, &Message::Ping { nonce: 7 }).await;
    assert_eq!(recv(&mut app).await, Message::Pong { nonce: 7 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiplexer_over_real_tcp() {
    let broker = start_broker(&["--token", "app=s3cret", "--token", "worker=w"]);
    let mut wcfg = ClientConfig::new("worker", vec![broker.addr.clone()]);
    wcfg.token = Some("w".into());
    let (worker, first) = Client::start(wcfg, TcpConnector, Arc::new(NoObserver));
    assert_eq!(first.await.unwrap(), Ok("welcome".into()));
    let mut jobs = worker.serve("jobs", 2);
    let w = worker.clone();
    tokio::spawn(async move {
        while let Some(inc) = jobs.recv().await {
            let body = inc.body.to_uppercase();
            w.respond(&inc, Answer::Parts(vec![body, "!".into()]))
                .await
                .unwrap();
        }
    });
    let mut cfg = ClientConfig::new("app", vec![broker.addr.clone()]);
    cfg.token = Some("s3cret".into());
    let (app, first) = Client::start(cfg, TcpConnector, Arc::new(NoObserver));
    assert_eq!(first.await.unwrap(), Ok("welcome".into()));
    let calls = (0..20).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            app.request(Request {
                id: format!("r{i}"),
                channel: "jobs".into(),
                body: format!("m{i}"),
                chunks: vec!["-x".into()],
                timeout: Some(Duration::from_secs(10)),
            })
            .await
        })
    });
    for (i, call) in calls.enumerate() {
        assert_eq!(call.await.unwrap(), Ok(format!("M{i}-X!")));
    }
    assert_eq!(app.stats().pending.pending, 0);
    assert_eq!(app.stats().pending.completed, 20);
    // Wrong token: registration fails with the broker's code, not success.
    let mut bad = ClientConfig::new("intruder", vec![broker.addr.clone()]);
    bad.token = Some("guess".into());
    let (_c, first) = Client::start(bad, TcpConnector, Arc::new(NoObserver));
    assert!(
        matches!(first.await.unwrap(), Err(CallError::Rejected { code, .. }) if code == "unauthorized")
    );
}

/// The default log never prints a token (nor a body in full): a received message is
/// logged as its summary.
#[test]
fn the_log_keeps_tokens_out() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_wirecheck-broker"))
        .args(["--listen", "127.0.0.1:0", "--token", "app=s3cret-t0ken"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .trim()
        .trim_start_matches("wirecheck-broker listening on ws://")
        .trim_end_matches('/')
        .to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .unwrap();
        send(
            &mut ws,
            &Message::Hello {
                client: "app".into(),
                token: Some("s3cret-t0ken".into()),
            },
        )
        .await;
        assert!(matches!(recv(&mut ws).await, Message::Welcome { .. }));
    });
    let _ = child.kill();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let _ = child.wait();
    assert!(
        err.contains("hello app +token"),
        "the hello is logged:\n{err}"
    );
    assert!(
        !err.contains("s3cret-t0ken"),
        "the token leaked into the log:\n{err}"
    );
}

/// A message above the WebSocket layer's cap (4 x `--max-message`) cannot be read: the
/// broker closes with status 1009 ("message too big", RFC 6455 7.4.1), not an empty close.
/// Below the cap, an oversized message is answered `too_large` and the connection stays.
#[test]
fn a_message_beyond_the_websocket_cap_closes_with_1009() {
    let broker = start_broker(&["--max-message", "1024"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", broker.addr))
            .await
            .unwrap();
        // 2 KiB: above the protocol's maximum, below the WebSocket layer's cap (64 KiB).
        ws.send(Ws::Text("x".repeat(2048).into())).await.unwrap();
        assert!(matches!(recv(&mut ws).await, Message::Error { code, .. } if code == "too_large"));
        // 100 KiB: above the cap.
        ws.send(Ws::Text("x".repeat(100 * 1024).into()))
            .await
            .unwrap();
        let close = loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Ok(Some(Ok(Ws::Close(frame)))) => break frame,
                Ok(Some(Ok(_))) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        };
        let frame = close.expect("a close frame with a status code");
        assert_eq!(u16::from(frame.code), 1009, "{frame:?}");
    });
}
