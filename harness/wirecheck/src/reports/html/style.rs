//! The report's one style sheet (inlined in every page, so each file stands alone) and
//! the class each verdict is coloured by.

use crate::reports::CaseVerdict;

/// The class of a verdict's cell or badge; [`CSS`] colours it.
pub fn verdict_class(v: CaseVerdict) -> &'static str {
    match v {
        CaseVerdict::Ok => "v-ok",
        CaseVerdict::NonStrict => "v-nonstrict",
        CaseVerdict::Failed => "v-failed",
        CaseVerdict::Informational => "v-informational",
        CaseVerdict::Invalid => "v-invalid",
        CaseVerdict::Error => "v-error",
        CaseVerdict::Unimplemented => "v-unimplemented",
        CaseVerdict::NotApplicable => "v-na",
        CaseVerdict::Flaky => "v-flaky",
    }
}

/// Every verdict, in legend order.
pub const LEGEND: [CaseVerdict; 9] = [
    CaseVerdict::Ok,
    CaseVerdict::NonStrict,
    CaseVerdict::Informational,
    CaseVerdict::Failed,
    CaseVerdict::Flaky,
    CaseVerdict::Error,
    CaseVerdict::Invalid,
    CaseVerdict::Unimplemented,
    CaseVerdict::NotApplicable,
];

/// Verdict colours: green passes, red fails (FAILED; ERROR and INVALID darker), amber
/// NON-STRICT, blue INFORMATIONAL (failed only as the target documents), orange FLAKY, grey what did not run. Highlighted trace events (a
/// violation's) are red, expected violations' amber, and an event linked to (`#ev-N`)
/// yellow.
pub const CSS: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1f2328; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
a { color: #0969da; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: 8px 10px; overflow-x: auto; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
.meta { color: #57606a; }
.verdict, td.cell { font-weight: 600; }
td.cell { text-align: center; min-width: 110px; }
td.cell a { color: inherit; text-decoration: none; display: block; }
td.cell small { display: block; font-weight: 400; }
td.none { color: #8c959f; }
.verdict { display: inline-block; padding: 1px 8px; border-radius: 4px; }
.v-ok { background: #2da44e; color: #fff; }
.v-nonstrict { background: #d4a72c; color: #1f2328; }
.v-informational { background: #0969da; color: #fff; }
.v-failed { background: #cf222e; color: #fff; }
.v-error, .v-invalid { background: #82071e; color: #fff; }
.v-flaky { background: #e16f24; color: #fff; }
.v-unimplemented, .v-na { background: #d0d7de; color: #24292f; }
.legend span { margin-right: 6px; }
.yaml .line { display: block; }
.yaml .line:target { background: #fff8c5; }
.yaml .no { display: inline-block; width: 3.5em; color: #8c959f; user-select: none; }
.failure, .violation { margin: 6px 0; }
.hint { color: #57606a; }
.unexpected { color: #a40e26; font-weight: 600; }
.expected { color: #7d4e00; }
.diagram { overflow-x: auto; border: 1px solid #d0d7de; }
svg.trace { display: block; font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
svg.trace .lane { stroke: #8c959f; stroke-width: 1; }
svg.trace .host { font-weight: 700; font-size: 13px; }
svg.trace .kind { fill: #57606a; font-size: 11px; }
svg.trace .num, svg.trace .time { fill: #57606a; }
svg.trace .row { fill: transparent; }
svg.trace .ev:hover .row { fill: #f6f8fa; }
svg.trace .msg { stroke: #24292f; stroke-width: 1.2; fill: none; }
svg.trace .call { fill: #0969da; }
svg.trace .ok { fill: #2da44e; }
svg.trace .err { fill: #cf222e; }
svg.trace .note { fill: #8c959f; }
svg.trace .fault { stroke: #cf222e; stroke-width: 2; fill: none; }
svg.trace .fault-link { stroke: #cf222e; stroke-dasharray: 4 3; }
svg.trace .proxy { fill: #8250df; }
svg.trace .hl .row { fill: #ffcecb; }
svg.trace .hl .msg { stroke: #cf222e; stroke-width: 2.5; }
svg.trace .hl text { fill: #a40e26; font-weight: 700; }
svg.trace .hl-expected .row { fill: #fff1c7; }
svg.trace .ev:target .row { fill: #fff8c5; stroke: #d4a72c; }
svg.trace .arrowhead { fill: #24292f; }
svg.trace .arrowhead-hl { fill: #cf222e; }
"#;
