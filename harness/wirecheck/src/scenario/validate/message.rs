//! Messages of scripted peers: `send` (a frame to send) and `expect` (a pattern).

use super::{Calls, Checker, DEFAULT_WITHIN, R};
use crate::model::{Action, Frame, FramePattern, Protocol};
use crate::scenario::error::closest;
use crate::scenario::raw::{MsgBody, RawMessage};
use crate::scenario::shapes::S;

impl Checker<'_> {
    pub(super) fn message(
        &self,
        host: String,
        action: &str,
        m: &S<RawMessage>,
        calls: &Calls,
    ) -> R<Action> {
        let example = if action == "send" {
            "e.g. `{ start: { req: r1, dir: response, body: pong, end: true } }` or `{ raw: \"not json {\" }`"
        } else {
            "e.g. `{ start: { req: r1 }, within: 5s }`"
        };
        let (kinds, within, to) = match &m.value {
            RawMessage::Map { kinds, within, to } => (kinds, within, to),
            RawMessage::Invalid(what) => {
                return Err(self.err(
                    &m.referenced,
                    format!("bad `{action}`: found {what}"),
                    format!("write a map with one message kind key, {example}"),
                ))
            }
        };
        let (kind, body) = match kinds.as_slice() {
            [] => {
                return Err(self.err(
                    &m.referenced,
                    format!("`{action}` names no message kind"),
                    format!("write one message kind key, {example}"),
                ))
            }
            [one] => one,
            [_, (second, _), ..] => {
                return Err(self.err(
                    &second.referenced,
                    format!("`{action}` names a second message kind `{}`", second.value),
                    format!("one message per step; {example}"),
                ))
            }
        };
        if action == "send" {
            if let Some(w) = within {
                return Err(self.err(
                    &w.referenced,
                    "`send` takes no `within`",
                    "`within` is for `expect`; use a `wait` step to delay a send".to_string(),
                ));
            }
            if self.protocol == Protocol::JsonRpc2 {
                return self.rpc_message(host, action, (kind, body), within, to, calls);
            }
            let frame = match body {
                MsgBody::Raw(text) => Frame::Raw(text.clone()),
                MsgBody::Fields(fields) => Frame::Json(self.json_object(kind, fields)?),
                MsgBody::List(_) => return Err(self.not_fields(kind, example, "a list")),
                MsgBody::Scalar(v) => return Err(self.not_fields(kind, example, v)),
            };
            return Ok(match to {
                None => Action::Send { host, frame },
                Some(peer) => {
                    self.host(peer)?;
                    Action::SendTo {
                        host,
                        to: peer.value.clone(),
                        frame,
                    }
                }
            });
        }
        if let Some(peer) = to {
            return Err(self.err(
                &peer.referenced,
                "`expect` takes no `to`",
                "`to` picks the connection a `send` goes out on; `expect` matches messages from any connection"
                    .to_string(),
            ));
        }
        if self.protocol == Protocol::JsonRpc2 {
            return self.rpc_message(host, action, (kind, body), within, to, calls);
        }
        let fields = match body {
            MsgBody::Raw(_) => {
                return Err(self.err(
                    &kind.referenced,
                    "`expect` cannot match a `raw` message",
                    "expect matches JSON messages by their type and fields, e.g. `{ start: { req: r1 } }`"
                        .to_string(),
                ))
            }
            MsgBody::Fields(fields) => {
                self.json_object(kind, fields)?;
                // A protocol message never carries other fields: a typo (`reqq`) would
                // otherwise wait out the whole `within` for nothing.
                if let Some(known) = wirecheck_core::wire::fields(&kind.value) {
                    if let Some(bad) = fields.keys().find(|f| !known.contains(&f.as_str())) {
                        let mut hint = String::new();
                        if let Some(c) = closest(bad, known.iter().copied()) {
                            hint.push_str(&format!("did you mean `{c}`? "));
                        }
                        hint.push_str(&format!(
                            "`{}` has the fields {}",
                            kind.value,
                            known.join(", ")
                        ));
                        return Err(self.err(
                            &kind.referenced,
                            format!("`{}` has no field `{bad}`", kind.value),
                            hint,
                        ));
                    }
                }
                fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            }
            MsgBody::List(_) => return Err(self.not_fields(kind, example, "a list")),
                MsgBody::Scalar(v) => return Err(self.not_fields(kind, example, v)),
        };
        Ok(Action::Expect {
            host,
            pattern: FramePattern {
                kind: kind.value.clone(),
                fields,
                protocol: Protocol::WirecheckV1,
            },
            within: self.duration_or(within, DEFAULT_WITHIN)?,
        })
    }

    fn not_fields(
        &self,
        kind: &S<String>,
        example: &str,
        found: &str,
    ) -> crate::scenario::error::LoadError {
        self.err(
            &kind.referenced,
            format!("`{}` takes a map of fields, found {found}", kind.value),
            format!("write the message's fields as a map, {example}"),
        )
    }

    pub(super) fn json_object(
        &self,
        kind: &S<String>,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> R<serde_json::Value> {
        if fields.contains_key("type") {
            return Err(self.err(
                &kind.referenced,
                format!("message `{}` has a `type` field", kind.value),
                "the key of the message (here `".to_string()
                    + &kind.value
                    + "`) is its type; remove `type:`",
            ));
        }
        let mut object = serde_json::Map::new();
        object.insert(
            "type".to_string(),
            serde_json::Value::String(kind.value.clone()),
        );
        for (k, v) in fields {
            object.insert(k.clone(), v.clone());
        }
        Ok(serde_json::Value::Object(object))
    }
}
