//! The HTML report (`--html DIR`): static, self-contained pages (inline CSS, no script,
//! nothing fetched) that a CI artifact or a browser opens straight from disk.
//!
//! - `index.html` ([`index`]): the matrix of scenarios × targets, cells coloured by
//!   verdict, each linking to its case page;
//! - `cases/<target>/<scenario>.html` ([`page`], paths from [`paths`]): the run's facts,
//!   failures, violations linked to their trace events, the sequence diagram as SVG
//!   ([`svg`]) with those events highlighted, the final counters, the scenario file.
//!
//! Everything that comes from a scenario file, a message or a target goes through
//! [`escape::esc`]. Rendering is pure: [`render`] returns the files; the CLI writes them.

mod escape;
mod index;
mod page;
mod paths;
mod style;
mod svg;

pub use escape::esc;

use super::Case;
use crate::runner::Report;

/// One case and what its page shows besides the case itself.
pub struct Entry<'a> {
    pub case: &'a Case,
    /// The run's report (the shown run of a repeated cell); none when it did not run.
    pub report: Option<&'a Report>,
    /// The scenario file's text.
    pub source: Option<&'a str>,
}

/// A file of the report: its path relative to the report folder, and its text.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub path: String,
    pub text: String,
}

/// The whole report: `index.html` first, then one page per entry.
pub fn render(entries: &[Entry]) -> Vec<File> {
    let paths = paths::page_paths(
        entries
            .iter()
            .map(|e| (e.case.target.as_str(), e.case.scenario.as_str())),
    );
    let mut files = vec![File {
        path: "index.html".to_string(),
        text: index::render(entries, &paths),
    }];
    for (e, path) in entries.iter().zip(paths) {
        files.push(File {
            text: page::render(e, &path),
            path,
        });
    }
    files
}

/// A whole page around `body`. Pages are well-formed XML as well as HTML (empty elements
/// closed, no named entities), so tests can parse them with an XML reader.
fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/><title>{}</title><style>{}</style></head><body>\n{body}\n</body></html>\n",
        esc(title),
        style::CSS
    )
}
