//! The simulated world: turmoil's simulated time and network, one turmoil host per
//! scenario host. Same seed, same run, byte for byte.

use super::{BoxIo, HostFuture, Listener, Net, Software, World, WorldError, PORT};
use crate::model::Network;
use crate::trace::{Clock, FaultKind};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use turmoil::Sim;

/// One simulation tick.
pub const TICK: Duration = Duration::from_millis(1);

/// A turmoil simulation.
pub struct SimWorld<'a> {
    sim: Sim<'a>,
}

impl SimWorld<'_> {
    /// A simulation seeded with `seed`, with the scenario's latency, that refuses to run
    /// past `limit` (a backstop: the runner enforces the scenario's duration itself).
    pub fn new(seed: u64, network: &Network, limit: Duration) -> Self {
        let sim = turmoil::Builder::new()
            .rng_seed(seed)
            .tick_duration(TICK)
            .min_message_latency(network.min_latency)
            .max_message_latency(network.max_latency)
            .simulation_duration(limit)
            .build();
        SimWorld { sim }
    }
}

impl World for SimWorld<'_> {
    fn now(&self) -> Duration {
        self.sim.elapsed()
    }

    fn clock(&self) -> Clock {
        Arc::new(|| turmoil::sim_elapsed().unwrap_or_default())
    }

    fn net(&self) -> Arc<dyn Net> {
        Arc::new(SimNet)
    }

    fn add_host(&mut self, name: &str, software: Software) {
        self.sim.host(name, move || -> HostFuture { software() });
    }

    fn step(&mut self) -> Result<(), WorldError> {
        self.sim
            .step()
            .map(|_| ())
            .map_err(|e| WorldError(e.to_string()))
    }

    fn fault(&mut self, fault: FaultKind, a: &str, b: Option<&str>) {
        let b = b.unwrap_or(a);
        match fault {
            FaultKind::Partition => self.sim.partition(a, b),
            FaultKind::Repair => self.sim.repair(a, b),
            FaultKind::Hold => self.sim.hold(a, b),
            FaultKind::Release => self.sim.release(a, b),
            FaultKind::Crash => self.sim.crash(a),
            FaultKind::Bounce => self.sim.bounce(a),
            FaultKind::Heal => {}
        }
    }
}

/// turmoil's network, as hosts see it.
struct SimNet;

struct SimListener(turmoil::net::TcpListener);

impl Listener for SimListener {
    fn accept(
        &mut self,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = io::Result<(BoxIo, SocketAddr)>> + Send + '_>,
    > {
        Box::pin(async move {
            let (s, a) = self.0.accept().await?;
            Ok((Box::new(s) as BoxIo, a))
        })
    }
}

impl Net for SimNet {
    fn listen(
        &self,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = io::Result<Box<dyn Listener>>> + Send + '_>,
    > {
        Box::pin(async move {
            let l = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
            Ok(Box::new(SimListener(l)) as Box<dyn Listener>)
        })
    }

    fn connect<'a>(
        &'a self,
        addr: &'a str,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = io::Result<(BoxIo, Option<u16>)>> + Send + 'a>,
    > {
        Box::pin(async move {
            let s = turmoil::net::TcpStream::connect(addr.to_owned()).await?;
            let port = s.local_addr().ok().map(|a| a.port());
            Ok((Box::new(s) as BoxIo, port))
        })
    }

    fn host_of(&self, addr: SocketAddr) -> Option<String> {
        turmoil::reverse_lookup(addr.ip())
    }
}
