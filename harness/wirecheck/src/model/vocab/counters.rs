//! Counters an `expect:` entry (or a `<host>.counters` step) can name, per host kind:
//! each one a current value or a running total, with an enum per kind so drivers name
//! them without string literals.

/// What a counter's final value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// A size at the end of the run (it can go down).
    Current,
    /// A running total: it only goes up.
    Total,
}

impl Value {
    pub const fn label(self) -> &'static str {
        match self {
            Value::Current => "current",
            Value::Total => "total",
        }
    }
}

/// A counter an `expect:` entry can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    pub name: &'static str,
    pub value: Value,
    /// One line: what it counts.
    pub doc: &'static str,
}

const fn current(name: &'static str, doc: &'static str) -> Counter {
    Counter {
        name,
        value: Value::Current,
        doc,
    }
}

const fn total(name: &'static str, doc: &'static str) -> Counter {
    Counter {
        name,
        value: Value::Total,
        doc,
    }
}

/// Defines a counter table and an enum naming its entries (`ClientCounter::Pending.name()`)
/// from one list, so that drivers can name counters without string literals.
macro_rules! counters {
    ($(#[$doc:meta])* $enum:ident, $table:ident { $($variant:ident = $def:expr,)* }) => {
        $(#[$doc])*
        pub const $table: &[Counter] = &[$($def),*];

        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $enum {
            $($variant),*
        }

        impl $enum {
            /// Every counter, in table order.
            pub const ALL: &'static [$enum] = &[$($enum::$variant),*];

            /// The counter's entry in its table.
            pub const fn counter(self) -> &'static Counter {
                &$table[self as usize]
            }

            /// Its name in `expect:`.
            pub const fn name(self) -> &'static str {
                self.counter().name
            }
        }
    };
}

counters! {
    /// A reference client's counters (of its current software: a `bounce` starts them at 0).
    ClientCounter, CLIENT_COUNTERS {
        Pending = current("pending", "calls waiting for their answer (entries in the pending map)"),
        Completed = total(
            "completed",
            "calls answered by the peer: a response, or an `error` reply such as `receiver_gone` (not registrations)",
        ),
        TimedOut = total("timed_out", "calls removed by their timeout"),
        Cancelled = total("cancelled", "calls the caller cancelled"),
        DuplicatesDropped = total(
            "duplicates_dropped",
            "response frames dropped because their call had already completed",
        ),
        LateDropped = total(
            "late_dropped",
            "frames dropped because their call had timed out, been cancelled or failed",
        ),
        UnknownDropped = total(
            "unknown_dropped",
            "frames dropped because their id was never pending",
        ),
        Reconnects = total(
            "reconnects",
            "successful registrations after the first (not attempts)",
        ),
        Disconnects = total(
            "disconnects",
            "registered connections that ended (lost, or closed by the client)",
        ),
        Registrations = total("registrations", "successful registrations (`welcome` received)"),
        Served = total("served", "incoming requests this client answered as a receiver"),
    }
}

counters! {
    /// The reference broker's counters (of its current software: a `bounce` starts them at 0).
    BrokerCounter, BROKER_COUNTERS {
        Connections = current("connections", "open connections"),
        Clients = current("clients", "registered client ids"),
        Requests = current("requests", "requests in flight (queued or assigned)"),
        Queued = current("queued", "requests waiting for a receiver"),
        Waiting = current("waiting", "receive credits waiting for a request"),
        Assignments = current("assignments", "requests assigned to a receiver"),
        Rejected = total(
            "rejected",
            "messages answered with an error and not acted on, refused registrations included",
        ),
        Wakeups = total(
            "wakeups",
            "times the dispatcher looked for work (polling adds idle wake-ups)",
        ),
    }
}

counters! {
    /// A scripted peer's counters (over the whole run, bounces included).
    ScriptedCounter, SCRIPTED_COUNTERS {
        Received = total(
            "received",
            "text messages received, over all its connections",
        ),
        Connections = total(
            "connections",
            "connections accepted (server) or opened (client)",
        ),
    }
}

counters! {
    /// A proxy's counters (over the whole run, bounces included). Each message the proxy
    /// receives is counted once: `forwarded`, or the action of the rule that acted on it.
    ProxyCounter, PROXY_COUNTERS {
        Connections = total("connections", "client connections accepted"),
        Forwarded = total("forwarded", "messages passed on unchanged (no rule acted)"),
        Dropped = total("dropped", "messages a `drop` rule discarded"),
        Duplicated = total("duplicated", "messages a `duplicate` rule forwarded twice"),
        Delayed = total("delayed", "messages a `delay` rule forwarded late"),
        Held = total("held", "messages a `hold` rule kept until `release`"),
        Reordered = total("reordered", "messages a `reorder` rule collected"),
        Corrupted = total("corrupted", "messages a `corrupt` rule acted on"),
        Closed = total(
            "closed",
            "connections the proxy closed on both sides: by a `close` rule, or because one side ended"
        ),
    }
}

counters! {
    /// The reference relay's counters (of its current software: a `bounce` starts them at
    /// 0).
    RelayCounter, RELAY_COUNTERS {
        Connections = total("connections", "client connections accepted"),
        Clients = current("clients", "client connections it tracks"),
        Links = current("links", "backend connections it tracks (dialing or open)"),
        Waiting = current("waiting", "clients waiting for their next failover attempt"),
        Failovers = total(
            "failovers",
            "clients moved to another backend after losing theirs, and served there",
        ),
        Attempts = total("attempts", "failover attempts (backend dials after a loss or a failed dial)"),
        GaveUp = total(
            "gave_up",
            "clients closed because `max_attempts` failover attempts in a row failed",
        ),
        BackendGone = total(
            "backend_gone",
            "requests answered `error backend_gone` because their backend was lost",
        ),
        Cancelled = total(
            "cancelled",
            "requests a client was serving, cancelled toward it because their backend was lost",
        ),
    }
}

/// The names of `counters`, in order.
pub fn counter_names(counters: &[Counter]) -> Vec<&'static str> {
    counters.iter().map(|c| c.name).collect()
}
