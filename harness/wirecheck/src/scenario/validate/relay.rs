//! Relay hosts: the backends (each one a host a relay can forward to, once) and the
//! failover, probe, dial and buffer settings.

use super::{Checker, R};
use crate::model::RelaySpec;
use crate::scenario::raw::RawRelay;
use crate::scenario::shapes::S;
use std::time::Duration;

impl Checker<'_> {
    pub(super) fn relay(&self, host: &str, r: &RawRelay) -> R<RelaySpec> {
        let backends = &r.backends;
        if backends.value.is_empty() {
            return Err(self.err(
                &backends.referenced,
                "`backends` is empty",
                format!(
                    "list the brokers relay `{host}` forwards to, in order of preference, e.g. `backends: [{}]`",
                    self.hosts_where(|k| k.relayable()).join(", ")
                ),
            ));
        }
        let mut seen: Vec<&str> = Vec::new();
        for b in &backends.value {
            let kind = self.host(b)?;
            if !kind.relayable() {
                let fits = self.hosts_where(|k| k.relayable());
                return Err(self.err(
                    &b.referenced,
                    format!(
                        "relay `{host}` cannot forward to `{}`: it is a {}, not a broker, scripted server or proxy",
                        b.value,
                        kind.label()
                    ),
                    if fits.is_empty() {
                        "declare a `broker` host for the relay to forward to".to_string()
                    } else {
                        format!("hosts a relay can forward to: {}", fits.join(", "))
                    },
                ));
            }
            if seen.contains(&b.value.as_str()) {
                return Err(self.err(
                    &b.referenced,
                    format!("relay `{host}` lists backend `{}` twice", b.value),
                    "each backend once, in order of preference".to_string(),
                ));
            }
            seen.push(&b.value);
        }
        let d = RelaySpec::default();
        let (mut max_attempts, mut window, mut min_gap) = (d.max_attempts, d.window, d.min_gap);
        if let Some(f) = &r.failover {
            if let Some(m) = &f.value.max_attempts {
                if m.value == 0 {
                    return Err(self.err(
                        &m.referenced,
                        "`max_attempts` must be at least 1",
                        "it is how many failover attempts a client gets per window".to_string(),
                    ));
                }
                max_attempts = m.value;
            }
            window = self.duration_or(&f.value.window, window)?;
            min_gap = self.duration_or(&f.value.min_gap, min_gap)?;
        }
        let buffer = match &r.buffer {
            Some(b) if b.value == 0 => {
                return Err(self.err(
                    &b.referenced,
                    "`buffer` must be at least 1",
                    "it is how many messages a client may send while it has no backend".to_string(),
                ))
            }
            Some(b) => b.value,
            None => d.buffer,
        };
        Ok(RelaySpec {
            backends: backends.value.iter().map(|b| b.value.clone()).collect(),
            max_attempts,
            window,
            min_gap,
            probe_interval: self.positive(&r.probe_interval, d.probe_interval, "probe_interval")?,
            connect_timeout: self.positive(
                &r.connect_timeout,
                d.connect_timeout,
                "connect_timeout",
            )?,
            buffer,
            idle_timeout: self.positive(&r.idle_timeout, d.idle_timeout, "idle_timeout")?,
        })
    }

    /// A duration that must be longer than 0s.
    fn positive(&self, text: &Option<S<String>>, default: Duration, field: &str) -> R<Duration> {
        let d = self.duration_or(text, default)?;
        match text {
            Some(t) if d.is_zero() => Err(self.err(
                &t.referenced,
                format!("`{field}` must be longer than 0s"),
                format!("write e.g. `{field}: {default:?}`"),
            )),
            _ => Ok(d),
        }
    }
}
