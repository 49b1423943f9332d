//! The JSON index (`--json FILE`), in the spirit of Autobahn|Testsuite's `index.json`:
//! target → scenario → result. Its shape (documented in docs/reports.md, checked by
//! `tests/reports.rs`):
//!
//! ```json
//! { "wirecheck": "0.1.0",
//!   "summary": { "cases": 2, "passed": 1, "failed": 1, "skipped": 0 },
//!   "targets": { "reference": { "mux/duplicate-response": {
//!       "verdict": "OK", "rules_broken": [], "wall_ms": 3, "sim_ms": 120,
//!       "seed": 0, "runs": 1, "file": "scenarios/mux/duplicate-response.yaml",
//!       "diagnosis": null } } } }
//! ```

use super::{Case, CaseVerdict};
use serde_json::{json, Map, Value};

/// The index of `cases`, pretty-printed, ending in a newline.
pub fn render(cases: &[Case]) -> String {
    let mut targets = Map::new();
    for c in cases {
        let entry = targets
            .entry(c.target.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(c.scenario.clone(), case(c));
        }
    }
    let failed = cases.iter().filter(|c| c.verdict.is_bad()).count();
    let skipped = cases.iter().filter(|c| c.verdict.is_skip()).count();
    let index = json!({
        "wirecheck": env!("CARGO_PKG_VERSION"),
        "summary": {
            "cases": cases.len(),
            "passed": cases.len() - failed - skipped,
            "failed": failed,
            "skipped": skipped,
        },
        "targets": targets,
    });
    let mut s = serde_json::to_string_pretty(&index).unwrap_or_default();
    s.push('\n');
    s
}

/// The JSON Schema (draft-07) of the index [`render`] writes: `wirecheck schema report`,
/// kept in `schemas/report-index.schema.json` by `tests/schema.rs`; `ci/schema.sh`
/// validates real index files against it. Verdicts and rule ids are the code's own lists.
pub fn schema() -> Value {
    let verdicts: Vec<&str> = CaseVerdict::ALL.iter().map(|v| v.label()).collect();
    let rules: Vec<&str> = wirecheck_core::rules::RULES.iter().map(|r| r.id).collect();
    let count = json!({ "type": "integer", "minimum": 0 });
    let case = json!({
        "type": "object",
        "description": "one scenario against one target",
        "properties": {
            "verdict": { "enum": verdicts },
            "rules_broken": {
                "type": "array",
                "items": { "enum": rules },
                "description": "rule ids broken unexpectedly (of the first bad run when repeated)"
            },
            "wall_ms": { "type": "integer", "minimum": 0, "description": "wall-clock milliseconds, summed over the runs" },
            "sim_ms": { "type": ["integer", "null"], "minimum": 0, "description": "simulated (against a target: real) milliseconds; null when it did not run" },
            "seed": { "type": ["integer", "null"], "minimum": 0, "description": "the seed it ran with; null when it did not run" },
            "runs": { "type": "integer", "minimum": 0, "description": "how many times it ran (0 for INVALID)" },
            "file": { "type": "string", "description": "the scenario file, as found under the PATH given" },
            "diagnosis": { "type": ["string", "null"], "description": "why it is not OK; null when OK" },
        },
        "required": ["verdict", "rules_broken", "wall_ms", "sim_ms", "seed", "runs", "file", "diagnosis"],
        "additionalProperties": false,
    });
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "wirecheck JSON index (`wirecheck run --json FILE`)",
        "description": "target -> scenario -> result; documented in docs/reports.md",
        "type": "object",
        "properties": {
            "wirecheck": { "type": "string", "description": "the version of wirecheck that wrote the file" },
            "summary": {
                "type": "object",
                "properties": { "cases": count, "passed": count, "failed": count, "skipped": count },
                "required": ["cases", "passed", "failed", "skipped"],
                "additionalProperties": false,
            },
            "targets": {
                "type": "object",
                "description": "target name (`reference` for simulation runs) -> scenario name -> case",
                "additionalProperties": { "type": "object", "additionalProperties": case },
            },
        },
        "required": ["wirecheck", "summary", "targets"],
        "additionalProperties": false,
    })
}

fn case(c: &Case) -> Value {
    json!({
        "verdict": c.verdict.label(),
        "rules_broken": c.rules,
        "wall_ms": c.wall.as_millis() as u64,
        "sim_ms": c.sim_time.map(|d| d.as_millis() as u64),
        "seed": c.seed,
        "runs": c.runs,
        "file": c.file.display().to_string(),
        "diagnosis": if c.diagnosis.is_empty() { Value::Null } else { Value::String(c.diagnosis.clone()) },
    })
}

/// One simulation run as JSON (`wirecheck show --format json`): verdict, rules broken,
/// step failures, every violation (with `expected` when the scenario declares it), final
/// counters per host and the diagram text.
pub fn report(r: &crate::runner::Report) -> String {
    let failures: Vec<Value> = r
        .failures
        .iter()
        .map(|f| {
            json!({
                "at": f.loc.as_ref().map(|l| l.to_string()),
                "step": f.step,
                "sim_ms": f.at.as_millis() as u64,
                "what": f.what,
                "hint": f.hint,
            })
        })
        .collect();
    let violations: Vec<Value> = r
        .violations
        .iter()
        .map(|v| {
            json!({
                "rule": v.rule,
                "level": v.level().as_str(),
                "sim_ms": v.at.as_millis() as u64,
                "trace_events": v.events,
                "diagnosis": v.diagnosis,
                "expected": r.expected.iter().any(|e| e == v.rule),
            })
        })
        .collect();
    let counters: Map<String, Value> = r
        .counters
        .iter()
        .map(|(host, c)| (host.clone(), json!(c)))
        .collect();
    let v = json!({
        "scenario": r.name,
        "seed": r.seed,
        "verdict": r.verdict(),
        "rules_broken": r.broken_rules(),
        "sim_ms": r.sim_time.as_millis() as u64,
        "failures": failures,
        "violations": violations,
        "counters": counters,
        "diagram": r.diagram,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}
