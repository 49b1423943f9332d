//! How a call fails: [`CallError`], its stable names and its messages.

use std::fmt;

/// How a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The peer answered `error` with this code.
    Remote {
        code: String,
        message: String,
    },
    Timeout,
    Disconnected,
    SendFailed(String),
    Cancelled,
    /// Registration got something other than `welcome` or `error`.
    UnexpectedReply(String),
    NotConnected,
    /// The peer broke the protocol for this request (e.g. chunk out of order).
    Protocol(String),
    /// An entry with this id is already pending.
    DuplicateId,
    /// Registration was refused by the broker (its code).
    Rejected {
        code: String,
        message: String,
    },
}

impl CallError {
    /// Stable name used in scenarios (`fails: timeout`) and traces.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Remote { .. } => "error",
            CallError::Timeout => "timeout",
            CallError::Disconnected => "disconnected",
            CallError::SendFailed(_) => "send_failed",
            CallError::Cancelled => "cancelled",
            CallError::UnexpectedReply(_) => "unexpected_reply",
            CallError::NotConnected => "not_connected",
            CallError::Protocol(_) => "protocol",
            CallError::DuplicateId => "duplicate_id",
            CallError::Rejected { .. } => "rejected",
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Remote { code, message } | CallError::Rejected { code, message } => {
                write!(f, "{} `{code}`", self.kind())?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            CallError::SendFailed(m) | CallError::UnexpectedReply(m) | CallError::Protocol(m) => {
                write!(f, "{}: {m}", self.kind())
            }
            other => f.write_str(other.kind()),
        }
    }
}

impl std::error::Error for CallError {}
