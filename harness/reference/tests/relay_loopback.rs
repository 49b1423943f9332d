//! The relay binary over real loopback TCP: two broker binaries behind a `wirecheck-relay`,
//! reference multiplexers connected to the relay; the primary is killed, the clients are
//! moved to the secondary without reconnecting, and their new requests succeed there.
//! Bounded: every wait has a deadline, every process is killed when the test ends.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wirecheck_reference::client::{Answer, Client, ClientConfig, Request, TcpConnector};
use wirecheck_reference::NoObserver;

fn addr_of(url: &str) -> String {
    url.strip_prefix("ws://")
        .and_then(|s| s.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected URL {url:?}"))
        .to_owned()
}

/// Starts `wirecheck-relay` in front of `backends`, with quick probes and failover.
fn start_relay(backends: &[&str]) -> (support::Proc, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirecheck-relay"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--min-gap",
        "0.5",
        "--probe-interval",
        "0.2",
        "--connect-timeout",
        "2",
    ]);
    for b in backends {
        cmd.args(["--backend", b]);
    }
    let (proc, url) = support::spawn_server(cmd, "wirecheck-relay");
    (proc, addr_of(&url))
}

fn request(id: &str, body: &str) -> Request {
    Request {
        id: id.into(),
        channel: "jobs".into(),
        body: body.into(),
        chunks: vec![],
        timeout: Some(Duration::from_secs(5)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_move_to_the_secondary_when_the_primary_dies() {
    let (mut primary, p_url) = support::start_broker(&[]);
    let (_secondary, s_url) = support::start_broker(&[]);
    let (_relay, relay) = start_relay(&[&addr_of(&p_url), &addr_of(&s_url)]);

    let (worker, first) = Client::start(
        ClientConfig::new("worker", vec![relay.clone()]),
        TcpConnector,
        Arc::new(NoObserver),
    );
    assert_eq!(first.await.unwrap(), Ok("welcome".into()));
    let mut jobs = worker.serve("jobs", 4);
    let w = worker.clone();
    tokio::spawn(async move {
        while let Some(inc) = jobs.recv().await {
            let body = inc.body.to_uppercase();
            let _ = w.respond(&inc, Answer::Parts(vec![body])).await;
        }
    });
    let mut apps = Vec::new();
    for n in 0..3 {
        let (app, first) = Client::start(
            ClientConfig::new(format!("app{n}"), vec![relay.clone()]),
            TcpConnector,
            Arc::new(NoObserver),
        );
        assert_eq!(first.await.unwrap(), Ok("welcome".into()));
        apps.push(app);
    }
    for (n, app) in apps.iter().enumerate() {
        let out = app.request(request(&format!("before{n}"), "x")).await;
        assert_eq!(out, Ok("X".into()), "app{n} through the primary");
    }

    // Kill the primary: every backend connection of the relay to it resets.
    let _ = primary.child.kill();
    let _ = primary.child.wait();

    // Each app's next request succeeds on the secondary, within a bound: a request made
    // while the relay is still moving it is held and flushed there, or (if it reached the
    // dead primary) answered `backend_gone` at once, and then the next one goes through.
    let deadline = Instant::now() + Duration::from_secs(20);
    for (n, app) in apps.iter().enumerate() {
        let mut k = 0;
        loop {
            k += 1;
            let out = app.request(request(&format!("after{n}-{k}"), "y")).await;
            if out == Ok("Y".into()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "app{n} not served after the primary died: last outcome {out:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for (n, app) in apps.iter().enumerate() {
        let s = app.stats();
        assert_eq!(
            (s.reconnects, s.disconnects),
            (0, 0),
            "app{n} kept its connection to the relay"
        );
    }
    assert_eq!(worker.stats().reconnects, 0, "the worker was moved too");
    // The secondary holds each of them now (asked directly, with `$info`).
    let (probe, first) = Client::start(
        ClientConfig::new("probe", vec![addr_of(&s_url)]),
        TcpConnector,
        Arc::new(NoObserver),
    );
    assert_eq!(first.await.unwrap(), Ok("welcome".into()));
    for id in ["worker", "app0", "app1", "app2"] {
        let info = probe
            .request(Request {
                id: format!("info-{id}"),
                channel: "$info".into(),
                body: id.into(),
                chunks: vec![],
                timeout: Some(Duration::from_secs(5)),
            })
            .await
            .unwrap_or_else(|e| panic!("$info {id}: {e}"));
        assert!(info.contains("\"connected\":true"), "{id}: {info}");
    }
}

#[test]
fn bad_arguments_are_refused_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_wirecheck-relay"))
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least one --backend"), "{err}");
    assert!(err.contains("usage: wirecheck-relay"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_wirecheck-relay"))
        .args(["--backend", "127.0.0.1:1", "--max-attempts", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
