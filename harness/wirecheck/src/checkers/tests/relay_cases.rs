//! Relay rules (LB-1..7) on synthetic relay lanes: a client `app` moved from `p` to `s`
//! by relay `lb`, then each rule broken on purpose.

use super::*;
use crate::model::RelaySpec;
use crate::trace::{LinkEnd, RelayFacts, RelayLife};
use wirecheck_core::wire::code;

fn relay_scenario() -> Scenario {
    scenario(vec![
        ("p", HostKind::Broker(Default::default())),
        ("s", HostKind::Broker(Default::default())),
        (
            "lb",
            HostKind::Relay(RelaySpec {
                backends: vec!["p".into(), "s".into()],
                ..RelaySpec::default()
            }),
        ),
        ("app", client("app", &["lb"])),
    ])
}

fn app() -> Peer {
    Peer {
        host: "app".into(),
        conn: Some(49152),
    }
}

fn rl(at: u64, r: RelayLife) -> Event {
    life(at, "lb", Lifecycle::Relay(r))
}

fn dial(at: u64, link: u64, backend: &str, attempt: u32) -> Event {
    rl(
        at,
        RelayLife::Dial {
            client: app(),
            link,
            backend: backend.into(),
            attempt,
        },
    )
}

fn linked(at: u64, link: u64, backend: &str) -> Event {
    rl(
        at,
        RelayLife::Linked {
            client: app(),
            link,
            backend: backend.into(),
            conn: Some(50_000 + link as u16),
        },
    )
}

fn ready(at: u64, link: u64, backend: &str) -> Event {
    rl(
        at,
        RelayLife::Ready {
            client: app(),
            link,
            backend: backend.into(),
        },
    )
}

fn unlinked(at: u64, link: u64, backend: &str, end: LinkEnd) -> Event {
    rl(
        at,
        RelayLife::Unlinked {
            client: app(),
            link,
            backend: backend.into(),
            end,
        },
    )
}

fn health(at: u64, backend: &str, up: bool) -> Event {
    rl(
        at,
        RelayLife::Health {
            backend: backend.into(),
            up,
        },
    )
}

fn reader(at: u64, n: u32, running: bool) -> Event {
    rl(
        at,
        RelayLife::Reader {
            client: app(),
            reader: n,
            running,
        },
    )
}

/// `lb` reports these counts and map sizes, self-check passing.
fn lb_final(p: u64, s: u64, clients: u64, links: u64) -> BTreeMap<String, HostFinal> {
    BTreeMap::from([(
        "lb".to_owned(),
        HostFinal {
            running: true,
            relay: Some(RelayFacts {
                counts: vec![("p".into(), p), ("s".into(), s)],
                clients,
                links,
                invariants: Ok(()),
            }),
            ..HostFinal::default()
        },
    )])
}

/// The start of every case: app connects, is served by p; p is lost at 1 s; app is moved
/// to s at once.
fn moved() -> Vec<Event> {
    vec![
        reader(2, 1, true),
        dial(2, 1, "p", 0),
        linked(5, 1, "p"),
        ready(5, 1, "p"),
        unlinked(1000, 1, "p", LinkEnd::Lost),
        health(1000, "p", false),
        dial(1000, 2, "s", 1),
        linked(1003, 2, "s"),
        ready(1005, 2, "s"),
    ]
}

/// The end of a clean case: app leaves at 9 s and its link goes with it.
fn leaves(ev: &mut Vec<Event>, link: u64) {
    ev.push(closed(9000, "lb", "app", Some(49152)));
    ev.push(unlinked(9000, link, "s", LinkEnd::Closed));
    ev.push(reader(9000, 1, false));
}

/// A correct relay: nothing fires.
pub(super) fn clean_move() -> Case {
    let mut ev = moved();
    leaves(&mut ev, 2);
    Case::new(relay_scenario(), ev, lb_final(0, 0, 0, 0))
}

/// LB-1: after the move, a second reader of app's socket starts beside the first.
pub(super) fn second_reader_after_failover() -> Case {
    let mut ev = moved();
    ev.push(reader(1005, 2, true));
    leaves(&mut ev, 2);
    ev.push(reader(9000, 2, false));
    Case::new(relay_scenario(), ev, lb_final(0, 0, 0, 0))
}

/// LB-2: a second link for app while link 2 is open.
pub(super) fn second_link() -> Case {
    let mut ev = moved();
    ev.push(dial(7000, 3, "s", 2));
    ev.push(unlinked(7003, 3, "s", LinkEnd::Closed));
    leaves(&mut ev, 2);
    Case::new(relay_scenario(), ev, lb_final(0, 0, 0, 0))
}

/// LB-3: s fails at once and the next attempt follows without waiting `min_gap`.
pub(super) fn failover_storm() -> Case {
    let mut ev = moved()[..7].to_vec();
    ev.push(unlinked(1001, 2, "s", LinkEnd::Failed));
    ev.push(health(1001, "s", false));
    ev.push(dial(1001, 3, "p", 2));
    ev.push(linked(1004, 3, "p"));
    ev.push(ready(1006, 3, "p"));
    ev.push(closed(9000, "lb", "app", Some(49152)));
    ev.push(unlinked(9000, 3, "p", LinkEnd::Closed));
    Case::new(relay_scenario(), ev, lb_final(0, 0, 0, 0))
}

/// LB-4: app is sent back to p, which the relay holds down, while s is healthy.
pub(super) fn sent_to_a_down_backend() -> Case {
    let mut ev = moved()[..6].to_vec();
    ev.push(dial(1000, 2, "p", 1));
    ev.push(linked(1003, 2, "p"));
    ev.push(ready(1005, 2, "p"));
    ev.push(closed(9000, "lb", "app", Some(49152)));
    ev.push(unlinked(9000, 2, "p", LinkEnd::Closed));
    Case::new(relay_scenario(), ev, lb_final(0, 0, 0, 0))
}

/// LB-5: p is lost with app's request r1 in flight and a request r9 app was serving; app
/// is told nothing.
pub(super) fn in_flight_dropped() -> Case {
    let mut ev = moved()[..4].to_vec();
    ev.push(recv_on(
        100,
        "lb",
        "app",
        49152,
        start("r1", Dir::Request, "x"),
    ));
    ev.push(recv_on(
        200,
        "lb",
        "p",
        50_001,
        start("r9", Dir::Request, "y"),
    ));
    ev.extend(moved()[4..].iter().cloned());
    leaves(&mut ev, 2);
    Case::new(relay_scenario(), ev, lb_final(0, 0, 0, 0))
}

/// LB-6: at the end lb still counts a connection to s and tracks app, all closed.
pub(super) fn stale_counts() -> Case {
    let mut ev = moved();
    leaves(&mut ev, 2);
    Case::new(relay_scenario(), ev, lb_final(0, 1, 1, 1))
}

/// LB-7: app leaves and its link to s stays open (the relay's facts agree: it still
/// tracks that link and counts it).
pub(super) fn link_outlives_client() -> Case {
    let mut ev = moved();
    ev.push(closed(9000, "lb", "app", Some(49152)));
    ev.push(reader(9000, 1, false));
    Case::new(relay_scenario(), ev, lb_final(0, 1, 0, 1))
}

#[test]
fn a_correct_move_fires_nothing() {
    let v = clean_move().run();
    assert!(v.is_empty(), "{v:#?}");
}

#[test]
fn each_relay_case_fires_its_rule_alone() {
    for (case, rule) in [
        (second_reader_after_failover(), "LB-1"),
        (second_link(), "LB-2"),
        (failover_storm(), "LB-3"),
        (sent_to_a_down_backend(), "LB-4"),
        (stale_counts(), "LB-6"),
        (link_outlives_client(), "LB-7"),
    ] {
        let v = case.run();
        assert_eq!(rules_of(&v), vec![rule], "{v:#?}");
    }
    let v = in_flight_dropped().run();
    assert_eq!(rules_of(&v), vec!["LB-5", "LB-5"], "{v:#?}");
}

#[test]
fn in_flight_work_answered_at_once_is_quiet() {
    let mut c = in_flight_dropped();
    let at = c.ev.iter().position(|e| e.at == ms(1005)).unwrap();
    c.ev.insert(
        at,
        recv(
            1001,
            "app",
            "lb",
            Message::error(Some("r1"), code::BACKEND_GONE, "gone"),
        ),
    );
    c.ev.insert(
        at,
        recv(1001, "app", "lb", Message::Cancel { req: "r9".into() }),
    );
    let v = c.run();
    assert!(v.is_empty(), "{v:#?}");
    // A request that ended before the loss is not in flight.
    let mut ended = in_flight_dropped();
    ended.ev.insert(
        6,
        recv_on(300, "lb", "p", 50_001, start("r1", Dir::Response, "done")),
    );
    ended.ev.insert(
        7,
        recv_on(300, "lb", "app", 49152, start("r9", Dir::Response, "ok")),
    );
    let v = ended.run();
    assert!(v.is_empty(), "{v:#?}");
}

#[test]
fn a_client_left_without_a_backend_fires_lb4_and_giving_up_early_fires_lb3() {
    // p lost at 1 s, no attempt and no close for 10 s.
    let mut ev = moved()[..6].to_vec();
    ev.push(closed(11_000, "lb", "app", Some(49152)));
    let v = Case::new(relay_scenario(), ev.clone(), lb_final(0, 0, 0, 0)).run();
    assert_eq!(rules_of(&v), vec!["LB-4"], "{v:#?}");
    // Closed at once instead: fine, unless the relay says it gave up after too few
    // attempts.
    ev.pop();
    ev.push(rl(
        1000,
        RelayLife::GaveUp {
            client: app(),
            attempts: 1,
        },
    ));
    ev.push(closed(1000, "lb", "app", Some(49152)));
    let v = Case::new(relay_scenario(), ev, lb_final(0, 0, 0, 0)).run();
    assert_eq!(rules_of(&v), vec!["LB-3"], "{v:#?}");
}

#[test]
fn a_restarted_relay_is_judged_from_its_restart_and_a_black_box_is_skipped() {
    let mut c = stale_counts();
    // The relay was bounced after app left: the old links are not its current ones.
    c.ev.push(fault(9500, "lb", FaultKind::Bounce, None));
    c.finals = lb_final(0, 0, 0, 0);
    assert!(c.run().is_empty());
    let mut blind = clean_move();
    blind.finals.get_mut("lb").unwrap().relay = None;
    let checked = blind.checked();
    assert!(checked.violations.is_empty());
    assert_eq!(checked.skipped.len(), 1, "{:?}", checked.skipped);
    assert_eq!(checked.skipped[0].checker, "relay-counts-and-maps");
}

#[test]
fn a_second_link_lost_beside_a_serving_one_strands_nobody() {
    // A flawed relay's extra link to s is lost while link 2 still serves app: LB-2 names
    // the second link; LB-4 must not call app stranded (it has a backend).
    let mut ev = moved();
    ev.push(dial(7000, 3, "s", 2));
    ev.push(linked(7003, 3, "s"));
    ev.push(unlinked(8000, 3, "s", LinkEnd::Lost));
    let v = Case::new(relay_scenario(), ev, lb_final(0, 1, 1, 1)).run();
    assert_eq!(rules_of(&v), vec!["LB-2"], "{v:#?}");
}
