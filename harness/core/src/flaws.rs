//! The bug zoo: known production failures of multiplexers and brokers, reproduced as
//! switchable flaws of the reference implementation.
//!
//! A [`Flaws`] set is consulted at a few named hook points (search for `flaws.has(`); with
//! the empty set (the default) every hook takes the correct path, so a reader of the
//! reference sees the correct code first. `wirecheck zoo` runs the scenario catalog against
//! each flaw and requires that every one is caught.

use std::collections::BTreeSet;
use std::fmt;

/// Which component a flaw lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    Multiplexer,
    Broker,
    Proxy,
    Relay,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Multiplexer => "multiplexer",
            Side::Broker => "broker",
            Side::Proxy => "proxy/failover",
            Side::Relay => "relay",
        }
    }
}

macro_rules! flaws {
    ($($variant:ident $name:literal $side:ident $desc:literal;)*) => {
        /// One known bug.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Flaw { $($variant),* }

        impl Flaw {
            /// Every flaw, in catalog order.
            pub const ALL: &'static [Flaw] = &[$(Flaw::$variant),*];

            /// Stable kebab-case name (`wirecheck zoo --flaw NAME`).
            pub fn name(self) -> &'static str {
                match self { $(Flaw::$variant => $name),* }
            }

            pub fn side(self) -> Side {
                match self { $(Flaw::$variant => Side::$side),* }
            }

            /// What the bug does, one sentence.
            pub fn description(self) -> &'static str {
                match self { $(Flaw::$variant => $desc),* }
            }
        }
    };
}

flaws! {
    SecondReader "second-reader" Multiplexer
        "A component reads the socket for its own reply (`$info`) while the main reader runs, stealing whatever frame comes next.";
    LeakOnTimeout "leak-on-timeout" Multiplexer
        "A pending entry is not removed when its request times out; the map grows and late frames are not counted.";
    LeakOnCancel "leak-on-cancel" Multiplexer
        "A pending entry is not removed when its caller cancels.";
    DuplicateRedelivered "duplicate-redelivered" Multiplexer
        "A completed entry stays armed, so a duplicate response is delivered again instead of dropped and counted.";
    DisconnectLeavesPending "disconnect-leaves-pending" Multiplexer
        "Losing the connection does not fail pending requests; each waits for its own timeout.";
    AnyReplyRegisters "any-reply-registers" Multiplexer
        "Registration treats any reply to `hello` as success.";
    DropDuringRegistration "drop-during-registration" Multiplexer
        "The reader starts only after registration: messages that arrive before `welcome` is processed are lost.";
    SwallowSendErrors "swallow-send-errors" Multiplexer
        "A request that cannot be sent is not reported; the caller learns only at its timeout.";
    NoReconnect "no-reconnect" Multiplexer
        "A lost connection is never re-established.";
    NoBackoff "no-backoff" Multiplexer
        "Reconnects happen without exponential backoff.";
    NoRateLimit "no-rate-limit" Multiplexer
        "Reconnect attempts are not rate limited.";
    Broadcast "broadcast" Broker
        "Request frames are broadcast to every waiting receiver on the channel, so chunks interleave and work is duplicated.";
    PollingReceivers "polling-receivers" Broker
        "Requests are handed to receivers by a 100ms polling loop instead of when a receiver waits.";
    NoUnassign "no-unassign" Broker
        "The assignment is not removed when the response ends (leak).";
    ReceiverLossSilent "receiver-loss-silent" Broker
        "When a receiver disconnects mid-request, the sender is never told.";
    AcceptSpoofed "accept-spoofed" Broker
        "A response from a connection the request is not assigned to is accepted and routed.";
    TakeoverAllowed "takeover-allowed" Broker
        "A second connection may register a client id that is already connected, taking it over.";
    StaleRegistry "stale-registry" Broker
        "A closed connection's registry entry is left behind, so the client can never register again.";
    ProxyOneDirection "proxy-one-direction" Proxy
        "A relay whose upstream ends keeps the client's side open instead of closing it.";
    FailoverNoRateLimit "failover-no-rate-limit" Proxy
        "Failing over to the next broker address skips the reconnect rate limit.";
    RelayTwoReaders "relay-two-readers" Relay
        "After a failover the new backend's handler starts its own reader of the client's socket while the old one keeps reading for the dead backend, so the two steal the client's messages.";
    RelayDuplicateHandlers "relay-duplicate-handlers" Relay
        "Both directions' handlers react to a lost backend and each starts a failover, so a client gets two backend connections at once.";
    RelayFailoverUnlimited "relay-failover-unlimited" Relay
        "Failover attempts for a client are not rate limited: they go back to back however often they fail.";
    RelayStaleState "relay-stale-state" Relay
        "A closed client's sockets are closed but its tracking map entries and per-backend counts are left behind.";
}

impl Flaw {
    pub fn from_name(name: &str) -> Option<Flaw> {
        Flaw::ALL.iter().copied().find(|f| f.name() == name)
    }
}

/// The variable that switches flaws on in the reference binaries (as in any target):
/// `WIRECHECK_FLAW=name[,name...]`.
pub const FLAW_ENV: &str = "WIRECHECK_FLAW";

impl Flaws {
    /// Parses a comma-separated list of flaw names (empty: none).
    pub fn parse_list(list: &str) -> Result<Flaws, String> {
        let mut set = Flaws::none();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let f = Flaw::from_name(name).ok_or_else(|| {
                let names: Vec<&str> = Flaw::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown flaw `{name}` in {FLAW_ENV}; flaws are: {}",
                    names.join(", ")
                )
            })?;
            set = set.with(f);
        }
        Ok(set)
    }

    /// The flaws `WIRECHECK_FLAW` names (none when unset).
    pub fn from_env() -> Result<Flaws, String> {
        match std::env::var(FLAW_ENV) {
            Ok(v) => Flaws::parse_list(&v),
            Err(_) => Ok(Flaws::none()),
        }
    }
}

impl fmt::Display for Flaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of flaws to switch on. Empty by default: the correct reference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flaws(BTreeSet<Flaw>);

impl Flaws {
    pub fn none() -> Self {
        Flaws::default()
    }

    pub fn one(f: Flaw) -> Self {
        Flaws(BTreeSet::from([f]))
    }

    /// This set plus `f`.
    pub fn with(mut self, f: Flaw) -> Self {
        self.0.insert(f);
        self
    }

    pub fn has(&self, f: Flaw) -> bool {
        self.0.contains(&f)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Flaw> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = BTreeSet::new();
        for f in Flaw::ALL {
            assert!(seen.insert(f.name()), "duplicate flaw name {}", f.name());
            assert_eq!(Flaw::from_name(f.name()), Some(*f));
            assert!(f.description().ends_with('.'));
        }
        assert!(Flaws::none().is_empty());
        assert!(Flaws::one(Flaw::Broadcast).has(Flaw::Broadcast));
        assert!(!Flaws::one(Flaw::Broadcast).has(Flaw::NoUnassign));
    }
}
