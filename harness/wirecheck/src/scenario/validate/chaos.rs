//! `workload:` and `nemesis:`: ranges, probabilities, fault and action names, the broker
//! the workload reaches, and what the drawn hosts and steps need from the rest of the file.

use std::time::Duration;

use serde_saphyr::Location;

use super::{or_list, Checker, R};
use crate::model::chaos::{
    ChaosSpec, FaultSort, Heal, MessageFault, MessageFaults, Nemesis, Span, Workload,
};
use crate::model::{Host, HostKind, Protocol};
use crate::scenario::error::closest;
use crate::scenario::raw_chaos::{RawHeal, RawNemesis, RawSpan, RawWorkload};
use crate::scenario::shapes::{ScalarOrMap, Switch, S};

/// The heartbeat timeout of the workload's clients (`crate::chaos` sets it): a dead
/// connection is noticed this long after its last frame.
pub const CLIENT_HEARTBEAT_TIMEOUT: Duration = Duration::from_millis(1500);

impl Checker<'_> {
    pub(super) fn chaos(
        &self,
        workload: &Option<S<RawWorkload>>,
        nemesis: &Option<S<RawNemesis>>,
        hosts: &[Host],
        first_step: Option<Location>,
    ) -> R<Option<ChaosSpec>> {
        let Some(w) = workload else {
            if let Some(n) = nemesis {
                return Err(self.err(
                    &n.referenced,
                    "`nemesis:` needs a `workload:`",
                    "the nemesis disturbs the workload's clients: add e.g. `workload: { broker: broker }`"
                        .to_string(),
                ));
            }
            return Ok(None);
        };
        let at = &w.referenced;
        if self.protocol != Protocol::WirecheckV1 {
            return Err(self.err(
                at,
                "`workload:` is for wirecheck-v1 scenarios",
                "JSON-RPC workloads are not supported yet: remove `protocol:` or the workload"
                    .to_string(),
            ));
        }
        if let Some(step) = first_step {
            return Err(self.err(
                &step,
                "a scenario with `workload:` has no `script:` of its own",
                "its steps are drawn from the seed (`wirecheck show` prints them); remove the script, or write a scripted scenario without `workload:`".to_string(),
            ));
        }
        if let Some(h) = hosts
            .iter()
            .find(|h| !matches!(h.kind, HostKind::Broker(_)))
        {
            return Err(self.err(
                at,
                format!("`{}` is a {}, but a scenario with `workload:` declares only brokers", h.name, h.kind.label()),
                "the workload adds the clients and the nemesis the proxy; move other hosts to a scripted scenario".to_string(),
            ));
        }
        let workload = self.workload(&w.value, at, hosts)?;
        let nemesis = match nemesis {
            Some(n) => Some(self.nemesis(&n.value, &n.referenced, &workload, hosts)?),
            None => None,
        };
        let mut taken = vec!["px".to_string()];
        taken.extend((0..workload.senders).map(|i| format!("s{i}")));
        taken.extend((0..workload.receivers).map(|i| format!("w{i}")));
        if let Some(h) = hosts.iter().find(|h| taken.contains(&h.name)) {
            return Err(self.err(
                at,
                format!("host `{}` is declared, but the workload adds a host of that name", h.name),
                "the workload adds senders `s0`.., receivers `w0`.. and the proxy `px`: rename the declared host".to_string(),
            ));
        }
        Ok(Some(ChaosSpec { workload, nemesis }))
    }

    fn workload(&self, w: &RawWorkload, at: &Location, hosts: &[Host]) -> R<Workload> {
        let Some(broker) = &w.broker else {
            return Err(self.err(
                at,
                "missing `broker` in `workload:`",
                "name the broker its clients reach, e.g. `workload: { broker: broker }`"
                    .to_string(),
            ));
        };
        match hosts.iter().find(|h| h.name == broker.value) {
            Some(Host {
                kind: HostKind::Broker(b),
                ..
            }) if b.tokens.is_empty() => {}
            Some(Host {
                kind: HostKind::Broker(_),
                ..
            }) => {
                return Err(self.err(
                    &broker.referenced,
                    format!("broker `{}` requires tokens", broker.value),
                    "the workload's clients register without a token: remove `tokens`".to_string(),
                ))
            }
            _ => {
                let brokers: Vec<&str> = hosts
                    .iter()
                    .filter(|h| matches!(h.kind, HostKind::Broker(_)))
                    .map(|h| h.name.as_str())
                    .collect();
                return Err(self.err(
                    &broker.referenced,
                    format!("`{}` is not a broker host of this scenario", broker.value),
                    format!(
                        "declare it (`{}: {{ broker: {{}} }}`) or name one of: {}",
                        broker.value,
                        if brokers.is_empty() {
                            "none".to_string()
                        } else {
                            brokers.join(", ")
                        }
                    ),
                ));
            }
        }
        let at_least_1 = |v: &Option<S<u32>>, name: &str, default: u32| -> R<u32> {
            match v {
                Some(n) if n.value == 0 => Err(self.err(
                    &n.referenced,
                    format!("`{name}` must be at least 1"),
                    format!("leave it out for the default ({default})"),
                )),
                Some(n) => Ok(n.value),
                None => Ok(default),
            }
        };
        let channel = w
            .channel
            .as_ref()
            .map_or("jobs".to_string(), |c| c.value.clone());
        if channel.is_empty() || channel.starts_with('$') {
            let c = w
                .channel
                .as_ref()
                .expect("only a written channel can be bad");
            return Err(self.err(
                &c.referenced,
                format!("bad channel `{channel}`"),
                "a workload channel is a plain name, e.g. `jobs` (`$` channels are the broker's)"
                    .to_string(),
            ));
        }
        let ms = Duration::from_millis;
        Ok(Workload {
            loc: self.loc(at),
            broker: broker.value.clone(),
            senders: at_least_1(&w.senders, "senders", 2)?,
            receivers: at_least_1(&w.receivers, "receivers", 2)?,
            requests: at_least_1(&w.requests, "requests", 20)?,
            rate: at_least_1(&w.rate, "rate", 100)?,
            channel,
            body: self.count_span(&w.body, "body", Span { min: 0, max: 32 })?,
            chunks: self.count_span(&w.chunks, "chunks", Span { min: 0, max: 2 })?,
            timeout: self.time_span(
                &w.timeout,
                "timeout",
                Span {
                    min: ms(500),
                    max: ms(2000),
                },
            )?,
            cancel: self.probability(&w.cancel, "cancel", 0.0)?,
            info: self.probability(&w.info, "info", 0.0)?,
            reply_delay: self.time_span(
                &w.reply_delay,
                "reply_delay",
                Span {
                    min: ms(0),
                    max: ms(50),
                },
            )?,
            reply_chunks: self.count_span(
                &w.reply_chunks,
                "reply_chunks",
                Span { min: 0, max: 2 },
            )?,
            concurrency: {
                let c = self.count_span(&w.concurrency, "concurrency", Span { min: 1, max: 2 })?;
                if c.min == 0 {
                    let n = w.concurrency.as_ref().expect("the default is at least 1");
                    return Err(self.err(
                        &n.referenced,
                        "`concurrency` must be at least 1",
                        "a receiver serves at least one request at a time".to_string(),
                    ));
                }
                c
            },
        })
    }

    fn nemesis(&self, n: &RawNemesis, at: &Location, w: &Workload, hosts: &[Host]) -> R<Nemesis> {
        let kinds = match &n.kinds {
            None => FaultSort::DEFAULT.to_vec(),
            Some(list) => {
                let names: Vec<&str> = FaultSort::ALL.iter().map(|k| k.name()).collect();
                let mut out = Vec::new();
                for k in &list.value {
                    let sort = FaultSort::from_name(&k.value)
                        .ok_or_else(|| self.unknown_word(k, "nemesis fault", &names))?;
                    out.push(sort);
                }
                out
            }
        };
        let faults = n.faults.as_ref().map_or(3, |f| f.value);
        if faults > 0 && kinds.is_empty() {
            let k = n.kinds.as_ref().expect("the default is not empty");
            return Err(self.err(
                &k.referenced,
                "`kinds` is empty but `faults` is not 0",
                "list the faults to draw from, or write `faults: 0`".to_string(),
            ));
        }
        let ms = Duration::from_millis;
        let length = self.time_span(
            &n.length,
            "length",
            Span {
                min: ms(200),
                max: ms(1000),
            },
        )?;
        let messages = match n.messages.as_ref().map(|m| (&m.value, m.referenced)) {
            Some((Switch::Off, _)) => None,
            Some((Switch::Invalid(found), at)) => return Err(self.err(
                &at,
                format!("bad `messages`: found {found}"),
                "write `messages: off` or `messages: { rate: 0.02, actions: [drop, duplicate] }`"
                    .to_string(),
            )),
            Some((Switch::On(m), _)) => Some(self.messages(m.rate.as_ref(), m.actions.as_ref())?),
            None => Some(self.messages(None, None)?),
        };
        let heal = self.heal(n.heal.as_ref())?;
        let idle = hosts
            .iter()
            .find_map(|h| match &h.kind {
                HostKind::Broker(b) if h.name == w.broker => Some(b.idle_timeout),
                _ => None,
            })
            .unwrap_or_default();
        if heal.settle < idle + CLIENT_HEARTBEAT_TIMEOUT {
            let where_ = n
                .heal
                .as_ref()
                .and_then(|h| h.settle.as_ref())
                .map_or(*at, |s| s.referenced);
            return Err(self.err(
                &where_,
                format!(
                    "`heal.settle` ({}) is shorter than the broker's idle timeout plus the clients' heartbeat timeout ({})",
                    crate::render::fmt_time(heal.settle),
                    crate::render::fmt_time(idle + CLIENT_HEARTBEAT_TIMEOUT)
                ),
                format!(
                    "after a partition the broker keeps the dead connection (and its client id) until its idle timeout: set `idle_timeout: 2s` on `{}`, or raise `settle`",
                    w.broker
                ),
            ));
        }
        Ok(Nemesis {
            loc: self.loc(at),
            faults,
            kinds,
            length,
            messages,
            heal,
        })
    }

    fn messages(
        &self,
        rate: Option<&S<f64>>,
        actions: Option<&S<Vec<S<String>>>>,
    ) -> R<MessageFaults> {
        let rate = self.probability(&rate.cloned(), "rate", 0.02)?;
        let actions = match actions {
            None => MessageFault::ALL.to_vec(),
            Some(list) => {
                let names: Vec<&str> = MessageFault::ALL.iter().map(|k| k.name()).collect();
                let mut out = Vec::new();
                for a in &list.value {
                    out.push(
                        MessageFault::from_name(&a.value)
                            .ok_or_else(|| self.unknown_word(a, "message fault", &names))?,
                    );
                }
                out
            }
        };
        Ok(MessageFaults { rate, actions })
    }

    fn heal(&self, h: Option<&RawHeal>) -> R<Heal> {
        let ms = Duration::from_millis;
        let (settle, requests, within) = match h {
            Some(h) => (
                self.duration_or(&h.settle, ms(4000))?,
                h.requests.as_ref().map_or(10, |r| r.value),
                self.duration_or(&h.within, ms(2000))?,
            ),
            None => (ms(4000), 10, ms(2000)),
        };
        if within.is_zero() {
            let w = h
                .and_then(|h| h.within.as_ref())
                .expect("the default is 2s");
            return Err(self.err(
                &w.referenced,
                "`within` must be longer than 0s",
                "the bound a request made after the heal must be answered within, e.g. `within: 2s`".to_string(),
            ));
        }
        Ok(Heal {
            settle,
            requests,
            within,
        })
    }

    fn unknown_word(
        &self,
        word: &S<String>,
        what: &str,
        names: &[&str],
    ) -> crate::scenario::LoadError {
        let mut hint = String::new();
        if let Some(c) = closest(&word.value, names.iter().copied()) {
            hint.push_str(&format!("did you mean `{c}`? "));
        }
        hint.push_str(&format!("{what}s are {}", or_list(names, true)));
        self.err(
            &word.referenced,
            format!("unknown {what} `{}`", word.value),
            hint,
        )
    }

    fn probability(&self, p: &Option<S<f64>>, name: &str, default: f64) -> R<f64> {
        match p {
            Some(p) if !(0.0..=1.0).contains(&p.value) => Err(self.err(
                &p.referenced,
                format!("`{name}` {} is out of range", p.value),
                format!("a probability is between 0.0 and 1.0, e.g. `{name}: 0.05`"),
            )),
            Some(p) => Ok(p.value),
            None => Ok(default),
        }
    }

    fn time_span(
        &self,
        s: &Option<S<RawSpan>>,
        name: &str,
        default: Span<Duration>,
    ) -> R<Span<Duration>> {
        match s {
            Some(s) => {
                let (min, max) = self.range(
                    s,
                    name,
                    &format!("write `{name}: 1s` or `{name}: {{ min: 500ms, max: 2s }}`"),
                )?;
                Ok(Span { min, max })
            }
            None => Ok(default),
        }
    }

    fn count_span(&self, s: &Option<S<RawSpan>>, name: &str, default: Span<u32>) -> R<Span<u32>> {
        let Some(s) = s else { return Ok(default) };
        let example = format!("write `{name}: 2` or `{name}: {{ min: 0, max: 3 }}`");
        let num = |text: &str, at: &Location| -> R<u32> {
            text.trim().parse::<u32>().map_err(|_| {
                self.err(
                    at,
                    format!("bad `{name}`: `{text}` is not a whole number"),
                    example.clone(),
                )
            })
        };
        let span = match &s.value {
            ScalarOrMap::Scalar(t) => Span::fixed(num(t, &s.referenced)?),
            ScalarOrMap::Map(r) => Span {
                min: num(&r.min.value, &r.min.referenced)?,
                max: num(&r.max.value, &r.max.referenced)?,
            },
            ScalarOrMap::Invalid(found) => {
                return Err(self.err(
                    &s.referenced,
                    format!("bad `{name}`: found {found}"),
                    example,
                ))
            }
        };
        if span.min > span.max {
            return Err(self.err(
                &s.referenced,
                format!("`{name}` min {} is larger than max {}", span.min, span.max),
                "min must be <= max; swap them or write a single number".to_string(),
            ));
        }
        Ok(span)
    }
}
