//! Client-side checkers that the corpus showed firing only under zoo flaws (MUX-2, MUX-4,
//! MUX-6, MUX-7, AUTH-3, CONN-5, CONN-6): a synthetic trace for each.

use super::*;
use crate::model::{ProxySpec, Reply, ServeSpec};

fn broker_and_app() -> Scenario {
    scenario(vec![
        ("b", HostKind::Broker(Default::default())),
        ("app", client("app", &["b"])),
    ])
}

fn registered(at: u64, host: &str, to: &str) -> Vec<Event> {
    vec![
        life(
            at,
            host,
            Lifecycle::Connecting {
                to: ep(to),
                attempt: 1,
            },
        ),
        recv(at + 1, to, host, hello(host)),
        recv(at + 2, host, to, welcome(host)),
        life(at + 2, host, Lifecycle::Registered { to: ep(to) }),
    ]
}

/// MUX-2: app's r1 succeeds with "b" although the only response for r1 carried "a".
pub(super) fn result_from_another_response() -> Case {
    let mut ev = registered(0, "app", "b");
    ev.extend([
        call(3, "app", "r1", req_call(), Some(1003)),
        recv(4, "b", "app", start("r1", Dir::Request, "x")),
        recv(6, "app", "b", start("r1", Dir::Response, "a")),
        result(6, "app", "r1", Outcome::Ok("b".into())),
    ]);
    Case::new(broker_and_app(), ev, BTreeMap::new())
}

#[test]
fn a_result_that_is_not_the_first_response_fires_mux2() {
    let v = result_from_another_response().run();
    assert_eq!(rules_of(&v), vec!["MUX-2"], "{v:#?}");
    assert_eq!(v[0].events, vec![4, 6, 7]);
}

/// MUX-4: a response for an id app never sent, and app counted nothing as dropped.
pub(super) fn uncounted_stray() -> Case {
    let mut ev = registered(0, "app", "b");
    ev.push(recv(5, "app", "b", start("r9", Dir::Response, "x")));
    let mut app = running();
    for k in ["duplicates_dropped", "late_dropped", "unknown_dropped"] {
        app.counters.insert(k.into(), 0);
    }
    let finals = BTreeMap::from([("app".to_string(), app)]);
    Case::new(broker_and_app(), ev, finals)
}

#[test]
fn an_uncounted_stray_frame_fires_mux4_and_a_counted_one_does_not() {
    let c = uncounted_stray();
    let v = c.run();
    assert_eq!(rules_of(&v), vec!["MUX-4"], "{v:#?}");
    assert_eq!(v[0].events, vec![4]);
    let mut counted = c;
    counted
        .finals
        .get_mut("app")
        .expect("app")
        .counters
        .insert("unknown_dropped".into(), 1);
    assert!(counted.run().is_empty());
    // A black box that reports no drop counters is judged on delivery alone.
    let mut silent = counted;
    silent.finals.get_mut("app").expect("app").counters.clear();
    assert!(silent.run().is_empty());
}

/// MUX-6: app loses its connection with r1 in flight, and r1 never fails.
pub(super) fn loss_leaves_call_waiting() -> Case {
    let mut ev = registered(0, "app", "b");
    ev.extend([
        call(3, "app", "r1", req_call(), None),
        disconnected(10, "app"),
        life(
            6000,
            "app",
            Lifecycle::Connecting {
                to: ep("b"),
                attempt: 2,
            },
        ),
        recv(6002, "app", "b", welcome("app")),
        life(6002, "app", Lifecycle::Registered { to: ep("b") }),
    ]);
    Case::new(broker_and_app(), ev, BTreeMap::new())
}

#[test]
fn a_call_left_waiting_after_a_loss_fires_mux6() {
    let v = loss_leaves_call_waiting().run();
    assert_eq!(rules_of(&v), vec!["MUX-6"], "{v:#?}");
    // Failed `disconnected` at once: nothing to report.
    let mut ok = loss_leaves_call_waiting();
    ok.ev.push(result(
        10,
        "app",
        "r1",
        Outcome::Fails(FailKind::Disconnected),
    ));
    assert!(ok.run().is_empty(), "{:#?}", ok.run());
}

/// MUX-7: a request made before app ever registered is not failed at once.
pub(super) fn send_error_swallowed() -> Case {
    let ev = vec![
        call(3, "app", "r1", req_call(), Some(5003)),
        result(5003, "app", "r1", Outcome::Fails(FailKind::Timeout)),
    ];
    Case::new(broker_and_app(), ev, BTreeMap::new())
}

#[test]
fn a_swallowed_send_error_fires_mux7() {
    let v = send_error_swallowed().run();
    assert_eq!(rules_of(&v), vec!["MUX-7"], "{v:#?}");
    let mut ok = send_error_swallowed();
    ok.ev[1] = result(3, "app", "r1", Outcome::Fails(FailKind::NotConnected));
    assert!(ok.run().is_empty(), "{:#?}", ok.run());
    // Never told at all (still waiting at the end) is the same silence.
    let mut never = send_error_swallowed();
    never.ev.pop();
    assert!(
        rules_of(&never.run()).contains(&"MUX-7"),
        "{:#?}",
        never.run()
    );
}

/// A client that dials on demand (or queues calls until it is connected) and then sends
/// the call swallowed no send error: its call ends with a definite outcome (here a later
/// failure the caller is told of), not a timeout.
#[test]
fn a_call_sent_once_connected_is_not_a_swallowed_send_error() {
    for outcome in [
        Outcome::Fails(FailKind::Protocol),
        Outcome::Fails(FailKind::Disconnected),
    ] {
        let mut queued = send_error_swallowed();
        queued.ev[1] = result(40, "app", "r1", outcome.clone());
        assert!(queued.run().is_empty(), "{outcome:?}: {:#?}", queued.run());
    }
}

/// AUTH-3: a request that arrives while app registers is never answered.
pub(super) fn request_lost_during_registration() -> Case {
    let mut app = client("app", &["b"]);
    if let HostKind::Client(c) = &mut app {
        c.serve = vec![ServeSpec {
            channel: "jobs".into(),
            reply: Reply::Echo,
            delay: Duration::ZERO,
            chunks: 0,
            concurrency: 1,
        }];
    }
    let s = scenario(vec![
        ("b", HostKind::Broker(Default::default())),
        ("app", app),
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
        recv(1, "b", "app", hello("app")),
        recv(1, "b", "app", receive("jobs")),
        recv(2, "app", "b", start("q1", Dir::Request, "x")),
        recv(3, "app", "b", welcome("app")),
        life(3, "app", Lifecycle::Registered { to: ep("b") }),
    ];
    Case::new(s, ev, BTreeMap::new())
}

#[test]
fn a_request_lost_during_registration_fires_auth3() {
    let v = request_lost_during_registration().run();
    assert_eq!(rules_of(&v), vec!["AUTH-3"], "{v:#?}");
    let mut ok = request_lost_during_registration();
    ok.ev
        .push(recv(5, "b", "app", start("q1", Dir::Response, "x")));
    assert!(ok.run().is_empty(), "{:#?}", ok.run());
}

/// CONN-5: app loses its connection and never tries again, reconnect enabled.
pub(super) fn never_reconnects() -> Case {
    let mut ev = registered(0, "app", "b");
    ev.push(disconnected(10, "app"));
    Case::new(broker_and_app(), ev, BTreeMap::new()).ending_at(ms(200_000))
}

#[test]
fn a_client_that_never_reconnects_fires_conn5() {
    let v = never_reconnects().run();
    assert_eq!(rules_of(&v), vec!["CONN-5"], "{v:#?}");
    // Within its limit (cap + window + gap + 1s = 96s), the run is too short to judge.
    assert!(never_reconnects().ending_at(ms(90_000)).run().is_empty());
    // The user closed it: nothing to reconnect.
    let mut closed = never_reconnects();
    closed
        .ev
        .insert(4, call(9, "app", "d", Call::Disconnect, None));
    assert!(closed.run().is_empty(), "{:#?}", closed.run());
}

/// CONN-6: px's upstream to b ends, app stays connected through px.
pub(super) fn relay_keeps_client_side_open() -> Case {
    let s = scenario(vec![
        ("b", HostKind::Broker(Default::default())),
        (
            "px",
            HostKind::Proxy(ProxySpec {
                target: "b".into(),
                rules: vec![],
            }),
        ),
        ("app", client("app", &["px"])),
    ]);
    let mut ev = registered(0, "app", "px");
    ev.push(closed(100, "px", "b", None));
    Case::new(s, ev, BTreeMap::new())
}

#[test]
fn a_relay_that_keeps_the_client_side_open_fires_conn6() {
    let v = relay_keeps_client_side_open().run();
    assert_eq!(rules_of(&v), vec!["CONN-6"], "{v:#?}");
    let mut ok = relay_keeps_client_side_open();
    ok.ev.push(disconnected(101, "app"));
    ok.ev.push(life(
        6000,
        "app",
        Lifecycle::Connecting {
            to: ep("px"),
            attempt: 2,
        },
    ));
    ok.ev.push(recv(6002, "app", "px", welcome("app")));
    ok.ev
        .push(life(6002, "app", Lifecycle::Registered { to: ep("px") }));
    assert!(ok.run().is_empty(), "{:#?}", ok.run());
}

/// MUX-1: the library under test reports a second reader (Python websockets' error).
pub(super) fn second_reader_reported() -> Case {
    let mut ev = registered(0, "app", "b");
    ev.push(life(
        4,
        "app",
        Lifecycle::TwoReaders {
            said: "stderr: cannot call recv while another coroutine is already running recv or recv_streaming".into(),
        },
    ));
    Case::new(broker_and_app(), ev, BTreeMap::new())
}

#[test]
fn a_library_reporting_two_readers_fires_mux1() {
    let c = second_reader_reported();
    let v = c.run();
    assert_eq!(rules_of(&v), vec!["MUX-1"], "{v:#?}");
    assert_eq!(v[0].events, vec![4]);
    let mut quiet = c;
    quiet.ev.pop();
    assert!(quiet.run().is_empty());
}
