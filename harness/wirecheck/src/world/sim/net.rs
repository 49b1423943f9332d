//! turmoil's network, as hosts see it through [`Net`], with every use counted.
//!
//! The count tells the world whether a step touched the network at all. That matters
//! because turmoil hands some wake-ups from host to host in memory, not as messages on a
//! link: accepting a connection completes the connecting host's `connect` directly, and
//! dropping a listener or stream fails or ends its peer's side. A step in which no host
//! used the network can have left no such wake-up behind (see `idle.rs`).

use crate::world::{BoxIo, Listener, Net, PORT};
use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
    pub graves: Graves,
}

/// Makes a crash end a host's sockets in a fixed order.
///
/// Crashing or bouncing a host drops its tokio runtime, and tokio drops the runtime's tasks
/// in an order set by their task ids, which are process-global: two runs in one process
/// (a sweep, the test harness) would drop a crashed host's sockets, and so send their
/// FINs and resets (and draw their latencies), in different orders. While the world
/// crashes a host, a dropped socket is buried here instead; the host's software wrapper
/// ([`super::clock::Keeper`]), dropped after every task, then drops them in the order
/// they were opened, still inside the crash.
#[derive(Clone, Default)]
pub(super) struct Graves(Arc<Mutex<GravesState>>);

#[derive(Default)]
struct GravesState {
    /// A crash or bounce is under way: drops are deferred.
    digging: bool,
    /// Sockets opened so far in this world (each one's place in the order).
    opened: u64,
    buried: BTreeMap<u64, Box<dyn Any + Send>>,
}

impl Graves {
    fn state(&self) -> std::sync::MutexGuard<'_, GravesState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next(&self) -> u64 {
        let mut st = self.state();
        st.opened += 1;
        st.opened
    }

    /// Drops are deferred from now until [`Graves::fill`].
    pub fn dig(&self) {
        self.state().digging = true;
    }

    /// Drops every buried socket, oldest first, and stops deferring drops. Called inside
    /// the crash (from the software wrapper) and again after it, for a host whose software
    /// had already ended.
    pub fn fill(&self) {
        let buried = {
            let mut st = self.state();
            st.digging = false;
            std::mem::take(&mut st.buried)
        };
        for (_, socket) in buried {
            drop(socket);
        }
    }

    /// Takes `socket` if a crash is under way (it is dropped later, in order).
    fn bury(&self, seq: u64, socket: Box<dyn Any + Send>) -> Option<Box<dyn Any + Send>> {
        let mut st = self.state();
        if st.digging {
            st.buried.insert(seq, socket);
            None
        } else {
            Some(socket)
        }
    }
}

/// A socket whose every use and drop is counted.
struct Tracked<S: Send + 'static> {
    /// `None` once dropped (or buried).
    inner: Option<S>,
    activity: Activity,
    graves: Graves,
    /// Its place in the order sockets were opened.
    seq: u64,
}

/// Counts once more when dropped: a pending `accept` or `connect` given up counts too.
struct Bump(Activity);

impl Drop for Bump {
    fn drop(&mut self) {
        self.0.bump();
    }
}

impl<S: Send + 'static> Tracked<S> {
    fn new(inner: S, activity: &Activity, graves: &Graves) -> Self {
        activity.bump();
        Tracked {
            inner: Some(inner),
            activity: activity.clone(),
            graves: graves.clone(),
            seq: graves.next(),
        }
    }

    fn inner(&mut self) -> &mut S {
        self.inner
            .as_mut()
            .expect("a socket is used only until it is dropped")
    }
}

impl<S: Send + 'static> Drop for Tracked<S> {
    fn drop(&mut self) {
        self.activity.bump();
        if let Some(inner) = self.inner.take() {
            drop(self.graves.bury(self.seq, Box::new(inner)));
        }
    }
}

impl<S: AsyncRead + Unpin + Send + 'static> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.activity.bump();
        Pin::new(self.inner()).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin + Send + 'static> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.activity.bump();
        Pin::new(self.inner()).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.activity.bump();
        Pin::new(self.inner()).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.activity.bump();
        Pin::new(self.inner()).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.activity.bump();
        Pin::new(self.inner()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(|s| s.is_write_vectored())
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
                self.inner().accept().await
            };
            let (s, a) = accepted?;
            Ok((
                Box::new(Tracked::new(s, &self.activity, &self.graves)) as BoxIo,
                a,
            ))
        })
    }
}

impl Net for SimNet {
    fn listen(&self) -> Pin<Box<dyn Future<Output = io::Result<Box<dyn Listener>>> + Send + '_>> {
        Box::pin(async move {
            self.activity.bump();
            let l = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
            Ok(Box::new(Tracked::new(l, &self.activity, &self.graves)) as Box<dyn Listener>)
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
            Ok((
                Box::new(Tracked::new(s, &self.activity, &self.graves)) as BoxIo,
                port,
            ))
        })
    }

    fn host_of(&self, addr: SocketAddr) -> Option<String> {
        turmoil::reverse_lookup(addr.ip())
    }
}
