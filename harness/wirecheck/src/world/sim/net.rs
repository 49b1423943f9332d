//! turmoil's network, as hosts see it through [`Net`], with every use counted.
//!
//! The count tells the world whether a step touched the network at all. That matters
//! because turmoil hands some wake-ups from host to host in memory, not as messages on a
//! link: accepting a connection completes the connecting host's `connect` directly, and
//! dropping a listener or stream fails or ends its peer's side. A step in which no host
//! used the network can have left no such wake-up behind (see `idle.rs`).

use crate::world::{BoxIo, Listener, Net, PORT};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How many times host software used the network (polled, opened or dropped a socket).
#[derive(Clone, Default)]
pub(super) struct Activity(Arc<AtomicU64>);

impl Activity {
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

pub(super) struct SimNet {
    pub activity: Activity,
}

/// A socket whose every use and drop is counted.
struct Tracked<S> {
    inner: S,
    activity: Activity,
}

/// Counts once more when dropped: a pending `accept` or `connect` given up counts too.
struct Bump(Activity);

impl Drop for Bump {
    fn drop(&mut self) {
        self.0.bump();
    }
}

impl<S> Tracked<S> {
    fn new(inner: S, activity: &Activity) -> Self {
        activity.bump();
        Tracked {
            inner,
            activity: activity.clone(),
        }
    }
}

impl<S> Drop for Tracked<S> {
    fn drop(&mut self) {
        self.activity.bump();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.activity.bump();
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.activity.bump();
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.activity.bump();
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.activity.bump();
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.activity.bump();
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl Listener for Tracked<turmoil::net::TcpListener> {
    fn accept(
        &mut self,
    ) -> Pin<Box<dyn Future<Output = io::Result<(BoxIo, SocketAddr)>> + Send + '_>> {
        Box::pin(async move {
            self.activity.bump();
            let accepted = {
                let _done = Bump(self.activity.clone());
                self.inner.accept().await
            };
            let (s, a) = accepted?;
            Ok((Box::new(Tracked::new(s, &self.activity)) as BoxIo, a))
        })
    }
}

impl Net for SimNet {
    fn listen(&self) -> Pin<Box<dyn Future<Output = io::Result<Box<dyn Listener>>> + Send + '_>> {
        Box::pin(async move {
            self.activity.bump();
            let l = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
            Ok(Box::new(Tracked::new(l, &self.activity)) as Box<dyn Listener>)
        })
    }

    fn connect<'a>(
        &'a self,
        addr: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<(BoxIo, Option<u16>)>> + Send + 'a>> {
        Box::pin(async move {
            self.activity.bump();
            let connected = {
                let _done = Bump(self.activity.clone());
                turmoil::net::TcpStream::connect(addr.to_owned()).await
            };
            let s = connected?;
            let port = s.local_addr().ok().map(|a| a.port());
            Ok((Box::new(Tracked::new(s, &self.activity)) as BoxIo, port))
        })
    }

    fn host_of(&self, addr: SocketAddr) -> Option<String> {
        turmoil::reverse_lookup(addr.ip())
    }
}
