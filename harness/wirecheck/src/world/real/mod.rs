//! The real-time world: wall-clock time, real TCP on the loopback range, one OS thread
//! with its own current-thread tokio runtime per host.
//!
//! - **Time**: `now` is the wall-clock time since the world was built; `step` sleeps to
//!   the next 1 ms tick. Nothing is deterministic; `network:` latency is ignored (loopback
//!   is as fast as it is).
//! - **Addresses**: every host gets its own loopback address (`127.b.c.d`, allocated per
//!   process, never twice; Linux routes all of 127/8 to `lo` without configuration), so
//!   [`Net::host_of`] tells who connected by the peer's IP, as turmoil does. Listeners
//!   bind the host's address (port [`PORT`] when free, else any port; dialing goes through
//!   the world's table, so the port does not matter).
//! - **Hosts**: `crash` drops the host's runtime (every task and socket it held: peers see
//!   the connection end); `bounce` builds a new runtime and runs the host's
//!   [`Software`] again.
//! - **Links**: every connection a host opens goes through an in-path relay task
//!   ([`net`]) in the opening host's runtime that consults the link's state:
//!   `partition` delivers nothing either way (the stream stays open and silent; a stream
//!   that lost data stays silent after `repair`, as turmoil's TCP does); `hold` stops
//!   reading until `release`, then delivers in order. `partition_oneway`,
//!   `repair_oneway` and `latency` have no real-time counterpart: the run fails saying so
//!   (and `targets::apply` lists such scenarios as UNIMPLEMENTED before they run).

mod net;

pub use net::{alloc_ip, RealNet};

use super::{Net, Software, World, WorldError};
use crate::trace::{Clock, FaultKind};
use net::Shared;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc;

/// One tick of the real-time world (how often the runner looks at its hosts).
pub const TICK: Duration = Duration::from_millis(1);

/// How long `crash` or `bounce` may take to take effect on a host's thread.
const CONTROL_LIMIT: Duration = Duration::from_secs(5);

enum Ctl {
    Crash,
    Bounce,
    Stop,
}

struct HostThread {
    ctl: mpsc::UnboundedSender<(Ctl, std_mpsc::Sender<()>)>,
    join: Option<JoinHandle<()>>,
}

/// A real-time world on loopback TCP.
pub struct RealWorld {
    shared: Arc<Shared>,
    hosts: BTreeMap<String, HostThread>,
    /// Wall-clock limit of the whole run: `step` fails past it.
    wall_limit: Duration,
    limit_hit: Arc<AtomicBool>,
    /// Hosts added but not started: every host starts at the first `step`, once all are
    /// known (as in the simulation), so no host dials one that does not exist yet.
    unstarted: Vec<(String, Ipv4Addr, Software)>,
}

impl RealWorld {
    /// A world whose clock starts now and whose `step` fails once `wall_limit` has passed.
    pub fn new(wall_limit: Duration) -> Self {
        RealWorld {
            shared: Arc::new(Shared::new()),
            hosts: BTreeMap::new(),
            wall_limit,
            limit_hit: Arc::default(),
            unstarted: Vec::new(),
        }
    }

    /// Set once `step` refused to go past the wall-clock limit.
    pub fn limit_flag(&self) -> Arc<AtomicBool> {
        self.limit_hit.clone()
    }

    /// The loopback address of `host` (once added).
    pub fn ip_of(&self, host: &str) -> Option<Ipv4Addr> {
        self.shared.ip_of(host)
    }

    fn start_host(&mut self, name: String, ip: Ipv4Addr, software: Software) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = self.shared.clone();
        let host = name.clone();
        let join = std::thread::Builder::new()
            .name(format!("host-{name}"))
            .spawn(move || host_main(host, ip, software, rx, shared))
            .ok();
        if join.is_none() {
            self.shared
                .fail(format!("cannot start a thread for host `{name}`"));
        }
        self.hosts.insert(name, HostThread { ctl: tx, join });
    }

    fn control(&mut self, host: &str, ctl: Ctl) -> Result<(), WorldError> {
        let Some(h) = self.hosts.get(host) else {
            return Err(WorldError(format!("no host `{host}`")));
        };
        let (tx, rx) = std_mpsc::channel();
        if h.ctl.send((ctl, tx)).is_err() {
            return Err(WorldError(format!("host `{host}`'s thread is gone")));
        }
        rx.recv_timeout(CONTROL_LIMIT).map_err(|_| {
            WorldError(format!(
                "host `{host}` did not stop its software within {CONTROL_LIMIT:?}"
            ))
        })
    }
}

impl World for RealWorld {
    fn now(&self) -> Duration {
        self.shared.start.elapsed()
    }

    fn clock(&self) -> Clock {
        let start = self.shared.start;
        Arc::new(move || start.elapsed())
    }

    fn net(&self) -> Arc<dyn Net> {
        Arc::new(RealNet(self.shared.clone()))
    }

    fn add_host(&mut self, name: &str, software: Software) {
        let ip = self.shared.add_host(name);
        self.unstarted.push((name.to_owned(), ip, software));
    }

    fn step(&mut self) -> Result<(), WorldError> {
        for (name, ip, software) in std::mem::take(&mut self.unstarted) {
            self.start_host(name, ip, software);
        }
        if let Some(f) = self.shared.failure() {
            return Err(WorldError(f));
        }
        let now = self.now();
        if now >= self.wall_limit {
            self.limit_hit.store(true, Ordering::SeqCst);
            return Err(WorldError(format!(
                "wall-clock limit exceeded: the run took longer than {:.1}s",
                self.wall_limit.as_secs_f64()
            )));
        }
        let ticks = now.as_micros() / TICK.as_micros() + 1;
        let next = Duration::from_micros((ticks * TICK.as_micros()) as u64);
        std::thread::sleep(next.saturating_sub(now));
        Ok(())
    }

    fn fault(&mut self, fault: FaultKind, a: &str, b: Option<&str>) {
        tracing::debug!(fault = fault.name(), a, b, "real-time fault");
        let r = match fault {
            FaultKind::Partition | FaultKind::Repair | FaultKind::Hold | FaultKind::Release => {
                self.shared.link_fault(fault, a, b.unwrap_or(a));
                Ok(())
            }
            // `targets::apply` marks such scenarios as not runnable against a target.
            FaultKind::PartitionOneway | FaultKind::RepairOneway | FaultKind::Latency { .. } => {
                let (what, b) = (fault.name(), b.unwrap_or(a));
                Err(WorldError(format!("`{what}` between `{a}` and `{b}`: the real-time world has no one-way partitions or latency changes (run the scenario in the simulation)")))
            }
            FaultKind::Crash => self.control(a, Ctl::Crash),
            FaultKind::Bounce => self.control(a, Ctl::Bounce),
            FaultKind::Heal => Ok(()),
        };
        if let Err(e) = r {
            self.shared.fail(e.0);
        }
    }
}

impl Drop for RealWorld {
    fn drop(&mut self) {
        for h in self.hosts.values() {
            let (tx, _rx) = std_mpsc::channel();
            let _ = h.ctl.send((Ctl::Stop, tx));
        }
        for h in self.hosts.values_mut() {
            if let Some(j) = h.join.take() {
                let _ = j.join();
            }
        }
    }
}

/// A host's thread: runs its software in a fresh current-thread runtime until told to
/// crash (the runtime is dropped, with everything it ran) or bounce (dropped and rebuilt).
fn host_main(
    name: String,
    ip: Ipv4Addr,
    software: Software,
    mut ctl: mpsc::UnboundedReceiver<(Ctl, std_mpsc::Sender<()>)>,
    shared: Arc<Shared>,
) {
    net::set_current(&name, ip);
    let mut running = true;
    loop {
        let next = if running {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    shared.fail(format!("host `{name}`: cannot build a runtime: {e}"));
                    return;
                }
            };
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.block_on(async {
                    let fut = software();
                    tokio::select! {
                        biased;
                        c = ctl.recv() => c,
                        r = fut => {
                            if let Err(e) = r {
                                shared.fail(format!("host `{name}`: {e}"));
                            }
                            ctl.recv().await
                        }
                    }
                })
            }));
            // Dropping the runtime drops every task and socket of the host.
            drop(rt);
            match run {
                Ok(next) => next,
                Err(p) => {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    shared.fail(format!("host `{name}` panicked: {msg}"));
                    ctl.blocking_recv()
                }
            }
        } else {
            ctl.blocking_recv()
        };
        match next {
            Some((Ctl::Crash, ack)) => {
                running = false;
                let _ = ack.send(());
            }
            Some((Ctl::Bounce, ack)) => {
                running = true;
                let _ = ack.send(());
            }
            Some((Ctl::Stop, ack)) => {
                let _ = ack.send(());
                return;
            }
            None => return,
        }
    }
}
