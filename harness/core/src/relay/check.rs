//! What the relay can tell about itself: counters ([`RelayStats`]) and its structural
//! self-check ([`Relay::check_invariants`]).

use super::{Phase, Relay};
use std::collections::BTreeMap;

/// The relay's state and totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Client connections it tracks.
    pub clients: u64,
    /// Backend links it tracks (dialing or open).
    pub links: u64,
    /// Clients waiting for their next failover attempt.
    pub waiting: u64,
    /// Client frames held while no backend serves their client.
    pub buffered: u64,
    /// Requests in flight through a link, sent and served, and ids whose late frames are
    /// dropped: every per-client session map, summed.
    pub session_entries: u64,
    /// Per backend (in configured order): open links to it.
    pub counts: Vec<u64>,
    /// Clients moved to another backend and served there.
    pub failovers: u64,
    /// Failover attempts (dials after a loss or a failed dial).
    pub attempts: u64,
    /// Clients closed because failover gave up.
    pub gave_up: u64,
    /// Requests answered `backend_gone`.
    pub backend_gone: u64,
    /// Served requests cancelled toward their client because their backend was lost.
    pub cancelled: u64,
    /// Count decrements that found the count at 0 (must stay 0: counts never go
    /// negative).
    pub underflows: u64,
}

impl Relay {
    pub fn stats(&self) -> RelayStats {
        let t = self.totals;
        RelayStats {
            clients: self.clients.len() as u64,
            links: self.links.len() as u64,
            waiting: self
                .clients
                .values()
                .filter(|c| matches!(c.phase, Phase::Waiting(_)))
                .count() as u64,
            buffered: self.clients.values().map(|c| c.buffer.len() as u64).sum(),
            session_entries: self
                .clients
                .values()
                .map(|c| {
                    let (a, b, d) = c.session.sizes();
                    (a + b + d) as u64
                })
                .sum(),
            counts: self.backends.iter().map(|b| b.count).collect(),
            failovers: t.failovers,
            attempts: t.attempts,
            gave_up: t.gave_up,
            backend_gone: t.backend_gone,
            cancelled: t.cancelled,
            underflows: t.underflows,
        }
    }

    /// Checks the structural invariants:
    /// - each backend's count is the number of open links to it, and no count ever went
    ///   below 0;
    /// - every link belongs to a known client that lists it, and every link a client
    ///   lists is known and points back;
    /// - a client owns at most one link, and its phase names it (none while waiting);
    /// - a `Ready` client holds nothing in its buffer.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.totals.underflows > 0 {
            return Err(format!(
                "a backend count was decremented below 0 {} time(s)",
                self.totals.underflows
            ));
        }
        let mut open: BTreeMap<usize, u64> = BTreeMap::new();
        for (link, l) in &self.links {
            if l.up {
                *open.entry(l.backend).or_default() += 1;
            }
            match self.clients.get(&l.client) {
                Some(c) if c.links.contains(link) => {}
                Some(_) => {
                    return Err(format!(
                        "link {link} names client {} which does not list it",
                        l.client
                    ))
                }
                None => {
                    return Err(format!(
                        "link {link} belongs to client {}, which is gone",
                        l.client
                    ))
                }
            }
        }
        for (i, b) in self.backends.iter().enumerate() {
            let n = open.get(&i).copied().unwrap_or(0);
            if b.count != n {
                return Err(format!(
                    "backend {i} ({}): count {} but {n} open link(s)",
                    self.config.backends[i], b.count
                ));
            }
        }
        for (client, c) in &self.clients {
            if c.links.len() > 1 {
                return Err(format!("client {client} owns {} links", c.links.len()));
            }
            for link in &c.links {
                if self.links.get(link).map(|l| l.client) != Some(*client) {
                    return Err(format!("client {client} lists link {link}, not its own"));
                }
            }
            if c.phase.link() != c.links.first().copied() {
                return Err(format!(
                    "client {client} is {:?} but owns {:?}",
                    c.phase, c.links
                ));
            }
            if matches!(c.phase, Phase::Ready(_)) && !c.buffer.is_empty() {
                return Err(format!("client {client} is served but holds frames"));
            }
        }
        Ok(())
    }
}
