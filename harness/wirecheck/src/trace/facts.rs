//! End-of-run facts a driver can report about a host's internal state, typed so the
//! checkers read them without knowing the implementation (the plain ones, such as a
//! client's pending ids, are fields of `crate::checkers::HostFinal` directly).

/// What a relay tracks at the end of a run, next to what the trace says is open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayFacts {
    /// Per backend host, in configured order: the relay's count of open connections to it.
    pub counts: Vec<(String, u64)>,
    /// Client connections its tracking maps hold.
    pub clients: u64,
    /// Backend connections (dialing or open) its tracking maps hold.
    pub links: u64,
    /// Its structural self-check (`Err` names the inconsistency).
    pub invariants: Result<(), String>,
}
