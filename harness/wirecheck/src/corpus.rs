//! Finding scenario files.

use crate::model::Scenario;
use crate::scenario::{load_file, LoadError};
use std::path::{Path, PathBuf};

/// Every `*.yaml` below `root` (or `root` itself if it is a file), sorted by path.
pub fn discover(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if root.is_file() {
        out.push(root.to_path_buf());
        return Ok(out);
    }
    walk(root, &mut out)?;
    out.sort();
    tracing::debug!(root = %root.display(), files = out.len(), "discovered scenario files");
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// The workspace's `scenarios/` folder.
pub fn default_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

/// Every scenario below `root` that loads, and the load error of every file that does not:
/// commands that summarise the corpus (`rules`, `explain`) answer with what loaded and list
/// what did not, instead of refusing to answer.
pub fn load_all(root: &Path) -> std::io::Result<(Vec<Scenario>, Vec<LoadError>)> {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for f in discover(root)? {
        match load_file(&f) {
            Ok(s) => ok.push(s),
            Err(e) => failed.push(e),
        }
    }
    Ok((ok, failed))
}
