use super::*;
use crate::model::{Action, HostKind};
use crate::scenario::load_str;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const STANDARD: &str = "name: chaos/t
about: t
rules: [CONN-7]
hosts:
  broker: { broker: { idle_timeout: 2s } }
workload: { broker: broker, senders: 2, receivers: 2, requests: 100, cancel: 0.1, info: 0.05 }
nemesis: { faults: 6 }
";

fn base() -> Scenario {
    load_str(STANDARD, Path::new("chaos/t.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_seed_names_one_plan() {
    let s = base();
    let a = plan(&s, 7).unwrap();
    assert_eq!(a, plan(&s, 7).unwrap());
    assert_ne!(a.steps, plan(&s, 8).unwrap().steps);
    assert_eq!(a.requests(), 100 + 10, "the fault phase's and the heal's");
    let calm = load_str(
        &STANDARD.replace("nemesis: { faults: 6 }\n", ""),
        Path::new("chaos/t.yaml"),
    )
    .unwrap();
    let p = plan(&calm, 7).unwrap();
    assert_eq!(p.requests(), 100, "no heal phase without a nemesis");
    assert!(
        p.hosts.iter().all(|h| h.name != PROXY),
        "no proxy without message faults"
    );
    assert!(p
        .steps
        .iter()
        .all(|t| matches!(t.action, Action::Request { .. } | Action::Cancel { .. })));
}

/// Over many seeds: steps go only to hosts that are up, every fault heals before the heal
/// mark, the proxy's rules stop by then, and every request's body carries its tag.
#[test]
fn plans_keep_their_invariants() {
    let s = base();
    let mut sorts = BTreeMap::<&str, u32>::new();
    for seed in 0..300 {
        let p = plan(&s, seed).unwrap();
        let heal = p
            .steps
            .iter()
            .find_map(|t| matches!(t.action, Action::Heal { .. }).then_some(t.at))
            .expect("a heal mark");
        let mut crashed: BTreeMap<&str, bool> = BTreeMap::new();
        let mut cut = 0i32;
        let mut last = Duration::ZERO;
        for t in &p.steps {
            assert!(t.at >= last, "seed {seed}: steps in time order");
            last = t.at;
            match &t.action {
                Action::Crash { host } => {
                    *sorts.entry("crash").or_default() += 1;
                    assert!(
                        !crashed.get(host.as_str()).copied().unwrap_or(false),
                        "seed {seed}: {host} crashed twice"
                    );
                    crashed.insert(host, true);
                }
                Action::Bounce { host } => {
                    *sorts.entry("bounce").or_default() += 1;
                    crashed.insert(host, false);
                }
                Action::Request { host, call } => {
                    assert!(
                        !crashed.get(host.as_str()).copied().unwrap_or(false),
                        "seed {seed}: request to crashed {host}"
                    );
                    assert!(
                        call.body.starts_with(&tag(host, &call.id))
                            || (call.channel == "$info" && &call.body == host),
                        "{}",
                        call.body
                    );
                }
                Action::Cancel { host, .. } => {
                    *sorts.entry("cancel").or_default() += 1;
                    assert!(
                        !crashed.get(host.as_str()).copied().unwrap_or(false),
                        "seed {seed}: cancel to crashed {host}"
                    );
                }
                Action::Partition { .. } | Action::Hold { .. } => {
                    *sorts.entry("cut").or_default() += 1;
                    cut += 1;
                    assert!(t.at < heal);
                }
                Action::Repair { .. } | Action::Release { .. } => {
                    cut -= 1;
                    assert!(t.at < heal);
                }
                _ => {}
            }
            if t.at >= heal {
                assert_eq!(cut, 0, "seed {seed}: a link still cut at the heal");
                assert!(
                    crashed.values().all(|c| !c),
                    "seed {seed}: a host still down at the heal"
                );
            }
        }
        for h in &p.hosts {
            if let HostKind::Proxy(px) = &h.kind {
                assert!(px.rules.iter().all(|r| r.until.is_some_and(|u| u < heal)));
            }
        }
    }
    for sort in ["crash", "bounce", "cancel", "cut"] {
        assert!(
            sorts.get(sort).copied().unwrap_or(0) > 10,
            "{sort} is drawn: {sorts:?}"
        );
    }
}

/// The scripted file a plan is written as loads into the very hosts and steps the plan
/// expands to (so a regression replays the seed's run).
#[test]
fn a_written_plan_loads_as_the_plan() {
    let oneway_latency = STANDARD.replace(
        "nemesis: { faults: 6 }",
        "network: { latency: { min: 1ms, max: 3ms } }\nnemesis: { faults: 6, kinds: [oneway, latency] }",
    );
    let other = load_str(&oneway_latency, Path::new("chaos/t.yaml")).unwrap();
    for (s, seed) in [0, 1, 42, 9999]
        .map(|seed| (base(), seed))
        .into_iter()
        .chain([3, 4].map(|seed| (other.clone(), seed)))
    {
        let (expanded, p) = expand(&s, seed);
        let p = p.unwrap();
        let text = yaml::scripted(&s, &p, "regressions/t", "A test.", &["CONN-7"]);
        let loaded = load_str(&text, Path::new("regressions/t.yaml"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(loaded.seed, expanded.seed);
        let kinds = |s: &Scenario| {
            s.hosts
                .iter()
                .map(|h| format!("{} {:?}", h.name, h.kind))
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(&loaded), kinds(&expanded));
        let steps = |s: &Scenario| {
            s.script
                .iter()
                .map(|x| x.action.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(steps(&loaded), steps(&expanded), "seed {seed}");
        assert!(loaded.chaos.is_none());
    }
}

#[test]
fn the_drawn_parameters_are_described() {
    let p = plan(&base(), 3).unwrap();
    let d = p.describe().join("\n");
    assert!(d.starts_with("drawn from seed 3:"), "{d}");
    for h in [
        "px:",
        "w0:",
        "w1:",
        "s0:",
        "s1:",
        "heal: answers due within 2s",
    ] {
        assert!(d.contains(h), "{h} in {d}");
    }
    assert_eq!(d.matches(".request r").count(), 110, "{d}");
}

/// `oneway` and `latency` are drawn only when listed: both directions of a one-way cut
/// and latencies across the drawn span, each undone before the heal mark (the latency set
/// back to the network's), and printed in the plan's description.
#[test]
fn oneway_and_latency_are_drawn_when_listed() {
    let listed = STANDARD.replace(
        "nemesis: { faults: 6 }",
        "network: { latency: { min: 1ms, max: 3ms } }\nnemesis: { faults: 6, kinds: [oneway, latency] }",
    );
    let s = load_str(&listed, Path::new("chaos/t.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let (mut toward_broker, mut from_broker) = (0, 0);
    let mut slow = Vec::new();
    for seed in 0..100 {
        let p = plan(&s, seed).unwrap();
        let heal = p
            .steps
            .iter()
            .find_map(|t| matches!(t.action, Action::Heal { .. }).then_some(t.at))
            .expect("a heal mark");
        let mut cut = BTreeMap::<(String, String), i32>::new();
        let mut set = BTreeMap::<(String, String), bool>::new();
        for t in &p.steps {
            match &t.action {
                Action::PartitionOneway { from, to } => {
                    assert!(t.at < heal);
                    if to == "broker" || to == PROXY {
                        toward_broker += 1;
                    } else {
                        from_broker += 1;
                    }
                    *cut.entry((from.clone(), to.clone())).or_default() += 1;
                }
                Action::RepairOneway { from, to } => {
                    assert!(t.at < heal);
                    *cut.entry((from.clone(), to.clone())).or_default() -= 1;
                }
                Action::Latency { a, b, min, max } => {
                    assert!(t.at < heal);
                    let back = *min == Duration::from_millis(1) && *max == Duration::from_millis(3);
                    if !back {
                        assert_eq!(min, max, "a drawn latency is fixed");
                        assert!(draw::LATENCY.min <= *min && *min <= draw::LATENCY.max);
                        slow.push(*min);
                    }
                    set.insert((a.clone(), b.clone()), !back);
                }
                Action::Partition { .. } | Action::Hold { .. } | Action::Crash { .. } => {
                    panic!(
                        "seed {seed}: only the listed kinds are drawn: {:?}",
                        t.action
                    )
                }
                _ => {}
            }
        }
        assert!(cut.values().all(|&n| n == 0), "seed {seed}: {cut:?}");
        assert!(set.values().all(|&s| !s), "seed {seed}: {set:?}");
        let d = p.describe().join("\n");
        for t in &p.steps {
            if let Action::PartitionOneway { from, to } = &t.action {
                assert!(d.contains(&format!("partition_oneway {from} {to}")), "{d}");
            }
        }
    }
    assert!(
        toward_broker > 20 && from_broker > 20,
        "{toward_broker} {from_broker}"
    );
    slow.sort();
    slow.dedup();
    assert!(slow.len() > 20, "latencies spread over the span: {slow:?}");

    // The default kinds do not include them (existing files' plans stay as they were).
    for seed in 0..50 {
        let p = plan(&base(), seed).unwrap();
        assert!(!p.steps.iter().any(|t| matches!(
            t.action,
            Action::PartitionOneway { .. } | Action::Latency { .. }
        )));
    }
}
