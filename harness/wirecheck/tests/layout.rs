//! ARCHITECTURE.md's structural invariants, checked on the source tree: files stay small,
//! and the layers that must not name the system under test or the simulator do not.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn files_under(rel: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let file = root().join(format!("{rel}.rs"));
    if file.is_file() {
        v.push(file);
        return v;
    }
    rust_files(&root().join(rel), &mut v);
    v.sort();
    v
}

/// Source lines that are code (not `//` comments), for matching names.
fn code_lines(p: &Path) -> Vec<(usize, String)> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l.to_owned()))
        .collect()
}

#[test]
fn no_source_file_is_above_650_lines() {
    let mut big = Vec::new();
    for crate_src in [
        "harness/core/src",
        "harness/reference/src",
        "harness/wirecheck/src",
    ] {
        for f in files_under(crate_src) {
            let n = std::fs::read_to_string(&f).unwrap().lines().count();
            if n > 650 {
                big.push(format!("{} ({n} lines)", f.display()));
            }
        }
    }
    assert!(big.is_empty(), "split these by concern: {big:?}");
}

#[test]
fn only_the_world_and_the_drivers_name_the_simulator_or_the_reference() {
    let mut hits = Vec::new();
    for layer in [
        "runner", "checkers", "trace", "render", "model", "scenario", "chaos", "sweep",
    ] {
        for f in files_under(&format!("harness/wirecheck/src/{layer}")) {
            for (n, line) in code_lines(&f) {
                if line.contains("turmoil") || line.contains("wirecheck_reference") {
                    hits.push(format!("{}:{n}: {}", f.display(), line.trim()));
                }
            }
        }
    }
    for f in files_under("harness/wirecheck/src/hosts") {
        for (n, line) in code_lines(&f) {
            if line.contains("turmoil") {
                hits.push(format!("{}:{n}: {}", f.display(), line.trim()));
            }
        }
    }
    assert!(hits.is_empty(), "the boundary is crossed here: {hits:#?}");
}

#[test]
fn the_loader_never_names_a_driver_and_the_core_has_no_tokio() {
    let mut hits = Vec::new();
    for f in files_under("harness/wirecheck/src/scenario") {
        for (n, line) in code_lines(&f) {
            if line.contains("crate::hosts") || line.contains("crate::world") {
                hits.push(format!("{}:{n}: {}", f.display(), line.trim()));
            }
        }
    }
    for f in files_under("harness/core/src") {
        for (n, line) in code_lines(&f) {
            if line.contains("tokio") || line.contains("tungstenite") {
                hits.push(format!("{}:{n}: {}", f.display(), line.trim()));
            }
        }
    }
    assert!(hits.is_empty(), "{hits:#?}");
}

/// Lower layers never reach up: nothing below the runner names it, and the checkers and
/// the trace never name the hosts or the world.
#[test]
fn dependencies_point_one_way() {
    let rules: &[(&str, &[&str])] = &[
        (
            "checkers",
            &[
                "crate::runner",
                "crate::hosts",
                "crate::world",
                "crate::catalog",
                "crate::zoo",
            ],
        ),
        (
            "trace",
            &[
                "crate::runner",
                "crate::hosts",
                "crate::world",
                "crate::checkers",
            ],
        ),
        (
            "render",
            &[
                "crate::runner",
                "crate::hosts",
                "crate::world",
                "crate::checkers",
            ],
        ),
        (
            "world",
            &["crate::runner", "crate::hosts", "crate::checkers"],
        ),
        ("hosts", &["crate::runner", "crate::checkers"]),
        (
            "model",
            &[
                "crate::runner",
                "crate::hosts",
                "crate::world",
                "crate::checkers",
                "crate::trace",
            ],
        ),
        (
            "scenario",
            &["crate::runner", "crate::checkers", "crate::trace"],
        ),
        // Drawing a plan is pure: model in, model out.
        (
            "chaos",
            &[
                "crate::runner",
                "crate::hosts",
                "crate::world",
                "crate::checkers",
            ],
        ),
        // Sweeps run scenarios through the runner only.
        ("sweep", &["crate::hosts", "crate::world", "turmoil"]),
        // Selecting scenarios is about names only.
        ("select", &["crate::"]),
        // Report files are written from results; they never run anything.
        (
            "reports",
            &[
                "crate::hosts",
                "crate::world",
                "crate::zoo",
                "crate::gen",
                "run_against",
                "run_matrix",
            ],
        ),
    ];
    let mut hits = Vec::new();
    for (layer, banned) in rules {
        for f in files_under(&format!("harness/wirecheck/src/{layer}")) {
            for (n, line) in code_lines(&f) {
                if let Some(b) = banned.iter().find(|b| line.contains(*b)) {
                    hits.push(format!("{}:{n}: names {b}: {}", f.display(), line.trim()));
                }
            }
        }
    }
    assert!(hits.is_empty(), "{hits:#?}");
}

/// Host software in the simulation (the reference and the harness's hosts) takes its
/// timers from `wirecheck_reference::time`, which announces them to the world: a timer
/// taken from `tokio::time` directly would be jumped over when the world skips idle time.
/// It spawns with `tokio::spawn`, never `spawn_local`: a host's `LocalSet` must hold only
/// its software task, whose scheduling a jump does not reproduce (`world/sim/clock.rs`).
/// The binaries and the external hosts run in real time only.
#[test]
fn host_software_announces_its_timers_and_spawns_on_the_runtime() {
    let mut hits = Vec::new();
    let mut files = files_under("harness/reference/src");
    files.extend(files_under("harness/wirecheck/src/hosts"));
    for f in files {
        let p = f.to_string_lossy().replace('\\', "/");
        if p.ends_with("reference/src/time.rs")
            || p.contains("/bin/")
            || p.contains("/hosts/external/")
        {
            continue;
        }
        for (n, line) in code_lines(&f) {
            if line.contains("tokio::time") || line.contains("spawn_local") {
                hits.push(format!("{}:{n}: {}", f.display(), line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "take timers from wirecheck_reference::time (sleep, sleep_until, timeout, interval, Instant) and spawn with tokio::spawn: {hits:#?}"
    );
}
