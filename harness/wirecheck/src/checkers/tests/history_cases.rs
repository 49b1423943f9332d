//! The history checks (`checkers/history.rs`): answers tied to their requests by the
//! workload's body tags, one receiver per tagged request, answers after the heal.

use super::*;
use crate::model::{Action, Step};
use crate::trace::ProxyAct;

fn tagged(body: &str) -> Call {
    Call::Request {
        channel: "jobs".into(),
        body: body.into(),
        chunks: 0,
        timeout: None,
        batch: None,
    }
}

fn senders_and_receivers() -> Scenario {
    scenario(vec![
        ("b", HostKind::Broker(Default::default())),
        ("w0", client("w0", &["b"])),
        ("w1", client("w1", &["b"])),
        ("s0", client("s0", &["b"])),
        ("s1", client("s1", &["b"])),
    ])
}

/// s0's r1 is answered with s1's r2's echo, and s0's r3 with its own r4's: what s0
/// received is what it returned (no per-hop rule breaks), but the tags show the crossing.
pub(super) fn answers_of_other_requests() -> Case {
    let ev = vec![
        recv(1, "s0", "b", welcome("s0")),
        life(1, "s0", Lifecycle::Registered { to: ep("b") }),
        call(3, "s0", "r1", tagged("s0/r1|xx"), Some(1003)),
        call(3, "s0", "r3", tagged("s0/r3|"), Some(1003)),
        recv(6, "s0", "b", start("r1", Dir::Response, "s1/r2|y")),
        result(6, "s0", "r1", Outcome::Ok("s1/r2|y".into())),
        recv(7, "s0", "b", start("r3", Dir::Response, "s0/r4|")),
        result(7, "s0", "r3", Outcome::Ok("s0/r4|".into())),
    ];
    Case::new(senders_and_receivers(), ev, BTreeMap::new())
}

#[test]
fn an_answer_with_another_senders_tag_is_brk4_and_with_another_call_of_ones_own_mux2() {
    let v = answers_of_other_requests().run();
    assert_eq!(rules_of(&v), vec!["BRK-4", "MUX-2"], "{v:#?}");
    assert!(
        v[0].diagnosis.contains("s1's request r2"),
        "{}",
        v[0].diagnosis
    );
    assert!(
        v[1].diagnosis.contains("its own request r4"),
        "{}",
        v[1].diagnosis
    );
    assert_eq!(v[0].events, vec![2, 5]);
}

#[test]
fn an_answer_with_its_own_tag_or_an_untagged_call_is_quiet() {
    let ev = vec![
        recv(1, "s0", "b", welcome("s0")),
        life(1, "s0", Lifecycle::Registered { to: ep("b") }),
        call(3, "s0", "r1", tagged("s0/r1|xx"), Some(1003)),
        call(3, "s0", "r2", tagged("plain body"), Some(1003)),
        recv(6, "s0", "b", start("r1", Dir::Response, "s0/r1|xxc0")),
        result(6, "s0", "r1", Outcome::Ok("s0/r1|xxc0".into())),
        recv(7, "s0", "b", start("r2", Dir::Response, "s1/r9|")),
        result(7, "s0", "r2", Outcome::Ok("s1/r9|".into())),
    ];
    let v = Case::new(senders_and_receivers(), ev, BTreeMap::new()).run();
    assert!(v.is_empty(), "{v:#?}");
}

/// s0's r1 reaches w0 as r1 and w1 under another id (each hop looks fine alone).
pub(super) fn request_at_two_receivers() -> Case {
    let ev = vec![
        recv(1, "b", "w0", receive("jobs")),
        recv(1, "b", "w1", receive("jobs")),
        call(3, "s0", "r1", tagged("s0/r1|"), Some(1003)),
        recv(4, "b", "s0", start("r1", Dir::Request, "s0/r1|")),
        recv(5, "w0", "b", start("r1", Dir::Request, "s0/r1|")),
        recv(5, "w1", "b", start("r1x", Dir::Request, "s0/r1|")),
    ];
    Case::new(senders_and_receivers(), ev, BTreeMap::new()).ending_at(ms(500))
}

#[test]
fn a_tagged_request_at_two_receivers_is_brk2_unless_a_proxy_duplicated_it() {
    let c = request_at_two_receivers();
    let checker = CHECKERS
        .iter()
        .find(|c| c.name == "one-receiver-in-order")
        .unwrap();
    let f = c.findings(checker);
    assert_eq!(
        rules_of(&f.violations),
        vec!["BRK-2"],
        "{:#?}",
        f.violations
    );
    assert!(f.violations[0]
        .diagnosis
        .contains("handled by 2 receivers: w0, w1"));
    let mut dup = c.ev.clone();
    dup.push(Event {
        at: ms(4),
        host: "px".into(),
        kind: EventKind::Proxy {
            action: ProxyAct::Duplicate,
            peer: "s0".into(),
            text: start("r1", Dir::Request, "s0/r1|").encode(),
        },
    });
    let excused = Case::new(c.s.clone(), dup, BTreeMap::new()).ending_at(ms(500));
    assert!(excused.findings(checker).violations.is_empty());
}

fn healed_at_1s() -> Scenario {
    let mut s = senders_and_receivers();
    s.script = vec![Step {
        loc: Loc::default(),
        action: Action::Heal { within: ms(2000) },
    }];
    s
}

/// After the heal at 1s (answers due within 2s): r1 is answered late, r2 fails
/// `disconnected`, r3 is never answered; r4 in time and r5 cancelled are fine, and so is
/// r0, made before the heal.
pub(super) fn slow_after_heal() -> Case {
    let ev = vec![
        call(900, "s0", "r0", tagged("s0/r0|"), Some(60_000)),
        fault(1000, "", FaultKind::Heal, None),
        call(1100, "s0", "r1", tagged("s0/r1|"), Some(6000)),
        call(1100, "s0", "r2", tagged("s0/r2|"), Some(6000)),
        call(1100, "s1", "r3", tagged("s1/r3|"), Some(60_000)),
        call(1200, "s1", "r4", tagged("s1/r4|"), Some(6000)),
        call(1200, "s1", "r5", tagged("s1/r5|"), Some(6000)),
        result(1300, "s1", "r4", Outcome::Ok("s1/r4|".into())),
        result(1400, "s1", "r5", Outcome::Fails(FailKind::Cancelled)),
        result(1500, "s0", "r2", Outcome::Fails(FailKind::Disconnected)),
        result(3500, "s0", "r1", Outcome::Ok("s0/r1|".into())),
        result(3500, "s0", "r0", Outcome::Ok("s0/r0|".into())),
    ];
    Case::new(healed_at_1s(), ev, BTreeMap::new()).ending_at(ms(10_000))
}

#[test]
fn requests_after_the_heal_must_be_answered_within_the_bound() {
    let c = slow_after_heal();
    let checker = CHECKERS
        .iter()
        .find(|c| c.name == "answered-after-heal")
        .unwrap();
    let v = c.findings(checker).violations;
    let said: Vec<&str> = v.iter().map(|v| v.diagnosis.as_str()).collect();
    assert_eq!(rules_of(&v), vec!["CONN-7"; 3], "{said:#?}");
    assert!(
        said.iter()
            .any(|d| d.contains("call r1") && d.contains("answered only at 3.500s")),
        "{said:#?}"
    );
    assert!(
        said.iter()
            .any(|d| d.contains("call r2") && d.contains("disconnected")),
        "{said:#?}"
    );
    assert!(
        said.iter()
            .any(|d| d.contains("call r3") && d.contains("never answered")),
        "{said:#?}"
    );
    // Without a heal step, nothing is judged.
    let mut calm = c.s.clone();
    calm.script.clear();
    let quiet = Case::new(calm, c.ev.clone(), BTreeMap::new()).ending_at(ms(10_000));
    assert!(quiet.findings(checker).violations.is_empty());
}

/// A client restarted by the nemesis registers again under the same call id (`connect`):
/// a new life, not a second completion. Without the restart it is one.
#[test]
fn a_restart_starts_a_new_life_for_call_ids() {
    let s = senders_and_receivers();
    let connect = |at| {
        call(
            at,
            "s0",
            "connect",
            Call::Connect {
                client: "s0".into(),
                brokers: vec!["b".into()],
            },
            None,
        )
    };
    let twice = vec![
        connect(0),
        result(5, "s0", "connect", Outcome::Ok("welcome".into())),
        connect(100),
        result(105, "s0", "connect", Outcome::Ok("welcome".into())),
    ];
    let checker = CHECKERS
        .iter()
        .find(|c| c.name == "at-most-once-results")
        .unwrap();
    let c = Case::new(s.clone(), twice.clone(), BTreeMap::new());
    assert_eq!(rules_of(&c.findings(checker).violations), vec!["MUX-3"]);
    let mut bounced = twice;
    bounced.insert(2, fault(100, "s0", FaultKind::Bounce, None));
    let c = Case::new(s, bounced, BTreeMap::new());
    assert!(c.findings(checker).violations.is_empty());
}

/// A call of a host's earlier life is not in flight when its new life loses a connection.
#[test]
fn calls_of_an_earlier_life_are_not_failed_by_a_later_disconnect() {
    let s = senders_and_receivers();
    let mut ev = vec![
        recv(1, "s0", "b", welcome("s0")),
        life(1, "s0", Lifecycle::Registered { to: ep("b") }),
        call(3, "s0", "r1", tagged("s0/r1|"), Some(60_000)),
        fault(10, "s0", FaultKind::Bounce, None),
        recv(12, "s0", "b", welcome("s0")),
        life(12, "s0", Lifecycle::Registered { to: ep("b") }),
        disconnected(50, "s0"),
    ];
    let checker = CHECKERS
        .iter()
        .find(|c| c.name == "disconnect-fails-all")
        .unwrap();
    let c = Case::new(s.clone(), ev.clone(), BTreeMap::new());
    assert!(
        c.findings(checker).violations.is_empty(),
        "{:#?}",
        c.findings(checker).violations
    );
    ev.remove(3);
    let c = Case::new(s, ev, BTreeMap::new());
    assert_eq!(rules_of(&c.findings(checker).violations), vec!["MUX-6"]);
}

/// Through a proxy, the sender's connection (px:7) closed before the receiver left: nobody
/// is left to tell `receiver_gone`, though px keeps another connection (px:8) open. The
/// other connection closing instead excuses nothing.
#[test]
fn a_receiver_loss_after_the_senders_own_connection_closed_is_excused() {
    let s = scenario(vec![
        ("b", HostKind::Broker(Default::default())),
        (
            "px",
            HostKind::Proxy(crate::model::ProxySpec {
                target: "b".into(),
                rules: vec![],
            }),
        ),
        ("w", client("w", &["b"])),
    ]);
    let ev = |closed_conn: u16| {
        vec![
            recv_on(1, "b", "px", 7, hello("s0")),
            recv_on(1, "b", "px", 8, hello("s1")),
            recv_on(1, "b", "w", 9, hello("w")),
            recv_on(2, "px", "b", 7, welcome("s0")),
            recv_on(2, "px", "b", 8, welcome("s1")),
            recv(2, "w", "b", welcome("w")),
            recv_on(3, "b", "w", 9, receive("jobs")),
            recv_on(4, "b", "px", 7, start("r1", Dir::Request, "x")),
            recv(5, "w", "b", start("r1", Dir::Request, "x")),
            closed(50, "b", "px", Some(closed_conn)),
            closed(100, "b", "w", Some(9)),
        ]
    };
    let checker = CHECKERS.iter().find(|c| c.name == "receiver-loss").unwrap();
    let gone = Case::new(s.clone(), ev(7), BTreeMap::new());
    assert!(
        gone.findings(checker).violations.is_empty(),
        "{:#?}",
        gone.findings(checker).violations
    );
    let other = Case::new(s, ev(8), BTreeMap::new());
    assert_eq!(rules_of(&other.findings(checker).violations), vec!["BRK-6"]);
}

/// A `welcome` the broker sent just before it restarted, delivered after, belongs to the
/// ended life: it registers nobody, so the next registration is no takeover (AUTH-5).
#[test]
fn a_welcome_from_before_a_restart_registers_nobody() {
    let s = senders_and_receivers();
    let ev = |bounce: bool| {
        let mut ev = vec![recv_on(1, "b", "s0", 1, hello("s0"))];
        if bounce {
            ev.push(fault(10, "b", FaultKind::Bounce, None));
        }
        ev.extend([
            recv_on(10, "s0", "b", 1, welcome("s0")),
            recv_on(20, "b", "s0", 2, hello("s0")),
            recv_on(21, "s0", "b", 2, welcome("s0")),
        ]);
        ev
    };
    let checker = CHECKERS
        .iter()
        .find(|c| c.name == "no-client-id-takeover")
        .unwrap();
    let after = Case::new(s.clone(), ev(true), BTreeMap::new());
    assert!(
        after.findings(checker).violations.is_empty(),
        "{:#?}",
        after.findings(checker).violations
    );
    let without = Case::new(s, ev(false), BTreeMap::new());
    assert_eq!(
        rules_of(&without.findings(checker).violations),
        vec!["AUTH-5"]
    );
}
