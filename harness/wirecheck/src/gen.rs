//! Generated scenarios: random but valid worlds (receivers, senders, chunked requests,
//! timeouts, proxy faults, network faults, sometimes a failover relay in front of two
//! brokers whose primary crashes) run in the simulator with every rule checker on. A
//! failing case is shrunk by proptest and written out as an ordinary YAML scenario
//! (`scenarios/regressions/`), so a found bug becomes a permanent, readable test.
//!
//! Generated scenarios assert nothing themselves: the checkers judge them.

use crate::model::Scenario;
use crate::runner::{run, RunOptions};
use crate::scenario::load_str;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// A receiver: serves `jobs`, echoing after `delay_ms`, answering in `chunks` chunks.
#[derive(Clone, Debug)]
pub struct GenReceiver {
    pub delay_ms: u32,
    pub chunks: u32,
    pub concurrency: u32,
}

/// A request from sender `sender`, `gap_ms` after the previous step.
#[derive(Clone, Debug)]
pub struct GenRequest {
    pub sender: usize,
    pub gap_ms: u32,
    pub chunks: u32,
    pub timeout_ms: u32,
}

/// A message fault applied by the proxy in front of the broker (senders go through it).
#[derive(Clone, Debug)]
pub struct GenProxyFault {
    pub up: bool,
    pub kind: &'static str,
    pub action: &'static str,
    pub nth: u32,
}

/// A network or process fault at `at_ms` after the first request.
#[derive(Clone, Debug)]
pub enum GenFault {
    CrashReceiver {
        receiver: usize,
        at_ms: u32,
    },
    PartitionSender {
        sender: usize,
        at_ms: u32,
        for_ms: u32,
    },
    HoldReceiver {
        receiver: usize,
        at_ms: u32,
        for_ms: u32,
    },
    /// One direction of a sender's link is cut (`up`: the sender's own messages are lost).
    OneWaySender {
        sender: usize,
        up: bool,
        at_ms: u32,
        for_ms: u32,
    },
    /// A sender's link gets a fixed latency, then the network's back.
    SlowSender {
        sender: usize,
        latency_ms: u32,
        at_ms: u32,
        for_ms: u32,
    },
}

/// A relay in front of `broker` (or the proxy in front of it) and a second broker; every
/// client connects through it. The primary may crash (and come back) while requests flow.
#[derive(Clone, Debug)]
pub struct GenRelay {
    /// Crash `broker` this long after the first request.
    pub crash_primary_ms: Option<u32>,
    /// Bounce it this long after the crash.
    pub back_after_ms: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct GenScenario {
    pub seed: u64,
    pub max_latency_ms: u32,
    pub receivers: Vec<GenReceiver>,
    pub senders: usize,
    pub requests: Vec<GenRequest>,
    pub proxy: Vec<GenProxyFault>,
    pub faults: Vec<GenFault>,
    pub relay: Option<GenRelay>,
}

fn receiver() -> impl Strategy<Value = GenReceiver> {
    (0u32..200, 0u32..3, 1u32..3).prop_map(|(delay_ms, chunks, concurrency)| GenReceiver {
        delay_ms,
        chunks,
        concurrency,
    })
}

fn request(senders: usize) -> impl Strategy<Value = GenRequest> {
    (0..senders, 0u32..150, 0u32..4, 300u32..3000).prop_map(
        |(sender, gap_ms, chunks, timeout_ms)| GenRequest {
            sender,
            gap_ms,
            chunks,
            timeout_ms,
        },
    )
}

fn proxy_fault() -> impl Strategy<Value = GenProxyFault> {
    let kinds = prop_oneof![Just("start"), Just("chunk"), Just("end")];
    let actions = prop_oneof![
        Just("drop"),
        Just("duplicate"),
        Just("{ delay: { min: 10ms, max: 400ms } }"),
        Just("{ reorder: 2 }"),
        Just("{ corrupt: wrong_id }"),
        Just("{ corrupt: invalid_json }"),
        Just("close"),
    ];
    (any::<bool>(), kinds, actions, 1u32..4).prop_map(|(up, kind, action, nth)| GenProxyFault {
        up,
        kind,
        action,
        nth,
    })
}

fn fault(receivers: usize, senders: usize) -> impl Strategy<Value = GenFault> {
    prop_oneof![
        (0..receivers, 0u32..1500)
            .prop_map(|(receiver, at_ms)| GenFault::CrashReceiver { receiver, at_ms }),
        (0..senders, 0u32..1500, 100u32..3000).prop_map(|(sender, at_ms, for_ms)| {
            GenFault::PartitionSender {
                sender,
                at_ms,
                for_ms,
            }
        }),
        (0..receivers, 0u32..1500, 100u32..1500).prop_map(|(receiver, at_ms, for_ms)| {
            GenFault::HoldReceiver {
                receiver,
                at_ms,
                for_ms,
            }
        }),
        (0..senders, any::<bool>(), 0u32..1500, 100u32..3000).prop_map(
            |(sender, up, at_ms, for_ms)| GenFault::OneWaySender {
                sender,
                up,
                at_ms,
                for_ms,
            }
        ),
        (0..senders, 20u32..400, 0u32..1500, 100u32..3000).prop_map(
            |(sender, latency_ms, at_ms, for_ms)| GenFault::SlowSender {
                sender,
                latency_ms,
                at_ms,
                for_ms,
            }
        ),
    ]
}

fn relay() -> impl Strategy<Value = GenRelay> {
    (
        prop::option::weighted(0.8, 0u32..2000),
        prop::option::weighted(0.5, 200u32..3000),
    )
        .prop_map(|(crash_primary_ms, back_after_ms)| GenRelay {
            crash_primary_ms,
            back_after_ms,
        })
}

/// The strategy for random scenarios.
pub fn scenarios() -> impl Strategy<Value = GenScenario> {
    (1usize..4, 1usize..4)
        .prop_flat_map(|(nr, ns)| {
            (
                any::<u64>(),
                1u32..30,
                prop::collection::vec(receiver(), nr),
                Just(ns),
                prop::collection::vec(request(ns), 1..10),
                prop::collection::vec(proxy_fault(), 0..3),
                prop::collection::vec(fault(nr, ns), 0..2),
                prop::option::weighted(0.3, relay()),
            )
        })
        .prop_map(
            |(seed, max_latency_ms, receivers, senders, requests, proxy, faults, relay)| {
                GenScenario {
                    seed,
                    max_latency_ms,
                    receivers,
                    senders,
                    requests,
                    proxy,
                    faults,
                    relay,
                }
            },
        )
}

impl GenScenario {
    /// The scenario as a YAML file named `name` (the path below `scenarios/`).
    pub fn to_yaml(&self, name: &str, about: &str) -> String {
        let mut y = String::new();
        let _ = writeln!(y, "name: {name}");
        let _ = writeln!(y, "about: >");
        for line in wrap(about, 86) {
            let _ = writeln!(y, "  {line}");
        }
        let _ = writeln!(
            y,
            "rules: [MUX-2, MUX-5, MUX-8, BRK-2, BRK-3, BRK-4{}]",
            if self.relay.is_some() {
                ", LB-4, LB-5, LB-6"
            } else {
                ""
            }
        );
        let _ = writeln!(y, "seed: {}", self.seed);
        let _ = writeln!(y, "duration: 60s");
        let _ = writeln!(
            y,
            "network: {{ latency: {{ min: 1ms, max: {}ms }} }}",
            self.max_latency_ms
        );
        let _ = writeln!(y, "hosts:");
        let _ = writeln!(y, "  broker: {{ broker: {{}} }}");
        let via = if self.proxy.is_empty() {
            "broker"
        } else {
            let _ = writeln!(y, "  px:");
            let _ = writeln!(y, "    proxy:");
            let _ = writeln!(y, "      target: broker");
            let _ = writeln!(y, "      rules:");
            for f in &self.proxy {
                let _ = writeln!(
                    y,
                    "        - {{ dir: {}, kind: {}, nth: {}, action: {} }}",
                    if f.up { "up" } else { "down" },
                    f.kind,
                    f.nth,
                    f.action
                );
            }
            "px"
        };
        // With a relay every client goes through it, to `via` first, then `standby`.
        let (via, workers_via) = match &self.relay {
            None => (via, "broker"),
            Some(_) => {
                let _ = writeln!(y, "  standby: {{ broker: {{}} }}");
                let _ = writeln!(
                    y,
                    "  lb: {{ relay: {{ backends: [{via}, standby], connect_timeout: 1s, probe_interval: 500ms, failover: {{ min_gap: 1s }} }} }}"
                );
                ("lb", "lb")
            }
        };
        for (i, r) in self.receivers.iter().enumerate() {
            let _ = writeln!(
                y,
                "  w{i}: {{ client: {{ connect: [{workers_via}], heartbeat: {{ interval: 1s, timeout: 3s }}, reconnect: {{ base: 500ms, cap: 2s, min_gap: 500ms, max_attempts: 20 }}, serve: [{{ channel: jobs, reply: echo, delay: {}ms, chunks: {}, concurrency: {} }}] }} }}",
                r.delay_ms, r.chunks, r.concurrency
            );
        }
        for s in 0..self.senders {
            let _ = writeln!(
                y,
                "  s{s}: {{ client: {{ connect: [{via}], heartbeat: {{ interval: 1s, timeout: 3s }}, reconnect: {{ base: 500ms, cap: 2s, min_gap: 500ms, max_attempts: 20 }} }} }}"
            );
        }
        let _ = writeln!(y, "script:");
        let _ = writeln!(y, "  - wait: 200ms");
        // Merge requests and faults on one timeline (ms after the first request).
        let mut timeline: Vec<(u32, String)> = Vec::new();
        let mut t = 0u32;
        let mut last_deadline = 0u32;
        for (n, r) in self.requests.iter().enumerate() {
            t += r.gap_ms;
            let chunks: Vec<String> = (0..r.chunks).map(|c| format!("c{c}")).collect();
            timeline.push((
                t,
                format!(
                    "s{}.request: {{ id: r{n}, channel: jobs, body: \"r{n}:\", chunks: [{}], timeout: {}ms }}",
                    r.sender,
                    chunks.join(", "),
                    r.timeout_ms
                ),
            ));
            last_deadline = last_deadline.max(t + r.timeout_ms);
        }
        for f in &self.faults {
            match f {
                GenFault::CrashReceiver { receiver, at_ms } => {
                    timeline.push((*at_ms, format!("crash: w{receiver}")));
                }
                GenFault::PartitionSender {
                    sender,
                    at_ms,
                    for_ms,
                } => {
                    timeline.push((*at_ms, format!("partition: [s{sender}, {via}]")));
                    timeline.push((at_ms + for_ms, format!("repair: [s{sender}, {via}]")));
                    last_deadline = last_deadline.max(at_ms + for_ms);
                }
                GenFault::HoldReceiver {
                    receiver,
                    at_ms,
                    for_ms,
                } => {
                    timeline.push((*at_ms, format!("hold: [{workers_via}, w{receiver}]")));
                    timeline.push((
                        at_ms + for_ms,
                        format!("release: [{workers_via}, w{receiver}]"),
                    ));
                    last_deadline = last_deadline.max(at_ms + for_ms);
                }
                GenFault::OneWaySender {
                    sender,
                    up,
                    at_ms,
                    for_ms,
                } => {
                    let (from, to) = if *up {
                        (format!("s{sender}"), via.to_string())
                    } else {
                        (via.to_string(), format!("s{sender}"))
                    };
                    timeline.push((*at_ms, format!("partition_oneway: [{from}, {to}]")));
                    timeline.push((at_ms + for_ms, format!("repair_oneway: [{from}, {to}]")));
                    last_deadline = last_deadline.max(at_ms + for_ms);
                }
                GenFault::SlowSender {
                    sender,
                    latency_ms,
                    at_ms,
                    for_ms,
                } => {
                    timeline.push((
                        *at_ms,
                        format!("latency: {{ between: [s{sender}, {via}], to: {latency_ms}ms }}"),
                    ));
                    timeline.push((
                        at_ms + for_ms,
                        format!(
                            "latency: {{ between: [s{sender}, {via}], to: {{ min: 1ms, max: {}ms }} }}",
                            self.max_latency_ms
                        ),
                    ));
                    last_deadline = last_deadline.max(at_ms + for_ms);
                }
            }
        }
        if let Some(GenRelay {
            crash_primary_ms: Some(at_ms),
            back_after_ms,
        }) = &self.relay
        {
            timeline.push((*at_ms, "crash: broker".to_owned()));
            if let Some(back) = back_after_ms {
                timeline.push((at_ms + back, "bounce: broker".to_owned()));
                last_deadline = last_deadline.max(at_ms + back);
            }
        }
        timeline.sort_by_key(|(at, _)| *at); // stable: equal times keep their order
        let mut now = 0u32;
        for (at, step) in timeline {
            if at > now {
                let _ = writeln!(y, "  - wait: {}ms", at - now);
                now = at;
            }
            let _ = writeln!(y, "  - {step}");
        }
        // Let every deadline pass, then some quiet for reconnects and cleanup.
        let _ = writeln!(
            y,
            "  - wait: {}ms",
            last_deadline.saturating_sub(now) + 4000
        );
        y
    }
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().expect("one line");
        if !last.is_empty() && last.len() + 1 + word.len() > width {
            lines.push(word.to_owned());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

/// A generated scenario as a loaded one (named `regressions/generated`).
pub fn load(g: &GenScenario) -> Result<Scenario, String> {
    let yaml = g.to_yaml("regressions/generated", "A generated scenario.");
    load_str(&yaml, Path::new("regressions/generated.yaml"))
        .map_err(|e| format!("the generator wrote an invalid scenario:\n{e}\n{yaml}"))
}

/// Loads and runs a generated scenario; `Err` explains a failure.
pub fn check(g: &GenScenario, opts: &RunOptions) -> Result<(), String> {
    let report = run(&load(g)?, opts);
    if report.passed() {
        Ok(())
    } else {
        Err(report.explain())
    }
}

/// Result of a search.
pub struct Found {
    /// The shrunk case.
    pub case: GenScenario,
    /// Why it fails.
    pub reason: String,
    /// Where its YAML was written.
    pub file: PathBuf,
}

/// Runs `cases` random scenarios (from `rng_seed`) with `opts`; on failure shrinks it and
/// writes it to `out_dir/<name>.yaml` as `regressions/<name>`. Returns the number of cases
/// run, or the failure.
pub fn search(
    cases: u32,
    rng_seed: u64,
    opts: &RunOptions,
    out_dir: &Path,
) -> Result<u32, Box<Found>> {
    search_with(cases, rng_seed, opts, out_dir, &|_| {})
}

/// A run of [`search_with`]: a generated case, or (after the first failure) a smaller
/// variant tried while shrinking it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchStep {
    Case,
    Shrink,
}

/// [`search`], calling `progress` after every scenario it runs.
pub fn search_with(
    cases: u32,
    rng_seed: u64,
    opts: &RunOptions,
    out_dir: &Path,
    progress: &dyn Fn(SearchStep),
) -> Result<u32, Box<Found>> {
    let flaws = &opts.flaws;
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&rng_seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        config,
        proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &seed_bytes,
        ),
    );
    // Every run after the first failure is a shrinking step.
    let failed = std::cell::Cell::new(false);
    let result = runner.run(&scenarios(), |g| {
        let step = if failed.get() {
            SearchStep::Shrink
        } else {
            SearchStep::Case
        };
        let r = check(&g, opts);
        if let Err(why) = &r {
            if !failed.replace(true) {
                let first = why.lines().next().unwrap_or_default();
                tracing::info!(seed = g.seed, "generated case failed, shrinking: {first}");
            }
        }
        tracing::trace!(?step, seed = g.seed, ok = r.is_ok(), "generated case");
        progress(step);
        r.map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => Ok(cases),
        Err(TestError::Fail(reason, case)) => {
            let name = format!("gen-{:016x}", fingerprint(&case));
            let about = format!(
                "Found by the scenario generator{} and shrunk to this. It replays the failing case: \
                 fix the bug (or the checker) until it passes. First failure: {}",
                if flaws.is_empty() {
                    String::new()
                } else {
                    format!(
                        " with flaw(s) {}",
                        flaws.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
                    )
                },
                reason
                    .to_string()
                    .lines()
                    .find(|l| l.starts_with("rule violated") || l.contains("failed at"))
                    .unwrap_or("see the trace")
                    .replace(['`', ':', '#', '[', ']', '{', '}'], " ")
            );
            let file = out_dir.join(format!("{name}.yaml"));
            let _ = std::fs::create_dir_all(out_dir);
            let yaml = crate::schema::header_for(&file).unwrap_or_default()
                + &case.to_yaml(&format!("regressions/{name}"), &about);
            if let Err(e) = std::fs::write(&file, yaml) {
                return Err(Box::new(Found {
                    case,
                    reason: format!("{reason}\n(could not write {}: {e})", file.display()),
                    file,
                }));
            }
            Err(Box::new(Found {
                case,
                reason: reason.to_string(),
                file,
            }))
        }
        Err(TestError::Abort(why)) => Err(Box::new(Found {
            case: GenScenario {
                seed: 0,
                max_latency_ms: 1,
                receivers: vec![],
                senders: 0,
                requests: vec![],
                proxy: vec![],
                faults: vec![],
                relay: None,
            },
            reason: format!("search aborted: {why}"),
            file: PathBuf::new(),
        })),
    }
}

/// A stable fingerprint of a case (FNV-1a over its YAML).
fn fingerprint(g: &GenScenario) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in g.to_yaml("x", "x").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
