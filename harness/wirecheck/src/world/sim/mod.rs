//! The simulated world: turmoil's simulated time and network, one turmoil host per
//! scenario host. Same seed, same run, byte for byte.
//!
//! [`World::advance`] jumps over idle stretches (`idle.rs` says when the world is idle,
//! `clock.rs` how a jump moves every clock): each event keeps the time tick-by-tick
//! stepping gives it, which [`Pace::EveryTick`] still does, for comparison.

mod clock;
mod idle;
mod net;

use super::{HostFuture, Net, Pace, Software, World, WorldError};
use crate::model::Network;
use crate::trace::{Clock, FaultKind};
use clock::{Jumped, Keeper};
use idle::Held;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use turmoil::Sim;
use wirecheck_reference::time::Wakeups;

/// One simulation tick.
pub const TICK: Duration = Duration::from_millis(1);

/// A turmoil simulation.
pub struct SimWorld<'a> {
    sim: Sim<'a>,
    pace: Pace,
    /// Messages take at least this long (a jump needs at least a tick).
    min_latency: Duration,
    jumped: Jumped,
    /// Every pending timer of every host, on the world's clock.
    wakeups: Wakeups,
    keepers: BTreeMap<String, Keeper>,
    held: Held,
    /// Something was handed to a host (a start, a fault) since the last step.
    poked: bool,
    /// Every use of the network by host software.
    activity: net::Activity,
    /// Where a crash defers the drops of its host's sockets, to order them.
    graves: net::Graves,
    /// The last step began with the world quiet and no host used the network in it: no
    /// host has anything left to do now but what its timers will wake.
    settled: bool,
}

impl SimWorld<'_> {
    /// A simulation seeded with `seed`, with the scenario's latency, that refuses to run
    /// past `limit` of turmoil's own time (a backstop: the runner enforces the scenario's
    /// duration itself).
    pub fn new(seed: u64, network: &Network, limit: Duration, pace: Pace) -> Self {
        let sim = turmoil::Builder::new()
            .rng_seed(seed)
            .tick_duration(TICK)
            .min_message_latency(network.min_latency)
            .max_message_latency(network.max_latency)
            .simulation_duration(limit)
            .build();
        let jumped = Jumped::default();
        let j = jumped.clone();
        SimWorld {
            sim,
            pace,
            min_latency: network.min_latency,
            wakeups: Wakeups::new(move || turmoil::sim_elapsed().map(|t| t + j.get())),
            jumped,
            keepers: BTreeMap::new(),
            held: Held::default(),
            poked: false,
            activity: net::Activity::default(),
            graves: net::Graves::default(),
            settled: false,
        }
    }

    /// Nothing was handed to a host since the last step, no timer is due now, and no
    /// message is on its way (see `idle.rs`).
    fn quiet(&self) -> bool {
        !self.poked
            && self.min_latency >= TICK
            && self.wakeups.earliest().is_none_or(|due| due > self.now())
            && !idle::in_flight(&self.sim, &self.held)
    }

    /// One turmoil step, with every timer the hosts create announced to `wakeups`.
    fn tick(&mut self) -> Result<(), WorldError> {
        self.step_by(None)
    }

    /// Lets `to - now` pass in one step: each running host's clock jumps by it, turmoil's
    /// by one tick, and the world's clock counts the rest as jumped.
    fn jump(&mut self, to: Duration) -> Result<(), WorldError> {
        self.step_by(Some(to - self.now()))
    }

    /// One turmoil step; with `Some(by)`, one in which every running host's clock moves
    /// `by` (at least two ticks).
    fn step_by(&mut self, by: Option<Duration>) -> Result<(), WorldError> {
        let quiet = self.quiet();
        let mut moving = Vec::new();
        if let Some(by) = by {
            let ticks = u64::try_from(by.as_nanos() / TICK.as_nanos()).unwrap_or(u64::MAX);
            for (name, keeper) in &self.keepers {
                if self.sim.is_host_running(name.as_str()) {
                    if !keeper.jump(ticks, TICK) {
                        return Err(self.jump_failed(name, by, "its software never started"));
                    }
                    moving.push(name.clone());
                }
            }
        }
        let used = self.activity.count();
        let _announce = self.wakeups.enter();
        self.poked = false;
        self.sim.step().map_err(|e| WorldError(e.to_string()))?;
        self.settled = quiet && self.activity.count() == used;
        if let Some(by) = by {
            if let Some(late) = moving.iter().find(|n| !self.keepers[n.as_str()].moved()) {
                return Err(self.jump_failed(late, by, "its jump task did not run"));
            }
            self.jumped.add(by - TICK);
        }
        Ok(())
    }

    fn jump_failed(&self, host: &str, by: Duration, why: &str) -> WorldError {
        WorldError(format!(
            "host `{host}`'s clock could not jump {by:?} at {:?}: {why} (a bug in the simulated world; `--pace every-tick` makes no jumps)",
            self.now()
        ))
    }

    fn link(&mut self, fault: FaultKind, a: &str, b: &str) {
        let (ia, ib) = (self.sim.lookup(a), self.sim.lookup(b));
        match fault {
            FaultKind::Hold => self.held.hold(ia, ib),
            FaultKind::Release
            | FaultKind::Repair
            | FaultKind::Partition
            | FaultKind::PartitionOneway
            | FaultKind::RepairOneway => self.held.end(ia, ib),
            // Idle jumps assume every message takes at least `min_latency`.
            FaultKind::Latency { min, .. } => self.min_latency = self.min_latency.min(min),
            FaultKind::Crash | FaultKind::Bounce | FaultKind::Heal => {}
        }
    }
}

impl World for SimWorld<'_> {
    fn now(&self) -> Duration {
        self.sim.elapsed() + self.jumped.get()
    }

    fn clock(&self) -> Clock {
        let j = self.jumped.clone();
        Arc::new(move || {
            turmoil::sim_elapsed()
                .map(|t| t + j.get())
                .unwrap_or_default()
        })
    }

    fn net(&self) -> Arc<dyn Net> {
        Arc::new(net::SimNet {
            activity: self.activity.clone(),
            graves: self.graves.clone(),
        })
    }

    fn add_host(&mut self, name: &str, software: Software) {
        let keeper = Keeper::default();
        let k = keeper.clone();
        let graves = self.graves.clone();
        let _announce = self.wakeups.enter();
        self.sim.host(name, move || -> HostFuture {
            k.wrap(software(), graves.clone())
        });
        self.keepers.insert(name.to_owned(), keeper);
        self.poked = true;
    }

    fn step(&mut self) -> Result<(), WorldError> {
        self.tick()
    }

    fn advance(&mut self, limit: Duration) -> Result<(), WorldError> {
        if self.pace == Pace::EveryTick || !self.settled || !self.quiet() {
            return self.tick();
        }
        match idle::jump_target(self.now(), limit, self.wakeups.earliest(), TICK) {
            Some(to) => self.jump(to),
            None => self.tick(),
        }
    }

    fn fault(&mut self, fault: FaultKind, a: &str, b: Option<&str>) {
        let b = b.unwrap_or(a);
        let _announce = self.wakeups.enter();
        self.poked = true;
        self.link(fault, a, b);
        match fault {
            FaultKind::Partition => self.sim.partition(a, b),
            FaultKind::Repair => self.sim.repair(a, b),
            FaultKind::PartitionOneway => self.sim.partition_oneway(a, b),
            FaultKind::RepairOneway => self.sim.repair_oneway(a, b),
            FaultKind::Latency { min, max } => {
                // turmoil sets a link's range as a fixed latency, then its maximum.
                self.sim.set_link_latency(a, b, min);
                self.sim.set_link_max_message_latency(a, b, max);
            }
            FaultKind::Hold => self.sim.hold(a, b),
            FaultKind::Release => self.sim.release(a, b),
            // A crashed host's sockets end in the order they were opened (see `Graves`).
            FaultKind::Crash => {
                self.graves.dig();
                self.sim.crash(a);
                self.graves.fill();
            }
            FaultKind::Bounce => {
                self.graves.dig();
                self.sim.bounce(a);
                self.graves.fill();
            }
            FaultKind::Heal => {}
        }
    }
}
