//! Which scenarios a command runs: `--include` / `--exclude` globs over scenario names.

use globset::{GlobSet, GlobSetBuilder};

/// A selection of scenario names. With no `--include`, every name is included; a name
/// matching any `--exclude` is left out whatever the includes say.
#[derive(Clone, Debug)]
pub struct Selection {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl Selection {
    /// Every scenario.
    pub fn all() -> Selection {
        Selection {
            include: None,
            exclude: GlobSet::empty(),
        }
    }

    /// Builds the selection; a malformed glob is an error naming it. Globs match the whole
    /// name, and `*` matches any characters, `/` included: `mux/*` matches every scenario
    /// under `mux/`, `*timeout*` every name with `timeout` in it; `?`, `[abc]` and `{a,b}`
    /// work as in shells.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Selection, String> {
        Ok(Selection {
            include: if include.is_empty() {
                None
            } else {
                Some(set(include, "--include")?)
            },
            exclude: set(exclude, "--exclude")?,
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|s| s.is_match(name)) && !self.exclude.is_match(name)
    }
}

fn set(globs: &[String], flag: &str) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let glob = globset::GlobBuilder::new(g)
            .literal_separator(false)
            .build()
            .map_err(|e| format!("{flag} `{g}` is not a valid glob: {}", e.kind()))?;
        b.add(glob);
    }
    b.build().map_err(|e| format!("{flag}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(inc: &[&str], exc: &[&str]) -> Selection {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Selection::new(&s(inc), &s(exc)).unwrap()
    }

    #[test]
    fn include_and_exclude() {
        assert!(Selection::all().matches("mux/anything"));
        let s = sel(&["mux/*", "jsonrpc/**"], &["mux/*timeout*"]);
        assert!(s.matches("mux/duplicate-response"));
        assert!(!s.matches("mux/late-reply-after-timeout"));
        assert!(s.matches("jsonrpc/server/batch"));
        assert!(!s.matches("broker/fanout"));
        // `*` crosses `/`: a glob for a word anywhere in the name works.
        assert!(sel(&["*"], &[]).matches("mux/x"));
        assert!(!sel(&[], &["*batch*"]).matches("jsonrpc/batch-shuffled"));
        assert!(sel(&["{mux,auth}/*"], &[]).matches("auth/x"));
        assert!(sel(&["**"], &["broker/**"]).matches("mux/x"));
        assert!(!sel(&[], &["broker/**"]).matches("broker/a/b"));
    }

    #[test]
    fn bad_glob_is_named() {
        let e = Selection::new(&["mux/[".to_string()], &[]).unwrap_err();
        assert!(
            e.starts_with("--include `mux/[` is not a valid glob"),
            "{e}"
        );
    }
}
