//! The JSON-RPC 2.0 profile of a trace: every received text parsed as JSON-RPC frames, and
//! the wire ids of requests bound to the script's calls, so that the MUX rules' checkers
//! judge a JSON-RPC run with the same code as a wirecheck-v1 run.
//!
//! **Binding.** A library picks its own wire ids (`1`, `2`, … or strings). A request a
//! client host sent, as its server recorded receiving it, is bound to the earliest call of
//! that client not yet bound with the same method and the same params (canonical JSON),
//! made before the request was received. Bindings are per client host (the two ends of a
//! hop record different ports, so the port cannot key them): a library that restarts its
//! counter on a new socket rebinds the reused id to the new call, and a response then
//! names the latest call that carried its id.
//!
//! **Decoding.** Each item of a frame becomes a wirecheck-v1 [`Message`] about the call it
//! is bound to: a request → `start` (request, `channel` = method, `body` = canonical
//! params, `end`); a result → `start` (response, `body` = canonical result, `end`); an
//! error object → `error` with the code as text. A response whose id is bound to no call
//! is about the request id `id:<wire id>` (`id:7`, `id:"x"`, `id:null`, `id:none` when the
//! member is missing), which no call has. Notifications, invalid items and text that is
//! not JSON decode to nothing (the frames themselves are kept for the JSONRPC checkers).

use super::{Call, Event, EventKind};
use std::collections::{BTreeMap, BTreeSet};
use wirecheck_core::jsonrpc::codec::response_message;
use wirecheck_core::jsonrpc::{canonical, Frame, Id, Item};
use wirecheck_core::wire::{Dir, Message};

/// A connection: the client host and the connecting side's port, when known.
pub type ConnKey = (String, Option<u16>);

/// Wire ids bound to calls, per connection.
#[derive(Debug, Default)]
pub struct Bindings {
    by_conn: BTreeMap<ConnKey, BTreeMap<Id, String>>,
    /// Per client host, the calls bound so far (a call binds once).
    bound: BTreeMap<String, BTreeSet<String>>,
}

impl Bindings {
    /// The call that wire id `id` on `conn` belongs to.
    pub fn call(&self, conn: &ConnKey, id: &Id) -> Option<&str> {
        self.by_conn.get(conn)?.get(id).map(String::as_str)
    }

    /// The calls wire id `id` is bound to on any connection of client `client`.
    pub fn calls_by_id(&self, client: &str, id: &Id) -> Vec<&str> {
        self.by_conn
            .iter()
            .filter(|((c, _), _)| c == client)
            .filter_map(|(_, m)| m.get(id).map(String::as_str))
            .collect()
    }

    /// The wire id and connection of call `call` of client `client` (the latest binding).
    pub fn wire_id(&self, client: &str, call: &str) -> Option<(ConnKey, Id)> {
        self.by_conn
            .iter()
            .filter(|((c, _), _)| c == client)
            .flat_map(|(k, m)| m.iter().map(move |(id, c)| (k, id, c)))
            .filter(|(_, _, c)| c.as_str() == call)
            .map(|(k, id, _)| (k.clone(), id.clone()))
            .next_back()
    }
}

/// A call as the script made it: what its request must carry.
struct Made {
    id: String,
    method: String,
    params: String,
}

/// The profile's view of one trace.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Protocol messages the checkers judge: `(event index, message)`, in event order.
    pub msgs: Vec<(usize, Message)>,
    /// Every `Recv` event's text parsed as JSON-RPC: `(event index, frame)`.
    pub frames: Vec<(usize, Frame)>,
    pub bindings: Bindings,
}

/// The canonical text of a request's params as a call's `body` holds it (absent: empty).
pub fn params_text(params: Option<&serde_json::Value>) -> String {
    params.map(canonical).unwrap_or_default()
}

/// Decodes `events` under the JSON-RPC profile.
pub fn decode(events: &[Event]) -> Decoded {
    let mut d = Decoded::default();
    let mut made: BTreeMap<&str, Vec<Made>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        match &e.kind {
            EventKind::Call {
                id,
                call: Call::Request { channel, body, .. },
                ..
            } => made.entry(e.host.as_str()).or_default().push(Made {
                id: id.clone(),
                method: channel.clone(),
                params: body.clone(),
            }),
            EventKind::Recv { from, text, .. } => {
                let frame = Frame::parse(text);
                for item in frame.items() {
                    if let Some(m) = d.item(&e.host, from, item, &made) {
                        d.msgs.push((i, m));
                    }
                }
                d.frames.push((i, frame));
            }
            _ => {}
        }
    }
    d
}

impl Decoded {
    /// The message `item`, received by `host` from `from` on `conn`, decodes to.
    fn item(
        &mut self,
        host: &str,
        from: &str,
        item: &Item,
        made: &BTreeMap<&str, Vec<Made>>,
    ) -> Option<Message> {
        match item {
            Item::Request {
                id: Some(id),
                method,
                params,
            } => {
                // A request `from` sent: bind it to one of `from`'s calls.
                let key = (from.to_owned(), None);
                let params = params_text(params.as_ref());
                let req = match self.bindings.call(&key, id) {
                    Some(call) => call.to_owned(),
                    None => match self.bind(key, id, method, &params, made.get(from)) {
                        Some(call) => call,
                        None => stray(Some(id)),
                    },
                };
                Some(Message::Start {
                    req,
                    dir: Dir::Request,
                    channel: method.clone(),
                    body: params,
                    end: true,
                })
            }
            Item::Response { id, outcome } => {
                // A response `host` received: about the call its id is bound to there.
                let key = (host.to_owned(), None);
                let req = id
                    .as_ref()
                    .and_then(|id| self.bindings.call(&key, id))
                    .map(str::to_owned)
                    .unwrap_or_else(|| stray(id.as_ref()));
                Some(response_message(req, outcome))
            }
            Item::Request { id: None, .. } | Item::Invalid { .. } => None,
        }
    }

    fn bind(
        &mut self,
        key: ConnKey,
        id: &Id,
        method: &str,
        params: &str,
        made: Option<&Vec<Made>>,
    ) -> Option<String> {
        let bound = self.bindings.bound.entry(key.0.clone()).or_default();
        let call = made?.iter().find(|c| {
            c.method == method && same_params(&c.params, params) && !bound.contains(&c.id)
        })?;
        bound.insert(call.id.clone());
        self.bindings
            .by_conn
            .entry(key)
            .or_default()
            .insert(id.clone(), call.id.clone());
        Some(call.id.clone())
    }
}

/// The request id of a message bound to no call.
pub fn stray(id: Option<&Id>) -> String {
    match id {
        Some(id) => format!("id:{id}"),
        None => "id:none".to_owned(),
    }
}

/// Params the same for binding: equal, or both empty (absent, `[]` or `{}`: libraries
/// drop empty params, which the specification allows).
fn same_params(a: &str, b: &str) -> bool {
    let empty = |p: &str| matches!(p, "" | "[]" | "{}");
    a == b || (empty(a) && empty(b))
}
