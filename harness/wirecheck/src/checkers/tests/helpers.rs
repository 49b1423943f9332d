//! The helpers that excuse or scope a verdict: each test fails if the helper is broken
//! (returns always true / always false / always nothing, or looks at the wrong host).

use super::*;

fn finals_of(pairs: &[(&str, HostFinal)]) -> BTreeMap<String, HostFinal> {
    pairs
        .iter()
        .map(|(h, f)| (h.to_string(), f.clone()))
        .collect()
}

#[test]
fn disturbed_is_true_exactly_for_restarted_or_stopped_hosts() {
    let s = scenario(vec![
        ("a", client("a", &["b"])),
        ("r", client("r", &["b"])),
        ("c", client("c", &["b"])),
        ("b", HostKind::Broker(Default::default())),
    ]);
    let finals = finals_of(&[
        ("a", running()),
        (
            "r",
            HostFinal {
                restarted: true,
                ..running()
            },
        ),
        (
            "c",
            HostFinal {
                running: false,
                ..Default::default()
            },
        ),
    ]);
    let input = Input::new(&s, &[], &finals, ms(1000));
    assert!(!input.disturbed("a"));
    assert!(input.disturbed("r"));
    assert!(input.disturbed("c"));
    assert!(
        !input.disturbed("b"),
        "no final reported: nothing to excuse"
    );
}

/// A leaked pending entry is reported on an undisturbed client, and excused on a
/// restarted one (its end state is not the run's whole story).
#[test]
fn a_restart_excuses_a_leak_and_nothing_else_does() {
    let s = scenario(vec![
        ("b", HostKind::Broker(Default::default())),
        ("app", client("app", &["b"])),
    ]);
    let mut ev = vec![
        recv(1, "b", "app", hello("app")),
        recv(2, "app", "b", welcome("app")),
        life(2, "app", Lifecycle::Registered { to: ep("b") }),
        call(3, "app", "r1", req_call(), Some(1003)),
        recv(4, "b", "app", start("r1", Dir::Request, "x")),
        recv(6, "app", "b", start("r1", Dir::Response, "y")),
        result(6, "app", "r1", Outcome::Ok("y".into())),
    ];
    let leak = HostFinal {
        pending_ids: Some(vec!["r1".into()]),
        ..running()
    };
    let c = Case::new(s.clone(), ev.clone(), finals_of(&[("app", leak.clone())]));
    assert_eq!(rules_of(&c.run()), vec!["MUX-5"], "{:#?}", c.run());
    ev.push(fault(30, "app", FaultKind::Bounce, None));
    let restarted = HostFinal {
        restarted: true,
        ..leak
    };
    let c = Case::new(s, ev, finals_of(&[("app", restarted)]));
    assert!(c.run().is_empty(), "{:#?}", c.run());
}

/// r1 goes s → b → w; then w's connection closes at 100ms, and maybe s's too.
fn receiver_loss(sender_leaves_too: bool) -> Case {
    let s = scenario(vec![
        ("b", HostKind::Broker(Default::default())),
        ("s", client("s", &["b"])),
        ("w", client("w", &["b"])),
    ]);
    let mut ev = vec![
        recv(1, "b", "s", hello("s")),
        recv(1, "b", "w", hello("w")),
        recv(2, "s", "b", welcome("s")),
        recv(2, "w", "b", welcome("w")),
        recv(3, "b", "w", receive("jobs")),
        recv(4, "b", "s", start("r1", Dir::Request, "x")),
        recv(5, "w", "b", start("r1", Dir::Request, "x")),
        closed(100, "b", "w", None),
    ];
    if sender_leaves_too {
        ev.push(closed(600, "b", "s", None));
    }
    Case::new(s, ev, BTreeMap::new())
}

#[test]
fn closed_at_finds_the_registered_close_of_that_peer_only() {
    let c = receiver_loss(true);
    let input = Input::new(&c.s, &c.ev, &c.finals, c.end);
    assert_eq!(input.closed_at("b", "w", ms(0)), Some(ms(100)));
    assert_eq!(input.closed_at("b", "w", ms(100)), Some(ms(100)));
    assert_eq!(input.closed_at("b", "w", ms(101)), None);
    assert_eq!(input.closed_at("b", "s", ms(0)), Some(ms(600)));
    assert_eq!(input.closed_at("b", "nobody", ms(0)), None);
    assert_eq!(
        input.closed_at("w", "b", ms(0)),
        None,
        "closes are per broker"
    );
}

#[test]
fn a_receiver_loss_is_reported_unless_the_sender_left_too() {
    // Nobody told s: BRK-6.
    let v = receiver_loss(false).run();
    assert_eq!(rules_of(&v), vec!["BRK-6"], "{v:#?}");
    assert_eq!(v[0].events, vec![7]);
    // s left within PROMPT as well: nobody to tell.
    let v = receiver_loss(true).run();
    assert!(v.is_empty(), "{v:#?}");
    // s was told.
    let mut told = receiver_loss(false);
    told.ev.push(recv(
        110,
        "s",
        "b",
        Message::Error {
            req: Some("r1".into()),
            code: "receiver_gone".into(),
            message: String::new(),
        },
    ));
    assert!(told.run().is_empty(), "{:#?}", told.run());
}

/// Two brokers, b1 and b2, each welcomes `app` (from hosts x and y). Events at b2 must
/// never change b1's sessions.
fn two_brokers(at_b2: Vec<Event>) -> Case {
    let s = scenario(vec![
        ("b1", HostKind::Scripted(crate::model::ScriptedSpec::Server)),
        ("b2", HostKind::Scripted(crate::model::ScriptedSpec::Server)),
        ("x", HostKind::Scripted(crate::model::ScriptedSpec::Server)),
        ("y", HostKind::Scripted(crate::model::ScriptedSpec::Server)),
    ]);
    let mut ev = vec![
        recv_on(1, "b1", "x", 40001, hello("app")),
        recv(2, "x", "b1", welcome("app")),
        recv_on(3, "b2", "x", 40009, hello("app")),
        recv(4, "x", "b2", welcome("app")),
    ];
    ev.extend(at_b2);
    // A second connection takes `app` over at b1 while x is still live there.
    ev.push(recv_on(20, "b1", "y", 40002, hello("app")));
    ev.push(recv(21, "y", "b1", welcome("app")));
    Case::new(s, ev, BTreeMap::new())
}

#[test]
fn sessions_belong_to_their_broker() {
    let c = two_brokers(vec![]);
    let input = Input::new(&c.s, &c.ev, &c.finals, c.end);
    let b1 = input.sessions("b1");
    let hosts: Vec<(&str, Option<u16>)> = b1
        .welcomes
        .iter()
        .map(|w| (w.host.as_str(), w.conn))
        .collect();
    // The welcome's connection is the hello's at *this* broker, not b2's.
    assert_eq!(hosts, vec![("x", Some(40001)), ("y", Some(40002))]);
    assert!(b1.closes.is_empty());
    let b2 = input.sessions("b2");
    assert_eq!(b2.welcomes.len(), 1);
    assert_eq!(b2.welcomes[0].conn, Some(40009));
    assert!(input.sessions("x").welcomes.is_empty());
    assert_eq!(rules_of(&c.run()), vec!["AUTH-5"], "{:#?}", c.run());
}

#[test]
fn a_crash_or_close_at_another_broker_ends_no_session_here() {
    for at_b2 in [
        vec![fault(10, "b2", FaultKind::Crash, None)],
        vec![fault(10, "b2", FaultKind::Bounce, None)],
        vec![closed(10, "b2", "x", None)],
    ] {
        let c = two_brokers(at_b2);
        let input = Input::new(&c.s, &c.ev, &c.finals, c.end);
        assert!(input.sessions("b1").closes.is_empty());
        assert_eq!(input.sessions("b2").closes.len(), 1);
        assert_eq!(input.sessions("b2").closes[0].host, "x");
        // x is still live at b1: y's welcome there is a takeover.
        assert_eq!(rules_of(&c.run()), vec!["AUTH-5"], "{:#?}", c.run());
    }
    // The same events at b1 end x's session there: no takeover.
    // A bounce restarts the process: it ends every connection like a crash does.
    for at_b1 in [
        fault(10, "b1", FaultKind::Crash, None),
        fault(10, "b1", FaultKind::Bounce, None),
        closed(10, "b1", "x", None),
    ] {
        let c = two_brokers(vec![at_b1]);
        assert!(c.run().is_empty(), "{:#?}", c.run());
    }
}

#[test]
fn a_refused_connection_closing_ends_no_session() {
    // y's hello at b1 is refused (never welcomed); its close must not end x's session.
    let mut c = two_brokers(vec![]);
    c.ev.truncate(4);
    c.ev.push(recv_on(20, "b1", "y", 40002, hello("app")));
    c.ev.push(closed(21, "b1", "y", Some(40002)));
    c.ev.push(recv_on(30, "b1", "y", 40003, hello("app")));
    c.ev.push(recv(31, "y", "b1", welcome("app")));
    let input = Input::new(&c.s, &c.ev, &c.finals, c.end);
    assert!(input.sessions("b1").closes.is_empty());
    assert_eq!(rules_of(&c.run()), vec!["AUTH-5"], "{:#?}", c.run());
}

/// A one-way cut excuses the link (both ends, either order) while it lasts, and nothing
/// outside it; a `repair_oneway` ends it.
#[test]
fn a_oneway_partition_cuts_the_link_until_its_repair() {
    let s = scenario(vec![
        ("a", client("a", &["b"])),
        ("c", client("c", &["b"])),
        ("b", HostKind::Broker(Default::default())),
    ]);
    let ev = vec![
        fault(100, "a", FaultKind::PartitionOneway, Some("b")),
        fault(300, "a", FaultKind::RepairOneway, Some("b")),
    ];
    let finals = BTreeMap::new();
    let input = Input::new(&s, &ev, &finals, ms(1000));
    for (x, y) in [("a", "b"), ("b", "a")] {
        assert!(input.link_cut_during(x, y, ms(150), ms(200)), "{x} {y}");
        assert!(input.link_cut_during(x, y, ms(0), ms(100)), "{x} {y}");
        assert!(!input.link_cut_during(x, y, ms(400), ms(500)), "{x} {y}");
        assert!(input.link_faulted(x, y, ms(0), ms(500)), "{x} {y}");
    }
    assert!(!input.link_cut_during("c", "b", ms(150), ms(200)));
    assert!(!input.link_faulted("c", "b", ms(0), ms(500)));

    // Both directions cut one way each: repairing one leaves the link cut.
    let ev = vec![
        fault(100, "a", FaultKind::PartitionOneway, Some("b")),
        fault(110, "b", FaultKind::PartitionOneway, Some("a")),
        fault(200, "a", FaultKind::RepairOneway, Some("b")),
        fault(400, "b", FaultKind::RepairOneway, Some("a")),
    ];
    let input = Input::new(&s, &ev, &finals, ms(1000));
    assert!(input.link_cut_during("a", "b", ms(250), ms(300)));
    assert!(!input.link_cut_during("a", "b", ms(450), ms(500)));
    // A `repair` restores both directions.
    let ev = vec![
        fault(100, "a", FaultKind::PartitionOneway, Some("b")),
        fault(200, "a", FaultKind::Repair, Some("b")),
    ];
    let input = Input::new(&s, &ev, &finals, ms(1000));
    assert!(!input.link_cut_during("a", "b", ms(250), ms(300)));
}

/// `max_latency` is the network's, widened by every `latency` fault of the run (and
/// `min_latency` lowered), so deadline slack covers a slowed link: a call 200ms late
/// breaks MUX-8 on a 1ms network, not after a link was set to 300ms.
#[test]
fn a_latency_fault_widens_the_latency_bounds() {
    let s = scenario(vec![
        ("app", client("app", &["b"])),
        ("b", HostKind::Broker(Default::default())),
    ]);
    let finals = BTreeMap::new();
    let input = Input::new(&s, &[], &finals, ms(5000));
    assert_eq!(input.max_latency(), s.network.max_latency);
    assert_eq!(input.min_latency(), s.network.min_latency);
    let slowed = fault(
        10,
        "app",
        FaultKind::Latency {
            min: ms(0),
            max: ms(300),
        },
        Some("b"),
    );
    let late = |with_fault: bool| {
        let mut ev = vec![
            call(100, "app", "r1", req_call(), Some(1100)),
            result(1300, "app", "r1", Outcome::Fails(FailKind::Timeout)),
        ];
        if with_fault {
            ev.insert(0, slowed.clone());
        }
        Case::new(s.clone(), ev, BTreeMap::new())
    };
    let ev = [slowed.clone()];
    let input = Input::new(&s, &ev, &finals, ms(5000));
    assert_eq!(input.max_latency(), ms(300));
    assert_eq!(input.min_latency(), ms(0));
    assert!(rules_of(&late(false).run()).contains(&"MUX-8"));
    assert!(!rules_of(&late(true).run()).contains(&"MUX-8"));
}
