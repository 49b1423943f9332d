//! The wire protocols (profiles) wirecheck speaks: its own (PROTOCOL.md) and JSON-RPC 2.0.

use std::fmt;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// wirecheck's own multiplexing protocol (PROTOCOL.md): hello/welcome, start/chunk/end.
    #[default]
    WirecheckV1,
    /// JSON-RPC 2.0 over WebSocket: one request or response object (or a batch) per message.
    JsonRpc2,
}

impl Protocol {
    pub const ALL: [Protocol; 2] = [Protocol::WirecheckV1, Protocol::JsonRpc2];

    /// The name a scenario or target file writes.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::WirecheckV1 => "wirecheck-v1",
            Protocol::JsonRpc2 => "jsonrpc-2.0",
        }
    }

    pub fn from_name(s: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.name() == s)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
