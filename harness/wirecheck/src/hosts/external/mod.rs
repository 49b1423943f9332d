//! Drivers for hosts played by an external target process (`crate::targets`): a broker
//! reached through an in-path [`tap`], or a client library behind a DRIVER.md adapter
//! ([`client`], speaking [`adapter`]'s types) whose connections go through per-client
//! gates that record what it receives.

pub mod adapter;
mod broker;
mod client;
mod gate;
mod session;
mod tap;

pub use broker::ExternalBroker;
pub use client::ExternalClient;
pub use tap::HANDSHAKE_LIMIT;
