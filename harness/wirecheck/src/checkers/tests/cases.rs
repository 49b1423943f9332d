//! Synthetic traces that make checkers fire, and a clean one that must not.

use super::*;

pub(super) fn broadcast_and_misrouted_response() -> Case {
    let s = scenario(vec![
        ("b", HostKind::Scripted(crate::model::ScriptedSpec::Server)),
        ("s", client("s", &["b"])),
        ("w1", client("w1", &["b"])),
        ("w2", client("w2", &["b"])),
    ]);
    let ev = vec![
        recv(1, "s", "b", Message::Welcome { client: "s".into() }),
        recv(
            2,
            "b",
            "w1",
            Message::Receive {
                channel: "jobs".into(),
            },
        ),
        recv(
            2,
            "b",
            "w2",
            Message::Receive {
                channel: "jobs".into(),
            },
        ),
        recv(3, "b", "s", start("r1", Dir::Request, "x")),
        recv(4, "w1", "b", start("r1", Dir::Request, "x")),
        recv(4, "w2", "b", start("r1", Dir::Request, "x")),
        recv(5, "b", "w1", start("r1", Dir::Response, "y")),
        recv(6, "w2", "b", start("r1", Dir::Response, "y")),
    ];
    Case::new(s, ev, BTreeMap::new())
}

#[test]
fn broadcast_and_misrouted_response_fire() {
    let v = broadcast_and_misrouted_response().run();
    let r = rules_of(&v);
    assert!(r.contains(&"BRK-2"), "{v:#?}");
    assert!(r.contains(&"BRK-4"), "{v:#?}");
    assert!(v
        .iter()
        .any(|x| x.rule == "BRK-2" && x.events == vec![4, 5]));
}

pub(super) fn registration_without_welcome_and_leaks() -> Case {
    let s = scenario(vec![
        ("b", HostKind::Broker(Default::default())),
        ("app", client("app", &["b"])),
    ]);
    let ev = vec![
        life(
            0,
            "app",
            Lifecycle::Connecting {
                to: ep("b"),
                attempt: 1,
            },
        ),
        recv(
            2,
            "app",
            "b",
            Message::Error {
                req: None,
                code: "unauthorized".into(),
                message: String::new(),
            },
        ),
        life(2, "app", Lifecycle::Registered { to: ep("b") }),
        Event {
            at: ms(3),
            host: "app".into(),
            kind: EventKind::Call {
                id: "r1".into(),
                call: req_call(),
                deadline: Some(ms(1003)),
            },
        },
        Event {
            at: ms(1003),
            host: "app".into(),
            kind: EventKind::Result {
                id: "r1".into(),
                outcome: Outcome::Fails(FailKind::Timeout),
            },
        },
        Event {
            at: ms(1004),
            host: "app".into(),
            kind: EventKind::Result {
                id: "r1".into(),
                outcome: Outcome::Ok("x".into()),
            },
        },
    ];
    let finals = BTreeMap::from([(
        "app".to_string(),
        HostFinal {
            running: true,
            pending_ids: Some(vec!["r1".into()]),
            ..Default::default()
        },
    )]);
    Case::new(s, ev, finals)
}

#[test]
fn registration_without_welcome_and_leaks_fire() {
    let v = registration_without_welcome_and_leaks().run();
    let r = rules_of(&v);
    for rule in ["AUTH-1", "MUX-3", "MUX-5"] {
        assert!(r.contains(&rule), "{rule} missing from {v:#?}");
    }
}

pub(super) fn reconnect_storm() -> Case {
    let s = scenario(vec![
        ("p", HostKind::Broker(Default::default())),
        ("q", HostKind::Broker(Default::default())),
        ("app", client("app", &["p", "q"])),
    ]);
    let ev = vec![
        life(
            0,
            "app",
            Lifecycle::Connecting {
                to: ep("p"),
                attempt: 1,
            },
        ),
        life(5, "app", Lifecycle::Registered { to: ep("p") }),
        life(
            100,
            "app",
            Lifecycle::Disconnected {
                reason: "x".into(),
                failed: 0,
            },
        ),
        life(
            101,
            "app",
            Lifecycle::Connecting {
                to: ep("q"),
                attempt: 2,
            },
        ),
    ];
    Case::new(s, ev, BTreeMap::new())
}

#[test]
fn reconnect_storm_fires_backoff_rate_limit_and_order() {
    let v = reconnect_storm().run();
    let r = rules_of(&v);
    for rule in ["CONN-2", "CONN-3", "CONN-4"] {
        assert!(r.contains(&rule), "{rule} missing from {v:#?}");
    }
}

pub(super) fn heartbeat_silence() -> Case {
    let mut spec = client("app", &["b"]);
    if let HostKind::Client(c) = &mut spec {
        c.heartbeat = Some(crate::model::HeartbeatSpec {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(3),
        });
    }
    let s = scenario(vec![
        ("b", HostKind::Broker(Default::default())),
        ("app", spec),
    ]);
    let ev = vec![
        recv(
            1,
            "b",
            "app",
            Message::Hello {
                client: "app".into(),
                token: None,
            },
        ),
        recv(
            2,
            "app",
            "b",
            Message::Welcome {
                client: "app".into(),
            },
        ),
        life(2, "app", Lifecycle::Registered { to: ep("b") }),
        recv(1000, "app", "b", Message::Pong { nonce: 1 }),
        // Nothing for 9s, and no disconnect: the heartbeat should have fired at ~4s.
        recv(10_000, "app", "b", Message::Pong { nonce: 9 }),
    ];
    Case::new(s, ev, BTreeMap::new())
}

#[test]
fn silence_past_the_heartbeat_timeout_fires_conn1() {
    let v = heartbeat_silence().run();
    // The 9s gap, and the silence after the last frame until the end of the run.
    assert_eq!(rules_of(&v), vec!["CONN-1", "CONN-1"], "{v:#?}");
    assert_eq!(v[0].events, vec![3, 4]);
}

pub(super) fn late_calls_unanswered_requests_slow_registration_and_oversize() -> Case {
    let mut app = client("app", &["b"]);
    if let HostKind::Client(c) = &mut app {
        c.serve = vec![crate::model::ServeSpec {
            channel: "jobs".into(),
            reply: crate::model::Reply::Echo,
            delay: Duration::ZERO,
            chunks: 0,
            concurrency: 1,
        }];
    }
    let broker = HostKind::Broker(crate::model::BrokerSpec {
        max_message: 16,
        ..Default::default()
    });
    let s = scenario(vec![
        ("b", broker),
        ("app", app),
        ("p", client("p", &["b"])),
    ]);
    let big = Message::Receive {
        channel: "x".repeat(40),
    };
    let ev = vec![
        life(
            0,
            "app",
            Lifecycle::Connecting {
                to: ep("b"),
                attempt: 1,
            },
        ),
        recv(
            1,
            "b",
            "app",
            Message::Hello {
                client: "app".into(),
                token: None,
            },
        ),
        recv(
            1,
            "b",
            "p",
            Message::Hello {
                client: "p".into(),
                token: None,
            },
        ),
        recv(2, "p", "b", Message::Welcome { client: "p".into() }),
        // Registered 20s after connecting, with a 10s registration timeout: AUTH-2.
        recv(
            20_000,
            "app",
            "b",
            Message::Welcome {
                client: "app".into(),
            },
        ),
        life(20_000, "app", Lifecycle::Registered { to: ep("b") }),
        // A call that outlives its deadline: MUX-8.
        Event {
            at: ms(20_002),
            host: "app".into(),
            kind: EventKind::Call {
                id: "r1".into(),
                call: req_call(),
                deadline: Some(ms(21_002)),
            },
        },
        // An oversized message the broker never answers: BRK-10.
        recv(20_003, "b", "p", big),
        // A whole request delivered to a serving client (well after registration),
        // never answered: MUX-9.
        recv(25_000, "app", "b", start("q1", Dir::Request, "x")),
        Event {
            at: ms(30_000),
            host: "app".into(),
            kind: EventKind::Result {
                id: "r1".into(),
                outcome: Outcome::Fails(FailKind::Timeout),
            },
        },
    ];
    Case::new(s, ev, BTreeMap::new())
}

#[test]
fn late_calls_unanswered_requests_slow_registration_and_oversize_fire() {
    let v = late_calls_unanswered_requests_slow_registration_and_oversize().run();
    let r = rules_of(&v);
    for rule in ["AUTH-2", "MUX-9", "MUX-8", "BRK-10"] {
        assert!(r.contains(&rule), "{rule} missing from {v:#?}");
    }
}

pub(super) fn clean_exchange() -> Case {
    let s = scenario(vec![
        ("b", HostKind::Broker(Default::default())),
        ("app", client("app", &["b"])),
        ("w", client("w", &["b"])),
    ]);
    let ev = vec![
        life(
            0,
            "app",
            Lifecycle::Connecting {
                to: ep("b"),
                attempt: 1,
            },
        ),
        recv(
            1,
            "b",
            "app",
            Message::Hello {
                client: "app".into(),
                token: None,
            },
        ),
        recv(
            1,
            "b",
            "w",
            Message::Hello {
                client: "w".into(),
                token: None,
            },
        ),
        recv(
            2,
            "app",
            "b",
            Message::Welcome {
                client: "app".into(),
            },
        ),
        life(2, "app", Lifecycle::Registered { to: ep("b") }),
        recv(
            3,
            "b",
            "w",
            Message::Receive {
                channel: "jobs".into(),
            },
        ),
        Event {
            at: ms(3),
            host: "app".into(),
            kind: EventKind::Call {
                id: "r1".into(),
                call: req_call(),
                deadline: Some(ms(1003)),
            },
        },
        recv(4, "b", "app", start("r1", Dir::Request, "x")),
        recv(5, "w", "b", start("r1", Dir::Request, "x")),
        recv(6, "b", "w", start("r1", Dir::Response, "y")),
        recv(7, "app", "b", start("r1", Dir::Response, "y")),
        Event {
            at: ms(7),
            host: "app".into(),
            kind: EventKind::Result {
                id: "r1".into(),
                outcome: Outcome::Ok("y".into()),
            },
        },
    ];
    Case::new(s, ev, BTreeMap::new())
}

#[test]
fn clean_exchange_has_no_violations() {
    let v = clean_exchange().run();
    assert!(v.is_empty(), "{v:#?}");
}
