#![cfg(loom)]
//! Loom models of the relay's tracking maps and counts (`wirecheck_core::relay`): the
//! driver's tasks as loom threads feeding the real [`Relay`] through [`SharedRelay`] (the
//! `sync` shim's mutex). One client `1` served by the primary through link `L`.
//!
//! Run with `bash ci/loom.sh`. Properties, once every thread has ended: the relay's
//! `check_invariants()` holds (each backend's count is its open links and never went
//! below 0), and the client leaves nothing behind: no client, no link, every count 0.
//!
//! Teeth: `planted_race_close_client_is_caught` closes the client through
//! `SharedRelay::close_client_racy` (links read in one critical section, uncounted in
//! another); loom must find the interleaving where the link is lost in between and
//! counted down twice.

use loom::thread;
use std::time::Duration;
use wirecheck_core::relay::{Action, Frame, LinkNo, RelayConfig, SharedRelay};

#[path = "support/loom_explore.rs"]
mod loom_explore;
use loom_explore::explore;

const CLIENT: u64 = 1;

/// A relay with client 1 served by the primary; its link.
fn served() -> (SharedRelay, LinkNo) {
    let relay = SharedRelay::new(RelayConfig {
        backends: vec!["primary:7300".into(), "secondary:7300".into()],
        ..RelayConfig::default()
    });
    let link = relay.with(|r| {
        let actions = r.on_client_open(CLIENT, Duration::ZERO);
        let link = actions
            .iter()
            .find_map(|a| match a {
                Action::Dial { link, .. } => Some(*link),
                _ => None,
            })
            .expect("a dial");
        r.on_link_up(link);
        link
    });
    (relay, link)
}

/// The client closes while its link is lost and a frame arrives from it; `racy` closes it
/// through the planted race.
fn close_while_lost(racy: bool) {
    let (relay, link) = served();
    let (a, b) = (relay.clone(), relay.clone());
    let closer = thread::spawn(move || {
        if racy {
            a.close_client_racy(CLIENT);
        } else {
            a.with(|r| r.on_client_closed(CLIENT));
        }
    });
    let loser = thread::spawn(move || {
        b.with(|r| r.on_link_lost(link, Duration::from_millis(1)));
    });
    relay.with(|r| {
        r.on_client_frame(
            CLIENT,
            1,
            Frame::Text(r#"{"type":"ping","nonce":1}"#.into()),
        )
    });
    closer.join().unwrap();
    loser.join().unwrap();
    relay.with(|r| {
        if let Err(e) = r.check_invariants() {
            panic!("count violation: {e}");
        }
        // A failover dial may be in flight if the loss came first; its client is gone, so
        // nothing may be left tracked.
        let s = r.stats();
        assert_eq!(
            (s.clients, s.links, s.counts.clone()),
            (0, 0, vec![0, 0]),
            "{s:?}"
        );
    });
}

#[test]
fn client_close_races_link_loss() {
    explore("relay/client_close_races_link_loss", 3, None, || {
        close_while_lost(false)
    });
}

#[test]
#[should_panic(expected = "count violation")]
fn planted_race_close_client_is_caught() {
    explore("relay/planted_race_close_client", 3, None, || {
        close_while_lost(true)
    });
}
