//! The supervisor task: connects, registers and reconnects until stopped (CONN-2..5).
//! Its decisions (failover order, rate limit, backoff, giving up) are
//! `wirecheck_core::mux::Supervisor`'s; this task keeps the time and waits.

use super::{conn, Client, Connector, State};
use crate::observe::Lifecycle;
use crate::time::Instant;
use tokio::sync::oneshot;
use wirecheck_core::mux::Supervisor;
use wirecheck_core::pending::{CallError, Outcome};

/// Connects, registers and reconnects until stopped.
pub(super) async fn supervise<C: Connector>(
    client: Client,
    connector: C,
    first: oneshot::Sender<Outcome>,
) {
    let inner = &client.inner;
    let cfg = &inner.config;
    let origin = Instant::now();
    let mut plan = Supervisor::new(
        cfg.brokers.clone(),
        cfg.reconnect.clone(),
        cfg.seed,
        &cfg.client_id,
        cfg.flaws.clone(),
    );
    let mut first = Some(first);
    let closing = || inner.mux.with(|m| m.is_closing());
    let reason = loop {
        let wait = match plan.before_attempt(closing(), origin.elapsed()) {
            Ok(wait) => wait,
            Err(reason) => break reason,
        };
        if !wait.is_zero() {
            inner.life(Lifecycle::RateLimited { wait });
            crate::time::sleep(wait).await;
        }
        let attempt = plan.attempt(origin.elapsed());
        let (addr, no) = (attempt.addr, attempt.conn);
        let count = inner.mux.with(|m| m.on_connecting());
        inner.life(Lifecycle::Connecting {
            addr: addr.clone(),
            attempt: count,
        });
        // `connect` bounds each of its phases by the registration timeout itself, and
        // cleans up after itself on every failure.
        match conn::connect(&client, &connector, &addr, no).await {
            Ok(reader) => {
                inner.life(Lifecycle::Registered { addr: addr.clone() });
                inner.state.send_replace(State::Registered);
                if let Some(f) = first.take() {
                    let _ = f.send(Ok("welcome".into()));
                }
                plan.on_registered();
                let why = reader
                    .await
                    .unwrap_or_else(|e| format!("reader panicked: {e}"));
                lost_connection(&client, no, Some(&why));
                if let Some(reason) = plan.after_loss(closing()) {
                    break reason;
                }
                inner.state.send_replace(State::Connecting);
            }
            Err(e) => {
                inner.life(Lifecycle::RegistrationFailed {
                    addr: addr.clone(),
                    error: e.clone(),
                });
                lost_connection(&client, no, None);
                if let Some(f) = first.take() {
                    let _ = f.send(Err(e.clone()));
                }
                if let Some(reason) = plan.after_failure(&e) {
                    break reason;
                }
            }
        }
        match plan.between_attempts() {
            Err(reason) => break reason,
            Ok(Some(delay)) => {
                inner.life(Lifecycle::Backoff { delay });
                crate::time::sleep(delay).await;
            }
            Ok(None) => {}
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
