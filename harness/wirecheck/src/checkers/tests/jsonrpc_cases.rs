//! The JSONRPC family fires on synthetic JSON-RPC traces, and stays quiet on the same
//! traces with the misbehaviour taken out.

use super::*;
use crate::model::Protocol;

fn text(at: u64, host: &str, from: &str, t: &str) -> Event {
    Event {
        at: ms(at),
        host: host.into(),
        kind: EventKind::Recv {
            from: from.into(),
            conn: None,
            text: t.into(),
            msg: None,
        },
    }
}

fn rpc(hosts: Vec<(&str, HostKind)>) -> Scenario {
    Scenario {
        protocol: Protocol::JsonRpc2,
        ..scenario(hosts)
    }
}

fn server_case(ev: Vec<Event>) -> Case {
    let s = rpc(vec![
        ("srv", HostKind::RpcServer),
        ("t", HostKind::Scripted(crate::model::ScriptedSpec::Server)),
    ]);
    Case::new(s, ev, BTreeMap::new()).ending_at(ms(5000))
}

fn fired(c: &Case) -> Vec<&'static str> {
    let mut r = rules_of(&c.run());
    r.dedup();
    r
}

const REQ1: &str = r#"{"jsonrpc":"2.0","id":1,"method":"echo","params":[1]}"#;

#[test]
fn jsonrpc_1_fires_on_a_rewritten_id_and_an_unanswered_request() {
    let good = server_case(vec![
        text(1, "srv", "t", REQ1),
        text(2, "t", "srv", r#"{"jsonrpc":"2.0","id":1,"result":[1]}"#),
    ]);
    assert!(good.run().is_empty(), "{:#?}", good.run());
    let bad = server_case(vec![
        text(1, "srv", "t", REQ1),
        text(2, "t", "srv", r#"{"jsonrpc":"2.0","id":"1","result":[1]}"#),
    ]);
    let v = bad.run();
    assert_eq!(fired(&bad), vec!["JSONRPC-1"], "{v:#?}");
    assert_eq!(
        v.len(),
        2,
        "the stray id and the unanswered request: {v:#?}"
    );
}

#[test]
fn jsonrpc_1_names_an_answer_that_is_not_a_response() {
    let c = server_case(vec![
        text(1, "srv", "t", REQ1),
        text(2, "t", "srv", r#"{"jsonrpc":"2.0","id":1}"#),
    ]);
    let v = c.run();
    assert_eq!(fired(&c), vec!["JSONRPC-1"]);
    assert_eq!(
        v.len(),
        1,
        "one violation, not also `never answered`: {v:#?}"
    );
    assert!(v[0].diagnosis.contains("not a response"), "{v:#?}");
}

#[test]
fn jsonrpc_2_fires_on_a_reply_to_a_notification() {
    let note = r#"{"jsonrpc":"2.0","method":"echo","params":[1]}"#;
    let bad = server_case(vec![
        text(1, "srv", "t", note),
        text(2, "t", "srv", r#"{"jsonrpc":"2.0","id":null,"result":[1]}"#),
    ]);
    assert_eq!(fired(&bad), vec!["JSONRPC-2"], "{:#?}", bad.run());
    let good = server_case(vec![text(1, "srv", "t", note)]);
    assert!(good.run().is_empty());
}

#[test]
fn jsonrpc_3_fires_when_bad_input_gets_no_error() {
    let answered = server_case(vec![
        text(1, "srv", "t", "{oops"),
        text(
            2,
            "t",
            "srv",
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#,
        ),
        text(3, "srv", "t", r#"{"method":"echo"}"#),
        text(
            4,
            "t",
            "srv",
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}"#,
        ),
    ]);
    assert!(answered.run().is_empty(), "{:#?}", answered.run());
    let silent = server_case(vec![
        text(1, "srv", "t", "{oops"),
        text(3, "srv", "t", r#"{"method":"echo"}"#),
    ]);
    assert_eq!(fired(&silent), vec!["JSONRPC-3"]);
    assert_eq!(silent.run().len(), 2);
    // The wrong code is no answer either.
    let wrong = server_case(vec![
        text(1, "srv", "t", "{oops"),
        text(
            2,
            "t",
            "srv",
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"x"}}"#,
        ),
    ]);
    assert_eq!(fired(&wrong), vec!["JSONRPC-3"]);
}

#[test]
fn jsonrpc_4_fires_when_a_batch_is_answered_piecemeal() {
    let batch =
        r#"[{"jsonrpc":"2.0","id":1,"method":"echo"},{"jsonrpc":"2.0","id":2,"method":"echo"}]"#;
    let good = server_case(vec![
        text(1, "srv", "t", batch),
        text(
            2,
            "t",
            "srv",
            r#"[{"jsonrpc":"2.0","id":2,"result":null},{"jsonrpc":"2.0","id":1,"result":null}]"#,
        ),
    ]);
    assert!(good.run().is_empty(), "{:#?}", good.run());
    let piecemeal = server_case(vec![
        text(1, "srv", "t", batch),
        text(2, "t", "srv", r#"{"jsonrpc":"2.0","id":1,"result":null}"#),
        text(3, "t", "srv", r#"{"jsonrpc":"2.0","id":2,"result":null}"#),
    ]);
    assert_eq!(
        fired(&piecemeal),
        vec!["JSONRPC-4"],
        "{:#?}",
        piecemeal.run()
    );
    let empty = server_case(vec![text(1, "srv", "t", "[]"), text(2, "t", "srv", "[]")]);
    assert_eq!(fired(&empty), vec!["JSONRPC-4"]);
}

#[test]
fn jsonrpc_5_fires_when_the_server_hangs_up_after_an_error() {
    let mut ev = vec![
        text(1, "srv", "t", r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#),
        text(
            2,
            "t",
            "srv",
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#,
        ),
    ];
    assert!(server_case(ev.clone()).run().is_empty());
    ev.push(life(
        3,
        "t",
        Lifecycle::ConnClosed {
            peer: Peer {
                host: "srv".into(),
                conn: None,
            },
            reason: "closed".into(),
            cause: crate::trace::CloseCause::Peer,
        },
    ));
    assert_eq!(fired(&server_case(ev)), vec!["JSONRPC-5"]);
}

/// A client whose call r1 (echo [1]) went out with wire id 1, then a stray response.
fn client_case(stray: &str, dies: bool) -> Case {
    let s = rpc(vec![
        (
            "srv",
            HostKind::Scripted(crate::model::ScriptedSpec::Server),
        ),
        ("app", client("app", &["srv"])),
    ]);
    let echo = Call::Request {
        channel: "echo".into(),
        body: "[1]".into(),
        chunks: 0,
        timeout: None,
        batch: None,
    };
    let mut ev = vec![
        life(1, "app", Lifecycle::Registered { to: ep("srv") }),
        call(2, "app", "r1", echo, Some(30_002)),
        text(3, "srv", "app", REQ1),
        text(10, "app", "srv", stray),
    ];
    if dies {
        ev.push(disconnected(11, "app"));
        ev.push(result(
            11,
            "app",
            "r1",
            Outcome::Fails(FailKind::Disconnected),
        ));
    } else {
        ev.push(text(
            20,
            "app",
            "srv",
            r#"{"jsonrpc":"2.0","id":1,"result":[1]}"#,
        ));
        ev.push(result(20, "app", "r1", Outcome::Ok("[1]".into())));
    }
    let finals = BTreeMap::from([("app".to_string(), running())]);
    Case::new(s, ev, finals).ending_at(ms(5000))
}

#[test]
fn jsonrpc_6_fires_when_a_stray_message_kills_the_client() {
    for stray in [
        r#"{"jsonrpc":"2.0","id":99,"result":1}"#,
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"x"}}"#,
        r#"{"jsonrpc":"2.0","result":1}"#,
        r#"{"jsonrpc":"2.0","method":"tick","params":[1]}"#,
        "not json",
        "7",
        r#"[{"jsonrpc":"2.0","id":1,"result":[1]}]"#,
    ] {
        let quiet = client_case(stray, false);
        assert!(
            !fired(&quiet).contains(&"JSONRPC-6"),
            "{stray}: {:#?}",
            quiet.run()
        );
        let dead = client_case(stray, true);
        assert!(
            fired(&dead).contains(&"JSONRPC-6"),
            "{stray}: {:#?}",
            dead.run()
        );
    }
    // The call's own answer followed by a disconnect is no stray.
    let own = client_case(r#"{"jsonrpc":"2.0","id":1,"result":[1]}"#, true);
    assert!(!fired(&own).contains(&"JSONRPC-6"), "{:#?}", own.run());
}

/// A server that rewrites an id, answers a notification, ignores bad JSON, answers a
/// batch piecemeal and hangs up after an error (JSONRPC-1..5 each fire).
pub(super) fn misbehaving_server() -> Case {
    let batch =
        r#"[{"jsonrpc":"2.0","id":5,"method":"echo"},{"jsonrpc":"2.0","id":6,"method":"echo"}]"#;
    server_case(vec![
        text(1, "srv", "t", REQ1),
        text(2, "t", "srv", r#"{"jsonrpc":"2.0","id":"1","result":[1]}"#),
        text(
            3,
            "srv",
            "t",
            r#"{"jsonrpc":"2.0","method":"echo","params":[1]}"#,
        ),
        text(4, "t", "srv", r#"{"jsonrpc":"2.0","id":null,"result":[1]}"#),
        text(5, "srv", "t", "{oops"),
        text(6, "srv", "t", batch),
        text(7, "t", "srv", r#"{"jsonrpc":"2.0","id":5,"result":null}"#),
        text(
            8,
            "t",
            "srv",
            r#"{"jsonrpc":"2.0","id":6,"error":{"code":-32601,"message":"no"}}"#,
        ),
        life(
            9,
            "t",
            Lifecycle::ConnClosed {
                peer: Peer {
                    host: "srv".into(),
                    conn: None,
                },
                reason: "closed".into(),
                cause: crate::trace::CloseCause::Peer,
            },
        ),
    ])
}

/// A client whose connection dies on a response with an unknown id (JSONRPC-6).
pub(super) fn stray_kills_client() -> Case {
    client_case(r#"{"jsonrpc":"2.0","id":99,"result":1}"#, true)
}

#[test]
fn the_firing_cases_fire_every_jsonrpc_rule() {
    let all = fired(&misbehaving_server());
    assert_eq!(
        all,
        vec![
            "JSONRPC-1",
            "JSONRPC-2",
            "JSONRPC-3",
            "JSONRPC-4",
            "JSONRPC-5"
        ]
        .into_iter()
        .filter(|r| all.contains(r))
        .collect::<Vec<_>>()
    );
    for r in [
        "JSONRPC-1",
        "JSONRPC-2",
        "JSONRPC-3",
        "JSONRPC-4",
        "JSONRPC-5",
    ] {
        assert!(
            all.contains(&r),
            "{r} missing: {:#?}",
            misbehaving_server().run()
        );
    }
    assert!(fired(&stray_kills_client()).contains(&"JSONRPC-6"));
}

/// A client whose caller sent the notification `log ["x"]`, which reached the server
/// with id 7 (`with_id`) or without one.
fn notify_case(with_id: bool) -> Case {
    let s = rpc(vec![
        (
            "srv",
            HostKind::Scripted(crate::model::ScriptedSpec::Server),
        ),
        ("app", client("app", &["srv"])),
    ]);
    let note = Call::Notify {
        method: "log".into(),
        params: r#"["x"]"#.into(),
    };
    let sent = if with_id {
        r#"{"jsonrpc":"2.0","id":7,"method":"log","params":["x"]}"#
    } else {
        r#"{"jsonrpc":"2.0","method":"log","params":["x"]}"#
    };
    let ev = vec![
        life(1, "app", Lifecycle::Registered { to: ep("srv") }),
        call(2, "app", "notify", note, None),
        text(3, "srv", "app", sent),
    ];
    let finals = BTreeMap::from([("app".to_string(), running())]);
    Case::new(s, ev, finals).ending_at(ms(5000))
}

pub(super) fn notification_sent_with_id() -> Case {
    notify_case(true)
}

#[test]
fn jsonrpc_7_fires_on_a_notification_sent_with_an_id() {
    let good = notify_case(false);
    assert!(good.run().is_empty(), "{:#?}", good.run());
    let bad = notify_case(true);
    let v = bad.run();
    assert_eq!(fired(&bad), vec!["JSONRPC-7"], "{v:#?}");
    assert!(v[0].diagnosis.contains("with id 7"), "{v:#?}");
    assert_eq!(
        v[0].events,
        vec![1, 2],
        "the notify call and the request: {v:#?}"
    );
}

/// `srv` records that `t` ended their connection `conn` (the reference server never
/// closes one by itself).
fn client_left(at: u64, conn: Option<u16>) -> Event {
    life(
        at,
        "srv",
        Lifecycle::ConnClosed {
            peer: Peer {
                host: "t".into(),
                conn,
            },
            reason: "the client closed it".into(),
            cause: crate::trace::CloseCause::Peer,
        },
    )
}

fn on_conn(mut e: Event, port: u16) -> Event {
    if let EventKind::Recv { conn, .. } = &mut e.kind {
        *conn = Some(port);
    }
    e
}

/// A client library that closes its own connection (web3 6 after its two-readers error)
/// makes answers impossible: the requests it left are not the server's to answer. Only
/// the connection they were sent on counts, and only before their answer was due.
#[test]
fn jsonrpc_1_excuses_requests_whose_client_left_before_the_answer_was_due() {
    let req = || on_conn(text(1, "srv", "t", REQ1), 7);
    let unanswered = server_case(vec![req()]);
    assert_eq!(fired(&unanswered), vec!["JSONRPC-1"]);
    let left = server_case(vec![req(), client_left(3, Some(7))]);
    assert!(left.run().is_empty(), "{:#?}", left.run());
    let other_conn = server_case(vec![req(), client_left(3, Some(8))]);
    assert_eq!(fired(&other_conn), vec!["JSONRPC-1"]);
    let too_late = server_case(vec![req(), client_left(4000, Some(7))]);
    assert_eq!(fired(&too_late), vec!["JSONRPC-1"]);
}

/// The client closing after an error reply is not the server hanging up.
#[test]
fn jsonrpc_5_is_quiet_when_the_server_saw_the_client_close() {
    let ev = vec![
        text(1, "srv", "t", r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#),
        text(
            2,
            "t",
            "srv",
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#,
        ),
        life(
            3,
            "t",
            Lifecycle::Disconnected {
                reason: "closed by the client".into(),
                failed: 0,
            },
        ),
    ];
    assert_eq!(fired(&server_case(ev.clone())), vec!["JSONRPC-5"]);
    let mut left = ev;
    left.push(client_left(4, None));
    assert!(
        server_case(left.clone()).run().is_empty(),
        "{:#?}",
        server_case(left).run()
    );
}
