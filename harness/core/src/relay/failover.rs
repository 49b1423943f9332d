//! Failover: backend health (down on a failed dial or a lost link, up on an open link or a
//! successful probe), the choice of backend (the first healthy one in the configured
//! order), the per-client attempt rate limit and giving up, probes and timers.

use super::{Action, BackendNo, ClientClose, ClientNo, Phase, Relay};
use crate::flaws::Flaw;
use crate::reconnect::ReconnectPolicy;
use std::time::Duration;

/// How often the relay may try to move one client to another backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverPolicy {
    /// At most this many attempts per `window`, per client; this many failed attempts in
    /// a row and the relay gives up on the client.
    pub max_attempts: u32,
    pub window: Duration,
    /// At least this long between two attempts for one client.
    pub min_gap: Duration,
}

impl Default for FailoverPolicy {
    /// At most 3 attempts a minute, at least 5 s apart.
    fn default() -> Self {
        FailoverPolicy {
            max_attempts: 3,
            window: Duration::from_secs(60),
            min_gap: Duration::from_secs(5),
        }
    }
}

impl FailoverPolicy {
    /// The same limit as [`crate::reconnect::RateLimit`] applies it.
    pub(super) fn as_policy(&self) -> ReconnectPolicy {
        ReconnectPolicy {
            max_attempts: self.max_attempts.max(1),
            window: self.window,
            min_gap: self.min_gap,
            ..ReconnectPolicy::default()
        }
    }
}

impl Relay {
    /// The backend for a client's next dial: the first healthy one in the configured
    /// order; when none is healthy, the one after `after` (the backend tried last), so a
    /// client tries each in turn.
    pub(super) fn pick(&self, after: Option<BackendNo>) -> BackendNo {
        if let Some(b) = self.backends.iter().position(|b| b.up) {
            return b;
        }
        after.map_or(0, |a| (a + 1) % self.backends.len())
    }

    /// `client` has no usable link: attempt at once if its rate limit allows, else wait;
    /// after `max_attempts` failed attempts in a row, give up and close it.
    pub(super) fn schedule_failover(&mut self, client: ClientNo, now: Duration) -> Vec<Action> {
        let unlimited = self.flaw(Flaw::RelayFailoverUnlimited);
        let max = self.config.failover.max_attempts.max(1);
        let Some(c) = self.clients.get_mut(&client) else {
            return Vec::new();
        };
        if c.failures >= max {
            let why = ClientClose::GaveUp {
                attempts: c.failures,
            };
            self.totals.gave_up += 1;
            return self.drop_client(client, why);
        }
        // Zoo flaw `relay-failover-unlimited`: its one hook point.
        let wait = if unlimited {
            Duration::ZERO
        } else {
            c.limiter.wait_before_attempt(now)
        };
        if wait.is_zero() {
            return vec![self.attempt(client, now)];
        }
        c.phase = Phase::Waiting(now + wait);
        self.timers_changed = true;
        vec![Action::Note(format!(
            "client {client}: next failover attempt in {:?} (rate limit)",
            wait
        ))]
    }

    /// A failover attempt for `client` at `now`: a dial to the backend [`Relay::pick`]s.
    pub(super) fn attempt(&mut self, client: ClientNo, now: Duration) -> Action {
        let unlimited = self.flaw(Flaw::RelayFailoverUnlimited);
        let last = self.clients.get(&client).map(|c| c.last_backend);
        let backend = self.pick(last);
        let link = self.new_link(client, backend);
        self.totals.attempts += 1;
        let c = self
            .clients
            .get_mut(&client)
            .expect("attempt() is called for a known client");
        if !unlimited {
            c.limiter.record(now);
        }
        c.attempts += 1;
        c.last_backend = backend;
        c.phase = Phase::Dialing(link);
        c.links.insert(link);
        Action::Dial {
            client,
            link,
            backend,
            attempt: c.attempts,
        }
    }

    /// Zoo flaw `relay-duplicate-handlers`: a second failover for the same loss, with a
    /// link of its own.
    pub(super) fn second_handler(&mut self, client: ClientNo) -> Vec<Action> {
        let Some(c) = self.clients.get(&client) else {
            return Vec::new();
        };
        let (backend, attempt) = (c.last_backend, c.attempts);
        let link = self.new_link(client, backend);
        if let Some(c) = self.clients.get_mut(&client) {
            c.links.insert(link);
        }
        vec![Action::Dial {
            client,
            link,
            backend,
            attempt,
        }]
    }

    pub(super) fn set_down(&mut self, backend: BackendNo, now: Duration, out: &mut Vec<Action>) {
        let b = &mut self.backends[backend];
        if b.up {
            b.up = false;
            b.next_probe = Some(now + self.config.probe_interval);
            self.timers_changed = true;
            out.push(Action::Health { backend, up: false });
        }
    }

    pub(super) fn set_up(&mut self, backend: BackendNo, out: &mut Vec<Action>) {
        let b = &mut self.backends[backend];
        if !b.up {
            b.up = true;
            b.next_probe = None;
            out.push(Action::Health { backend, up: true });
        }
    }

    /// A probe of `backend` answered at `now`: it is up (`ok`), or probed again later.
    pub fn on_probe(&mut self, backend: BackendNo, ok: bool, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        if backend >= self.backends.len() {
            return out;
        }
        if ok {
            self.set_up(backend, &mut out);
        } else if !self.backends[backend].up {
            self.backends[backend].next_probe = Some(now + self.config.probe_interval);
            self.timers_changed = true;
        }
        out
    }

    /// Time passed: failover attempts and probes that are due at `now`.
    pub fn on_time(&mut self, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        let due: Vec<ClientNo> = self
            .clients
            .iter()
            .filter(|(_, c)| matches!(c.phase, Phase::Waiting(at) if at <= now))
            .map(|(&n, _)| n)
            .collect();
        for client in due {
            out.push(self.attempt(client, now));
        }
        for (backend, b) in self.backends.iter_mut().enumerate() {
            if !b.up && b.next_probe.is_some_and(|at| at <= now) {
                b.next_probe = None;
                out.push(Action::Probe { backend });
            }
        }
        out
    }

    /// Whether a failover wait or a probe was scheduled since the last call: the driver's
    /// timer must look at [`Relay::next_deadline`] again (a deadline that only went away
    /// needs no wake-up: [`Relay::on_time`] then finds nothing to do).
    pub fn take_timers_changed(&mut self) -> bool {
        std::mem::take(&mut self.timers_changed)
    }

    /// When [`Relay::on_time`] next has something to do (`None`: nothing is scheduled).
    pub fn next_deadline(&self) -> Option<Duration> {
        let waits = self.clients.values().filter_map(|c| match c.phase {
            Phase::Waiting(at) => Some(at),
            _ => None,
        });
        let probes = self.backends.iter().filter_map(|b| b.next_probe);
        waits.chain(probes).min()
    }
}
