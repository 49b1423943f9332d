//! Reference implementations driven by tokio: the single-reader multiplexer ([`client`]),
//! the broker ([`broker`]) and the failover relay ([`relay`]). All are generic over any
//! `AsyncRead + AsyncWrite + Unpin` stream, so the same code runs over turmoil's simulated
//! TCP and over real sockets. Every protocol decision lives in the sans-IO `wirecheck-core`
//! (the client's in `wirecheck_core::mux`, the broker's in `wirecheck_core::broker`, the
//! relay's in `wirecheck_core::relay`); these modules own sockets, tasks and timers,
//! turn their events into calls on the core's state machines and carry out the actions
//! those return.

pub mod accept;
pub mod bench;
pub mod broker;
pub mod client;
pub mod handshake;
pub mod log;
pub mod observe;
pub mod relay;
pub mod rpc_server;
pub mod serve;
pub mod time;
pub mod ws;

pub use observe::{NoObserver, Observer};
