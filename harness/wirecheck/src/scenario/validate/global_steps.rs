//! Global script steps: time and network faults (`wait`, `partition`, `partition_oneway`,
//! `latency`, `crash`, `heal`, ...), and the errors for unknown or host-less step names.

use super::{Checker, R};
use crate::model::vocab::{is_host_step, step_names, GLOBAL_STEPS};
use crate::model::Action;
use crate::scenario::error::closest;
use crate::scenario::raw::Body;
use crate::scenario::shapes::S;

impl Checker<'_> {
    pub(super) fn global_step(&self, key: &S<String>, body: &Body) -> R<Action> {
        let pair = |names: &S<Vec<S<String>>>| -> R<(String, String)> {
            if names.value.len() != 2 {
                return Err(self.err(
                    &names.referenced,
                    format!(
                        "`{}` takes exactly two host names, found {}",
                        key.value,
                        names.value.len()
                    ),
                    format!(
                        "write e.g. `{}: [a, b]`; declared hosts: {}",
                        key.value,
                        self.host_list()
                    ),
                ));
            }
            let (a, b) = (&names.value[0], &names.value[1]);
            self.host(a)?;
            self.host(b)?;
            if a.value == b.value {
                return Err(self.err(
                    &b.referenced,
                    format!(
                        "`{}` needs two different hosts, found `{}` twice",
                        key.value, b.value
                    ),
                    format!("declared hosts: {}", self.host_list()),
                ));
            }
            Ok((a.value.clone(), b.value.clone()))
        };
        Ok(match (key.value.as_str(), body) {
            ("wait", Body::Wait(d)) => Action::Wait(self.duration(d)?),
            ("partition", Body::Pair(p)) => {
                let (a, b) = pair(p)?;
                Action::Partition { a, b }
            }
            ("repair", Body::Pair(p)) => {
                let (a, b) = pair(p)?;
                Action::Repair { a, b }
            }
            ("partition_oneway", Body::Pair(p)) => {
                let (from, to) = pair(p)?;
                Action::PartitionOneway { from, to }
            }
            ("repair_oneway", Body::Pair(p)) => {
                let (from, to) = pair(p)?;
                Action::RepairOneway { from, to }
            }
            ("latency", Body::Latency(l)) => {
                let (a, b) = pair(&l.between)?;
                let (min, max) = self.range(
                    &l.to,
                    "latency",
                    "write `to: 50ms` or `to: { min: 10ms, max: 50ms }`",
                )?;
                Action::Latency { a, b, min, max }
            }
            ("hold", Body::Pair(p)) => {
                let (a, b) = pair(p)?;
                Action::Hold { a, b }
            }
            ("release", Body::Pair(p)) => {
                let (a, b) = pair(p)?;
                Action::Release { a, b }
            }
            ("crash", Body::Target(h)) => {
                self.host(h)?;
                Action::Crash {
                    host: h.value.clone(),
                }
            }
            ("heal", Body::Heal(h)) => {
                let within = self.duration(&h.within)?;
                if within.is_zero() {
                    return Err(self.err(
                        &h.within.referenced,
                        "`within` must be longer than 0s",
                        "the bound each request made after the heal must be answered within, e.g. `heal: { within: 2s }`".to_string(),
                    ));
                }
                Action::Heal { within }
            }
            ("bounce", Body::Target(h)) => {
                self.host(h)?;
                Action::Bounce {
                    host: h.value.clone(),
                }
            }
            (name, _) if is_host_step(name) => {
                let owners: Vec<&str> = self
                    .hosts
                    .iter()
                    .filter(|(_, k)| k.takes(name))
                    .map(|(n, _)| n.as_str())
                    .collect();
                let example = owners.first().copied().unwrap_or("host");
                return Err(self.err(
                    &key.referenced,
                    format!("`{name}` is a host action and needs a host"),
                    format!(
                        "write `{example}.{name}:`; hosts that take `{name}`: {}",
                        if owners.is_empty() {
                            "none".to_string()
                        } else {
                            owners.join(", ")
                        }
                    ),
                ));
            }
            (name, _) => {
                let globals = step_names(GLOBAL_STEPS);
                let mut hint = String::new();
                if let Some(c) = closest(name, globals.iter().copied()) {
                    hint.push_str(&format!("did you mean `{c}`? "));
                }
                hint.push_str(&format!(
                    "steps are {}, or `<host>.<action>`",
                    globals.join(", ")
                ));
                return Err(self.err(&key.referenced, format!("unknown step `{name}`"), hint));
            }
        })
    }
}
