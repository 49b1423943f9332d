//! Unit tests of the broker's decisions.

use super::*;

fn text(m: &Message) -> String {
    m.encode()
}

fn hello(b: &mut Broker, conn: ConnId, id: &str) {
    b.on_connect(conn);
    let out = b.on_message(
        conn,
        Message::Hello {
            client: id.into(),
            token: None,
        },
    );
    assert_eq!(
        out,
        vec![Action::Send(conn, Message::Welcome { client: id.into() })]
    );
}

fn start(req: &str, end: bool) -> Message {
    Message::Start {
        req: req.into(),
        channel: "jobs".into(),
        dir: Dir::Request,
        body: "b".into(),
        end,
    }
}

#[test]
fn nothing_before_hello_and_no_takeover() {
    let mut b = Broker::default();
    b.on_connect(1);
    let out = b.on_message(
        1,
        Message::Receive {
            channel: "x".into(),
        },
    );
    assert!(
        matches!(&out[..], [Action::Send(1, Message::Error { code, .. })] if code == code::NOT_REGISTERED)
    );
    hello(&mut b, 2, "app");
    b.on_connect(3);
    let out = b.on_message(
        3,
        Message::Hello {
            client: "app".into(),
            token: None,
        },
    );
    assert!(matches!(&out[1], Action::Close(3, _)));
    assert_eq!(b.client_of(2), Some("app"));
    b.check_invariants().unwrap();
}

#[test]
fn one_receiver_per_request_frames_in_order_then_unassigned() {
    let mut b = Broker::default();
    hello(&mut b, 1, "sender");
    hello(&mut b, 2, "rx1");
    hello(&mut b, 3, "rx2");
    assert!(b
        .on_message(
            2,
            Message::Receive {
                channel: "jobs".into()
            }
        )
        .is_empty());
    assert!(b
        .on_message(
            3,
            Message::Receive {
                channel: "jobs".into()
            }
        )
        .is_empty());
    let out = b.on_text(1, &text(&start("r1", false)));
    assert_eq!(out.len(), 1);
    assert!(matches!(out[0], Action::Send(2, _)));
    let chunk = Message::Chunk {
        req: "r1".into(),
        dir: Dir::Request,
        seq: 0,
        data: "x".into(),
    };
    assert_eq!(b.on_message(1, chunk.clone()), vec![Action::Send(2, chunk)]);
    // rx2 tries to answer r1: rejected, not routed.
    let spoof = Message::Start {
        req: "r1".into(),
        channel: String::new(),
        dir: Dir::Response,
        body: "evil".into(),
        end: true,
    };
    let out = b.on_message(3, spoof.clone());
    assert!(
        matches!(&out[..], [Action::Send(3, Message::Error { code, .. })] if code == code::NOT_ASSIGNED)
    );
    let out = b.on_message(2, spoof.clone());
    assert_eq!(out, vec![Action::Send(1, spoof)]);
    assert_eq!(b.stats().requests, 0);
    assert_eq!(b.stats().waiting, 1);
    b.check_invariants().unwrap();
}

#[test]
fn receiver_loss_and_sender_loss() {
    let mut b = Broker::default();
    hello(&mut b, 1, "s");
    hello(&mut b, 2, "r");
    b.on_message(
        2,
        Message::Receive {
            channel: "jobs".into(),
        },
    );
    b.on_message(1, start("r1", true));
    let out = b.on_disconnect(2);
    assert!(
        matches!(&out[..], [Action::Send(1, Message::Error { code, .. })] if code == code::RECEIVER_GONE)
    );
    hello(&mut b, 3, "r");
    b.on_message(
        3,
        Message::Receive {
            channel: "jobs".into(),
        },
    );
    b.on_message(1, start("r2", false));
    let out = b.on_disconnect(1);
    assert_eq!(
        out,
        vec![Action::Send(3, Message::Cancel { req: "r2".into() })]
    );
    let s = b.stats();
    assert_eq!((s.requests, s.connections, s.clients), (0, 1, 1));
    b.check_invariants().unwrap();
}

#[test]
fn queued_until_receive_and_malformed_rejected() {
    let mut b = Broker::new(BrokerConfig {
        max_message: 64,
        ..BrokerConfig::default()
    });
    hello(&mut b, 1, "s");
    hello(&mut b, 2, "r");
    assert!(b.on_message(1, start("r1", false)).is_empty());
    assert!(b
        .on_message(
            1,
            Message::End {
                req: "r1".into(),
                dir: Dir::Request
            }
        )
        .is_empty());
    assert_eq!(b.stats().queued, 1);
    let out = b.on_message(
        2,
        Message::Receive {
            channel: "jobs".into(),
        },
    );
    assert_eq!(out.len(), 2, "start and buffered end delivered together");
    let out = b.on_text(1, "{nope");
    assert!(
        matches!(&out[..], [Action::Send(1, Message::Error { code, .. })] if code == code::MALFORMED)
    );
    let out = b.on_text(1, &"x".repeat(65));
    assert!(
        matches!(&out[..], [Action::Send(1, Message::Error { code, .. })] if code == code::TOO_LARGE)
    );
    assert_eq!(b.stats().rejected, 2);
    b.check_invariants().unwrap();
}

#[test]
fn info_answers_through_response_path() {
    let mut b = Broker::default();
    hello(&mut b, 1, "s");
    let m = Message::Start {
        req: "i1".into(),
        channel: INFO_CHANNEL.into(),
        dir: Dir::Request,
        body: "s".into(),
        end: true,
    };
    let out = b.on_message(1, m);
    assert!(
        matches!(&out[..], [Action::Send(1, Message::Start { dir: Dir::Response, end: true, body, .. })] if body.contains("\"client\":\"s\""))
    );
    let m = Message::Start {
        req: "i2".into(),
        channel: INFO_CHANNEL.into(),
        dir: Dir::Request,
        body: "ghost".into(),
        end: true,
    };
    let out = b.on_message(1, m);
    assert!(
        matches!(&out[..], [Action::Send(1, Message::Error { code, .. })] if code == code::UNKNOWN_CLIENT)
    );
}

fn receive(b: &mut Broker, conn: ConnId, channel: &str) -> Vec<Action> {
    b.on_message(
        conn,
        Message::Receive {
            channel: channel.into(),
        },
    )
}

fn chunk(req: &str, data: &str) -> Message {
    Message::Chunk {
        req: req.into(),
        dir: Dir::Request,
        seq: 0,
        data: data.into(),
    }
}

fn code_of(out: &[Action]) -> Option<(&str, Option<&str>)> {
    match out {
        [Action::Send(_, Message::Error { code, req, .. })] => Some((code, req.as_deref())),
        _ => None,
    }
}

fn limited(parked: ParkLimits) -> Broker {
    Broker::new(BrokerConfig {
        parked,
        ..BrokerConfig::default()
    })
}

#[test]
fn parked_requests_are_bounded_per_client_and_per_channel() {
    let mut b = limited(ParkLimits {
        per_client_requests: 2,
        per_channel_requests: 3,
        ..ParkLimits::default()
    });
    hello(&mut b, 1, "a");
    hello(&mut b, 2, "b");
    assert!(b.on_message(1, start("a1", true)).is_empty());
    assert!(b.on_message(1, start("a2", true)).is_empty());
    let out = b.on_message(1, start("a3", true));
    assert_eq!(code_of(&out), Some((code::QUEUE_FULL, Some("a3"))));
    assert!(b.on_message(2, start("b1", true)).is_empty());
    let out = b.on_message(2, start("b2", true));
    assert_eq!(
        code_of(&out),
        Some((code::QUEUE_FULL, Some("b2"))),
        "the channel holds 3"
    );
    // Another channel is not full; a receiver frees room on this one.
    let other = Message::Start {
        req: "b3".into(),
        channel: "logs".into(),
        dir: Dir::Request,
        body: String::new(),
        end: true,
    };
    assert!(b.on_message(2, other).is_empty());
    hello(&mut b, 3, "w");
    assert_eq!(receive(&mut b, 3, "jobs").len(), 1);
    assert!(b.on_message(1, start("a3", true)).is_empty());
    b.check_invariants().unwrap();
}

#[test]
fn parked_bytes_are_bounded_and_an_overflowing_upload_ends_quietly() {
    let mut b = limited(ParkLimits {
        per_client_bytes: 10,
        ..ParkLimits::default()
    });
    hello(&mut b, 1, "a");
    assert!(b.on_message(1, start("r1", false)).is_empty()); // body "b": 1 byte
    assert!(b.on_message(1, chunk("r1", "12345678")).is_empty()); // 9 bytes
    let out = b.on_message(1, chunk("r1", "xy")); // 11 > 10
    assert_eq!(code_of(&out), Some((code::QUEUE_FULL, Some("r1"))));
    assert_eq!(b.stats().requests, 0, "the request is dropped");
    // The rest of its upload is dropped without an answer.
    assert!(b.on_message(1, chunk("r1", "z")).is_empty());
    assert!(b
        .on_message(
            1,
            Message::End {
                req: "r1".into(),
                dir: Dir::Request
            }
        )
        .is_empty());
    // The bytes were given back: a new request fits.
    assert!(b.on_message(1, start("r2", true)).is_empty());
    b.check_invariants().unwrap();
    // Once assigned, frames are no longer parked: they go to the receiver.
    hello(&mut b, 2, "w");
    receive(&mut b, 2, "jobs");
    assert!(b.on_message(1, start("r3", false)).is_empty());
    receive(&mut b, 2, "jobs");
    let big = "x".repeat(100);
    assert_eq!(
        b.on_message(1, chunk("r3", &big)),
        vec![Action::Send(2, chunk("r3", &big))]
    );
    b.check_invariants().unwrap();
}

/// A disconnect frees the connection's own requests and credits and nothing else, in id
/// order; other clients' queues and credits are left exactly as they were.
#[test]
fn a_disconnect_frees_only_what_the_connection_owns() {
    let mut b = limited(ParkLimits {
        per_client_requests: 10_000,
        ..ParkLimits::default()
    });
    hello(&mut b, 1, "parker");
    hello(&mut b, 2, "leaver");
    hello(&mut b, 3, "worker");
    for i in 0..5_000 {
        b.on_message(1, start(&format!("p{i:05}"), true));
    }
    receive(&mut b, 3, "logs");
    receive(&mut b, 2, "logs");
    receive(&mut b, 2, "other");
    let before = b.stats();
    assert!(b.on_disconnect(2).is_empty());
    let after = b.stats();
    assert_eq!(after.queued, before.queued);
    assert_eq!(after.waiting, before.waiting - 2);
    // The worker's credit is still first in line on `logs`.
    let out = b.on_message(
        1,
        Message::Start {
            req: "l1".into(),
            channel: "logs".into(),
            dir: Dir::Request,
            body: String::new(),
            end: true,
        },
    );
    assert!(matches!(&out[..], [Action::Send(3, _)]));
    // Cancelling one parked request in the middle removes exactly that one.
    assert!(b
        .on_message(
            1,
            Message::Cancel {
                req: "p02500".into()
            }
        )
        .is_empty());
    assert_eq!(b.stats().queued, 4_999);
    b.check_invariants().unwrap();
    assert_eq!(
        b.on_disconnect(1),
        vec![Action::Send(3, Message::Cancel { req: "l1".into() })],
        "its one assigned request is cancelled, the 4,999 parked ones dropped"
    );
    assert_eq!(b.stats().requests, 0);
    b.check_invariants().unwrap();
}

#[test]
fn the_registration_deadline_closes_only_unregistered_connections() {
    let mut b = Broker::default();
    b.on_connect(1);
    b.on_message(1, Message::Ping { nonce: 1 });
    let out = b.on_register_deadline(1);
    assert!(
        matches!(&out[..], [Action::Send(1, Message::Error { code, req: None, .. }), Action::Close(1, _)] if code == code::NOT_REGISTERED)
    );
    hello(&mut b, 2, "app");
    assert!(b.on_register_deadline(2).is_empty());
    assert!(b.on_register_deadline(99).is_empty());
}

#[test]
fn with_tokens_info_is_only_about_oneself() {
    let mut b = Broker::new(BrokerConfig {
        tokens: [("a", "ta"), ("b", "tb")]
            .iter()
            .map(|(c, t)| (c.to_string(), t.to_string()))
            .collect(),
        ..BrokerConfig::default()
    });
    for (conn, id, token) in [(1, "a", "ta"), (2, "b", "tb")] {
        b.on_connect(conn);
        b.on_message(
            conn,
            Message::Hello {
                client: id.into(),
                token: Some(token.into()),
            },
        );
    }
    let info = |about: &str| Message::Start {
        req: format!("i-{about}"),
        channel: INFO_CHANNEL.into(),
        dir: Dir::Request,
        body: about.into(),
        end: true,
    };
    let out = b.on_message(1, info("b"));
    assert_eq!(code_of(&out), Some((code::UNKNOWN_CLIENT, Some("i-b"))));
    let out = b.on_message(1, info("a"));
    assert!(matches!(&out[..], [Action::Send(1, Message::Start { .. })]));
}
