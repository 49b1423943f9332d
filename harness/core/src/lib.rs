//! Sans-IO core of wirecheck: wire messages and their codec, the multiplexer's pending
//! map and the broker's state machine (registry, channel queues, assignments).
//!
//! Nothing here does I/O or reads a clock: drivers feed events and read back actions.
//! Shared state goes through [`sync`], so loom can model-check it (`--cfg loom`).

pub mod broker;
pub mod flaws;
pub mod mux;
pub mod pending;
pub mod reconnect;
pub mod rng;
pub mod rules;
pub mod sync;
pub mod wire;
