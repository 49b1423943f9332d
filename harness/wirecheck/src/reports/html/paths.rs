//! Where each case's page goes: `cases/<target>/<scenario>.html`, relative to the report
//! folder, with names reduced to characters that are safe in a file name and in a URL.

use std::collections::BTreeSet;

/// Longest file-name part taken from a name (a file system allows 255 bytes).
const MAX_PART: usize = 100;

/// A page path per `(target, scenario)`, in order, all different: `/` in a scenario name
/// becomes `__`, any other character outside `[A-Za-z0-9._-]` (and a leading `.`) `_`,
/// and a name that collides with an earlier one gets `-2`, `-3`, ...
pub fn page_paths<'a>(keys: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut used = BTreeSet::new();
    let mut out = Vec::new();
    for (target, scenario) in keys {
        let base = format!("cases/{}/{}", part(target), part(scenario));
        let mut path = format!("{base}.html");
        let mut n = 2;
        while !used.insert(path.to_ascii_lowercase()) {
            path = format!("{base}-{n}.html");
            n += 1;
        }
        out.push(path);
    }
    out
}

fn part(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        match c {
            '/' => s.push_str("__"),
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') => s.push(c),
            _ => s.push('_'),
        }
        if s.len() >= MAX_PART {
            break;
        }
    }
    if s.is_empty() || s.starts_with('.') {
        s.insert(0, '_');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::page_paths;

    #[test]
    fn names_become_safe_unique_paths() {
        let p = page_paths([
            ("reference", "mux/duplicate-response"),
            ("my broker", "../etc/passwd"),
            ("reference", "mux__duplicate-response"),
            ("Reference", "MUX/duplicate-response"),
            ("", "<script>"),
        ]);
        assert_eq!(
            p,
            [
                "cases/reference/mux__duplicate-response.html",
                "cases/my_broker/_..__etc__passwd.html",
                "cases/reference/mux__duplicate-response-2.html",
                // Case-insensitive file systems would merge these.
                "cases/Reference/MUX__duplicate-response-3.html",
                "cases/_/_script_.html",
            ]
        );
    }

    #[test]
    fn long_names_are_cut() {
        let long = "x".repeat(500);
        let p = page_paths([("t", long.as_str())]);
        assert!(p[0].len() < 120, "{}", p[0]);
    }
}
