//! The shapes of `workload:` and `nemesis:` as serde-saphyr reads them (see `raw.rs`).
//! Ranges are a scalar (`16`, `2s`) or `{ min, max }`, kept as text for the checker.

use serde::Deserialize;

use super::raw::RawLatency;
use super::shapes::{Switch, S};

/// A value or a `{ min, max }` range, as text (numbers and durations alike).
pub(super) type RawSpan = RawLatency;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a workload map, e.g. `{ broker: broker, senders: 2, receivers: 2, requests: 100 }`"
)]
pub(super) struct RawWorkload {
    #[serde(default)]
    pub(super) broker: Option<S<String>>,
    #[serde(default)]
    pub(super) senders: Option<S<u32>>,
    #[serde(default)]
    pub(super) receivers: Option<S<u32>>,
    #[serde(default)]
    pub(super) requests: Option<S<u32>>,
    #[serde(default)]
    pub(super) rate: Option<S<u32>>,
    #[serde(default)]
    pub(super) channel: Option<S<String>>,
    #[serde(default)]
    pub(super) body: Option<S<RawSpan>>,
    #[serde(default)]
    pub(super) chunks: Option<S<RawSpan>>,
    #[serde(default)]
    pub(super) timeout: Option<S<RawSpan>>,
    #[serde(default)]
    pub(super) cancel: Option<S<f64>>,
    #[serde(default)]
    pub(super) info: Option<S<f64>>,
    #[serde(default)]
    pub(super) reply_delay: Option<S<RawSpan>>,
    #[serde(default)]
    pub(super) reply_chunks: Option<S<RawSpan>>,
    #[serde(default)]
    pub(super) concurrency: Option<S<RawSpan>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a nemesis map, e.g. `{ faults: 3, kinds: [partition, crash], heal: { settle: 4s } }`"
)]
pub(super) struct RawNemesis {
    #[serde(default)]
    pub(super) faults: Option<S<u32>>,
    #[serde(default)]
    pub(super) kinds: Option<S<Vec<S<String>>>>,
    #[serde(default)]
    pub(super) length: Option<S<RawSpan>>,
    #[serde(default)]
    pub(super) messages: Option<S<Switch<RawMessages>>>,
    #[serde(default)]
    pub(super) heal: Option<RawHeal>,
}

#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a message-fault map, e.g. `{ rate: 0.02, actions: [drop, duplicate] }`, or `off`"
)]
pub(super) struct RawMessages {
    #[serde(default)]
    pub(super) rate: Option<S<f64>>,
    #[serde(default)]
    pub(super) actions: Option<S<Vec<S<String>>>>,
}

#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a heal map, e.g. `{ settle: 4s, requests: 10, within: 2s }`"
)]
pub(super) struct RawHeal {
    #[serde(default)]
    pub(super) settle: Option<S<String>>,
    #[serde(default)]
    pub(super) requests: Option<S<u32>>,
    #[serde(default)]
    pub(super) within: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a heal step, e.g. `heal: { within: 2s }`"
)]
pub(super) struct RawHealStep {
    pub(super) within: S<String>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a latency step, e.g. `latency: { between: [a, b], to: 50ms }`"
)]
pub(super) struct RawLatencyStep {
    pub(super) between: S<Vec<S<String>>>,
    pub(super) to: S<super::raw::RawLatency>,
}
