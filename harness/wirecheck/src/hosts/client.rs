//! The reference multiplexer's driver: script calls become calls on a
//! `wirecheck_reference::client::Client`, results and lifecycle go to the trace.

use super::observer::{classify, observer, NetConnector};
use super::{lock, Cmd, CmdError, Counters, Ctx, Driver, Facts, HostCtl};
use crate::model::vocab::ClientCounter;
use crate::model::{ClientSpec, FailKind, Outcome, Reply, RequestCall, ServeSpec};
use crate::trace::{Call, EventKind};
use crate::world::{addr_of, HostFuture};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;
use wirecheck_core::pending::CallError;
use wirecheck_core::reconnect::ReconnectPolicy;
use wirecheck_reference::client::{CallFuture, Client, ClientConfig, Heartbeat, Request};
use wirecheck_reference::serve;

pub struct ClientDriver {
    spec: ClientSpec,
    /// The started client (`None` before `connect`, and after a crash or bounce).
    client: Arc<Mutex<Option<Client>>>,
}

impl ClientDriver {
    pub fn new(spec: ClientSpec) -> Self {
        ClientDriver {
            spec,
            client: Arc::default(),
        }
    }
}

impl Driver for ClientDriver {
    fn software(&self, ctx: Ctx) -> HostFuture {
        let spec = self.spec.clone();
        Box::pin(client_host(spec, self.client.clone(), ctx))
    }

    fn counters(&self, _ctl: &HostCtl) -> Counters {
        let Some(client) = lock(&self.client).clone() else {
            return Counters::new();
        };
        let s = client.stats();
        ClientCounter::ALL
            .iter()
            .map(|c| {
                let v = match c {
                    ClientCounter::Pending => s.pending.pending,
                    ClientCounter::Completed => s.pending.completed,
                    ClientCounter::TimedOut => s.pending.timed_out,
                    ClientCounter::Cancelled => s.pending.cancelled,
                    ClientCounter::DuplicatesDropped => s.pending.duplicates_dropped,
                    ClientCounter::LateDropped => s.pending.late_dropped,
                    ClientCounter::UnknownDropped => s.pending.unknown_dropped,
                    ClientCounter::Reconnects => s.reconnects,
                    ClientCounter::Disconnects => s.disconnects,
                    ClientCounter::Registrations => s.registrations,
                    ClientCounter::Served => s.served,
                };
                (c.name().to_owned(), v)
            })
            .collect()
    }

    fn facts(&self) -> Facts {
        Facts {
            pending_ids: Some(
                lock(&self.client)
                    .as_ref()
                    .map(Client::pending_ids)
                    .unwrap_or_default(),
            ),
            ..Facts::default()
        }
    }

    fn pending(&self) -> Option<Vec<String>> {
        lock(&self.client).as_ref().map(Client::pending_ids)
    }

    fn crashed(&self) {
        *lock(&self.client) = None;
    }
}

fn client_config(spec: &ClientSpec, ctx: &Ctx) -> ClientConfig {
    ClientConfig {
        client_id: spec.id.clone(),
        token: spec.token.clone(),
        brokers: spec.connect.iter().map(|h| addr_of(h)).collect(),
        register_timeout: spec.register_timeout,
        request_timeout: spec.request_timeout,
        heartbeat: spec.heartbeat.as_ref().map(|h| Heartbeat {
            interval: h.interval,
            timeout: h.timeout,
        }),
        reconnect: spec.reconnect.as_ref().map(|r| ReconnectPolicy {
            base: r.base,
            cap: r.cap,
            jitter: r.jitter,
            max_attempts: r.max_attempts,
            window: r.window,
            min_gap: r.min_gap,
        }),
        seed: ctx.seed,
        flaws: ctx.flaws.clone(),
        protocol: ctx.protocol,
    }
}

type Slot = Arc<Mutex<Option<Client>>>;

async fn client_host(spec: ClientSpec, slot: Slot, ctx: Ctx) -> crate::world::HostResult {
    let mut cmds = ctx.ctl.attach();
    // A bounced host starts with no client.
    *lock(&slot) = None;
    let mut calls: BTreeMap<String, JoinHandle<()>> = BTreeMap::new();
    if spec.autoconnect {
        start_client(&spec, &slot, &ctx, "connect");
    }
    while let Some((cmd, ack)) = cmds.recv().await {
        let client = lock(&slot).clone();
        let reply = match (cmd, client) {
            (Cmd::Connect { id }, None) => {
                start_client(&spec, &slot, &ctx, &id);
                Ok(())
            }
            (Cmd::Connect { .. }, Some(_)) => Err(CmdError::Refused(
                "the client is already started (autoconnect, or an earlier connect)".into(),
            )),
            (Cmd::Request(call), client) => {
                record_request(&ctx, &call, call.timeout, None, spec.request_timeout);
                let ctx2 = ctx.clone();
                let id = call.id.clone();
                let handle = tokio::spawn(async move {
                    let outcome = match client {
                        Some(c) => c.request(request_of(call.clone())).await,
                        None => Err(CallError::NotConnected),
                    };
                    ctx2.ctl
                        .record_result(&ctx2.trace, &call.id, classify(&outcome));
                });
                calls.insert(id, handle);
                Ok(())
            }
            (Cmd::Batch(batch), client) => {
                let name = batch.calls.first().map(|c| c.id.clone());
                for call in &batch.calls {
                    record_request(
                        &ctx,
                        call,
                        batch.timeout,
                        name.clone(),
                        spec.request_timeout,
                    );
                }
                let reqs = batch.calls.iter().map(|c| request_of(c.clone())).collect();
                let futures = match &client {
                    Some(c) => {
                        let b = c.request_batch(reqs, batch.timeout);
                        tokio::spawn(b.write);
                        b.calls
                    }
                    None => batch
                        .calls
                        .iter()
                        .map(|_| Box::pin(async { Err(CallError::NotConnected) }) as CallFuture)
                        .collect(),
                };
                // Each call of the batch completes (and can be cancelled) on its own.
                for (call, fut) in batch.calls.iter().zip(futures) {
                    let ctx2 = ctx.clone();
                    let id = call.id.clone();
                    let handle = tokio::spawn(async move {
                        let outcome = fut.await;
                        ctx2.ctl.record_result(&ctx2.trace, &id, classify(&outcome));
                    });
                    calls.insert(call.id.clone(), handle);
                }
                Ok(())
            }
            (Cmd::Notify(n), Some(c)) => {
                ctx.trace.host_event(
                    &ctx.ctl.name,
                    EventKind::Call {
                        id: "notify".into(),
                        call: Call::Notify {
                            method: n.method.clone(),
                            params: n.params.clone(),
                        },
                        deadline: None,
                    },
                );
                let ctx2 = ctx.clone();
                tokio::spawn(async move {
                    if let Err(e) = c.notify(&n.method, &n.params).await {
                        ctx2.note(format!("notify {}: {e}", n.method));
                    }
                });
                Ok(())
            }
            (Cmd::Cancel { id }, _) => match calls.remove(&id) {
                Some(h) if !h.is_finished() => {
                    ctx.trace.host_event(
                        &ctx.ctl.name,
                        EventKind::Call {
                            id: id.clone(),
                            call: Call::Cancel,
                            deadline: None,
                        },
                    );
                    h.abort();
                    let _ = h.await;
                    ctx.ctl
                        .record_result(&ctx.trace, &id, Outcome::Fails(FailKind::Cancelled));
                    Ok(())
                }
                Some(_) => {
                    ctx.note(format!("cancel {id}: the call had already ended"));
                    Ok(())
                }
                None => Err(CmdError::Refused(format!(
                    "no call `{id}` was started on this host"
                ))),
            },
            (Cmd::Disconnect, Some(c)) => {
                ctx.trace.host_event(
                    &ctx.ctl.name,
                    EventKind::Call {
                        id: "disconnect".into(),
                        call: Call::Disconnect,
                        deadline: None,
                    },
                );
                tokio::spawn(async move { c.close().await });
                Ok(())
            }
            (Cmd::Serve(s), Some(c)) => {
                spawn_server(&c, s, &ctx);
                Ok(())
            }
            (Cmd::Disconnect | Cmd::Serve(_) | Cmd::Notify(_), None) => Err(CmdError::Refused(
                "the client is not started: add a `connect` step first".into(),
            )),
            (other, _) => Err(CmdError::Unsupported {
                kind: "client",
                cmd: format!("{other:?}"),
            }),
        };
        let _ = ack.send(reply);
    }
    Ok(())
}

/// The core's request for a script call.
fn request_of(call: RequestCall) -> Request {
    Request {
        id: call.id,
        channel: call.channel,
        body: call.body,
        chunks: call.chunks,
        timeout: call.timeout,
    }
}

/// Records that the script made request `call` (`timeout`: its own, or its batch's).
fn record_request(
    ctx: &Ctx,
    call: &RequestCall,
    timeout: Option<std::time::Duration>,
    batch: Option<String>,
    default_timeout: std::time::Duration,
) {
    let now = ctx.trace.now();
    ctx.trace.host_event(
        &ctx.ctl.name,
        EventKind::Call {
            id: call.id.clone(),
            call: Call::Request {
                channel: call.channel.clone(),
                body: call.body.clone(),
                chunks: call.chunks.len(),
                timeout,
                batch,
            },
            deadline: Some(now + timeout.unwrap_or(default_timeout)),
        },
    );
}

fn start_client(spec: &ClientSpec, slot: &Slot, ctx: &Ctx, call_id: &str) {
    ctx.trace.host_event(
        &ctx.ctl.name,
        EventKind::Call {
            id: call_id.to_owned(),
            call: Call::Connect {
                client: spec.id.clone(),
                brokers: spec.connect.clone(),
            },
            deadline: None,
        },
    );
    let (client, first) = Client::start(
        client_config(spec, ctx),
        NetConnector(ctx.net.clone()),
        observer(ctx, &spec.connect),
    );
    *lock(slot) = Some(client.clone());
    for s in &spec.serve {
        spawn_server(&client, s.clone(), ctx);
    }
    let ctx2 = ctx.clone();
    let id = call_id.to_owned();
    tokio::spawn(async move {
        let outcome = first.await.unwrap_or(Err(CallError::NotConnected));
        ctx2.ctl.record_result(&ctx2.trace, &id, classify(&outcome));
    });
}

/// Serves `spec.channel` with the configured reply behaviour.
fn spawn_server(client: &Client, spec: ServeSpec, ctx: &Ctx) {
    let ctx = ctx.clone();
    serve::serve(
        client,
        serve::Serve {
            channel: spec.channel,
            reply: match spec.reply {
                Reply::Echo => serve::Reply::Echo,
                Reply::Fixed(b) => serve::Reply::Fixed(b),
                Reply::Error(c) => serve::Reply::Error(c),
                Reply::Ignore => serve::Reply::Ignore,
            },
            delay: spec.delay,
            chunks: spec.chunks,
            concurrency: spec.concurrency,
        },
        move |what| ctx.note(what),
    );
}
