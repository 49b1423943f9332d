//! What only JSON-RPC 2.0 has: batches and notifications from the caller.
//!
//! A batch is the machine's ordinary requests written as one array: each call gets its
//! own pending entry and completes on its own, by id (MUX-2, JSONRPC-6), whatever the
//! order or the grouping of the responses. A notification has no id and no pending
//! entry: nothing ever completes it.

use super::{Client, Payload};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use wirecheck_core::jsonrpc::codec;
use wirecheck_core::mux::{Begin, Request};
use wirecheck_core::pending::{CallError, Outcome};
use wirecheck_core::Protocol;

/// A call's outcome, to await (dropping it cancels the call, as dropping
/// [`Client::request`]'s future does).
pub type CallFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// A batch once its calls are registered: the write of the array, and one future per
/// call, in the order of the requests. Each call completes on its own, when its response
/// arrives: run them separately (the write too) rather than waiting for all.
pub struct Batch {
    pub write: Pin<Box<dyn Future<Output = ()> + Send>>,
    pub calls: Vec<CallFuture>,
}

impl Client {
    /// Registers `reqs` as pending calls and returns the write of one JSON-RPC batch
    /// carrying them and each call's outcome, which waits at most `timeout` (default: the
    /// configured request timeout). Under wirecheck-v1 every call fails `protocol` (it
    /// has no batches).
    pub fn request_batch(&self, reqs: Vec<Request>, timeout: Option<Duration>) -> Batch {
        let inner = &self.inner;
        let limit = timeout.unwrap_or(inner.config.request_timeout);
        let done = |o: Outcome| -> CallFuture { Box::pin(async move { o }) };
        if inner.config.protocol != Protocol::JsonRpc2 {
            let no = || Err(CallError::Protocol("wirecheck-v1 has no batches".into()));
            return Batch {
                write: Box::pin(async {}),
                calls: reqs.iter().map(|_| done(no())).collect(),
            };
        }
        let mut frames = Vec::new();
        let mut sent = Vec::new();
        let calls = inner.mux.with(|m| {
            reqs.iter()
                .map(|req| match m.request(req) {
                    Begin::Fail(e) => done(Err(e)),
                    // Zoo flaw `swallow-send-errors`: wait out the timeout.
                    Begin::Stall => Box::pin(async move {
                        crate::time::sleep(limit).await;
                        Err(CallError::Timeout)
                    }) as CallFuture,
                    // `steal` (zoo flaw `second-reader`) is about `$` channels, which
                    // JSON-RPC does not have: a batch call always waits on its entry.
                    Begin::Send {
                        mut waiter,
                        frames: f,
                        ..
                    } => {
                        frames.extend(f);
                        sent.push(req.id.clone());
                        Box::pin(async move {
                            match crate::time::timeout(limit, &mut waiter).await {
                                Ok(outcome) => outcome,
                                Err(_) => waiter.expire(),
                            }
                        }) as CallFuture
                    }
                })
                .collect()
        });
        let client = self.clone();
        let write = Box::pin(async move {
            if frames.is_empty() {
                return;
            }
            if let Err(e) = client.write(Payload::Batch(frames)).await {
                for id in &sent {
                    // MUX-7: each caller learns that its request never left (or, with the
                    // zoo flaw, waits for its timeout).
                    client.inner.mux.with(|m| m.on_send_failed(id, e.clone()));
                }
            }
        });
        Batch { write, calls }
    }

    /// Sends a JSON-RPC notification (`params`: JSON text; empty: none) and returns once
    /// it was written. Nothing waits for an answer: a notification has none.
    pub async fn notify(&self, method: &str, params: &str) -> Result<(), CallError> {
        if self.inner.config.protocol != Protocol::JsonRpc2 {
            return Err(CallError::Protocol(
                "wirecheck-v1 has no notifications".into(),
            ));
        }
        self.write(Payload::Text(codec::encode_notification(method, params)))
            .await
    }
}
