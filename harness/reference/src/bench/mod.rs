//! `wirecheck-bench`'s pieces: load generators for a raw WebSocket echo server (the limit)
//! and for anything that speaks the broker protocol (the reference broker, or a relay in
//! front of it), latency summaries, and the child processes they measure. Loopback only;
//! every load stops by itself at a request count or a deadline, whichever comes first.

mod child;
mod echo;
mod load;

pub use child::{cpu_time, rss_kib, Server};
pub use echo::{echo_load, serve_echo};
pub use load::{broker_load, Progress};

use std::time::Duration;

/// How much load to put on a server.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// Concurrent connections (for a broker: this many senders and as many receivers).
    pub connections: usize,
    /// Round trips to complete, over all connections.
    pub requests: u64,
    /// Bytes of each request's body.
    pub body: usize,
    /// The load stops here even if `requests` were not all done.
    pub max_time: Duration,
}

/// What one load measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub round_trips: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl Summary {
    /// Round trips per second.
    pub fn rate(&self) -> f64 {
        self.round_trips as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Summarises round-trip latencies (in any order) measured over `elapsed`.
    pub fn of(mut latencies: Vec<Duration>, elapsed: Duration) -> Summary {
        latencies.sort_unstable();
        let at = |q: usize| {
            latencies
                .get((latencies.len() * q / 100).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Summary {
            round_trips: latencies.len() as u64,
            elapsed,
            p50: at(50),
            p99: at(99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_takes_percentiles_of_sorted_latencies() {
        let ms = |n: u64| Duration::from_millis(n);
        let lat: Vec<Duration> = (1..=100).rev().map(ms).collect();
        let s = Summary::of(lat, Duration::from_secs(2));
        assert_eq!((s.p50, s.p99, s.round_trips), (ms(51), ms(100), 100));
        assert_eq!(s.rate(), 50.0);
        assert_eq!(Summary::of(Vec::new(), ms(1)).p99, Duration::ZERO);
    }
}
