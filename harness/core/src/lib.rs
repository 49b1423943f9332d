//! Sans-IO core of wirecheck: wire messages and their codec, the multiplexer's state
//! machine ([`mux`]: registration, dispatch of every received frame, served channels and
//! their credits, heartbeat nonces, the reconnect loop's decisions) with its pending map ([`pending`]), the broker's state
//! machine ([`broker`]: registry, channel queues, assignments), the relay's state machine
//! ([`relay`]: backends with health, failover, session replay, cleanup), reconnect timing
//! ([`reconnect`]), the numbered rules and the bug zoo's flaws.
//!
//! Nothing here does I/O or reads a clock: drivers feed events (connection opened or
//! closed, text received, deadline passed, API call) and carry out the actions returned
//! (send this frame, complete this call, deliver this request, close this connection).
//! Every protocol decision of the reference multiplexer, broker and relay is made here; the
//! tokio drivers in `wirecheck-reference` only move bytes and keep time. Shared state
//! ([`mux::SharedMux`], [`broker::SharedBroker`], [`relay::SharedRelay`], the pending map's slots) goes through
//! [`sync`], so loom can model-check it (`--cfg loom`).

pub mod broker;
pub mod flaws;
pub mod jsonrpc;
pub mod mux;
pub mod pending;
pub mod protocol;
pub mod reconnect;
pub mod relay;
pub mod rng;
pub mod rules;
pub mod sync;
pub mod wire;

pub use protocol::Protocol;
