//! Rule checkers over the trace (Jepsen-style history checks). They run on every scenario
//! run, whatever the scenario asserts, and report [`Violation`]s naming the rule, the trace
//! events involved and a one-line diagnosis.
//!
//! Roles are defined by the scenario and by behaviour (see the role helpers in
//! [`Input`]):
//! - **client rules** (MUX, AUTH-1..3, CONN-1..5) judge the scenario's `client` hosts;
//! - **broker rules** (BRK, AUTH-4, AUTH-5) judge every host that accepted a registration
//!   (sent `welcome`) and does not just forward it (proxies and relays do): brokers under
//!   test, and scripted servers playing a broker (so a scripted misbehaving broker shows
//!   that the checkers fire);
//! - **proxy rules** (CONN-6) judge the scenario's `proxy` hosts;
//! - **relay rules** (LB) judge the scenario's `relay` hosts, from their typed relay events
//!   and end-of-run facts.
//!
//! Everything is judged per hop, from `Recv` events: what a host received from a peer is
//! what that peer sent on that connection (a proxy in between is itself the peer). The
//! trace is indexed once per run ([`crate::trace::index::TraceIndex`]).
//!
//! A few rules need a fact about a host's internal state at the end (its pending map, the
//! requests a broker holds, the broker's self-check). Those are optional in [`HostFinal`]:
//! when a host under test does not report one, the checker skips that host and the
//! [`Skip`] is reported with the verdict, instead of failing or passing silently.
//!
//! Layout (imports flow one way: this file → families → `input.rs` → `verdict.rs`, and
//! `input.rs` → `crate::trace::index` → `crate::trace`): `verdict.rs` (violations, rule
//! ids, skips), `input.rs` (the input, roles and shared helpers), one file per rule family
//! (`mux.rs`, `auth.rs`, `conn.rs`, `brk.rs`: routing, `brk_state.rs`: what a broker keeps
//! and frees, `lb.rs`: a relay's connections, `lb_state.rs`: what a relay holds,
//! `jsonrpc.rs`), unit tests in `tests/`.

use std::collections::BTreeSet;

/// A rule id checked against `wirecheck_core::rules` at compile time: `rule!("MUX-4")`.
/// A typo is a compile error, not a checker that can never be matched.
macro_rules! rule {
    ($id:literal) => {
        const { $crate::checkers::verdict::RuleId::new($id) }
    };
}

mod auth;
mod brk;
mod brk_state;
mod conn;
mod history;
mod input;
mod jsonrpc;
mod lb;
mod lb_state;
mod mux;
#[cfg(test)]
mod tests;
mod verdict;

pub use input::{HostFinal, Input, PROMPT, SLACK};
pub use verdict::{Checked, Findings, RuleId, Skip, Violation};

/// A named check of one or more rules.
pub struct Checker {
    pub name: &'static str,
    pub rules: &'static [RuleId],
    pub check: fn(&Input, &mut Findings),
}

/// Every checker, run on every scenario.
pub const CHECKERS: &[Checker] = &[
    Checker {
        name: "one-reader",
        rules: &[rule!("MUX-1")],
        check: mux::one_reader,
    },
    Checker {
        name: "responses-match-requests",
        rules: &[rule!("MUX-2")],
        check: mux::correlation,
    },
    Checker {
        name: "at-most-once-results",
        rules: &[rule!("MUX-3")],
        check: mux::at_most_once,
    },
    Checker {
        name: "stray-frames-counted",
        rules: &[rule!("MUX-4")],
        check: mux::strays_counted,
    },
    Checker {
        name: "no-pending-leak",
        rules: &[rule!("MUX-5")],
        check: mux::no_leak,
    },
    Checker {
        name: "disconnect-fails-all",
        rules: &[rule!("MUX-6")],
        check: mux::disconnect_fails_all,
    },
    Checker {
        name: "send-errors-surface",
        rules: &[rule!("MUX-7")],
        check: mux::send_errors,
    },
    Checker {
        name: "calls-end-by-deadline",
        rules: &[rule!("MUX-8")],
        check: mux::deadlines,
    },
    Checker {
        name: "requests-answered",
        rules: &[rule!("MUX-9"), rule!("AUTH-3")],
        check: mux::requests_answered,
    },
    Checker {
        name: "registration-only-on-welcome",
        rules: &[rule!("AUTH-1")],
        check: auth::welcome_only,
    },
    Checker {
        name: "registration-timeout",
        rules: &[rule!("AUTH-2")],
        check: auth::timeout,
    },
    Checker {
        name: "nothing-before-hello",
        rules: &[rule!("AUTH-4")],
        check: auth::nothing_before_hello,
    },
    Checker {
        name: "no-client-id-takeover",
        rules: &[rule!("AUTH-5")],
        check: auth::no_takeover,
    },
    Checker {
        name: "heartbeat-detects-partition",
        rules: &[rule!("CONN-1")],
        check: conn::heartbeat,
    },
    Checker {
        name: "reconnect-backoff",
        rules: &[rule!("CONN-2")],
        check: conn::backoff,
    },
    Checker {
        name: "reconnect-rate-limit",
        rules: &[rule!("CONN-3")],
        check: conn::rate_limit,
    },
    Checker {
        name: "failover-order",
        rules: &[rule!("CONN-4")],
        check: conn::failover_order,
    },
    Checker {
        name: "reconnect-liveness",
        rules: &[rule!("CONN-5")],
        check: conn::reconnects,
    },
    Checker {
        name: "relay-closes-both-sides",
        rules: &[rule!("CONN-6")],
        check: conn::relay_closes,
    },
    Checker {
        name: "answered-after-heal",
        rules: &[rule!("CONN-7")],
        check: history::after_heal,
    },
    Checker {
        name: "requests-go-to-waiting-receivers",
        rules: &[rule!("BRK-1")],
        check: brk::credits,
    },
    Checker {
        name: "one-receiver-in-order",
        rules: &[rule!("BRK-2"), rule!("BRK-3")],
        check: brk::one_receiver,
    },
    Checker {
        name: "responses-to-sender-only",
        rules: &[rule!("BRK-4"), rule!("BRK-8")],
        check: brk::responses,
    },
    Checker {
        name: "unassign-on-end",
        rules: &[rule!("BRK-5")],
        check: brk_state::unassigned,
    },
    Checker {
        name: "receiver-loss",
        rules: &[rule!("BRK-6")],
        check: brk_state::receiver_gone,
    },
    Checker {
        name: "sender-loss",
        rules: &[rule!("BRK-7")],
        check: brk_state::sender_gone,
    },
    Checker {
        name: "bad-input-answered",
        rules: &[rule!("BRK-10"), rule!("BRK-11")],
        check: brk_state::bad_input,
    },
    Checker {
        name: "broker-state-freed",
        rules: &[rule!("BRK-12")],
        check: brk_state::state_freed,
    },
    Checker {
        name: "readers-kept",
        rules: &[rule!("BRK-9")],
        check: brk_state::readers_kept,
    },
    Checker {
        name: "relay-one-reader-per-client",
        rules: &[rule!("LB-1")],
        check: lb::one_reader,
    },
    Checker {
        name: "relay-one-link-per-client",
        rules: &[rule!("LB-2")],
        check: lb::one_link,
    },
    Checker {
        name: "relay-failover-rate-limit",
        rules: &[rule!("LB-3")],
        check: lb::failover_rate,
    },
    Checker {
        name: "relay-placement",
        rules: &[rule!("LB-4")],
        check: lb::placement,
    },
    Checker {
        name: "relay-in-flight-answered",
        rules: &[rule!("LB-5")],
        check: lb_state::in_flight_answered,
    },
    Checker {
        name: "relay-counts-and-maps",
        rules: &[rule!("LB-6")],
        check: lb_state::counts_and_maps,
    },
    Checker {
        name: "relay-close-follows-client",
        rules: &[rule!("LB-7")],
        check: lb_state::close_follows_client,
    },
    Checker {
        name: "jsonrpc-ids-echoed",
        rules: &[rule!("JSONRPC-1"), rule!("JSONRPC-2")],
        check: jsonrpc::ids_echoed,
    },
    Checker {
        name: "jsonrpc-bad-input-and-batches",
        rules: &[rule!("JSONRPC-3"), rule!("JSONRPC-4")],
        check: jsonrpc::bad_input_and_batches,
    },
    Checker {
        name: "jsonrpc-server-keeps-connection",
        rules: &[rule!("JSONRPC-5")],
        check: jsonrpc::server_keeps_connection,
    },
    Checker {
        name: "jsonrpc-client-keeps-connection",
        rules: &[rule!("JSONRPC-6")],
        check: jsonrpc::client_keeps_connection,
    },
    Checker {
        name: "jsonrpc-notifications-without-id",
        rules: &[rule!("JSONRPC-7")],
        check: jsonrpc::notifications_without_id,
    },
];

/// Runs every checker over `input` (whose trace is indexed once, in [`Input::new`]).
pub fn check_all(input: &Input) -> Checked {
    let mut out = Checked::default();
    let protocol = input.scenario.protocol;
    for c in CHECKERS {
        if !c
            .rules
            .iter()
            .any(|r| wirecheck_core::rules::judged_under(r.as_str(), protocol))
        {
            continue;
        }
        let mut f = Findings::default();
        (c.check)(input, &mut f);
        out.violations.extend(f.violations);
        out.skipped
            .extend(f.skipped.into_iter().map(|(host, reason)| Skip {
                checker: c.name,
                host,
                reason,
            }));
    }
    out.violations
        .sort_by(|a, b| (a.at, a.rule, &a.diagnosis).cmp(&(b.at, b.rule, &b.diagnosis)));
    out.violations.dedup();
    out.skipped.dedup();
    out
}

/// The skips as the report shows them after its violations; empty when nothing was
/// skipped (so reports of fully reporting drivers are unchanged).
pub fn render_skips(skipped: &[Skip]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let mut s = String::from("\nnot judged (fact not reported by the host's driver):\n");
    for k in skipped {
        s.push_str(&format!("  {k}\n"));
    }
    s
}

/// Rule ids that at least one checker judges.
pub fn checked_rules() -> BTreeSet<&'static str> {
    CHECKERS
        .iter()
        .flat_map(|c| c.rules.iter().map(|r| r.as_str()))
        .collect()
}
