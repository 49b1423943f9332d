//! The accept loop the reference servers (broker, relay) share on real TCP: an accept
//! error (out of file descriptors, say) never ends it (noted, then a backoff from 5 ms
//! doubling to 1 s); a connection beyond `max_connections`, or one `admit` refuses, is
//! closed at once with a note saying why; each admitted connection is served on its own
//! task with Nagle off.

use crate::observe::Observer;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Accepts connections on `listener` until the process ends (it returns only the
/// `io::Result` type its callers propagate). `admit` may refuse a peer with the reason
/// (it ends the note "connection from PEER refused: REASON"); `serve` serves one admitted
/// connection.
pub async fn accept_loop<Serve, Fut>(
    listener: TcpListener,
    max_connections: usize,
    observer: Arc<dyn Observer>,
    admit: impl Fn(SocketAddr) -> Result<(), String>,
    serve: Serve,
) -> io::Result<()>
where
    Serve: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let live = Arc::new(AtomicUsize::new(0));
    let mut backoff = Duration::from_millis(5);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff = Duration::from_millis(5);
                accepted
            }
            Err(e) => {
                observer.note(&format!("accept failed: {e}; retrying in {backoff:?}"));
                crate::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        if live.load(Ordering::SeqCst) >= max_connections {
            observer.note(&format!(
                "connection from {peer} refused: {max_connections} connections already (--max-connections)"
            ));
            continue;
        }
        if let Err(why) = admit(peer) {
            observer.note(&format!("connection from {peer} refused: {why}"));
            continue;
        }
        let _ = stream.set_nodelay(true);
        live.fetch_add(1, Ordering::SeqCst);
        let served = serve(stream, peer);
        let live = live.clone();
        tokio::spawn(async move {
            served.await;
            live.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Binds `listen` for a server binary, or exits with status 1 and a hint; with the address
/// actually bound (the port `:0` picked), for the binary's one stdout line.
pub async fn bind_or_exit(listen: String) -> (TcpListener, String) {
    let listener = match TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}\nhint: pick a free port with --listen 127.0.0.1:PORT");
            std::process::exit(1);
        }
    };
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or(listen);
    (listener, local)
}
