//! The broker on a real TCP listener: accept errors survived, a cap on connections, a
//! per-address limit on failed registrations (token guessing), and sockets that can be
//! reset at once when their peer is killed as a slow consumer.

use super::{BrokerOptions, BrokerServer, ConnMeta};
use crate::observe::Observer;
use std::sync::Arc;
use std::time::Duration;

/// Limits of a broker on real TCP.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Connections served at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Failed registrations (`unauthorized`) per address a minute; an address at the
    /// limit is closed as soon as it is accepted, until its oldest failure is a minute old
    /// (0: no limit).
    pub max_auth_failures: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: 10_000,
            max_auth_failures: 30,
        }
    }
}

/// Runs a broker on a real TCP listener until the process ends, with default limits.
pub async fn run_tcp(
    listener: tokio::net::TcpListener,
    opts: BrokerOptions,
    observer: Arc<dyn Observer>,
) -> std::io::Result<()> {
    run_tcp_with(listener, opts, TcpLimits::default(), observer).await
}

/// Runs a broker on a real TCP listener until the process ends. An accept error (out of
/// file descriptors, say) never ends it: it notes the error, backs off briefly and goes on
/// serving; a connection beyond `limits.max_connections`, or from an address over its
/// failed-registration limit, is closed at once.
pub async fn run_tcp_with(
    listener: tokio::net::TcpListener,
    opts: BrokerOptions,
    limits: TcpLimits,
    observer: Arc<dyn Observer>,
) -> std::io::Result<()> {
    let server = BrokerServer::with_auth_limit(opts, limits.max_auth_failures, observer.clone());
    let gate = server.clone();
    crate::accept::accept_loop(
        listener,
        limits.max_connections,
        observer,
        |peer| {
            if gate.admits(peer.ip()) {
                Ok(())
            } else {
                Err(format!(
                    "{} failed registrations from {} in the last minute (--max-auth-failures)",
                    limits.max_auth_failures,
                    peer.ip()
                ))
            }
        },
        |stream, peer| {
            let meta = ConnMeta {
                peer: peer.to_string(),
                origin: Some(peer.ip()),
                abort: resetter(&stream),
            };
            server.clone().serve(stream, meta)
        },
    )
    .await
}

/// Resets the socket when called: linger 0 (closing it sends RST and drops what is
/// unsent) and shutdown, which wakes a writer blocked on a peer that stopped reading. It
/// holds a duplicate of the descriptor, so it is valid as long as it lives; the socket
/// itself closes when the connection's tasks drop their side.
fn resetter(stream: &tokio::net::TcpStream) -> Option<Box<dyn Fn() + Send + Sync>> {
    let dup = socket2::SockRef::from(stream).try_clone().ok()?;
    Some(Box::new(move || {
        let _ = dup.set_linger(Some(Duration::ZERO));
        let _ = dup.shutdown(std::net::Shutdown::Both);
    }))
}
