//! Checker unit tests over synthetic traces: fixtures here, cases by family, the proof
//! that every checker fires (`firing.rs`) and the tests of the helpers that excuse or
//! scope a verdict (`helpers.rs`).

use super::*;
use crate::model::{ClientSpec, FailKind, Host, HostKind, Loc, Network, Outcome, Scenario};
use crate::trace::{Call, Event, EventKind, FaultKind, Lifecycle, Peer};
use std::collections::BTreeMap;
use std::time::Duration;
use wirecheck_core::wire::{Dir, Message};

mod broker_cases;
mod cases;
mod client_cases;
mod firing;
mod helpers;
mod history_cases;
mod jsonrpc_cases;
mod relay_cases;

fn scenario(hosts: Vec<(&str, HostKind)>) -> Scenario {
    Scenario {
        name: "t".into(),
        name_loc: Loc::default(),
        name_written: true,
        about: String::new(),
        rules: vec![],
        protocol: Default::default(),
        seed: 0,
        network: Network::default(),
        duration: Duration::from_secs(60),
        hosts: hosts
            .into_iter()
            .map(|(n, kind)| Host {
                name: n.into(),
                kind,
                loc: Loc::default(),
            })
            .collect(),
        script: vec![],
        expect: vec![],
        expect_violations: vec![],
        chaos: None,
        file: Default::default(),
    }
}

fn client(id: &str, connect: &[&str]) -> HostKind {
    HostKind::Client(ClientSpec {
        id: id.into(),
        token: None,
        connect: connect.iter().map(|s| s.to_string()).collect(),
        autoconnect: true,
        register_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(30),
        heartbeat: None,
        reconnect: Some(Default::default()),
        serve: vec![],
    })
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn recv(at: u64, host: &str, from: &str, m: Message) -> Event {
    Event {
        at: ms(at),
        host: host.into(),
        kind: EventKind::Recv {
            from: from.into(),
            conn: None,
            text: m.encode(),
            msg: Some(m),
        },
    }
}

fn ep(host: &str) -> crate::trace::Endpoint {
    crate::trace::Endpoint {
        host: host.into(),
        port: 7300,
    }
}

fn req_call() -> Call {
    Call::Request {
        channel: "jobs".into(),
        body: String::new(),
        chunks: 0,
        timeout: None,
        batch: None,
    }
}

fn life(at: u64, host: &str, l: Lifecycle) -> Event {
    Event {
        at: ms(at),
        host: host.into(),
        kind: EventKind::Life(l),
    }
}

fn start(req: &str, dir: Dir, body: &str) -> Message {
    Message::Start {
        req: req.into(),
        channel: "jobs".into(),
        dir,
        body: body.into(),
        end: true,
    }
}

fn rules_of(v: &[Violation]) -> Vec<&'static str> {
    v.iter().map(|x| x.rule).collect()
}

fn recv_on(at: u64, host: &str, from: &str, conn: u16, m: Message) -> Event {
    let mut e = recv(at, host, from, m);
    if let EventKind::Recv { conn: c, .. } = &mut e.kind {
        *c = Some(conn);
    }
    e
}

fn call(at: u64, host: &str, id: &str, c: Call, deadline: Option<u64>) -> Event {
    Event {
        at: ms(at),
        host: host.into(),
        kind: EventKind::Call {
            id: id.into(),
            call: c,
            deadline: deadline.map(ms),
        },
    }
}

fn result(at: u64, host: &str, id: &str, outcome: Outcome) -> Event {
    Event {
        at: ms(at),
        host: host.into(),
        kind: EventKind::Result {
            id: id.into(),
            outcome,
        },
    }
}

fn fault(at: u64, host: &str, fault: FaultKind, other: Option<&str>) -> Event {
    Event {
        at: ms(at),
        host: host.into(),
        kind: EventKind::Fault {
            fault,
            other: other.map(Into::into),
        },
    }
}

/// `host` (a broker or proxy) saw its connection with `peer` close.
fn closed(at: u64, host: &str, peer: &str, conn: Option<u16>) -> Event {
    life(
        at,
        host,
        Lifecycle::ConnClosed {
            peer: Peer {
                host: peer.into(),
                conn,
            },
            reason: "closed".into(),
            cause: crate::trace::CloseCause::Peer,
        },
    )
}

fn hello(client: &str) -> Message {
    Message::Hello {
        client: client.into(),
        token: None,
    }
}

fn welcome(client: &str) -> Message {
    Message::Welcome {
        client: client.into(),
    }
}

fn receive(channel: &str) -> Message {
    Message::Receive {
        channel: channel.into(),
    }
}

fn disconnected(at: u64, host: &str) -> Event {
    life(
        at,
        host,
        Lifecycle::Disconnected {
            reason: "lost".into(),
            failed: 0,
        },
    )
}

fn running() -> HostFinal {
    HostFinal {
        running: true,
        pending_ids: Some(vec![]),
        broker_requests: Some(vec![]),
        broker_invariants: Some(Ok(())),
        ..Default::default()
    }
}

/// A synthetic run: a scenario, its trace, what the drivers reported, when it ended.
struct Case {
    s: Scenario,
    ev: Vec<Event>,
    finals: BTreeMap<String, HostFinal>,
    end: Duration,
}

impl Case {
    fn new(s: Scenario, ev: Vec<Event>, finals: BTreeMap<String, HostFinal>) -> Case {
        Case {
            s,
            ev,
            finals,
            end: ms(60_000),
        }
    }

    fn ending_at(mut self, end: Duration) -> Case {
        self.end = end;
        self
    }

    fn checked(&self) -> Checked {
        if self.s.protocol == crate::model::Protocol::JsonRpc2 {
            let d = crate::trace::jsonrpc::decode(&self.ev);
            return check_all(&Input::with_rpc(
                &self.s,
                &self.ev,
                &self.finals,
                self.end,
                &d,
            ));
        }
        check_all(&Input::new(&self.s, &self.ev, &self.finals, self.end))
    }

    /// Every checker's violations.
    fn run(&self) -> Vec<Violation> {
        self.checked().violations
    }

    /// What one checker alone finds.
    fn findings(&self, c: &Checker) -> Findings {
        let d = crate::trace::jsonrpc::decode(&self.ev);
        let input = if self.s.protocol == crate::model::Protocol::JsonRpc2 {
            Input::with_rpc(&self.s, &self.ev, &self.finals, self.end, &d)
        } else {
            Input::new(&self.s, &self.ev, &self.finals, self.end)
        };
        let mut f = Findings::default();
        (c.check)(&input, &mut f);
        f
    }
}
