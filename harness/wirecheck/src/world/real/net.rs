//! The real-time world's network: per-host loopback addresses, listeners, and the in-path
//! relay that applies link faults to every connection a host opens.

use super::super::{BoxIo, Listener, Net, PORT};
use crate::trace::FaultKind;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How long a connect waits for a host that has not listened yet (it is still starting).
const FIRST_LISTEN_WAIT: Duration = Duration::from_secs(2);

thread_local! {
    /// The host whose thread this is (its name and address).
    static CURRENT: RefCell<Option<(String, Ipv4Addr)>> = const { RefCell::new(None) };
}

pub(super) fn set_current(name: &str, ip: Ipv4Addr) {
    CURRENT.with(|c| *c.borrow_mut() = Some((name.to_owned(), ip)));
}

fn current() -> io::Result<(String, Ipv4Addr)> {
    CURRENT
        .with(|c| c.borrow().clone())
        .ok_or_else(|| io::Error::other("the real-time network is used outside a host's thread"))
}

/// A fresh loopback address, never handed out twice by this process: `127.b.c.d` with
/// `b` derived from the process id (so parallel test processes rarely share a range) and
/// `c.d` from a counter.
pub fn alloc_ip() -> Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let i = NEXT.fetch_add(1, Ordering::Relaxed);
    let b = 64 + (std::process::id() % 190) as u8;
    let c = ((i / 250) % 256) as u8;
    let d = (i % 250) as u8 + 2;
    Ipv4Addr::new(127, b, c, d)
}

#[derive(Clone, Copy, Default)]
struct LinkState {
    partitioned: bool,
    held: bool,
}

fn key(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

/// What the world's hosts share: addresses, listeners, link states, failures.
pub(crate) struct Shared {
    pub(super) start: Instant,
    ips: Mutex<BTreeMap<String, Ipv4Addr>>,
    by_ip: Mutex<BTreeMap<Ipv4Addr, String>>,
    listening: Mutex<BTreeMap<String, SocketAddr>>,
    links: Mutex<BTreeMap<(String, String), LinkState>>,
    /// Bumped on every link fault, so held relays wake up.
    link_gen: watch::Sender<u64>,
    failures: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(super) fn new() -> Self {
        Shared {
            start: Instant::now(),
            ips: Mutex::default(),
            by_ip: Mutex::default(),
            listening: Mutex::default(),
            links: Mutex::default(),
            link_gen: watch::channel(0).0,
            failures: Mutex::default(),
        }
    }

    pub(super) fn add_host(&self, name: &str) -> Ipv4Addr {
        let ip = alloc_ip();
        lock(&self.ips).insert(name.to_owned(), ip);
        lock(&self.by_ip).insert(ip, name.to_owned());
        ip
    }

    pub(super) fn ip_of(&self, host: &str) -> Option<Ipv4Addr> {
        lock(&self.ips).get(host).copied()
    }

    pub(super) fn fail(&self, what: String) {
        lock(&self.failures).push(what);
    }

    pub(super) fn failure(&self) -> Option<String> {
        lock(&self.failures).first().cloned()
    }

    pub(super) fn link_fault(&self, fault: FaultKind, a: &str, b: &str) {
        {
            let mut links = lock(&self.links);
            let l = links.entry(key(a, b)).or_default();
            match fault {
                FaultKind::Partition => l.partitioned = true,
                FaultKind::Repair => l.partitioned = false,
                FaultKind::Hold => l.held = true,
                FaultKind::Release => l.held = false,
                FaultKind::PartitionOneway
                | FaultKind::RepairOneway
                | FaultKind::Latency { .. }
                | FaultKind::Crash
                | FaultKind::Bounce
                | FaultKind::Heal => {}
            }
        }
        self.link_gen.send_modify(|g| *g += 1);
    }

    fn link(&self, a: &str, b: &str) -> LinkState {
        lock(&self.links)
            .get(&key(a, b))
            .copied()
            .unwrap_or_default()
    }
}

/// The network as hosts of a [`super::RealWorld`] see it. The calling host is the thread's
/// own (each host runs on its own thread).
pub struct RealNet(pub(crate) Arc<Shared>);

struct RealListener(tokio::net::TcpListener);

impl Listener for RealListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxIo, SocketAddr)>> {
        Box::pin(async move {
            let (s, a) = self.0.accept().await?;
            let _ = s.set_nodelay(true);
            Ok((Box::new(s) as BoxIo, a))
        })
    }
}

impl Net for RealNet {
    fn listen(&self) -> BoxFuture<'_, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let (name, ip) = current()?;
            let l = match tokio::net::TcpListener::bind((ip, PORT)).await {
                Ok(l) => l,
                Err(_) => tokio::net::TcpListener::bind((ip, 0)).await?,
            };
            lock(&self.0.listening).insert(name, l.local_addr()?);
            Ok(Box::new(RealListener(l)) as Box<dyn Listener>)
        })
    }

    fn connect<'a>(&'a self, addr: &'a str) -> BoxFuture<'a, io::Result<(BoxIo, Option<u16>)>> {
        Box::pin(async move {
            let (me, ip) = current()?;
            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_owned();
            let known = self.0.ip_of(&host).is_some();
            let waited = Instant::now();
            let target = loop {
                if let Some(a) = lock(&self.0.listening).get(&host).copied() {
                    break a;
                }
                if !known || waited.elapsed() >= FIRST_LISTEN_WAIT {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        format!("`{host}` is not listening"),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            };
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::V4(SocketAddrV4::new(ip, 0)))?;
            let tcp = socket.connect(target).await?;
            let _ = tcp.set_nodelay(true);
            let port = tcp.local_addr().ok().map(|a| a.port());
            let (mine, relayed) = tokio::io::duplex(64 * 1024);
            let link = Link {
                shared: self.0.clone(),
                a: me,
                b: host,
            };
            tokio::spawn(relay(tcp, relayed, link));
            Ok((Box::new(mine) as BoxIo, port))
        })
    }

    fn host_of(&self, addr: SocketAddr) -> Option<String> {
        match addr.ip() {
            std::net::IpAddr::V4(ip) => lock(&self.0.by_ip).get(&ip).cloned(),
            std::net::IpAddr::V6(_) => None,
        }
    }
}

/// One connection's link, as its relay sees it.
#[derive(Clone)]
struct Link {
    shared: Arc<Shared>,
    a: String,
    b: String,
}

impl Link {
    fn state(&self) -> LinkState {
        self.shared.link(&self.a, &self.b)
    }

    async fn wait_unheld(&self, rx: &mut watch::Receiver<u64>) {
        while self.state().held {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

async fn relay(tcp: tokio::net::TcpStream, local: tokio::io::DuplexStream, link: Link) {
    let (tr, tw) = tcp.into_split();
    let (lr, lw) = tokio::io::split(local);
    tokio::join!(pump(lr, tw, link.clone()), pump(tr, lw, link));
}

/// Copies one direction, applying the link's state to every chunk.
async fn pump(mut src: impl AsyncRead + Unpin, mut dst: impl AsyncWrite + Unpin, link: Link) {
    let mut rx = link.shared.link_gen.subscribe();
    let mut buf = vec![0u8; 16 * 1024];
    // Data was lost to a partition: like turmoil's TCP, the stream never recovers.
    let mut lost = false;
    loop {
        // A held link is not read: what is sent waits (and backs up) until `release`.
        link.wait_unheld(&mut rx).await;
        let n = match src.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        link.wait_unheld(&mut rx).await;
        if link.state().partitioned {
            lost = true;
        }
        if lost {
            continue;
        }
        if dst.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
    if lost || link.state().partitioned {
        // A partitioned stream stays open and silent.
        std::future::pending::<()>().await;
    }
    let _ = dst.shutdown().await;
}
