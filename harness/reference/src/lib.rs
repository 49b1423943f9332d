//! Reference implementations driven by tokio: the single-reader multiplexer ([`client`]) and
//! the broker ([`broker`]). Both are generic over any `AsyncRead + AsyncWrite + Unpin` stream,
//! so the same code runs over turmoil's simulated TCP and over real sockets. Every protocol
//! decision lives in the sans-IO `wirecheck-core`; these modules only move bytes and time.

pub mod broker;
pub mod client;
pub mod observe;
pub mod serve;

pub use observe::{NoObserver, Observer};
