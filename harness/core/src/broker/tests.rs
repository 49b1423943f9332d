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
