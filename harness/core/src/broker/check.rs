//! Observing the broker: its counters and sizes, lookups by connection and request, and
//! the structural invariants listed in the module docs.

use super::{Broker, ConnId};

/// Counters and sizes, for scenario expectations and leak checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BrokerStats {
    pub connections: u64,
    pub clients: u64,
    pub requests: u64,
    pub queued: u64,
    pub waiting: u64,
    pub assignments: u64,
    /// Messages answered with an error and not acted on.
    pub rejected: u64,
    /// Times the dispatcher looked for work (on events; polling adds idle wake-ups).
    pub wakeups: u64,
}

impl Broker {
    /// The client id registered on `conn`, if any.
    pub fn client_of(&self, conn: ConnId) -> Option<&str> {
        self.conns.get(&conn)?.client.as_deref()
    }

    /// The receiver a request is assigned to, if any.
    pub fn assignee(&self, req: &str) -> Option<ConnId> {
        self.requests.get(req)?.receiver
    }

    /// Ids of the requests in flight (queued or assigned), in order.
    pub fn request_ids(&self) -> Vec<String> {
        self.requests.keys().cloned().collect()
    }

    pub fn stats(&self) -> BrokerStats {
        BrokerStats {
            connections: self.conns.len() as u64,
            clients: self.clients.len() as u64,
            requests: self.requests.len() as u64,
            queued: self.channels.values().map(|c| c.queue.len() as u64).sum(),
            waiting: self.channels.values().map(|c| c.waiting.len() as u64).sum(),
            assignments: self
                .requests
                .values()
                .filter(|r| r.receiver.is_some())
                .count() as u64,
            rejected: self.rejected,
            wakeups: self.wakeups,
        }
    }

    /// Checks the structural invariants listed in the module docs.
    pub fn check_invariants(&self) -> Result<(), String> {
        for (client, conn) in &self.clients {
            match self.conns.get(conn) {
                Some(c) if c.client.as_deref() == Some(client.as_str()) => {}
                _ => {
                    return Err(format!(
                        "client `{client}` maps to dead or foreign conn {conn}"
                    ))
                }
            }
        }
        for (id, r) in &self.requests {
            if !self.conns.contains_key(&r.sender) {
                return Err(format!("request `{id}` has dead sender {}", r.sender));
            }
            let queued = self
                .channels
                .get(&r.channel)
                .is_some_and(|ch| ch.queue.contains(id));
            match r.receiver {
                Some(rx) if !self.conns.contains_key(&rx) => {
                    return Err(format!("request `{id}` assigned to dead conn {rx}"))
                }
                Some(_) if queued => return Err(format!("request `{id}` assigned and queued")),
                None if !queued => {
                    return Err(format!("request `{id}` neither assigned nor queued"))
                }
                _ => {}
            }
        }
        for conn in self.ended_early.keys() {
            if !self.conns.contains_key(conn) {
                return Err(format!(
                    "requests that ended early kept for dead conn {conn}"
                ));
            }
        }
        for (name, ch) in &self.channels {
            for q in &ch.queue {
                if !self.requests.contains_key(q) {
                    return Err(format!("channel `{name}` queues unknown request `{q}`"));
                }
            }
            for w in &ch.waiting {
                if self.conns.get(w).is_none_or(|c| c.client.is_none()) {
                    return Err(format!("channel `{name}` has dead waiting receiver {w}"));
                }
            }
            if !ch.queue.is_empty() && !ch.waiting.is_empty() {
                return Err(format!(
                    "channel `{name}` has both queued requests and waiting receivers"
                ));
            }
        }
        Ok(())
    }
}
