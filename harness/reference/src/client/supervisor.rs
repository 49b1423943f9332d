//! The supervisor: connects, registers and reconnects until stopped (CONN-2..5), with
//! backoff and rate limit from `wirecheck_core::reconnect`.

use super::{conn, Client, Connector, State};
use crate::observe::Lifecycle;
use tokio::sync::oneshot;
use tokio::time::Instant;
use wirecheck_core::flaws::Flaw;
use wirecheck_core::mux::Mux;
use wirecheck_core::pending::{CallError, Outcome};
use wirecheck_core::reconnect::{Backoff, RateLimit};
use wirecheck_core::rng::SplitMix64;

/// Connects, registers and reconnects until stopped.
pub(super) async fn supervise<C: Connector>(
    client: Client,
    connector: C,
    first: oneshot::Sender<Outcome>,
) {
    let inner = &client.inner;
    let cfg = &inner.config;
    let origin = Instant::now();
    let policy = cfg.reconnect.clone();
    let rng = SplitMix64::derive(cfg.seed, &cfg.client_id);
    let mut backoff = Backoff::new(policy.clone().unwrap_or_default(), rng);
    let mut limiter = policy.clone().map(RateLimit::new);
    let mut first = Some(first);
    let mut next_addr = 0usize;
    let mut conn_no = 0u64;
    let closing = || inner.mux.with(|m| m.is_closing());
    let reason = loop {
        if closing() {
            break "closed by the client".to_owned();
        }
        if cfg.brokers.is_empty() {
            break "no broker addresses configured".to_owned();
        }
        let failing_over = next_addr != 0;
        let skip_limit = inner.flaw(Flaw::NoRateLimit)
            || (failing_over && inner.flaw(Flaw::FailoverNoRateLimit));
        if let Some(limiter) = limiter.as_mut().filter(|_| !skip_limit) {
            let wait = limiter.wait_before_attempt(origin.elapsed());
            if !wait.is_zero() {
                inner.life(Lifecycle::RateLimited { wait });
                tokio::time::sleep(wait).await;
            }
            limiter.record(origin.elapsed());
        }
        let addr = cfg.brokers[next_addr].clone();
        conn_no += 1;
        let attempt = inner.mux.with(|m| m.on_connecting());
        inner.life(Lifecycle::Connecting {
            addr: addr.clone(),
            attempt,
        });
        // `connect` bounds each of its phases by the registration timeout itself, and
        // cleans up after itself on every failure.
        let registered = conn::connect(&client, &connector, &addr, conn_no).await;
        match registered {
            Ok(reader) => {
                inner.life(Lifecycle::Registered { addr: addr.clone() });
                inner.state.send_replace(State::Registered);
                if let Some(f) = first.take() {
                    let _ = f.send(Ok("welcome".into()));
                }
                backoff.reset();
                next_addr = 0;
                let why = reader
                    .await
                    .unwrap_or_else(|e| format!("reader panicked: {e}"));
                lost_connection(&client, conn_no, Some(&why));
                if closing() {
                    break "closed by the client".to_owned();
                }
                if inner.flaw(Flaw::NoReconnect) {
                    break "connection lost (zoo flaw: never reconnects)".to_owned();
                }
                inner.state.send_replace(State::Connecting);
            }
            Err(e) => {
                inner.life(Lifecycle::RegistrationFailed {
                    addr: addr.clone(),
                    error: e.to_string(),
                });
                lost_connection(&client, conn_no, None);
                if let Some(f) = first.take() {
                    let _ = f.send(Err(e.clone()));
                }
                if let Some(reason) = Mux::gives_up_after(&e) {
                    break reason;
                }
                next_addr = (next_addr + 1) % cfg.brokers.len();
            }
        }
        if policy.is_none() {
            break "connection lost and reconnect is off".to_owned();
        }
        // Fail over to the next address at once; back off after a whole round failed or
        // after losing an established connection.
        if next_addr == 0 && !inner.flaw(Flaw::NoBackoff) {
            let delay = backoff.next_delay();
            inner.life(Lifecycle::Backoff { delay });
            tokio::time::sleep(delay).await;
        }
    };
    inner.life(Lifecycle::Stopped {
        reason: reason.clone(),
    });
    inner.mux.with(|m| m.on_stopped());
    if let Some(f) = first.take() {
        let _ = f.send(Err(CallError::NotConnected));
    }
    inner.state.send_replace(State::Stopped(reason));
}

/// Tears down what belongs to connection `no` after it ended (MUX-6): the machine forgets
/// it and fails what was pending on it, and its writer queue is dropped (the writer closes
/// the sink). `why` is `Some` for an established (registered) connection, `None` for an
/// attempt that never registered.
fn lost_connection(client: &Client, no: u64, why: Option<&str>) {
    let inner = &client.inner;
    inner.act(|m| {
        let actions = m.on_closed(no, why);
        let mut io = inner.io();
        if io.link.as_ref().is_some_and(|l| l.no == no) && m.link() != Some(no) {
            io.link = None;
        }
        actions
    });
}
