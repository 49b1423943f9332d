//! Unit tests of the relay's decisions, one event at a time.

use super::*;
use crate::wire::{code, Dir, Message};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn relay(flaws: Flaws) -> Relay {
    Relay::new(RelayConfig {
        backends: vec!["primary:7300".into(), "secondary:7300".into()],
        buffer: 4,
        flaws,
        ..RelayConfig::default()
    })
}

fn text(m: &Message) -> Frame {
    Frame::Text(m.encode())
}

fn hello() -> Message {
    Message::Hello {
        client: "app".into(),
        token: None,
    }
}

fn welcome() -> Message {
    Message::Welcome {
        client: "app".into(),
    }
}

fn start(req: &str, dir: Dir, end: bool) -> Message {
    Message::Start {
        req: req.into(),
        channel: if dir == Dir::Request {
            "jobs".into()
        } else {
            String::new()
        },
        dir,
        body: "b".into(),
        end,
    }
}

/// The dial in `actions` (there must be exactly one).
fn dial(actions: &[Action]) -> (LinkNo, BackendNo, u32) {
    let dials: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Dial {
                link,
                backend,
                attempt,
                ..
            } => Some((*link, *backend, *attempt)),
            _ => None,
        })
        .collect();
    assert_eq!(dials.len(), 1, "{actions:?}");
    dials[0]
}

fn to_backend(actions: &[Action]) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendBackend {
                frame: Frame::Text(t),
                ..
            } => Message::decode(t).ok(),
            _ => None,
        })
        .collect()
}

fn to_client(actions: &[Action]) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendClient {
                frame: Frame::Text(t),
                ..
            } => Message::decode(t).ok(),
            _ => None,
        })
        .collect()
}

/// A client registered through the primary, serving `jobs` with two credits: the relay
/// and the client's link.
fn registered(flaws: Flaws) -> (Relay, LinkNo) {
    let mut r = relay(flaws);
    let a = r.on_client_open(1, secs(0));
    assert_eq!(
        a[0],
        Action::ReadClient {
            client: 1,
            reader: 1
        }
    );
    let (link, backend, attempt) = dial(&a);
    assert_eq!(
        (backend, attempt),
        (0, 0),
        "the first backend, not a failover"
    );
    // Sent before the link is up: held, then flushed in order.
    assert!(r.on_client_frame(1, 1, text(&hello())).is_empty());
    let a = r.on_link_up(link);
    assert!(a.contains(&Action::Ready { client: 1, link }));
    assert_eq!(to_backend(&a), vec![hello()]);
    assert_eq!(
        to_client(&r.on_backend_frame(link, text(&welcome()), secs(0))),
        vec![welcome()]
    );
    let credit = Message::Receive {
        channel: "jobs".into(),
    };
    for _ in 0..2 {
        let a = r.on_client_frame(1, 1, text(&credit));
        assert_eq!(to_backend(&a), vec![credit.clone()]);
    }
    assert_eq!(r.stats().counts, vec![1, 0]);
    r.check_invariants().unwrap();
    (r, link)
}

#[test]
fn a_closed_client_leaves_nothing_and_closes_its_link() {
    let (mut r, link) = registered(Flaws::none());
    let a = r.on_client_closed(1);
    assert_eq!(
        a,
        vec![Action::CloseLink {
            link,
            why: LinkClose::ClientGone
        }]
    );
    let s = r.stats();
    assert_eq!((s.clients, s.links, s.counts.clone()), (0, 0, vec![0, 0]));
    r.check_invariants().unwrap();
    // Its link's late frames and end are ignored.
    assert!(r
        .on_backend_frame(link, text(&welcome()), secs(1))
        .is_empty());
    assert!(r.on_link_lost(link, secs(1)).is_empty());
    assert_eq!(r.stats().counts, vec![0, 0], "never below 0");
    assert_eq!(r.stats().underflows, 0);
}

#[test]
fn a_lost_primary_moves_the_client_to_the_secondary_with_its_session() {
    let (mut r, link) = registered(Flaws::none());
    // In flight: r1 sent (done), r2 still uploading, `in` being served (one credit used).
    r.on_client_frame(1, 1, text(&start("r1", Dir::Request, true)));
    r.on_client_frame(1, 1, text(&start("r2", Dir::Request, false)));
    r.on_backend_frame(link, text(&start("in", Dir::Request, true)), secs(1));
    let a = r.on_link_lost(link, secs(2));
    assert!(a.contains(&Action::Health {
        backend: 0,
        up: false
    }));
    let told = to_client(&a);
    assert_eq!(told.len(), 3, "{told:?}");
    assert!(told.iter().all(|m| matches!(m,
        Message::Error { code: c, .. } if c == code::BACKEND_GONE)
        || matches!(m, Message::Cancel { req } if req == "in")));
    let (link2, backend, attempt) = dial(&a);
    assert_eq!((backend, attempt), (1, 1), "at once, to the secondary");
    // Meanwhile: r2's late chunk is dropped, a new request is held.
    r.on_client_frame(
        1,
        1,
        text(&Message::Chunk {
            req: "r2".into(),
            dir: Dir::Request,
            seq: 0,
            data: "x".into(),
        }),
    );
    r.on_client_frame(1, 1, text(&start("r3", Dir::Request, true)));
    let a = r.on_link_up(link2);
    assert_eq!(to_backend(&a), vec![hello()], "registration replayed first");
    assert_eq!(r.stats().counts, vec![0, 1]);
    let a = r.on_backend_frame(link2, text(&welcome()), secs(2));
    assert!(
        to_client(&a).is_empty(),
        "the replay's welcome is swallowed"
    );
    let sent = to_backend(&a);
    assert_eq!(
        sent,
        vec![
            Message::Receive {
                channel: "jobs".into()
            },
            start("r3", Dir::Request, true)
        ],
        "the unused credit, then the held request; r2's chunk was dropped"
    );
    let s = r.stats();
    assert_eq!(
        (s.failovers, s.attempts, s.backend_gone, s.cancelled),
        (1, 1, 2, 1)
    );
    r.check_invariants().unwrap();
}

#[test]
fn failover_is_rate_limited_and_gives_up_after_max_attempts() {
    let (mut r, link) = registered(Flaws::none());
    let a = r.on_link_lost(link, secs(10));
    let (l1, b1, n1) = dial(&a);
    assert_eq!((b1, n1), (1, 1));
    let a = r.on_link_failed(l1, secs(10));
    assert!(
        !a.iter().any(|x| matches!(x, Action::Dial { .. })),
        "5 s apart"
    );
    assert_eq!(r.next_deadline(), Some(secs(11)), "probes of both first");
    // Probes of both backends fail meanwhile.
    let probes = r.on_time(secs(11));
    assert_eq!(
        probes,
        vec![Action::Probe { backend: 0 }, Action::Probe { backend: 1 }]
    );
    r.on_probe(0, false, secs(11));
    r.on_probe(1, false, secs(11));
    assert!(r
        .on_time(secs(14))
        .iter()
        .all(|a| !matches!(a, Action::Dial { .. })));
    let a = r.on_time(secs(15));
    let (l2, b2, n2) = dial(&a);
    assert_eq!((b2, n2), (0, 2), "none healthy: the next one in turn");
    r.on_link_failed(l2, secs(15));
    let (l3, _, n3) = dial(&r.on_time(secs(20)));
    assert_eq!(n3, 3);
    let a = r.on_link_failed(l3, secs(20));
    assert!(a.contains(&Action::CloseClient {
        client: 1,
        why: ClientClose::GaveUp { attempts: 3 }
    }));
    let s = r.stats();
    assert_eq!((s.clients, s.links, s.gave_up, s.attempts), (0, 0, 1, 3));
    r.check_invariants().unwrap();
}

#[test]
fn flaw_failover_unlimited_attempts_back_to_back() {
    let (mut r, link) = registered(Flaws::one(Flaw::RelayFailoverUnlimited));
    let (l1, ..) = dial(&r.on_link_lost(link, secs(10)));
    let (l2, ..) = dial(&r.on_link_failed(l1, secs(10)));
    let (l3, ..) = dial(&r.on_link_failed(l2, secs(10)));
    assert!(r
        .on_link_failed(l3, secs(10))
        .iter()
        .any(|a| matches!(a, Action::CloseClient { .. })));
}

#[test]
fn a_backend_comes_back_through_probes_and_new_clients_prefer_it_again() {
    let (mut r, link) = registered(Flaws::none());
    let (l1, ..) = dial(&r.on_link_lost(link, secs(1)));
    r.on_link_up(l1);
    r.on_backend_frame(l1, text(&welcome()), secs(1));
    // A new client while the primary is down goes to the secondary.
    let (l, b, _) = dial(&r.on_client_open(2, secs(1)));
    assert_eq!(b, 1);
    assert_eq!(r.on_time(secs(2)), vec![Action::Probe { backend: 0 }]);
    assert_eq!(
        r.on_probe(0, true, secs(2)),
        vec![Action::Health {
            backend: 0,
            up: true
        }]
    );
    assert_eq!(dial(&r.on_client_open(3, secs(2))).1, 0);
    // No failback: client 1 stays where it is.
    assert_eq!(r.stats().counts, vec![0, 1]);
    let _ = l;
    r.check_invariants().unwrap();
}

#[test]
fn a_dial_that_completes_after_its_client_left_is_closed() {
    let mut r = relay(Flaws::none());
    let (link, ..) = dial(&r.on_client_open(1, secs(0)));
    let a = r.on_client_closed(1);
    assert_eq!(
        a,
        vec![Action::CloseLink {
            link,
            why: LinkClose::ClientGone
        }]
    );
    assert_eq!(
        r.on_link_up(link),
        vec![Action::CloseLink {
            link,
            why: LinkClose::Superseded
        }]
    );
    assert_eq!(r.stats().counts, vec![0, 0]);
    r.check_invariants().unwrap();
}

#[test]
fn a_full_buffer_closes_the_client() {
    let mut r = relay(Flaws::none());
    r.on_client_open(1, secs(0));
    for _ in 0..4 {
        assert!(r.on_client_frame(1, 1, text(&hello())).is_empty());
    }
    let a = r.on_client_frame(1, 1, text(&hello()));
    assert!(a.contains(&Action::CloseClient {
        client: 1,
        why: ClientClose::BufferFull { limit: 4 }
    }));
    assert_eq!(r.stats().links, 0);
}

#[test]
fn a_refused_replay_is_a_failed_attempt() {
    let (mut r, link) = registered(Flaws::none());
    let (l1, ..) = dial(&r.on_link_lost(link, secs(0)));
    r.on_link_up(l1);
    let no = Message::error(None, code::CLIENT_ID_TAKEN, "taken");
    let a = r.on_backend_frame(l1, text(&no), secs(0));
    assert!(to_client(&a).is_empty(), "not the client's refusal");
    assert!(a.contains(&Action::CloseLink {
        link: l1,
        why: LinkClose::Refused
    }));
    assert_eq!(r.stats().counts, vec![0, 0]);
    assert_eq!(r.stats().waiting, 1);
    r.check_invariants().unwrap();
}

#[test]
fn flaw_two_readers_starts_a_second_reader_whose_frames_are_lost() {
    let (mut r, link) = registered(Flaws::one(Flaw::RelayTwoReaders));
    let (l1, ..) = dial(&r.on_link_lost(link, secs(0)));
    r.on_link_up(l1);
    let a = r.on_backend_frame(l1, text(&welcome()), secs(0));
    assert!(a.contains(&Action::ReadClient {
        client: 1,
        reader: 2
    }));
    assert!(to_backend(&r.on_client_frame(1, 1, text(&start("r", Dir::Request, true)))).is_empty());
    // The correct relay has one reader for good.
    let (mut r, link) = registered(Flaws::none());
    let (l1, ..) = dial(&r.on_link_lost(link, secs(0)));
    r.on_link_up(l1);
    let a = r.on_backend_frame(l1, text(&welcome()), secs(0));
    assert!(!a.iter().any(|x| matches!(x, Action::ReadClient { .. })));
}

#[test]
fn flaw_duplicate_handlers_opens_two_links_for_one_client() {
    let (mut r, link) = registered(Flaws::one(Flaw::RelayDuplicateHandlers));
    let a = r.on_link_lost(link, secs(0));
    let dials: Vec<LinkNo> = a
        .iter()
        .filter_map(|x| match x {
            Action::Dial { link, .. } => Some(*link),
            _ => None,
        })
        .collect();
    assert_eq!(dials.len(), 2);
    r.on_link_up(dials[0]);
    r.on_link_up(dials[1]);
    assert_eq!(r.stats().counts, vec![0, 2]);
    assert!(r.check_invariants().is_err(), "a client with two links");
}

#[test]
fn flaw_stale_state_keeps_a_closed_clients_entries() {
    let (mut r, link) = registered(Flaws::one(Flaw::RelayStaleState));
    let a = r.on_client_closed(1);
    assert_eq!(
        a,
        vec![Action::CloseLink {
            link,
            why: LinkClose::ClientGone
        }]
    );
    let s = r.stats();
    assert_eq!((s.clients, s.links, s.counts), (1, 1, vec![1, 0]));
}
