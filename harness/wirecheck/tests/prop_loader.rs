//! Property tests of the scenario loader: `load_str` never panics, whatever the text, and
//! valid inputs keep loading.
//!
//! Inputs:
//! - every file under `scenarios/` (read from `CARGO_MANIFEST_DIR/../../scenarios`), as is
//!   and after edits that keep it valid (CRLF line ends, comments and blank lines around
//!   it, trailing spaces on the last line): they must load;
//! - the same files after 1..=6 random edits each: delete, duplicate or swap lines, move a
//!   line's indentation (spaces or a tab), replace a token with another token taken from
//!   the corpus or with YAML punctuation (anchors, aliases, tags, flow brackets, block
//!   indicators, document markers), delete or insert bytes, truncate, splice in a line
//!   of another file: `load_str` must return `Ok` or a `LoadError` whose `Display`
//!   works, never panic;
//! - arbitrary strings: random unicode, and soups of YAML tokens and scenario keys.
//!
//! The `wirecheck` crate has no `proptest` dev-dependency, so this file drives its own
//! generator (SplitMix64 from `wirecheck-core`) and shrinks a failure itself (greedy
//! deletion of lines, then of characters) before reporting it with its seed. Runs are
//! deterministic: `PROPTEST_CASES` sets the number of inputs per test (default 2000),
//! `PROP_LOADER_SEED` the base seed (default fixed). Nothing is written to disk.

#[path = "../../core/tests/support/quiet.rs"]
mod quiet;
use quiet::quiet_panics;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use wirecheck::scenario::load_str;
use wirecheck_core::rng::SplitMix64;

fn cases(default: u64) -> u64 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn base_seed() -> u64 {
    std::env::var("PROP_LOADER_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_10ad_e500_0001)
}

// ---------------------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------------------

fn scenarios_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

/// Every file under `scenarios/`, sorted by path, as (path, text).
fn corpus() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&scenarios_root(), &mut paths);
    paths.sort();
    let files: Vec<(PathBuf, String)> = paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            (p, text)
        })
        .collect();
    assert!(
        !files.is_empty(),
        "no scenario files under {}",
        scenarios_root().display()
    );
    files
}

// ---------------------------------------------------------------------------------------
// The property and its shrinker
// ---------------------------------------------------------------------------------------

/// Loads `src`; `Err(panic message)` if the loader (or formatting its error) panicked.
fn load_panics(src: &str, file: &Path) -> Result<bool, String> {
    quiet_panics(|| {
        catch_unwind(AssertUnwindSafe(|| match load_str(src, file) {
            Ok(_) => true,
            Err(e) => {
                let shown = e.to_string();
                assert!(!shown.is_empty(), "empty error message");
                false
            }
        }))
    })
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "non-string panic".to_string())
    })
}

/// Greedy shrinking: drop lines, then characters, while the loader still panics.
fn shrink(src: &str, file: &Path) -> String {
    shrink_with(src, &|s| load_panics(s, file).is_err())
}

/// Drops lines, then single characters, while `fails` holds, until neither removes
/// anything (the result is 1-minimal).
fn shrink_with(src: &str, fails: &dyn Fn(&str) -> bool) -> String {
    let mut cur: Vec<char> = src.chars().collect();
    loop {
        let before = cur.len();
        let text: String = cur.iter().collect();
        let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut i = lines.len();
        while i > 0 {
            i -= 1;
            let mut fewer = lines.clone();
            fewer.remove(i);
            if fails(&fewer.concat()) {
                lines = fewer;
            }
        }
        cur = lines.concat().chars().collect();
        let mut i = cur.len();
        while i > 0 {
            i -= 1;
            let mut fewer = cur.clone();
            fewer.remove(i);
            if fails(&fewer.iter().collect::<String>()) {
                cur = fewer;
            }
        }
        if cur.len() == before {
            return cur.into_iter().collect();
        }
    }
}

/// The property: no panic. On failure, shrinks and reports seed, origin and input.
fn check(src: &str, file: &Path, what: &dyn Fn() -> String) -> bool {
    match load_panics(src, file) {
        Ok(loaded) => loaded,
        Err(msg) => {
            let small = shrink(src, file);
            let small_msg = load_panics(&small, file).err().unwrap_or_default();
            panic!(
                "load_str panicked on {}:\n  panic: {msg}\n  input ({} bytes): {src:?}\n\
                 shrunk ({} bytes): {small:?}\n  shrunk panic: {small_msg}",
                what(),
                src.len(),
                small.len()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

struct Gen(SplitMix64);

impl Gen {
    fn new(seed: u64) -> Self {
        Gen(SplitMix64::new(seed))
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.0.next_u64() % n as u64) as usize
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.0.next_f64() < p
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// Any char, biased towards ASCII and YAML-significant ones.
    fn char(&mut self) -> char {
        match self.below(6) {
            0 => *self.pick(SPECIAL_CHARS),
            1 => char::from_u32(self.0.next_u64() as u32 % 0x11_0000).unwrap_or('\u{fffd}'),
            2 => char::from_u32(0x80 + self.below(0x800) as u32).unwrap_or('é'),
            _ => (b' ' + self.below(95) as u8) as char,
        }
    }
}

const SPECIAL_CHARS: &[char] = &[
    ':', '-', '{', '}', '[', ']', ',', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', '?',
    '~', '\t', '\n', '\r', ' ', '\0', '\\', '\u{feff}', '\u{85}', '\u{2028}', 'é', '😀',
];

/// YAML punctuation and constructs that stress the parser and the checker.
const YAML_TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "? ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "#",
    "&a ",
    "*a",
    "&a [*a, *a]",
    "!!str ",
    "!tag ",
    "!!binary ",
    "|",
    "|-",
    ">",
    ">+",
    "'",
    "\"",
    "''",
    "\"\\u0000\"",
    "---",
    "...",
    "%YAML 1.2",
    "~",
    "null",
    "true",
    "no",
    "0x1F",
    "-0",
    "1e999",
    ".inf",
    ".nan",
    "<<: *a",
    "18446744073709551616",
    "-1",
    "1.5",
    "0ms",
    "1h",
    "99999999999999s",
    "1.5.5s",
    "   ",
    "\t",
    "\n",
    "\r\n",
    "\u{feff}",
    "é",
    "",
];

/// Keys and values of the scenario format, to splice in where they may be half-valid.
const SCENARIO_TOKENS: &[&str] = &[
    "name",
    "about",
    "rules",
    "seed",
    "duration",
    "network",
    "hosts",
    "script",
    "expect",
    "broker",
    "client",
    "scripted",
    "server",
    "connect",
    "serve",
    "channel",
    "reply",
    "echo",
    "fixed",
    "error",
    "chunks",
    "delay",
    "request",
    "result",
    "id",
    "ok",
    "fails",
    "within",
    "wait",
    "partition",
    "repair",
    "hold",
    "release",
    "crash",
    "bounce",
    "send",
    "raw",
    "start",
    "end",
    "dir",
    "response",
    "req",
    "body",
    "heartbeat",
    "off",
    "reconnect",
    "tokens",
    "max_message",
    "queue",
    "latency",
    "min",
    "max",
    "MUX-1",
    "BRK-99",
    "app.request",
    "nobody.result",
    "app",
    "w1",
];

/// Tokens of a text: runs of word characters and single other characters.
fn tokens(src: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in src.char_indices() {
        let word = c.is_alphanumeric() || c == '_' || c == '-' || c == '.';
        match (word, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
        if !word && !c.is_whitespace() {
            out.push((i, i + c.len_utf8()));
        }
    }
    if let Some(s) = start {
        out.push((s, src.len()));
    }
    out
}

/// One random edit of `src`; `other` is another corpus file to borrow lines from.
fn edit(g: &mut Gen, src: &str, other: &str) -> (String, &'static str) {
    let mut lines: Vec<String> = src.split_inclusive('\n').map(str::to_owned).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let n = lines.len();
    let i = g.below(n);
    let what = match g.below(12) {
        0 => {
            lines.remove(i);
            "delete line"
        }
        1 => {
            let copy = lines[i].clone();
            lines.insert(i + g.below(2), copy);
            "duplicate line"
        }
        2 => {
            let j = if g.chance(0.5) {
                (i + 1).min(n - 1)
            } else {
                g.below(n)
            };
            lines.swap(i, j);
            "swap lines"
        }
        3 => {
            let line = &mut lines[i];
            match g.below(4) {
                0 => line.insert_str(0, &" ".repeat(1 + g.below(4))),
                1 => line.insert(0, '\t'),
                _ => {
                    let strip =
                        (1 + g.below(4)).min(line.len() - line.trim_start_matches(' ').len());
                    line.replace_range(..strip, "");
                }
            }
            "indentation"
        }
        4..=6 => {
            let text = lines.concat();
            let toks = tokens(&text);
            if toks.is_empty() {
                return (text, "replace token (none)");
            }
            let (a, b) = *g.pick(&toks);
            let with: String = match g.below(4) {
                0 => g.pick(YAML_TOKENS).to_string(),
                1 => g.pick(SCENARIO_TOKENS).to_string(),
                2 => {
                    let (c, d) = *g.pick(&toks);
                    text[c..d].to_string()
                }
                _ => String::new(),
            };
            let mut out = text;
            out.replace_range(a..b, &with);
            return (out, "replace token");
        }
        7 => {
            let text: Vec<char> = lines.concat().chars().collect();
            let at = g.below(text.len() + 1);
            let len = 1 + g.below(8);
            let mut out = text.clone();
            out.drain(at..(at + len).min(text.len()));
            return (out.into_iter().collect(), "delete chars");
        }
        8 => {
            let mut text: Vec<char> = lines.concat().chars().collect();
            let at = g.below(text.len() + 1);
            for _ in 0..1 + g.below(3) {
                let c = g.char();
                text.insert(at, c);
            }
            return (text.into_iter().collect(), "insert chars");
        }
        9 => {
            let text: Vec<char> = lines.concat().chars().collect();
            let at = g.below(text.len() + 1);
            return (text[..at].iter().collect(), "truncate");
        }
        10 => {
            let theirs: Vec<&str> = other.split_inclusive('\n').collect();
            if !theirs.is_empty() {
                let line = g.pick(&theirs).to_string();
                lines.insert(i, line);
            }
            "splice line from another file"
        }
        _ => {
            // Duplicate a block of lines (e.g. a whole host or a run of steps).
            let len = 1 + g.below(4);
            let block: Vec<String> = lines[i..(i + len).min(n)].to_vec();
            let at = g.below(n + 1);
            for (k, l) in block.into_iter().enumerate() {
                lines.insert(at + k, l);
            }
            "duplicate block"
        }
    };
    (lines.concat(), what)
}

/// Random text: unicode noise, or a soup of YAML and scenario tokens with line breaks
/// and indentation.
fn arbitrary(g: &mut Gen) -> String {
    let mut s = String::new();
    if g.chance(0.3) {
        for _ in 0..g.below(200) {
            s.push(g.char());
        }
        return s;
    }
    for _ in 0..g.below(60) {
        match g.below(6) {
            0 => {
                s.push('\n');
                s.push_str(&" ".repeat(2 * g.below(4)));
            }
            1 | 2 => s.push_str(g.pick::<&str>(YAML_TOKENS)),
            3 | 4 => s.push_str(g.pick::<&str>(SCENARIO_TOKENS)),
            _ => s.push(g.char()),
        }
    }
    s
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// Valid inputs load: every corpus file as is, and after edits that keep it valid.
#[test]
fn corpus_files_load_and_keep_loading_after_neutral_edits() {
    let files = corpus();
    for (path, src) in &files {
        let what = || format!("{}", path.display());
        assert!(
            check(src, path, &what),
            "{} does not load: {}",
            path.display(),
            load_str(src, path)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        );
        let variants = [
            ("CRLF line ends", src.replace('\n', "\r\n")),
            ("leading comment", format!("# a comment\n\n{src}")),
            (
                "trailing comment",
                format!("{}\n# the end\n", src.trim_end()),
            ),
            ("trailing blank lines", format!("{src}\n\n\n")),
            ("no final newline", src.trim_end_matches('\n').to_string()),
            ("trailing spaces", format!("{}   \n", src.trim_end())),
        ];
        for (how, text) in &variants {
            let what = || format!("{} with {how}", path.display());
            assert!(
                check(text, path, &what),
                "{} with {how} does not load: {}",
                path.display(),
                load_str(text, path)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            );
        }
    }
}

/// Mutants of the corpus files never make the loader panic.
#[test]
fn mutated_corpus_never_panics() {
    let files = corpus();
    let n = cases(2000);
    let seed = base_seed();
    let mut loaded = 0u64;
    for case in 0..n {
        let case_seed = seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut g = Gen::new(case_seed);
        let (path, src) = g.pick(&files);
        let (_, other) = g.pick(&files);
        let mut text = src.clone();
        let mut edits = Vec::new();
        for _ in 0..1 + g.below(6) {
            let (next, what) = edit(&mut g, &text, other);
            text = next;
            edits.push(what);
        }
        let what = || {
            format!(
                "case {case} (PROP_LOADER_SEED={seed}, case seed {case_seed:#x}): {} after {edits:?}",
                path.display()
            )
        };
        if check(&text, path, &what) {
            loaded += 1;
        }
    }
    // Some mutants (comments, duplicated blank lines) stay valid; most must not.
    assert!(loaded < n, "every mutant loaded: the edits do nothing");
}

/// Arbitrary strings never make the loader panic.
#[test]
fn arbitrary_strings_never_panic() {
    let n = cases(2000);
    let seed = base_seed() ^ 0xa5a5_a5a5;
    for case in 0..n {
        let case_seed = seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut g = Gen::new(case_seed);
        let text = arbitrary(&mut g);
        let what = || format!("arbitrary case {case} (case seed {case_seed:#x})");
        check(&text, Path::new("arbitrary.yaml"), &what);
    }
}

/// The helpers do what the tests above rely on: tokens split as intended, edits change
/// the text, and the shrinker reduces a failing input to a minimal one.
#[test]
fn tokens_and_edits_are_sane() {
    let src = "a: [b, c]\n  d: é\n";
    let toks: Vec<&str> = tokens(src).into_iter().map(|(a, b)| &src[a..b]).collect();
    assert_eq!(toks, ["a", ":", "[", "b", ",", "c", "]", "d", ":", "é"]);
    let mut g = Gen::new(1);
    let mut changed = 0;
    for _ in 0..200 {
        let (out, _) = edit(&mut g, src, "x: y\n");
        if out != src {
            changed += 1;
        }
    }
    assert!(changed > 150, "edits change the text: {changed}/200");
    let small = shrink_with("aaa\nbxb\ny\n", &|s| s.contains('x') && s.contains('y'));
    assert_eq!(small, "xy");
}
