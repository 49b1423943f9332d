//! Broker checkers that need end-of-run facts (BRK-5, BRK-12), and what happens when a
//! driver does not report those facts (the checker skips the host and says so).

use super::*;

fn broker_sender_receiver() -> Scenario {
    scenario(vec![
        ("b", HostKind::Broker(Default::default())),
        ("app", client("app", &["b"])),
        ("w", client("w", &["b"])),
    ])
}

/// r1 goes app → b → w and w answers it: the assignment is over.
fn answered_request() -> Vec<Event> {
    vec![
        recv(1, "b", "app", hello("app")),
        recv(1, "b", "w", hello("w")),
        recv(2, "app", "b", welcome("app")),
        life(2, "app", Lifecycle::Registered { to: ep("b") }),
        recv(2, "w", "b", welcome("w")),
        recv(3, "b", "w", receive("jobs")),
        call(3, "app", "r1", req_call(), Some(1003)),
        recv(4, "b", "app", start("r1", Dir::Request, "x")),
        recv(5, "w", "b", start("r1", Dir::Request, "x")),
        recv(6, "b", "w", start("r1", Dir::Response, "y")),
        recv(7, "app", "b", start("r1", Dir::Response, "y")),
        result(7, "app", "r1", Outcome::Ok("y".into())),
    ]
}

fn finals(b: HostFinal) -> BTreeMap<String, HostFinal> {
    BTreeMap::from([
        ("b".to_string(), b),
        ("app".to_string(), running()),
        ("w".to_string(), running()),
    ])
}

/// BRK-5: b still holds r1 after its response ended.
pub(super) fn assignment_left_behind() -> Case {
    let b = HostFinal {
        broker_requests: Some(vec!["r1".into()]),
        ..running()
    };
    Case::new(broker_sender_receiver(), answered_request(), finals(b))
}

#[test]
fn a_request_held_after_its_end_fires_brk5() {
    let v = assignment_left_behind().run();
    assert_eq!(rules_of(&v), vec!["BRK-5"], "{v:#?}");
    assert_eq!(v[0].events, vec![7, 9]);
    let clean = Case::new(
        broker_sender_receiver(),
        answered_request(),
        finals(running()),
    );
    assert!(clean.run().is_empty(), "{:#?}", clean.run());
}

/// BRK-12: b's self-check fails at the end.
pub(super) fn inconsistent_broker() -> Case {
    let b = HostFinal {
        broker_invariants: Some(Err("client app maps to a closed connection".into())),
        ..running()
    };
    Case::new(broker_sender_receiver(), answered_request(), finals(b))
}

#[test]
fn a_failed_self_check_fires_brk12() {
    let v = inconsistent_broker().run();
    assert_eq!(rules_of(&v), vec!["BRK-12"], "{v:#?}");
    assert_eq!(v[0].diagnosis, "b: client app maps to a closed connection");
}

#[test]
fn absent_facts_skip_the_host_and_say_so() {
    // A black-box driver: it reports counters, nothing of the internal state.
    let blind = HostFinal {
        running: true,
        ..Default::default()
    };
    let mut c = assignment_left_behind();
    c.finals = BTreeMap::from([
        ("b".to_string(), blind.clone()),
        ("app".to_string(), blind.clone()),
        ("w".to_string(), blind),
    ]);
    let checked = c.checked();
    assert!(checked.violations.is_empty(), "{:#?}", checked.violations);
    let got: Vec<(&str, &str)> = checked
        .skipped
        .iter()
        .map(|k| (k.checker, k.host.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("no-pending-leak", "app"),
            ("no-pending-leak", "w"),
            ("unassign-on-end", "b"),
            ("broker-state-freed", "b"),
        ]
    );
    let text = render_skips(&checked.skipped);
    assert!(
        text.contains("  unassign-on-end not judged for b: its driver does not report the requests the broker holds\n"),
        "{text}"
    );
}

#[test]
fn nothing_is_skipped_when_every_fact_is_reported_or_not_applicable() {
    // Reference drivers report everything.
    let c = Case::new(
        broker_sender_receiver(),
        answered_request(),
        finals(running()),
    );
    assert!(c.checked().skipped.is_empty());
    assert_eq!(render_skips(&[]), "");
    // A crashed broker has no state left: not judged, and not a skip either.
    let crashed = HostFinal {
        running: false,
        restarted: true,
        ..Default::default()
    };
    let c = Case::new(
        broker_sender_receiver(),
        answered_request(),
        finals(crashed),
    );
    assert!(c.checked().skipped.is_empty(), "{:#?}", c.checked().skipped);
    // A scripted broker is played by wirecheck: it has no internal state to report.
    let mut s = broker_sender_receiver();
    s.hosts[0].kind = HostKind::Scripted(crate::model::ScriptedSpec::Server);
    let blind = HostFinal {
        running: true,
        ..running()
    };
    let mut f = finals(blind);
    f.get_mut("b").expect("b").broker_requests = None;
    f.get_mut("b").expect("b").broker_invariants = None;
    let c = Case::new(s, answered_request(), f);
    assert!(c.checked().skipped.is_empty(), "{:#?}", c.checked().skipped);
}

/// w's `receive` reaches b at 60ms; b's push of r1 reaches w at 80ms over 50ms links, so b
/// sent it by 30ms, before it had the `receive`: the two crossed on the wire.
pub(super) fn push_crosses_receive(min_latency: u64) -> Case {
    let mut s = broker_sender_receiver();
    s.hosts[0].kind = HostKind::Scripted(crate::model::ScriptedSpec::Server);
    s.network.min_latency = ms(min_latency);
    s.network.max_latency = ms(50);
    let ev = vec![
        recv(1, "b", "app", hello("app")),
        recv(2, "app", "b", welcome("app")),
        life(2, "app", Lifecycle::Registered { to: ep("b") }),
        recv(5, "b", "w", hello("w")),
        recv(10, "w", "b", welcome("w")),
        call(10, "app", "r1", req_call(), None),
        recv(11, "b", "app", start("r1", Dir::Request, "x")),
        recv(60, "b", "w", receive("jobs")),
        recv(80, "w", "b", start("r1", Dir::Request, "x")),
    ];
    Case::new(s, ev, BTreeMap::new())
}

#[test]
fn a_push_that_crosses_the_receive_fires_brk1() {
    let v = push_crosses_receive(50).run();
    assert_eq!(rules_of(&v), vec!["BRK-1"], "{v:#?}");
    assert_eq!(
        v[0].diagnosis,
        "b pushed request r1 to w before its `receive jobs` reached b (the push left by 0.030s, the `receive` arrived at 0.060s)"
    );
    // With links as fast as 10ms, b may have sent it at 70ms, after the `receive`.
    let v = push_crosses_receive(10).run();
    assert!(v.is_empty(), "{v:#?}");
}

/// BRK-1 around a crash: b assigned r1 against w's credit and crashed while the push was
/// on the wire; it reaches w after the crash. The credit was there when b sent it.
#[test]
fn a_push_in_flight_when_the_broker_crashed_used_its_credit() {
    let mut s = broker_sender_receiver();
    s.hosts[0].kind = HostKind::Scripted(crate::model::ScriptedSpec::Server);
    s.network.max_latency = ms(20);
    let mut ev = vec![
        recv(1, "b", "app", hello("app")),
        recv(2, "app", "b", welcome("app")),
        life(2, "app", Lifecycle::Registered { to: ep("b") }),
        recv(5, "b", "w", hello("w")),
        recv(10, "w", "b", welcome("w")),
        recv(12, "b", "w", receive("jobs")),
        call(13, "app", "r1", req_call(), None),
        recv(14, "b", "app", start("r1", Dir::Request, "x")),
        fault(15, "b", FaultKind::Crash, None),
        recv(25, "w", "b", start("r1", Dir::Request, "x")),
    ];
    let quiet = Case::new(s.clone(), ev.clone(), BTreeMap::new()).run();
    assert!(!rules_of(&quiet).contains(&"BRK-1"), "{quiet:#?}");
    // Long after the crash no push can have been in flight: the credit is gone with it.
    ev.last_mut().unwrap().at = ms(500);
    let late = Case::new(s, ev, BTreeMap::new()).run();
    assert!(rules_of(&late).contains(&"BRK-1"), "{late:#?}");
}

/// BRK-9: b closes w's registered connection on its own (a slow-consumer kill) while the
/// link was healthy and w kept reading.
pub(super) fn healthy_reader_cut_off() -> Case {
    let mut ev = answered_request();
    ev.push(life(
        20,
        "b",
        Lifecycle::ConnClosed {
            peer: crate::trace::Peer {
                host: "w".into(),
                conn: None,
            },
            reason: "closed by broker".into(),
            cause: crate::trace::CloseCause::Local,
        },
    ));
    Case::new(broker_sender_receiver(), ev, finals(running()))
}

#[test]
fn a_broker_that_cuts_off_a_reading_peer_fires_brk9_unless_the_link_was_held() {
    let v = healthy_reader_cut_off().run();
    assert_eq!(rules_of(&v), vec!["BRK-9"], "{v:#?}");
    assert_eq!(v[0].events, vec![12]);
    // The same close after the link was held is a legitimate slow-consumer kill.
    let mut held = healthy_reader_cut_off();
    held.ev
        .insert(12, fault(10, "b", FaultKind::Hold, Some("w")));
    assert!(held.run().is_empty(), "{:#?}", held.run());
    // Closing a peer that was silent for the broker's idle timeout (30 s) is allowed, even
    // when the close does not say why (a black box).
    let mut idle = healthy_reader_cut_off();
    if let Some(e) = idle.ev.last_mut() {
        e.at = ms(40_000);
    }
    idle.end = ms(41_000);
    assert!(idle.run().is_empty(), "{:#?}", idle.run());
    // A close by the peer, or for idleness, is not the broker cutting anyone off.
    for cause in [
        crate::trace::CloseCause::Peer,
        crate::trace::CloseCause::Idle,
    ] {
        let mut c = healthy_reader_cut_off();
        if let Some(EventKind::Life(Lifecycle::ConnClosed { cause: k, .. })) =
            c.ev.last_mut().map(|e| &mut e.kind)
        {
            *k = cause;
        }
        assert!(c.run().is_empty(), "{cause:?}: {:#?}", c.run());
    }
}

/// BRK-9 for a peer with several connections (a proxy relays each client on its own):
/// traffic on its other connections does not keep a silent one from its idle timeout.
#[test]
fn a_silent_connection_of_a_busy_peer_may_be_closed_for_idleness() {
    let case = |busy: u16| {
        let ev = vec![
            recv_on(1, "b", "w", 1, hello("w")),
            recv(2, "w", "b", welcome("w")),
            recv_on(39_000, "b", "w", busy, receive("jobs")),
            life(
                40_000,
                "b",
                Lifecycle::ConnClosed {
                    peer: crate::trace::Peer {
                        host: "w".into(),
                        conn: Some(1),
                    },
                    reason: "closed by broker".into(),
                    cause: crate::trace::CloseCause::Local,
                },
            ),
        ];
        let mut c = Case::new(broker_sender_receiver(), ev, finals(running()));
        c.end = ms(41_000);
        c
    };
    // (The `receive` on an unregistered connection breaks AUTH-4: not judged here.)
    let brk9 = |v: &[_]| rules_of(v).contains(&"BRK-9");
    let other = case(2).run();
    assert!(!brk9(&other), "{other:#?}");
    let same = case(1).run();
    assert!(brk9(&same), "{same:#?}");
}

/// BRK-12 from the wire: app registers on port 1, that connection closes, and app's new
/// connection (port 2) is refused `client_id_taken`: the closed entry was kept.
pub(super) fn id_kept_after_close() -> Case {
    let taken = Message::Error {
        req: None,
        code: "client_id_taken".into(),
        message: String::new(),
    };
    let ev = vec![
        recv_on(1, "b", "app", 1, hello("app")),
        recv(2, "app", "b", welcome("app")),
        closed(3, "b", "app", Some(1)),
        recv_on(4, "b", "app", 2, hello("app")),
        recv(5, "app", "b", taken),
    ];
    Case::new(broker_sender_receiver(), ev, finals(running()))
}

#[test]
fn a_refusal_for_an_id_nobody_holds_fires_brk12() {
    let c = id_kept_after_close();
    let v = c.run();
    assert_eq!(rules_of(&v), vec!["BRK-12"], "{v:#?}");
    assert_eq!(v[0].events, vec![4]);
    // With the first connection still open, the refusal is right (AUTH-5).
    let mut open = c;
    open.ev.remove(2);
    assert!(open.run().is_empty(), "{:#?}", open.run());
}
