//! Observing the broker: its counters and sizes, lookups by connection and request, and
//! the structural invariants listed in the module docs.

use super::{Broker, ConnId, Request};

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
            let Some(sender) = self.conns.get(&r.sender) else {
                return Err(format!("request `{id}` has dead sender {}", r.sender));
            };
            if !sender.sent.contains(id) {
                return Err(format!("request `{id}` missing from its sender's index"));
            }
            let queued = r.queued.and_then(|seq| {
                self.channels
                    .get(&r.channel)
                    .and_then(|ch| ch.queue.get(&seq))
            });
            if r.queued.is_some() && queued != Some(id) {
                return Err(format!("request `{id}` is not where its queue entry says"));
            }
            match r.receiver {
                Some(rx) if !self.conns.contains_key(&rx) => {
                    return Err(format!("request `{id}` assigned to dead conn {rx}"))
                }
                Some(rx) if !self.conns[&rx].assigned.contains(id) => {
                    return Err(format!("request `{id}` missing from its receiver's index"))
                }
                Some(_) if queued.is_some() => {
                    return Err(format!("request `{id}` assigned and queued"))
                }
                None if queued.is_none() => {
                    return Err(format!("request `{id}` neither assigned nor queued"))
                }
                _ => {}
            }
        }
        for (conn, c) in &self.conns {
            let parked: Vec<&Request> = c
                .sent
                .iter()
                .filter_map(|id| self.requests.get(id))
                .filter(|r| r.queued.is_some())
                .collect();
            let bytes: usize = parked.iter().map(|r| r.parked_bytes).sum();
            if c.sent
                .iter()
                .any(|id| self.requests.get(id).is_none_or(|r| r.sender != *conn))
                || c.assigned.iter().any(|id| {
                    self.requests
                        .get(id)
                        .is_none_or(|r| r.receiver != Some(*conn))
                })
            {
                return Err(format!("conn {conn} indexes a request that is not its own"));
            }
            if (c.parked.requests, c.parked.bytes) != (parked.len(), bytes) {
                return Err(format!(
                    "conn {conn} counts {:?} parked, holds {} requests of {bytes} bytes",
                    c.parked,
                    parked.len()
                ));
            }
            for (channel, seq) in &c.credits {
                if self
                    .channels
                    .get(channel)
                    .and_then(|ch| ch.waiting.get(seq))
                    != Some(conn)
                {
                    return Err(format!(
                        "conn {conn} holds a credit on `{channel}` its channel does not"
                    ));
                }
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
            if ch.is_empty() {
                return Err(format!("channel `{name}` is empty and kept"));
            }
            for q in ch.queue.values() {
                if !self.requests.contains_key(q) {
                    return Err(format!("channel `{name}` queues unknown request `{q}`"));
                }
            }
            let bytes: usize = ch
                .queue
                .values()
                .filter_map(|q| self.requests.get(q))
                .map(|r| r.parked_bytes)
                .sum();
            if bytes != ch.parked_bytes {
                return Err(format!(
                    "channel `{name}` counts {} parked bytes, holds {bytes}",
                    ch.parked_bytes
                ));
            }
            for (seq, w) in &ch.waiting {
                match self.conns.get(w) {
                    Some(c) if c.client.is_some() && c.credits.contains(&(name.clone(), *seq)) => {}
                    _ => {
                        return Err(format!(
                            "channel `{name}` has dead or unindexed waiting receiver {w}"
                        ))
                    }
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
