//! Rule checkers over the trace (Jepsen-style history checks). They run on every scenario
//! run, whatever the scenario asserts, and report [`Violation`]s naming the rule, the trace
//! events involved and a one-line diagnosis.
//!
//! Roles are defined by the scenario and by behaviour (see the role helpers in
//! [`Input`]):
//! - **client rules** (MUX, AUTH-1..3, CONN-1..5) judge the scenario's `client` hosts;
//! - **broker rules** (BRK, AUTH-4, AUTH-5) judge every host that accepted a registration
//!   (sent `welcome`) and is not a proxy: brokers under test, and scripted servers playing
//!   a broker (so a scripted misbehaving broker shows that the checkers fire);
//! - **relay rules** (CONN-6) judge the scenario's `proxy` hosts.
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
//! Layout: `input.rs` (the input, roles and shared helpers), one file per rule family
//! (`mux.rs`, `auth.rs`, `conn.rs`, `brk.rs`: routing, `brk_state.rs`: what a broker
//! keeps and frees), unit tests in `tests/`.

use crate::render::fmt_clock;
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;
use wirecheck_core::rules::{rule as rule_by_id, Level, Rule, RULES};

/// A rule id checked against `wirecheck_core::rules` at compile time: `rule!("MUX-4")`.
/// A typo is a compile error, not a checker that can never be matched.
macro_rules! rule {
    ($id:literal) => {
        const { $crate::checkers::RuleId::new($id) }
    };
}

mod auth;
mod brk;
mod brk_state;
mod conn;
mod input;
mod mux;
#[cfg(test)]
mod tests;

pub use input::{HostFinal, Input, PROMPT, SLACK};

/// The id of a rule of `wirecheck_core::rules::RULES`; only constructible for ids that exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleId(&'static str);

impl RuleId {
    /// Panics (at compile time in a `const` context, see [`rule!`]) if `id` is not a rule.
    pub const fn new(id: &'static str) -> RuleId {
        assert!(known(id), "not a rule id of wirecheck_core::rules::RULES");
        RuleId(id)
    }

    pub const fn as_str(self) -> &'static str {
        self.0
    }

    pub fn rule(self) -> &'static Rule {
        rule_by_id(self.0).expect("RuleId is checked on construction")
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

const fn known(id: &str) -> bool {
    let mut k = 0;
    while k < RULES.len() {
        if str_eq(RULES[k].id, id) {
            return true;
        }
        k += 1;
    }
    false
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// A rule id of `wirecheck_core::rules` (built from a [`RuleId`]).
    pub rule: &'static str,
    pub at: Duration,
    /// Indices into the trace of the events involved.
    pub events: Vec<usize>,
    pub diagnosis: String,
}

impl Violation {
    pub fn level(&self) -> Level {
        rule_by_id(self.rule).map_or(Level::Must, |r| r.level)
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} at {}: {}",
            self.level().as_str(),
            self.rule,
            fmt_clock(self.at).trim(),
            self.diagnosis
        )?;
        if !self.events.is_empty() {
            let ids: Vec<String> = self.events.iter().map(|i| format!("#{i}")).collect();
            write!(f, " [trace {}]", ids.join(" "))?;
        }
        Ok(())
    }
}

/// A checker that did not judge a host because the host's driver did not report a fact
/// the checker needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    pub checker: &'static str,
    pub host: String,
    pub reason: String,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} not judged for {}: {}",
            self.checker, self.host, self.reason
        )
    }
}

/// What one checker found: violations, and hosts it could not judge.
#[derive(Debug, Default)]
pub struct Findings {
    violations: Vec<Violation>,
    skipped: Vec<(String, String)>,
}

impl Findings {
    pub fn push(&mut self, v: Violation) {
        self.violations.push(v);
    }

    /// This checker could not judge `host`: `reason` says which fact was missing.
    pub fn skip(&mut self, host: &str, reason: impl Into<String>) {
        self.skipped.push((host.to_owned(), reason.into()));
    }
}

/// The result of [`check_all`].
#[derive(Debug, Default)]
pub struct Checked {
    /// Sorted by time, then rule, then diagnosis; duplicates removed.
    pub violations: Vec<Violation>,
    /// In checker-table order, then host order.
    pub skipped: Vec<Skip>,
}

/// A named check of one or more rules.
pub struct Checker {
    pub name: &'static str,
    pub rules: &'static [RuleId],
    pub check: fn(&Input, &mut Findings),
}

/// Every checker, run on every scenario.
pub const CHECKERS: &[Checker] = &[
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
];

/// Runs every checker over `input` (whose trace is indexed once, in [`Input::new`]).
pub fn check_all(input: &Input) -> Checked {
    let mut out = Checked::default();
    for c in CHECKERS {
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
