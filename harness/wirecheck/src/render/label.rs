//! Text for typed trace events: the one place where events become prose.

use crate::model::{Corruption, FailKind, Outcome};
use crate::trace::{
    Call, Event, EventKind, FaultKind, Lifecycle, LinkEnd, ProxyAct, RegError, RelayLife,
};
use std::fmt;
use std::time::Duration;
use wirecheck_core::wire::{summary, Message};

/// One line describing the event, as the diagram prints it after the lanes.
pub fn label(e: &Event) -> String {
    match &e.kind {
        EventKind::Recv { msg: Some(m), .. } => printable(&summary(m)),
        EventKind::Recv {
            text, msg: None, ..
        } => {
            if let Some(s) =
                wirecheck_core::jsonrpc::summary(&wirecheck_core::jsonrpc::Frame::parse(text))
            {
                return printable(&s);
            }
            let mut t: String = text.chars().take(32).collect();
            if t.len() < text.len() {
                t.push('…');
            }
            format!("raw {t:?}")
        }
        EventKind::Call { id, call, .. } => format!("call {id}: {call}"),
        EventKind::Result { id, outcome } => format!("result {id}: {outcome}"),
        EventKind::Note(n) => n.clone(),
        EventKind::Life(l) => l.to_string(),
        EventKind::Fault {
            fault: FaultKind::Heal,
            ..
        } => "HEALED: every fault is over (requests from here on must be answered in time)"
            .to_string(),
        EventKind::Fault {
            fault: FaultKind::Latency { min, max },
            other,
        } => format!(
            "FAULT latency {} | {} {}",
            e.host,
            other.as_deref().unwrap_or(""),
            fmt_range(*min, *max)
        ),
        EventKind::Fault { fault, other } => match other {
            Some(b) => format!("FAULT {} {} | {b}", fault.name(), e.host),
            None => format!("FAULT {} {}", fault.name(), e.host),
        },
        EventKind::Proxy { action, peer, text } => {
            let what = match Message::decode(text) {
                Ok(m) => summary(&m),
                Err(_) => format!("raw {:?}", text.chars().take(32).collect::<String>()),
            };
            format!("proxy {action}: {what} (from {peer})")
        }
    }
}

/// The event's text as every picture of the trace shows it beside the lanes: the label,
/// after `host: ` for the events a host does or notes itself (calls, results, notes,
/// lifecycle), since their lane alone does not name who acted.
pub fn line_label(e: &Event) -> String {
    match &e.kind {
        EventKind::Call { .. }
        | EventKind::Result { .. }
        | EventKind::Note(_)
        | EventKind::Life(_) => format!("{}: {}", e.host, label(e)),
        _ => label(e),
    }
}

/// Control characters (a NUL in a client id, a newline) escaped, so one event stays one
/// line of the diagram.
fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().collect()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `12ms`, `1.500s`, `5s`: durations as traces and messages print them (the same form
/// the core's notes use, so one trace never mixes two).
pub fn fmt_time(d: Duration) -> String {
    wirecheck_core::mux::fmt_dur(d)
}

/// A latency: `50ms`, or `10ms..50ms` for a range.
pub fn fmt_range(min: Duration, max: Duration) -> String {
    if min == max {
        fmt_time(min)
    } else {
        format!("{}..{}", fmt_time(min), fmt_time(max))
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Connect { client, brokers } => {
                write!(f, "connect as {client} to {}", brokers.join(", "))
            }
            Call::Request {
                channel,
                body,
                chunks,
                timeout,
                batch,
            } => {
                write!(f, "request {channel} {}", Clipped(body))?;
                if *chunks > 0 {
                    write!(f, " +{chunks} chunks")?;
                }
                if let Some(t) = timeout {
                    write!(f, " timeout {}", fmt_time(*t))?;
                }
                if let Some(b) = batch {
                    write!(f, " (batch {b})")?;
                }
                Ok(())
            }
            Call::Notify { method, params } if params.is_empty() => {
                write!(f, "notify {method}")
            }
            Call::Notify { method, params } => write!(f, "notify {method} {}", Clipped(params)),
            Call::Cancel => f.write_str("cancel (caller drops the request)"),
            Call::Disconnect => f.write_str("close the connection, no reconnect"),
        }
    }
}

/// `ok "pong"`, `error receiver_gone`, `fails timeout`.
/// Bodies longer than this are clipped in traces and messages.
const CLIP_BODY: usize = 1024;

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A huge body (a 512 KiB reply) is clipped so that one event stays one
            // readable line; its size is kept (a call's body likewise).
            Outcome::Ok(b) => write!(f, "ok {}", Clipped(b)),
            Outcome::Error(c) => write!(f, "error {c}"),
            Outcome::Fails(k) => write!(f, "fails {k}"),
        }
    }
}

/// A body as a quoted string, clipped to its first 64 characters and its size when
/// longer than [`CLIP_BODY`] (calls and results alike).
struct Clipped<'a>(&'a str);

impl fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b.len() > CLIP_BODY {
            let head: String = b.chars().take(64).collect();
            write!(f, "{head:?}… ({} bytes)", b.len())
        } else {
            write!(f, "{b:?}")
        }
    }
}

impl fmt::Display for FailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for ProxyAct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyAct::Drop => f.write_str("drop"),
            ProxyAct::Duplicate => f.write_str("duplicate"),
            ProxyAct::Delay(d) => write!(f, "delay {}", fmt_time(*d)),
            ProxyAct::Hold => f.write_str("hold"),
            ProxyAct::Release => f.write_str("release"),
            ProxyAct::Reorder { nth, window } => write!(f, "reorder {nth}/{window}"),
            ProxyAct::Corrupt(c) => write!(f, "corrupt {}", corruption_name(*c)),
            ProxyAct::Close => f.write_str("close"),
        }
    }
}

pub fn corruption_name(c: Corruption) -> &'static str {
    match c {
        Corruption::InvalidJson => "invalid_json",
        Corruption::WrongId => "wrong_id",
        Corruption::Truncate => "truncate",
    }
}

impl fmt::Display for RegError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegError::Refused { code, message } => {
                write!(f, "rejected `{code}`")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            RegError::Failed { kind, detail } => {
                write!(f, "{kind}")?;
                if let Some(d) = detail {
                    write!(f, ": {d}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lifecycle::Connecting { to, attempt } => write!(f, "connect {to} (attempt {attempt})"),
            Lifecycle::Registered { to } => write!(f, "registered with {to}"),
            Lifecycle::RegistrationFailed { to, error } => {
                write!(f, "registration with {to} failed: {error}")
            }
            Lifecycle::Disconnected { reason, failed } => write!(
                f,
                "disconnected: {reason}; {failed} pending request(s) failed"
            ),
            Lifecycle::Backoff { delay } => write!(f, "backoff {}", fmt_time(*delay)),
            Lifecycle::RateLimited { wait } => {
                write!(f, "rate limit: next attempt in {}", fmt_time(*wait))
            }
            Lifecycle::Stopped { reason } => write!(f, "stopped: {reason}"),
            Lifecycle::TwoReaders { said } => {
                write!(
                    f,
                    "the library reports two readers on one connection: {said}"
                )
            }
            Lifecycle::ConnOpened { to } => match to.conn {
                Some(port) => write!(f, "connected to {} (from port {port})", to.host),
                None => write!(f, "connected to {}", to.host),
            },
            Lifecycle::ConnClosed { peer, reason, .. } => {
                write!(f, "connection from {peer} closed: {reason}")
            }
            Lifecycle::Relay(r) => r.fmt(f),
        }
    }
}

impl fmt::Display for RelayLife {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayLife::Reader {
                client,
                reader,
                running,
            } => write!(
                f,
                "reader {reader} of {client} {}",
                if *running { "started" } else { "ended" }
            ),
            RelayLife::Dial {
                client,
                link,
                backend,
                attempt: 0,
            } => write!(f, "link {link}: dial {backend} for {client}"),
            RelayLife::Dial {
                client,
                link,
                backend,
                attempt,
            } => write!(
                f,
                "link {link}: dial {backend} for {client} (failover attempt {attempt})"
            ),
            RelayLife::Linked { link, backend, .. } => write!(f, "link {link}: {backend} open"),
            RelayLife::Ready {
                client,
                link,
                backend,
            } => write!(f, "link {link}: {client} served by {backend}"),
            RelayLife::Unlinked {
                link, backend, end, ..
            } => write!(
                f,
                "link {link}: {backend} {}",
                match end {
                    LinkEnd::Failed => "dial failed",
                    LinkEnd::Lost => "lost",
                    LinkEnd::Closed => "closed by the relay",
                }
            ),
            RelayLife::Health { backend, up } => {
                write!(f, "{backend} {}", if *up { "healthy" } else { "down" })
            }
            RelayLife::GaveUp { client, attempts } => write!(
                f,
                "gave up on {client} after {attempts} failed failover attempts"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call line clips a huge body as a result line does (it printed 2,000 bytes in
    /// full while the arrows and results were clipped).
    #[test]
    fn calls_and_results_clip_huge_bodies_alike() {
        let big = "x".repeat(2000);
        let call = Call::Request {
            channel: "jobs".into(),
            body: big.clone(),
            chunks: 0,
            timeout: None,
            batch: None,
        };
        let line = call.to_string();
        assert!(
            line.len() < 120 && line.ends_with("… (2000 bytes)"),
            "{line}"
        );
        let res = Outcome::Ok(big).to_string();
        assert!(res.len() < 120 && res.ends_with("… (2000 bytes)"), "{res}");
        let small = Call::Request {
            channel: "jobs".into(),
            body: "ping".into(),
            chunks: 0,
            timeout: None,
            batch: None,
        };
        assert_eq!(small.to_string(), "request jobs \"ping\"");
    }
}
