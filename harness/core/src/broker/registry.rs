//! Registration (`hello`: token check, one live connection per client id) and the
//! broker-answered `$info` channel (BRK-13).

use super::{Action, Broker, Conn, ConnId};
use crate::flaws::Flaw;
use crate::wire::{code, Dir, Message};

/// The broker-answered channel (BRK-13): body is a client id, answer is what the broker
/// knows about that client.
pub const INFO_CHANNEL: &str = "$info";

impl Broker {
    pub(super) fn register(
        &mut self,
        conn: ConnId,
        client: String,
        token: Option<String>,
    ) -> Vec<Action> {
        let refuse = |code: &str, message: String| {
            vec![
                Action::Send(conn, Message::error(None, code, message)),
                Action::Close(conn, format!("registration refused: {code}")),
            ]
        };
        // With a token table, only listed clients with their exact token get in.
        let authorized = match self.config.tokens.get(&client) {
            _ if self.config.tokens.is_empty() => true,
            Some(want) => token.as_deref() == Some(want.as_str()),
            None => false,
        };
        if !authorized {
            self.rejected += 1;
            return refuse(
                code::UNAUTHORIZED,
                format!("no valid token for client `{client}`"),
            );
        }
        if self.clients.contains_key(&client) && !self.flaw(Flaw::TakeoverAllowed) {
            self.rejected += 1;
            return refuse(
                code::CLIENT_ID_TAKEN,
                format!("client id `{client}` is connected on another connection"),
            );
        }
        self.clients.insert(client.clone(), conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.client = Some(client.clone());
        }
        vec![Action::Send(conn, Message::Welcome { client })]
    }

    /// Requests on `$` channels are answered by the broker itself, through the ordinary
    /// response path (BRK-13).
    pub(super) fn broker_request(
        &mut self,
        conn: ConnId,
        req: String,
        channel: String,
        body: String,
    ) -> Vec<Action> {
        if channel != INFO_CHANNEL {
            return self.reject(
                conn,
                Some(req),
                code::UNKNOWN_CHANNEL,
                format!("`{channel}` is not a broker channel (only `{INFO_CHANNEL}` is)"),
            );
        }
        // With a token table a client may ask only about itself: about anyone else the
        // answer is the same whether they are connected or not.
        let asker = self.conns.get(&conn).and_then(|c| c.client.as_deref());
        let allowed = self.config.tokens.is_empty() || asker == Some(body.as_str());
        let (Some(&target), true) = (self.clients.get(&body), allowed) else {
            return self.reject(
                conn,
                Some(req),
                code::UNKNOWN_CLIENT,
                format!("no client `{body}` is connected"),
            );
        };
        // (Zoo flaw `stale-registry` keeps ids of closed connections: nothing to count.)
        let empty = Conn::default();
        let target = self.conns.get(&target).unwrap_or(&empty);
        // Its credits are ordered by channel: each channel once, sorted.
        let mut serving: Vec<&str> = target.credits.iter().map(|(ch, _)| ch.as_str()).collect();
        serving.dedup();
        let sent = target.sent.len();
        let assigned = target.assigned.len();
        let info = serde_json::json!({
            "client": body,
            "connected": true,
            "waiting_on": serving,
            "in_flight_sent": sent,
            "in_flight_assigned": assigned,
        });
        vec![Action::Send(
            conn,
            Message::Start {
                req,
                channel: String::new(),
                dir: Dir::Response,
                body: info.to_string(),
                end: true,
            },
        )]
    }
}
