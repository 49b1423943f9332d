//! Scenario loader: YAML (format v1) to a validated [`Scenario`].
//!
//! Loading happens in two passes. First serde-saphyr deserializes the text into private
//! `Raw*` structs (`raw.rs`, built from the generic shapes of `shapes.rs`) that keep the
//! source location of every node a later check may point at (YAML syntax, unknown keys
//! and type mismatches fail here, with serde-saphyr's location and message). Then the
//! checker (`validate/`) turns the raw structs into the model, resolving host names, call
//! ids, durations and rule ids against the vocabulary ([`crate::model::vocab`]), and
//! reports the first problem found with the location of the offending node, a message
//! saying what is wrong and a hint saying what to do (`error.rs`).
//!
//! Loading never panics, whatever the input.

mod duration;
mod error;
mod raw;
mod raw_chaos;
#[cfg(test)]
mod raw_tests;
mod shapes;
pub(crate) use shapes::OrderedMap;
mod validate;

use std::path::{Component, Path};

pub use error::LoadError;

use crate::model::{Loc, Scenario};
use error::{clean, last_line, line_breaks, snippet};
use raw::RawScenario;
use shapes::S;
use validate::Checker;

/// Reads and loads a scenario file. I/O and encoding problems are [`LoadError`]s too.
pub fn load_file(path: &Path) -> Result<Scenario, LoadError> {
    let bytes = std::fs::read(path).map_err(|e| LoadError {
        loc: None,
        message: clean(&format!("cannot read `{}`: {e}", path.display())),
        hint: Some("check that the file exists and is readable".to_string()),
        snippet: None,
    })?;
    match String::from_utf8(bytes) {
        Ok(src) => {
            let s = load_str(&src, path)?;
            check_written_name(&s, &src)?;
            Ok(s)
        }
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..valid.min(bytes.len())]);
            let line = 1 + line_breaks(&prefix);
            let column = 1 + last_line(&prefix).chars().count() as u64;
            let lossy = String::from_utf8_lossy(bytes);
            Err(LoadError {
                loc: Some(Loc {
                    file: path.to_path_buf(),
                    line,
                    column,
                }),
                message: "the file is not valid UTF-8".to_string(),
                hint: Some("save the scenario as UTF-8 text".to_string()),
                snippet: snippet(&lossy, line, column),
            })
        }
    }
}

/// Loads a scenario from text. `file` is used in messages and stored in [`Scenario::file`].
pub fn load_str(src: &str, file: &Path) -> Result<Scenario, LoadError> {
    let ck = Checker::new(src, file);
    let raw: S<RawScenario> = serde_saphyr::from_str(src).map_err(|e| ck.yaml_error(&e))?;
    ck.scenario(raw)
}

/// Name a scenario file should have: its path relative to the `scenarios` root, without
/// `.yaml`, with `/` separators.
pub fn expected_name(root: &Path, file: &Path) -> String {
    let rel = match file.strip_prefix(root) {
        Ok(rel) => rel.to_path_buf(),
        Err(_) => match (root.canonicalize(), file.canonicalize()) {
            (Ok(r), Ok(f)) => f
                .strip_prefix(&r)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| file.to_path_buf()),
            _ => file.to_path_buf(),
        },
    };
    let rel = if rel.extension().is_some_and(|e| e == "yaml") {
        rel.with_extension("")
    } else {
        rel
    };
    rel.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The segments of `file`'s path (made absolute when it exists, so the answer does not
/// depend on the current directory), the last without `.yaml`/`.yml`.
fn path_segments(file: &Path) -> Vec<String> {
    let path = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    let path = if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
        path.with_extension("")
    } else {
        path
    };
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// The name of a scenario file that writes no `name:`: its path below the nearest
/// enclosing folder called `scenarios`, without `.yaml` (`mux/duplicate-response` for
/// `scenarios/mux/duplicate-response.yaml`, from whatever directory it is typed), else
/// the file's stem. The same in every command.
pub fn derived_name(file: &Path) -> String {
    let segs = path_segments(file);
    match segs.iter().rposition(|s| s == "scenarios") {
        Some(i) if i + 1 < segs.len() => segs[i + 1..].join("/"),
        _ => segs.last().cloned().unwrap_or_default(),
    }
}

/// The rule for a written `name:` (checked by [`load_file`], so by every command): it is
/// the file's path without `.yaml`, or a tail of it. For `scenarios/mux/dup.yaml` the
/// names `dup`, `mux/dup` and `scenarios/mux/dup` are all accepted.
fn check_written_name(s: &Scenario, src: &str) -> Result<(), LoadError> {
    if !s.name_written {
        return Ok(());
    }
    let segs = path_segments(&s.file);
    let written: Vec<&str> = s.name.split('/').collect();
    if written.len() <= segs.len() && segs[segs.len() - written.len()..] == written[..] {
        return Ok(());
    }
    let derived = derived_name(&s.file);
    let longer = match segs.len() {
        n if n >= 2 && !derived.contains('/') => {
            format!(" or `name: {}/{}`", segs[n - 2], segs[n - 1])
        }
        _ => String::new(),
    };
    Err(LoadError {
        loc: Some(s.name_loc.clone()),
        message: clean(&format!(
            "scenario name `{}` does not match its file `{}`",
            s.name,
            s.file.display()
        )),
        hint: Some(clean(&format!(
            "write `name: {derived}`{longer} (the file's path without `.yaml`, or a tail of it), delete the `name:` line (the name is then `{derived}`, from the path), or move the file to match the name"
        ))),
        snippet: snippet(src, s.name_loc.line, s.name_loc.column),
    })
}

/// The stricter rule the repository's own corpus keeps (its tests call this): the name is
/// the full path below `root`, so names are unique across the corpus and snapshot files
/// are named after them.
pub fn check_name(s: &Scenario, root: &Path) -> Result<(), LoadError> {
    let expected = expected_name(root, &s.file);
    if s.name == expected {
        return Ok(());
    }
    let src = std::fs::read(&s.file)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Err(LoadError {
        loc: Some(s.name_loc.clone()),
        message: clean(&format!(
            "scenario name `{}` does not match its file (expected `{expected}`)",
            s.name
        )),
        hint: Some(clean(&format!(
            "write `name: {expected}` (the path below `{}` without `.yaml`), or move the file to match the name",
            root.display()
        ))),
        snippet: snippet(&src, s.name_loc.line, s.name_loc.column),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let root = Path::new("scenarios");
        assert_eq!(
            expected_name(root, Path::new("scenarios/mux/duplicate-response.yaml")),
            "mux/duplicate-response"
        );
    }
}
