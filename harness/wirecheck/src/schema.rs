//! JSON Schemas (draft-07) of scenario files and target files, for editors
//! (`# yaml-language-server: $schema=…`) and CI linters. Every name, default and line of
//! documentation comes from the one vocabulary ([`crate::model::vocab`]), the rule table
//! and the target capabilities, so the schema cannot drift from what the loader accepts
//! (`schemas/*.schema.json` are kept current by `tests/docs.rs`; `ci/schema.sh` checks
//! every corpus file against them). The loader stays the judge: it also checks what a
//! schema cannot say (host names that exist, steps a host's kind takes, ids defined earlier).

use crate::model::vocab::{self, FieldDefault, Kind, CORRUPTIONS, FIELDS, GLOBAL_STEPS};
use crate::targets::{Capability, ClientCap};
use serde_json::{json, Map, Value};

/// The documentation of field `path` (with its default), from the vocabulary.
fn doc(path: &str) -> String {
    let f = FIELDS
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("field `{path}` is not in the vocabulary"));
    match f.default {
        FieldDefault::Required => format!("{} (required)", f.doc),
        FieldDefault::Yaml(v) => format!("{} (default: {v})", f.doc),
        FieldDefault::Text(t) | FieldDefault::Absent(t) => format!("{} (default: {t})", f.doc),
    }
}

fn with_doc(mut schema: Value, path: &str) -> Value {
    schema["description"] = Value::String(doc(path));
    schema
}

fn duration() -> Value {
    json!({ "$ref": "#/definitions/duration" })
}

fn text() -> Value {
    json!({ "type": "string" })
}

fn uint() -> Value {
    json!({ "type": "integer", "minimum": 0 })
}

/// A closed map: these properties (each documented under `prefix.name`), `required` ones.
fn object(prefix: &str, props: &[(&str, Value)], required: &[&str]) -> Value {
    let mut p = Map::new();
    for (name, schema) in props {
        p.insert(
            (*name).to_owned(),
            with_doc(schema.clone(), &format!("{prefix}.{name}")),
        );
    }
    json!({
        "type": "object",
        "properties": p,
        "required": required,
        "additionalProperties": false,
    })
}

fn latency() -> Value {
    json!({
        "anyOf": [
            duration(),
            { "type": "object", "properties": { "min": duration(), "max": duration() },
              "required": ["min", "max"], "additionalProperties": false }
        ]
    })
}

/// `off`, or the settings map.
fn switch(settings: Value) -> Value {
    json!({ "anyOf": [ { "const": "off" }, settings ] })
}

fn serve() -> Value {
    let reply = json!({
        "anyOf": [
            { "enum": ["echo", "ignore"] },
            { "type": "object", "properties": { "fixed": text() }, "required": ["fixed"], "additionalProperties": false },
            { "type": "object", "properties": { "error": text() }, "required": ["error"], "additionalProperties": false }
        ]
    });
    object(
        "client.serve[]",
        &[
            ("channel", text()),
            ("reply", reply),
            ("delay", duration()),
            ("chunks", uint()),
            ("concurrency", json!({ "type": "integer", "minimum": 1 })),
        ],
        &["channel"],
    )
}

fn client() -> Value {
    object(
        "client",
        &[
            (
                "connect",
                json!({ "type": "array", "items": text(), "minItems": 1 }),
            ),
            ("id", text()),
            ("token", text()),
            ("autoconnect", json!({ "type": "boolean" })),
            ("register_timeout", duration()),
            ("request_timeout", duration()),
            (
                "heartbeat",
                switch(object(
                    "client.heartbeat",
                    &[("interval", duration()), ("timeout", duration())],
                    &[],
                )),
            ),
            (
                "reconnect",
                switch(object(
                    "client.reconnect",
                    &[
                        ("base", duration()),
                        ("cap", duration()),
                        (
                            "jitter",
                            json!({ "type": "number", "minimum": 0, "maximum": 1 }),
                        ),
                        ("max_attempts", json!({ "type": "integer", "minimum": 1 })),
                        ("window", duration()),
                        ("min_gap", duration()),
                    ],
                    &[],
                )),
            ),
            ("serve", json!({ "type": "array", "items": serve() })),
        ],
        &["connect"],
    )
}

fn proxy_rule() -> Value {
    let words = |ws: &[vocab::Word]| -> Vec<&str> { ws.iter().map(|w| w.name).collect() };
    let bare: Vec<&str> = ["drop", "duplicate", "hold", "close"].to_vec();
    let action = json!({
        "anyOf": [
            { "enum": bare },
            { "type": "object", "properties": { "delay": latency() }, "required": ["delay"], "additionalProperties": false },
            { "type": "object", "properties": { "reorder": { "type": "integer", "minimum": 2 } }, "required": ["reorder"], "additionalProperties": false },
            { "type": "object", "properties": { "corrupt": { "enum": words(CORRUPTIONS) } }, "required": ["corrupt"], "additionalProperties": false }
        ]
    });
    object(
        "rule",
        &[
            ("dir", json!({ "enum": ["up", "down"] })),
            ("kind", text()),
            ("req", text()),
            ("channel", text()),
            ("nth", json!({ "type": "integer", "minimum": 1 })),
            (
                "probability",
                json!({ "type": "number", "minimum": 0, "maximum": 1 }),
            ),
            ("from", duration()),
            ("until", duration()),
            ("action", action),
        ],
        &["action"],
    )
}

fn relay() -> Value {
    object(
        "relay",
        &[
            (
                "backends",
                json!({ "type": "array", "items": text(), "minItems": 1, "uniqueItems": true }),
            ),
            (
                "failover",
                object(
                    "relay.failover",
                    &[
                        ("max_attempts", json!({ "type": "integer", "minimum": 1 })),
                        ("window", duration()),
                        ("min_gap", duration()),
                    ],
                    &[],
                ),
            ),
            ("probe_interval", duration()),
            ("connect_timeout", duration()),
            ("buffer", json!({ "type": "integer", "minimum": 1 })),
            ("idle_timeout", duration()),
        ],
        &["backends"],
    )
}

/// A number, or `{ min, max }` numbers.
fn count_span() -> Value {
    let n = json!({ "anyOf": [ uint(), { "type": "string", "pattern": "^[0-9]+$" } ] });
    json!({ "anyOf": [ n, { "type": "object", "properties": { "min": n, "max": n },
            "required": ["min", "max"], "additionalProperties": false } ] })
}

fn described(mut schema: Value, text: &str) -> Value {
    schema["description"] = Value::String(text.to_owned());
    schema
}

fn probability() -> Value {
    json!({ "type": "number", "minimum": 0, "maximum": 1 })
}

fn workload() -> Value {
    let count = json!({ "type": "integer", "minimum": 1 });
    object(
        "workload",
        &[
            ("broker", text()),
            ("senders", count.clone()),
            ("receivers", count.clone()),
            ("requests", count.clone()),
            ("rate", count),
            ("channel", text()),
            ("body", count_span()),
            ("chunks", count_span()),
            ("timeout", latency()),
            ("cancel", probability()),
            ("info", probability()),
            ("reply_delay", latency()),
            ("reply_chunks", count_span()),
            ("concurrency", count_span()),
        ],
        &["broker"],
    )
}

fn nemesis() -> Value {
    use crate::model::chaos::{FaultSort, MessageFault};
    let kinds: Vec<&str> = FaultSort::ALL.iter().map(|k| k.name()).collect();
    let actions: Vec<&str> = MessageFault::ALL.iter().map(|k| k.name()).collect();
    let messages = object(
        "nemesis.messages",
        &[
            ("rate", probability()),
            (
                "actions",
                json!({ "type": "array", "items": { "enum": actions } }),
            ),
        ],
        &[],
    );
    let heal = object(
        "nemesis.heal",
        &[
            ("settle", duration()),
            ("requests", uint()),
            ("within", duration()),
        ],
        &[],
    );
    object(
        "nemesis",
        &[
            ("faults", uint()),
            (
                "kinds",
                json!({ "type": "array", "items": { "enum": kinds } }),
            ),
            ("length", latency()),
            ("messages", switch(messages)),
            ("heal", heal),
        ],
        &[],
    )
}

/// A host: a one-key map naming its kind.
fn host() -> Value {
    let one = |key: &str, body: Value, kind: Kind| {
        json!({
            "type": "object",
            "description": format!("{}: {}", kind.label(), kind.doc()),
            "properties": { key: body },
            "required": [key],
            "additionalProperties": false,
        })
    };
    let broker = object(
        "broker",
        &[
            ("max_message", uint()),
            ("queue", json!({ "type": "integer", "minimum": 1 })),
            ("idle_timeout", duration()),
            (
                "tokens",
                json!({ "type": "object", "additionalProperties": text() }),
            ),
        ],
        &[],
    );
    let scripted = json!({
        "anyOf": [
            { "const": "server" },
            object("scripted", &[("client", text()), ("autoconnect", json!({ "type": "boolean" }))], &["client"]),
        ]
    });
    let proxy = object(
        "proxy",
        &[
            ("target", text()),
            ("rules", json!({ "type": "array", "items": proxy_rule() })),
        ],
        &["target"],
    );
    let empty = json!({ "type": ["object", "null"], "additionalProperties": false });
    json!({
        "oneOf": [
            one("broker", json!({ "anyOf": [broker, { "type": "null" }] }), Kind::Broker),
            one("client", client(), Kind::Client),
            one("scripted", scripted, Kind::ScriptedServer),
            one("proxy", proxy, Kind::Proxy),
            one("rpc-server", empty, Kind::RpcServer),
            one("relay", relay(), Kind::Relay),
        ]
    })
}

/// Arguments of each step, by name.
fn step_args(name: &str) -> Value {
    let pair = json!({ "type": "array", "items": text(), "minItems": 2, "maxItems": 2 });
    let empty = json!({ "type": ["object", "null"], "additionalProperties": false });
    let message = json!({
        "type": "object",
        "description": "`{ <type>: { fields } }` or `{ raw: \"text\" }` (JSON-RPC: request, notification, response, batch, raw)",
        "properties": { "within": duration(), "to": text(), "raw": text() },
        "minProperties": 1,
    });
    let request_props = |with_timeout: bool| {
        let mut p = vec![
            ("id", text()),
            ("channel", text()),
            ("body", text()),
            ("method", text()),
            ("params", json!({})),
            ("chunks", json!({ "type": "array", "items": text() })),
        ];
        if with_timeout {
            p.push(("timeout", duration()));
        }
        p
    };
    match name {
        "wait" => duration(),
        "partition" | "repair" | "partition_oneway" | "repair_oneway" | "hold" | "release" => pair,
        "crash" | "bounce" => text(),
        "heal" => object("heal", &[("within", duration())], &["within"]),
        "latency" => object(
            "latency",
            &[("between", pair.clone()), ("to", latency())],
            &["between", "to"],
        ),
        "connect" => {
            json!({ "anyOf": [object("connect", &[("id", text())], &[]), { "type": "null" }] })
        }
        "request" => object("request", &request_props(true), &["id"]),
        "batch" => {
            let call = object("request", &request_props(false), &["id", "method"]);
            object(
                "batch",
                &[
                    (
                        "calls",
                        json!({ "type": "array", "items": call, "minItems": 1 }),
                    ),
                    ("timeout", duration()),
                ],
                &["calls"],
            )
        }
        "notify" => object(
            "notify",
            &[("method", text()), ("params", json!({}))],
            &["method"],
        ),
        "cancel" => object("cancel", &[("id", text())], &["id"]),
        "result" => object(
            "result",
            &[
                ("id", text()),
                ("ok", json!({})),
                ("error", json!({ "type": ["string", "integer"] })),
                ("fails", json!({ "enum": vocab::fail_kind_names() })),
                ("within", duration()),
            ],
            &["id"],
        ),
        "serve" => serve(),
        "counters" => json!({
            "type": "object",
            "properties": { "within": duration() },
            "additionalProperties": uint(),
            "minProperties": 1,
        }),
        "first" => object(
            "first",
            &[
                (
                    "of",
                    json!({ "type": "array", "items": text(), "minItems": 2 }),
                ),
                ("expect", message),
                ("as", text()),
            ],
            &["of", "expect", "as"],
        ),
        "send" | "expect" => message,
        _ => empty, // `disconnect`, `close`, a proxy's `release`, a scripted `connect`
    }
}

/// A step: `name: args` for a global step, `host.name: args` for a host step.
fn step() -> Value {
    let mut props = Map::new();
    for s in GLOBAL_STEPS {
        let mut a = step_args(s.name);
        a["description"] = Value::String(format!("{} ({})", s.doc, s.args));
        props.insert(s.name.to_owned(), a);
    }
    let mut patterns = Map::new();
    let mut host_steps: Vec<&vocab::StepDef> = Vec::new();
    for k in Kind::ALL {
        for s in k.steps() {
            if !host_steps.iter().any(|h| h.name == s.name) {
                host_steps.push(s);
            }
        }
    }
    for s in host_steps {
        // `release` is a global step (a pair) and a proxy's step (`{}`).
        let mut a = match s.name {
            "release" => json!({ "type": ["object", "null"], "additionalProperties": false }),
            name => step_args(name),
        };
        a["description"] = Value::String(format!("{} ({})", s.doc, s.args));
        patterns.insert(format!("^[^.]+\\.{}$", s.name), a);
    }
    json!({
        "type": "object",
        "description": "a one-key map: `wait: 2s`, or `<host>.<step>: {..}`",
        "properties": props,
        "patternProperties": patterns,
        "additionalProperties": false,
        "minProperties": 1,
        "maxProperties": 1,
    })
}

fn rule_ids() -> Vec<&'static str> {
    wirecheck_core::rules::RULES.iter().map(|r| r.id).collect()
}

/// The schema of a scenario file.
pub fn scenario() -> Value {
    let mut counters: Vec<&str> = Vec::new();
    for k in Kind::ALL {
        for c in k.counters() {
            if !counters.contains(&c.name) {
                counters.push(c.name);
            }
        }
    }
    let rules = json!({ "type": "array", "items": { "enum": rule_ids() }, "uniqueItems": true });
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "wirecheck scenario",
        "description": "A wirecheck scenario: hosts, a timed script, and what to expect (README.md, \"Adding a scenario\").",
        "type": "object",
        "definitions": {
            "duration": {
                "type": "string",
                "pattern": "^[0-9]+(\\.[0-9]+)?(ms|s|m)$",
                "description": "a number and a unit: 250ms, 5s, 1.5s, 2m"
            }
        },
        "properties": {
            "name": { "type": "string", "description": "optional: the file's path below the corpus root without .yaml, or a tail of it" },
            "about": { "type": "string", "description": "one paragraph: what happens and what it proves" },
            "rules": rules.clone(),
            "protocol": with_doc(json!({ "enum": ["wirecheck-v1", "jsonrpc-2.0"] }), "protocol"),
            "seed": with_doc(uint(), "seed"),
            "duration": with_doc(duration(), "duration"),
            "network": {
                "type": "object",
                "properties": { "latency": with_doc(latency(), "network.latency") },
                "additionalProperties": false
            },
            "hosts": {
                "type": "object",
                "description": "host name → kind; the order is the diagram's lane order",
                "additionalProperties": host(),
                "minProperties": 1
            },
            "script": { "type": "array", "items": step() },
            "expect": {
                "type": "object",
                "description": "final counters per host, after the script and 1s of quiet",
                "additionalProperties": {
                    "type": "object",
                    "propertyNames": { "enum": counters },
                    "additionalProperties": uint()
                }
            },
            "expect_violations": rules,
            "workload": described(workload(), "senders, receivers and requests drawn from the seed (README.md, \"Chaos sweeps\"); a scenario with a workload declares only brokers and has no script"),
            "nemesis": described(nemesis(), "a fault schedule drawn from the seed, then a heal phase (README.md, \"Chaos sweeps\")"),
        },
        "required": ["about", "rules", "hosts"],
        "additionalProperties": false,
    })
}

/// The schema of a target file (docs/targets.md, DRIVER.md).
pub fn target() -> Value {
    let caps: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
    let client_caps: Vec<&str> = ClientCap::ALL.iter().map(|c| c.name()).collect();
    let arg = json!({ "anyOf": [ { "type": "string" }, { "type": "array", "items": { "type": "string" } } ] });
    let rules = json!({ "type": "array", "items": { "enum": rule_ids() } });
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "wirecheck target",
        "description": "An implementation under test, started as a process (docs/targets.md, DRIVER.md).",
        "type": "object",
        "properties": {
            "name": { "type": "string" },
            "about": { "type": "string" },
            "role": { "enum": ["broker", "client", "server"] },
            "protocol": { "enum": ["wirecheck-v1", "jsonrpc-2.0"] },
            "start": { "type": "array", "items": arg, "minItems": 1, "description": "the command: program, then arguments with placeholders ({host}, {port}, {dir}, ...)" },
            "ready": {
                "type": "object",
                "properties": {
                    "stdout": { "type": "string" }, "stderr": { "type": "string" },
                    "tcp": { "type": "boolean" }, "timeout": { "$ref": "#/definitions/duration" }
                },
                "additionalProperties": false
            },
            "env": { "type": "object", "additionalProperties": { "type": "string" } },
            "cwd": { "type": "string" },
            "capabilities": { "type": "array", "items": { "enum": caps }, "description": format!("broker targets; a client adapter lists its own in `init` ({})", client_caps.join(", ")) },
            "flaws": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": { "about": { "type": "string" }, "rules": rules.clone() },
                    "additionalProperties": false
                }
            },
            "documented": {
                "type": "object",
                "description": "scenario name → behaviour the implementation documents as intended (INFORMATIONAL)",
                "additionalProperties": {
                    "type": "object",
                    "properties": { "why": { "type": "string" }, "link": { "type": "string" }, "rules": rules },
                    "required": ["why", "link"],
                    "additionalProperties": false
                }
            }
        },
        "definitions": {
            "duration": { "type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?(ms|s|m)$" }
        },
        "required": ["name", "role", "start"],
        "additionalProperties": false,
    })
}

/// Where the repository keeps the scenario schema, relative to a folder above the corpus.
pub const SCENARIO_SCHEMA_FILE: &str = "schemas/scenario.schema.json";

/// The first line of a scenario file at `file` (its folder must exist): the editor's
/// schema comment, pointing from the file's folder to the nearest
/// [`SCENARIO_SCHEMA_FILE`] above it, or `None` when there is none.
pub fn header_for(file: &std::path::Path) -> Option<String> {
    let dir = file.parent()?.canonicalize().ok()?;
    dir.ancestors()
        .enumerate()
        .find(|(_, anc)| anc.join(SCENARIO_SCHEMA_FILE).is_file())
        .map(|(up, _)| {
            format!(
                "# yaml-language-server: $schema={}{SCENARIO_SCHEMA_FILE}\n",
                "../".repeat(up)
            )
        })
}

/// A schema as the committed file holds it (pretty, with a final newline).
pub fn render(schema: &Value) -> String {
    let mut s = serde_json::to_string_pretty(schema).expect("a JSON value serialises");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_and_kind_of_the_vocabulary_is_in_the_schema() {
        let s = scenario();
        let step = &s["properties"]["script"]["items"];
        for g in GLOBAL_STEPS {
            assert!(step["properties"].get(g.name).is_some(), "{}", g.name);
        }
        for k in Kind::ALL {
            for st in k.steps() {
                let key = format!("^[^.]+\\.{}$", st.name);
                assert!(step["patternProperties"].get(&key).is_some(), "{key}");
            }
        }
        let kinds = s["properties"]["hosts"]["additionalProperties"]["oneOf"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(kinds, vocab::HOST_KEYS.len());
        // A field's documentation carries its default.
        let hb = &s["properties"]["hosts"]["additionalProperties"]["oneOf"][1]["properties"]
            ["client"]["properties"]["request_timeout"]["description"];
        assert!(hb.as_str().unwrap().contains("default: 30s"), "{hb}");
    }
}
