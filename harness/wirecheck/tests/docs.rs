//! Documentation that is generated from code must match the code, and the vocabulary the
//! docs are generated from must match what the loader accepts and the drivers report.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use wirecheck::docs::{readme_begin, readme_end, update_readme, README_BLOCKS};
use wirecheck::model::vocab::{self, FailKind, FieldDefault, Kind};
use wirecheck::scenario::load_str;

fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn read(rel: &str) -> String {
    let p = path(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

#[test]
fn protocol_md_rule_table_matches_the_code() {
    let doc = read("PROTOCOL.md");
    let updated = wirecheck::docs::update_block(&doc)
        .expect("PROTOCOL.md lost its `<!-- rules:begin` / `<!-- rules:end -->` markers");
    assert!(
        doc == updated,
        "PROTOCOL.md's rule table is stale.\nhint: regenerate it with `bash ci/regen-docs.sh`"
    );
    for r in wirecheck_core::rules::RULES {
        assert!(doc.contains(&format!("| {} |", r.id)), "{} missing", r.id);
    }
}

#[test]
fn update_block_replaces_only_the_block() {
    let doc = format!(
        "intro\n{}\nold table\n{}\noutro\n",
        wirecheck::docs::BEGIN,
        wirecheck::docs::END
    );
    let out = wirecheck::docs::update_block(&doc).unwrap();
    assert!(out.starts_with("intro\n") && out.ends_with("\noutro\n"));
    assert!(!out.contains("old table") && out.contains("| MUX-1 | MUST |"));
    assert!(wirecheck::docs::update_block("no markers").is_none());
}

/// README's step, counter, field... tables are generated from the vocabulary.
/// `WIRECHECK_BLESS=1 cargo test -p wirecheck --test docs` (or `bash ci/regen-docs.sh`)
/// rewrites them.
#[test]
fn readme_tables_match_the_vocabulary() {
    let doc = read("README.md");
    let updated = update_readme(&doc).unwrap_or_else(|e| panic!("{e}"));
    if doc == updated {
        return;
    }
    if std::env::var_os("WIRECHECK_BLESS").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(path("README.md"), &updated).unwrap();
        return;
    }
    let first = doc
        .lines()
        .zip(updated.lines())
        .position(|(a, b)| a != b)
        .map_or(String::new(), |i| {
            format!(
                "\nfirst difference at line {}:\n  README:    {}\n  generated: {}",
                i + 1,
                doc.lines().nth(i).unwrap_or(""),
                updated.lines().nth(i).unwrap_or("")
            )
        });
    panic!(
        "README.md's generated tables are stale.{first}\nhint: run `bash ci/regen-docs.sh` \
         (or WIRECHECK_BLESS=1 cargo test -p wirecheck --test docs) and commit README.md"
    );
}

#[test]
fn readme_blocks_cover_the_vocabulary() {
    let doc = read("README.md");
    for (name, _) in README_BLOCKS {
        assert!(
            doc.contains(&readme_begin(name)) && doc.contains(&readme_end(name)),
            "README.md has no `{name}` block"
        );
    }
    let steps = wirecheck::docs::steps_markdown();
    for k in Kind::ALL {
        for s in k.steps() {
            let row = format!("| {} | `<host>.{}` |", k.label(), s.name);
            assert!(steps.contains(&row), "{row}");
        }
    }
    let counters = wirecheck::docs::counters_markdown();
    for c in vocab::CLIENT_COUNTERS {
        let row = format!("| client | `{}` | {} |", c.name, c.value.label());
        assert!(counters.contains(&row), "{row}");
    }
    assert!(counters.contains("| broker | `requests` | current |"));
    assert!(counters.contains("| client | `reconnects` | total |"));
    // A stale block is replaced; text outside blocks is kept.
    let stale = format!(
        "a\n{}\nSTALE\n{}\nb\n",
        readme_begin("steps"),
        readme_end("steps")
    );
    assert!(update_readme(&stale).is_err(), "other markers are missing");
    let all: String = README_BLOCKS
        .iter()
        .map(|(n, _)| format!("{}\nSTALE\n{}\n", readme_begin(n), readme_end(n)))
        .collect();
    let out = update_readme(&format!("intro\n{all}outro\n")).unwrap();
    assert!(out.starts_with("intro\n") && out.ends_with("outro\n") && !out.contains("STALE"));
    assert!(out.contains("| `wait` |"));
}

/// The YAML between "```yaml" and "```" in README.md, with the line it starts on.
fn readme_yaml_blocks() -> Vec<(usize, String)> {
    let doc = read("README.md");
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in doc.lines().enumerate() {
        match &mut current {
            None if line.trim_start() == "```yaml" => current = Some((i + 2, String::new())),
            Some((at, text)) if line.trim_start() == "```" => {
                out.push((*at, std::mem::take(text)));
                current = None;
            }
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    out
}

/// Every YAML example in README loads: a whole scenario as it is, a fragment with the
/// top-level keys it lacks added.
#[test]
fn every_yaml_example_in_readme_loads() {
    let blocks = readme_yaml_blocks();
    assert!(blocks.len() >= 3, "found {} yaml blocks", blocks.len());
    let mut whole = 0;
    for (line, text) in &blocks {
        let has = |key: &str| text.lines().any(|l| l.starts_with(&format!("{key}:")));
        if has("role") {
            // A target file (an implementation under test), not a scenario.
            if let Err(e) = wirecheck::targets::load_str(text, Path::new("README.md")) {
                panic!("the target file example at README.md:{line} does not load:\n{e}");
            }
            continue;
        }
        let mut src = text.clone();
        if has("name") {
            whole += 1;
        } else {
            for (key, value) in [
                ("name", "readme/example"),
                ("about", "A README example."),
                ("rules", "[MUX-1]"),
                ("hosts", "{ broker: { broker: {} } }"),
            ] {
                if !has(key) {
                    src = format!("{key}: {value}\n{src}");
                }
            }
        }
        if let Err(e) = load_str(&src, Path::new("README.md")) {
            panic!(
                "the YAML example at README.md:{line} does not load:\n{e}\n--- as loaded:\n{src}"
            );
        }
    }
    assert!(whole >= 1, "README shows no whole scenario");
}

#[test]
fn network_latency_range_is_written_under_latency() {
    let head = "name: x\nabout: y\nrules: [MUX-1]\nhosts: { b: { broker: {} } }\n";
    let ok = load_str(
        &format!("{head}network: {{ latency: {{ min: 1ms, max: 20ms }} }}\n"),
        Path::new("n.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.network.max_latency, std::time::Duration::from_millis(20));
    let err = load_str(
        &format!("{head}network: {{ min: 1ms, max: 20ms }}\n"),
        Path::new("n.yaml"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field `min`"), "{err}");
}

/// Debug of the scenario made of a broker `b`, `hosts`, `script` and then `top` (top-level
/// lines last, so that they move no location); panics with the load error.
fn scenario_debug(hosts: &str, script: &str, top: &str) -> String {
    let src = format!(
        "name: x\nabout: y\nrules: [MUX-1]\nhosts:\n  b: {{ broker: {{}} }}\n{hosts}script:\n{script}{top}"
    );
    match load_str(&src, Path::new("f.yaml")) {
        Ok(s) => format!("{s:?}"),
        Err(e) => panic!("{e}\n--- source:\n{src}"),
    }
}

/// A scenario (hosts, script, top-level lines) that sets `path` to `value`, or leaves it
/// out when `value` is `None`.
fn with_field(path: &str, value: Option<&str>) -> String {
    let set = |key: &str| value.map_or(String::new(), |v| format!(", {key}: {v}"));
    let (group, key) = path.split_once('.').unwrap_or(("", path));
    match (group, key) {
        ("", _) => scenario_debug(
            "",
            "",
            &value.map_or(String::new(), |v| format!("{key}: {v}\n")),
        ),
        ("network", _) => scenario_debug(
            "",
            "",
            &value.map_or(String::new(), |v| format!("network: {{ {key}: {v} }}\n")),
        ),
        ("broker", _) => scenario_debug(
            &format!(
                "  c: {{ broker: {{ {} }} }}\n",
                set(key).trim_start_matches(", ")
            ),
            "",
            "",
        ),
        ("client", "serve") => scenario_debug(
            &format!("  c: {{ client: {{ connect: [b]{} }} }}\n", set("serve")),
            "",
            "",
        ),
        ("client", k) if k.starts_with("serve[].") => scenario_debug(
            &format!(
                "  c: {{ client: {{ connect: [b], serve: [{{ channel: j{} }}] }} }}\n",
                set(&k["serve[].".len()..])
            ),
            "",
            "",
        ),
        ("client", k) if k.starts_with("heartbeat.") || k.starts_with("reconnect.") => {
            let (sub, k) = k.split_once('.').unwrap();
            let inner = value.map_or(String::new(), |v| format!("{k}: {v}"));
            scenario_debug(
                &format!("  c: {{ client: {{ connect: [b], {sub}: {{ {inner} }} }} }}\n"),
                "",
                "",
            )
        }
        ("client", _) => scenario_debug(
            &format!("  c: {{ client: {{ connect: [b]{} }} }}\n", set(key)),
            "",
            "",
        ),
        ("scripted", _) => scenario_debug(
            &format!("  p: {{ scripted: {{ client: b{} }} }}\n", set(key)),
            "",
            "",
        ),
        ("proxy", _) => scenario_debug(
            &format!("  px: {{ proxy: {{ target: b{} }} }}\n", set(key)),
            "",
            "",
        ),
        ("relay", k) if k.starts_with("failover.") => {
            let inner = value.map_or(String::new(), |v| {
                format!("{}: {v}", &k["failover.".len()..])
            });
            scenario_debug(
                &format!("  lb: {{ relay: {{ backends: [b], failover: {{ {inner} }} }} }}\n"),
                "",
                "",
            )
        }
        ("relay", _) => scenario_debug(
            &format!("  lb: {{ relay: {{ backends: [b]{} }} }}\n", set(key)),
            "",
            "",
        ),
        ("workload", _) => scenario_debug(
            "  c: { broker: { idle_timeout: 2s } }\n",
            "",
            &format!("workload: {{ broker: c{} }}\n", set(key)),
        ),
        ("nemesis", k) => {
            let inner = match (k.split_once('.'), value) {
                (_, None) => String::new(),
                (Some((sub, k)), Some(v)) => format!("{sub}: {{ {k}: {v} }}"),
                (None, Some(v)) => format!("{k}: {v}"),
            };
            scenario_debug(
                "  c: { broker: { idle_timeout: 2s } }\n",
                "",
                &format!("workload: {{ broker: c }}\nnemesis: {{ {inner} }}\n"),
            )
        }
        ("connect", _) => scenario_debug(
            "  c: { client: { connect: [b], autoconnect: false } }\n",
            &format!(
                "  - c.connect: {{ {} }}\n",
                set(key).trim_start_matches(", ")
            ),
            "",
        ),
        ("request", _) => scenario_debug(
            "  c: { client: { connect: [b] } }\n",
            &format!("  - c.request: {{ id: r1, channel: j{} }}\n", set(key)),
            "",
        ),
        ("result", _) => scenario_debug(
            "  c: { client: { connect: [b] } }\n",
            &format!("  - c.result: {{ id: connect, ok: welcome{} }}\n", set(key)),
            "",
        ),
        ("expect", _) => scenario_debug(
            "  s: { scripted: server }\n",
            &format!("  - s.expect: {{ ping: {{}}{} }}\n", set(key)),
            "",
        ),
        _ => panic!("the test does not know how to write field `{path}`"),
    }
}

/// Every default the field table states as a YAML value is the loader's default:
/// writing it gives the same scenario as leaving the field out.
#[test]
fn documented_defaults_are_the_loaders_defaults() {
    let mut checked = 0;
    for f in vocab::FIELDS {
        let FieldDefault::Yaml(value) = f.default else {
            continue;
        };
        let without = with_field(f.path, None);
        let written = with_field(f.path, Some(value));
        assert_eq!(
            without, written,
            "field `{}`: writing the documented default `{value}` changes the scenario",
            f.path
        );
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} defaults checked");
    // The check has teeth: a wrong default is caught.
    assert_ne!(
        with_field("client.heartbeat.interval", None),
        with_field("client.heartbeat.interval", Some("4s"))
    );
    assert_ne!(
        with_field("duration", None),
        with_field("duration", Some("121s"))
    );
}

#[test]
fn field_paths_are_unique_and_name_real_fields() {
    let mut seen = BTreeSet::new();
    for f in vocab::FIELDS {
        assert!(seen.insert(f.path), "field `{}` listed twice", f.path);
    }
    // Each host field is accepted by the loader (an unknown field would fail to load).
    for f in vocab::FIELDS {
        if let FieldDefault::Yaml(v) = f.default {
            with_field(f.path, Some(v));
        }
    }
}

/// The fields the loader accepts in a map, read from its "unknown field" error.
fn accepted_fields(hosts: &str, script: &str, top: &str) -> Vec<String> {
    let src = format!(
        "name: x\nabout: y\nrules: [MUX-1]\nhosts:\n  b: {{ broker: {{}} }}\n{hosts}script:\n{script}{top}"
    );
    let err = load_str(&src, Path::new("f.yaml")).expect_err("zzz is not a field");
    let list = err
        .message
        .split_once("expected one of ")
        .map(|(_, l)| l.to_string())
        .or_else(|| {
            err.message
                .split_once("expected `")
                .map(|(_, l)| l.trim_end_matches('`').to_string())
        })
        .unwrap_or_else(|| panic!("no field list in: {err}"));
    list.split(", ")
        .map(|f| f.trim_matches('`').to_string())
        .collect()
}

/// The field table lists exactly the fields the loader accepts, map by map.
#[test]
fn the_field_table_is_complete() {
    let client = |extra: &str| format!("  c: {{ client: {{ connect: [b]{extra} }} }}\n");
    let maps: Vec<(&str, Vec<String>)> = vec![
        ("", accepted_fields("", "", "zzz: 1\n")),
        ("network", accepted_fields("", "", "network: { zzz: 1 }\n")),
        (
            "broker",
            accepted_fields("  c: { broker: { zzz: 1 } }\n", "", ""),
        ),
        ("client", accepted_fields(&client(", zzz: 1"), "", "")),
        (
            "client.heartbeat",
            accepted_fields(&client(", heartbeat: { zzz: 1 }"), "", ""),
        ),
        (
            "client.reconnect",
            accepted_fields(&client(", reconnect: { zzz: 1 }"), "", ""),
        ),
        (
            "client.serve[]",
            accepted_fields(&client(", serve: [{ channel: j, zzz: 1 }]"), "", ""),
        ),
        (
            "scripted",
            accepted_fields("  p: { scripted: { client: b, zzz: 1 } }\n", "", ""),
        ),
        (
            "proxy",
            accepted_fields("  px: { proxy: { target: b, zzz: 1 } }\n", "", ""),
        ),
        (
            "relay",
            accepted_fields("  lb: { relay: { backends: [b], zzz: 1 } }\n", "", ""),
        ),
        (
            "relay.failover",
            accepted_fields(
                "  lb: { relay: { backends: [b], failover: { zzz: 1 } } }\n",
                "",
                "",
            ),
        ),
        (
            "rule",
            accepted_fields(
                "  px: { proxy: { target: b, rules: [{ action: drop, zzz: 1 }] } }\n",
                "",
                "",
            ),
        ),
        (
            "connect",
            accepted_fields(&client(""), "  - c.connect: { zzz: 1 }\n", ""),
        ),
        (
            "workload",
            accepted_fields("", "", "workload: { broker: b, zzz: 1 }\n"),
        ),
        ("nemesis", accepted_fields("", "", "nemesis: { zzz: 1 }\n")),
        (
            "nemesis.messages",
            accepted_fields("", "", "nemesis: { messages: { zzz: 1 } }\n"),
        ),
        (
            "nemesis.heal",
            accepted_fields("", "", "nemesis: { heal: { zzz: 1 } }\n"),
        ),
        (
            "heal",
            accepted_fields("", "  - heal: { within: 1s, zzz: 1 }\n", ""),
        ),
        (
            "request",
            accepted_fields(
                &client(""),
                "  - c.request: { id: r, channel: j, zzz: 1 }\n",
                "",
            ),
        ),
        (
            "cancel",
            accepted_fields(&client(""), "  - c.cancel: { id: r, zzz: 1 }\n", ""),
        ),
        (
            "result",
            accepted_fields(
                &client(""),
                "  - c.result: { id: connect, ok: x, zzz: 1 }\n",
                "",
            ),
        ),
    ];
    // Top-level keys documented elsewhere in README (the scenario example), and
    // `network`, a map whose fields are `network.*`.
    let elsewhere = [
        "network",
        "name",
        "about",
        "rules",
        "hosts",
        "script",
        "expect",
        "expect_violations",
        // README's "Chaos sweeps": maps whose fields are `workload.*`, `nemesis.*`.
        "workload",
        "nemesis",
    ];
    for (prefix, accepted) in &maps {
        let mut accepted: Vec<&str> = accepted
            .iter()
            .map(String::as_str)
            .filter(|f| !(prefix.is_empty() && elsewhere.contains(f)))
            .collect();
        accepted.sort_unstable();
        let mut documented: Vec<&str> = vocab::FIELDS
            .iter()
            .filter_map(|f| match prefix {
                &"" => (!f.path.contains('.')).then_some(f.path),
                p => f
                    .path
                    .strip_prefix(*p)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .filter(|rest| !rest.contains('.')),
            })
            .collect();
        documented.sort_unstable();
        assert_eq!(
            documented, accepted,
            "fields of `{prefix}`: the table (left) differs from what the loader accepts (right)"
        );
    }
    // The message maps of `send` and `expect` are read by hand (no field list): `within`
    // and `to` are their only fields besides the message kind.
    let send_expect: Vec<&str> = vocab::FIELDS
        .iter()
        .map(|f| f.path)
        .filter(|p| p.starts_with("send.") || p.starts_with("expect."))
        .collect();
    assert_eq!(send_expect, ["expect.within", "send.to"]);
}

#[test]
fn fail_kinds_are_the_call_error_kinds() {
    use wirecheck_core::pending::CallError;
    let errors = [
        CallError::Timeout,
        CallError::Disconnected,
        CallError::SendFailed(String::new()),
        CallError::UnexpectedReply(String::new()),
        CallError::NotConnected,
        CallError::Cancelled,
        CallError::Protocol(String::new()),
        CallError::DuplicateId,
    ];
    let from_core: Vec<&str> = errors.iter().map(CallError::kind).collect();
    let vocab: Vec<&str> = FailKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(vocab, from_core);
}

/// The counters each driver reports at the end of a run are exactly the vocabulary's.
#[test]
fn drivers_report_exactly_the_vocabulary_counters() {
    let src = "name: t/vocab\nabout: Every host kind.\nrules: [MUX-1]\nhosts:\n  broker: { broker: {} }\n  px: { proxy: { target: broker } }\n  lb: { relay: { backends: [broker] } }\n  server: { scripted: server }\n  app: { client: { connect: [px] } }\n  via: { client: { connect: [lb] } }\n  probe: { scripted: { client: broker } }\nscript:\n  - app.result: { id: connect, ok: welcome }\n  - via.result: { id: connect, ok: welcome }\n";
    let s = load_str(src, Path::new("vocab.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let report = wirecheck::runner::run(&s, &wirecheck::runner::RunOptions::default());
    assert_eq!(report.counters.len(), s.hosts.len());
    for (host, counters) in &report.counters {
        let kind = s
            .hosts
            .iter()
            .find(|h| &h.name == host)
            .map(|h| h.kind.kind())
            .unwrap();
        let got: BTreeSet<&str> = counters.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = vocab::counter_names(kind.counters()).into_iter().collect();
        assert_eq!(got, want, "{} `{host}`", kind.label());
    }
}
