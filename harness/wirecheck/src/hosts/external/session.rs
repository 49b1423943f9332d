//! One run of a client adapter's software: the operations waiting for a reply, and how
//! script commands, replies and events become trace events (DRIVER.md's semantics).

use super::adapter::{self, Answer, Event, Line, Op};
use super::client::{clip, ExternalClient, ACK_LIMIT};
use crate::hosts::{lock, Cmd, CmdError, Ctx};
use crate::model::{Outcome, RequestCall};
use crate::targets::process::Process;
use crate::trace::{Call, Endpoint, EventKind, Lifecycle, RegError};
use crate::world::PORT;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub(super) type StatsReply = std_mpsc::Sender<Option<Value>>;

/// An operation waiting for its reply.
pub(super) enum Waiting {
    /// `connect` or `request`: the reply is the call's result.
    Call(String),
    /// `batch`: the reply holds each call's result.
    Batch(Vec<String>),
    /// An acknowledgement, due by the instant.
    Ack(&'static str, Instant),
    Stats(StatsReply, Instant),
}

/// One run of the adapter's software: what is waiting for a reply.
pub(super) struct Session<'a> {
    pub(super) me: &'a ExternalClient,
    pub(super) ctx: &'a Ctx,
    pub(super) proc: &'a Process,
    pub(super) waiting: BTreeMap<u64, Waiting>,
    /// Call id → the operation id of its `request`.
    pub(super) calls: BTreeMap<String, u64>,
    /// JSON-RPC calls (their `ok` is any JSON value, compared canonically).
    pub(super) rpc_calls: std::collections::BTreeSet<String>,
    pub(super) started: bool,
    /// Counts `connecting` events, for the gates.
    pub(super) announce: watch::Sender<u64>,
}

impl Session<'_> {
    pub(super) fn send(&mut self, op: &Op) -> u64 {
        let id = self.me.next_op.fetch_add(1, Ordering::SeqCst);
        self.proc.send_line(adapter::encode(id, op));
        id
    }

    fn event(&self, kind: EventKind) {
        self.ctx.trace.host_event(&self.ctx.ctl.name, kind);
    }

    fn call_event(&self, id: &str, call: Call, deadline: Option<Duration>) {
        self.event(EventKind::Call {
            id: id.to_owned(),
            call,
            deadline,
        });
    }

    fn ack(&mut self, op: &Op) {
        let id = self.send(op);
        self.waiting
            .insert(id, Waiting::Ack(op.word(), Instant::now() + ACK_LIMIT));
    }

    pub(super) fn connect(&mut self, call: &str) {
        self.started = true;
        self.call_event(
            call,
            Call::Connect {
                client: self.me.spec.id.clone(),
                brokers: self.me.spec.connect.clone(),
            },
            None,
        );
        let id = self.send(&Op::Connect { call: call.into() });
        self.waiting.insert(id, Waiting::Call(call.into()));
    }

    pub(super) fn command(&mut self, cmd: Cmd) -> Result<(), CmdError> {
        let not_started = || {
            Err(CmdError::Refused(
                "the client is not started: add a `connect` step first".into(),
            ))
        };
        match cmd {
            Cmd::Connect { .. } if self.started => Err(CmdError::Refused(
                "the client is already started (autoconnect, or an earlier connect)".into(),
            )),
            Cmd::Connect { id } => {
                self.connect(&id);
                Ok(())
            }
            Cmd::Request(call) => {
                self.request_event(&call, call.timeout, None);
                let call_id = call.id.clone();
                let op = match self.ctx.protocol {
                    crate::model::Protocol::WirecheckV1 => Op::Request(call),
                    crate::model::Protocol::JsonRpc2 => {
                        self.rpc_calls.insert(call_id.clone());
                        Op::RpcRequest(call)
                    }
                };
                let id = self.send(&op);
                self.waiting.insert(id, Waiting::Call(call_id.clone()));
                self.calls.insert(call_id, id);
                Ok(())
            }
            Cmd::Batch(batch) => {
                let name = batch.calls.first().map(|c| c.id.clone());
                let ids: Vec<String> = batch.calls.iter().map(|c| c.id.clone()).collect();
                for call in &batch.calls {
                    self.request_event(call, batch.timeout, name.clone());
                    self.rpc_calls.insert(call.id.clone());
                }
                let id = self.send(&Op::Batch(batch));
                for c in &ids {
                    self.calls.insert(c.clone(), id);
                }
                self.waiting.insert(id, Waiting::Batch(ids));
                Ok(())
            }
            Cmd::Notify(n) => {
                self.call_event(
                    "notify",
                    Call::Notify {
                        method: n.method.clone(),
                        params: n.params.clone(),
                    },
                    None,
                );
                self.ack(&Op::Notify(n));
                Ok(())
            }
            Cmd::Cancel { id } => match self.calls.get(&id) {
                Some(op) if self.waiting.contains_key(op) => {
                    self.call_event(&id, Call::Cancel, None);
                    self.ack(&Op::Cancel { call: id });
                    Ok(())
                }
                Some(_) => {
                    self.ctx
                        .note(format!("cancel {id}: the call had already ended"));
                    Ok(())
                }
                None => Err(CmdError::Refused(format!(
                    "no call `{id}` was started on this host"
                ))),
            },
            Cmd::Disconnect if self.started => {
                self.call_event("disconnect", Call::Disconnect, None);
                self.ack(&Op::Disconnect);
                Ok(())
            }
            Cmd::Serve(s) if self.started => {
                self.ack(&Op::Serve(s));
                Ok(())
            }
            Cmd::Disconnect | Cmd::Serve(_) => not_started(),
            other => Err(CmdError::Unsupported {
                kind: "client",
                cmd: format!("{other:?}"),
            }),
        }
    }

    /// Records that the script made request `call` (`timeout`: its own, or its batch's).
    fn request_event(&self, call: &RequestCall, timeout: Option<Duration>, batch: Option<String>) {
        let now = self.ctx.trace.now();
        self.call_event(
            &call.id,
            Call::Request {
                channel: call.channel.clone(),
                body: call.body.clone(),
                chunks: call.chunks.len(),
                timeout,
                batch,
            },
            Some(now + timeout.unwrap_or(self.me.spec.request_timeout)),
        );
    }

    pub(super) fn line(&mut self, line: &str) {
        match adapter::decode(line) {
            Ok(Line::Reply { id, answer }) => self.reply(id, answer),
            Ok(Line::Event(e)) => self.lifecycle(e),
            Err(e) => self.me.set_error(format!(
                "printed a line on stdout that is not DRIVER.md: {e}: `{}`",
                clip(line)
            )),
        }
    }

    fn reply(&mut self, id: u64, answer: Answer) {
        let Some(w) = self.waiting.remove(&id) else {
            self.me.set_error(format!(
                "answered operation {id} twice, or an operation it was never sent (every operation gets exactly one reply: DRIVER.md)"
            ));
            return;
        };
        if let Answer::Unsupported(why) = &answer {
            let what = match &w {
                Waiting::Call(c) => format!("call `{c}`"),
                Waiting::Batch(c) => format!("the batch of `{}`", c.join("`, `")),
                Waiting::Ack(op, _) => format!("`{op}`"),
                Waiting::Stats(..) => "`stats`".into(),
            };
            lock(&self.me.unsupported)
                .get_or_insert(format!("the adapter cannot do {what}: {why}"));
            return;
        }
        match w {
            Waiting::Call(call) => self.result(&call, answer),
            // The batch as a whole answered (e.g. `fails: not_connected`): every call.
            Waiting::Batch(calls) if !matches!(answer, Answer::Ok(_)) => {
                for call in &calls {
                    self.result(call, answer.clone());
                }
            }
            Waiting::Batch(calls) => {
                let Answer::Ok(v) = answer else { return };
                match adapter::batch_reply(&v, &calls) {
                    Ok(answers) => {
                        for (call, a) in calls.iter().zip(answers) {
                            self.result(call, a);
                        }
                    }
                    Err(e) => self.me.set_error(format!(
                        "answered `batch` with a reply DRIVER.md does not define: {e}"
                    )),
                }
            }
            Waiting::Ack(op, _) => {
                if !matches!(answer, Answer::Ok(_)) {
                    self.ctx
                        .note(format!("{op}: the adapter answered {answer:?}"));
                }
            }
            Waiting::Stats(reply, _) => {
                let _ = reply.send(match answer {
                    Answer::Ok(v) => Some(v),
                    _ => None,
                });
            }
        }
    }

    /// Records call `call`'s result as the adapter answered it.
    fn result(&self, call: &str, answer: Answer) {
        let outcome = match answer {
            // A JSON-RPC result is any value: compared as canonical JSON.
            Answer::Ok(v) if self.rpc_calls.contains(call) => {
                Outcome::Ok(wirecheck_core::jsonrpc::canonical(&v))
            }
            Answer::Ok(Value::String(s)) => Outcome::Ok(s),
            Answer::Ok(Value::Null) => Outcome::Ok(String::new()),
            Answer::Ok(v) => Outcome::Ok(v.to_string()),
            Answer::Error(code) => Outcome::Error(code),
            Answer::Fails(kind, _) => Outcome::Fails(kind),
            Answer::Unsupported(_) => return,
        };
        self.ctx.ctl.record_result(&self.ctx.trace, call, outcome);
    }

    fn endpoint(&self, url: &str) -> Endpoint {
        let host = self
            .me
            .gates
            .iter()
            .find(|(_, u, _)| u.trim_end_matches('/') == url.trim_end_matches('/'))
            .map(|(b, _, _)| b.clone())
            .unwrap_or_else(|| url.to_owned());
        Endpoint { host, port: PORT }
    }

    fn lifecycle(&self, e: Event) {
        let life = match e {
            Event::Connecting { url, attempt } => {
                self.announce.send_modify(|n| *n += 1);
                Lifecycle::Connecting {
                    to: self.endpoint(&url),
                    attempt,
                }
            }
            Event::Registered { url } => Lifecycle::Registered {
                to: self.endpoint(&url),
            },
            Event::RegistrationFailed { url, answer } => Lifecycle::RegistrationFailed {
                to: self.endpoint(&url),
                error: match answer {
                    Answer::Error(code) => RegError::Refused {
                        code,
                        message: String::new(),
                    },
                    Answer::Fails(kind, detail) => RegError::Failed { kind, detail },
                    other => RegError::Failed {
                        kind: crate::model::FailKind::Protocol,
                        detail: Some(format!("{other:?}")),
                    },
                },
            },
            Event::Disconnected { reason, failed } => Lifecycle::Disconnected { reason, failed },
            Event::Backoff { delay } => Lifecycle::Backoff { delay },
            Event::RateLimited { wait } => Lifecycle::RateLimited { wait },
            Event::Stopped { reason } => Lifecycle::Stopped { reason },
        };
        self.event(EventKind::Life(life));
    }

    /// Acknowledgements not given in time are the adapter's protocol error.
    pub(super) fn overdue(&mut self) {
        let now = Instant::now();
        let late = self.waiting.iter().find_map(|(id, w)| match w {
            Waiting::Ack(op, due) if *due <= now => Some((*id, *op)),
            Waiting::Stats(_, due) if *due <= now => Some((*id, "stats")),
            _ => None,
        });
        if let Some((id, op)) = late {
            self.me.set_error(format!(
                "did not answer operation {id} (`{op}`) within {}s (DRIVER.md: it is answered at once)",
                ACK_LIMIT.as_secs()
            ));
        }
    }
}
