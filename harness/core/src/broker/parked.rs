//! Parked work: requests queued on a channel with no receiver yet, and the frames buffered
//! for them. Bounded per sender and per channel, in requests and in bytes (body and
//! chunk data), so one client cannot grow the broker without bound. A `start` that would
//! pass a bound is answered `error queue_full` (request-scoped); a `chunk` that would pass
//! a bytes bound drops its request with the same error, and the rest of that upload is
//! dropped quietly as for any request that ended early.

use super::{Broker, ConnId, Seq};

/// Bounds on parked work. Defaults: 1,000 requests and 16 MiB per sender, 10,000
/// requests and 64 MiB per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParkLimits {
    pub per_client_requests: usize,
    pub per_client_bytes: usize,
    pub per_channel_requests: usize,
    pub per_channel_bytes: usize,
}

impl Default for ParkLimits {
    fn default() -> Self {
        ParkLimits {
            per_client_requests: 1_000,
            per_client_bytes: 16 << 20,
            per_channel_requests: 10_000,
            per_channel_bytes: 64 << 20,
        }
    }
}

/// What one sender has parked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Load {
    pub(super) requests: usize,
    pub(super) bytes: usize,
}

impl Broker {
    /// Why parking `bytes` more (and a new request when `new_request`) from `sender` on
    /// `channel` would pass a bound, or `None` when it fits.
    pub(super) fn over_park_limit(
        &self,
        sender: ConnId,
        channel: &str,
        bytes: usize,
        new_request: bool,
    ) -> Option<String> {
        let l = self.config.parked;
        let add = usize::from(new_request);
        let mine = self
            .conns
            .get(&sender)
            .map(|c| c.parked)
            .unwrap_or_default();
        let (ch_requests, ch_bytes) = self
            .channels
            .get(channel)
            .map_or((0, 0), |ch| (ch.queue.len(), ch.parked_bytes));
        if mine.requests + add > l.per_client_requests {
            Some(format!(
                "this client already has {} requests waiting for a receiver (limit {})",
                mine.requests, l.per_client_requests
            ))
        } else if mine.bytes + bytes > l.per_client_bytes {
            Some(format!(
                "this client's requests waiting for a receiver would hold {} bytes (limit {})",
                mine.bytes + bytes,
                l.per_client_bytes
            ))
        } else if ch_requests + add > l.per_channel_requests {
            Some(format!(
                "channel `{channel}` already has {ch_requests} requests waiting for a receiver (limit {})",
                l.per_channel_requests
            ))
        } else if ch_bytes + bytes > l.per_channel_bytes {
            Some(format!(
                "channel `{channel}`'s requests waiting for a receiver would hold {} bytes (limit {})",
                ch_bytes + bytes,
                l.per_channel_bytes
            ))
        } else {
            None
        }
    }

    /// Counts `bytes` (and a request when `new_request`) as parked by `sender` on
    /// `channel`.
    pub(super) fn park(&mut self, sender: ConnId, channel: &str, bytes: usize, new_request: bool) {
        if let Some(c) = self.conns.get_mut(&sender) {
            c.parked.requests += usize::from(new_request);
            c.parked.bytes += bytes;
        }
        if let Some(ch) = self.channels.get_mut(channel) {
            ch.parked_bytes += bytes;
        }
    }

    /// The request queued at `seq` on `channel` is parked no more (assigned or removed):
    /// takes it off the queue and its load off its sender and channel. The channel itself
    /// stays; the caller drops it once empty.
    pub(super) fn unpark(&mut self, sender: ConnId, channel: &str, seq: Seq, bytes: usize) {
        if let Some(c) = self.conns.get_mut(&sender) {
            c.parked.requests -= 1;
            c.parked.bytes -= bytes;
        }
        if let Some(ch) = self.channels.get_mut(channel) {
            ch.queue.remove(&seq);
            ch.parked_bytes -= bytes;
        }
    }
}
