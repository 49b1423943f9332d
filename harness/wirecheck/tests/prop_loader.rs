//! Property tests of the scenario loader (proptest): `load_str` never panics, whatever
//! the text, and valid inputs keep loading.
//!
//! Inputs:
//! - every file under `scenarios/` (read from `CARGO_MANIFEST_DIR/../../scenarios`), as is
//!   and after edits that keep it valid (CRLF line ends, comments and blank lines around
//!   it, trailing spaces on the last line): they must load;
//! - the same files after 1..=6 random [`Edit`]s each: delete, duplicate or swap lines,
//!   move a line's indentation (spaces or a tab), replace a token with another token
//!   taken from the file or with YAML punctuation (anchors, aliases, tags, flow
//!   brackets, block indicators, document markers) or scenario keys, delete or insert
//!   characters, truncate, splice in a line of another file, duplicate a block of lines:
//!   `load_str` must return `Ok` or a `LoadError` whose `Display` works, never panic;
//! - arbitrary strings: random unicode, and soups of YAML tokens and scenario keys.
//!
//! Edits are values (positions are proptest `Index`es, relative to the current text), so
//! proptest shrinks a failure to fewer and simpler edits. Runs are deterministic:
//! `PROPTEST_CASES` sets the number of inputs per test (default 2000),
//! `PROPTEST_RNG_SEED` the seed (default fixed; see `support`). Nothing is written to disk.

mod support;

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{TestError, TestRunner};
use support::quiet::{panic_message, quiet_panics};
use wirecheck::scenario::load_str;

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
// The property
// ---------------------------------------------------------------------------------------

/// Runs `load` on `src`: `Ok(loaded)`, or `Err(panic message)` if it panicked.
fn outcome(load: &dyn Fn(&str) -> bool, src: &str) -> Result<bool, String> {
    quiet_panics(|| catch_unwind(AssertUnwindSafe(|| load(src)))).map_err(|p| panic_message(&*p))
}

/// The loader under test: whether `src` loads; formatting the error must work too.
fn real_loader(file: &Path) -> impl Fn(&str) -> bool + '_ {
    move |src| match load_str(src, file) {
        Ok(_) => true,
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.is_empty(), "empty error message");
            false
        }
    }
}

/// The property as a proptest case: no panic.
fn no_panic(load: &dyn Fn(&str) -> bool, src: &str) -> Result<bool, TestCaseError> {
    outcome(load, src).map_err(|msg| {
        TestCaseError::fail(format!(
            "load_str panicked: {msg}\n  input ({} bytes): {src:?}",
            src.len()
        ))
    })
}

/// Fails the test with proptest's shrunk input.
fn report<T: std::fmt::Debug>(result: Result<(), TestError<T>>, show: impl Fn(&T) -> String) {
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, input)) => panic!("{why}\nshrunk input: {}", show(&input)),
        Err(TestError::Abort(why)) => panic!("aborted: {why}"),
    }
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

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
    "expect_violations",
    "broker",
    "client",
    "scripted",
    "server",
    "proxy",
    "target",
    "action",
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

/// Any char, biased towards ASCII and YAML-significant ones.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        1 => select(SPECIAL_CHARS),
        1 => any::<char>(),
        1 => (0x80u32..0x880).prop_map(|c| char::from_u32(c).unwrap_or('é')),
        3 => (b' '..=b'~').prop_map(char::from),
    ]
}

/// What replaces a token.
#[derive(Clone, Debug)]
enum With {
    Yaml(&'static str),
    Scenario(&'static str),
    /// Another token of the same text.
    Token(Index),
    Nothing,
}

/// One edit of a text; positions are relative to the text it is applied to.
#[derive(Clone, Debug)]
enum Edit {
    DeleteLine(Index),
    DuplicateLine(Index, bool),
    /// With the next line when `true`, else with any line.
    SwapLines(Index, bool, Index),
    /// 0..=1: add 1..=4 spaces, 2: add a tab, 3: remove up to 4 leading spaces.
    Indent(Index, u8, usize),
    ReplaceToken(Index, With),
    DeleteChars(Index, usize),
    InsertChars(Index, Vec<char>),
    Truncate(Index),
    /// A line of the other file, inserted before this one.
    SpliceLine(Index, Index),
    /// 1..=4 lines copied to another place (e.g. a whole host or a run of steps).
    DuplicateBlock(Index, usize, Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let with = prop_oneof![
        select(YAML_TOKENS).prop_map(With::Yaml),
        select(SCENARIO_TOKENS).prop_map(With::Scenario),
        any::<Index>().prop_map(With::Token),
        Just(With::Nothing),
    ];
    prop_oneof![
        1 => any::<Index>().prop_map(Edit::DeleteLine),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(i, after)| Edit::DuplicateLine(i, after)),
        1 => (any::<Index>(), any::<bool>(), any::<Index>())
            .prop_map(|(i, next, j)| Edit::SwapLines(i, next, j)),
        1 => (any::<Index>(), 0u8..4, 1usize..=4).prop_map(|(i, how, n)| Edit::Indent(i, how, n)),
        3 => (any::<Index>(), with).prop_map(|(i, w)| Edit::ReplaceToken(i, w)),
        1 => (any::<Index>(), 1usize..=8).prop_map(|(i, n)| Edit::DeleteChars(i, n)),
        1 => (any::<Index>(), prop::collection::vec(any_char(), 1..=3))
            .prop_map(|(i, cs)| Edit::InsertChars(i, cs)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Edit::SpliceLine(i, j)),
        1 => (any::<Index>(), 1usize..=4, any::<Index>())
            .prop_map(|(i, n, at)| Edit::DuplicateBlock(i, n, at)),
    ]
}

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

/// `i` as a position in `0..len` (`0` when empty), or in `0..=len` with `inclusive`.
fn at(i: &Index, len: usize, inclusive: bool) -> usize {
    let n = len + usize::from(inclusive);
    if n == 0 {
        0
    } else {
        i.index(n)
    }
}

/// Applies `e` to `src`; `other` is another corpus file to borrow lines from.
fn apply(e: &Edit, src: &str, other: &str) -> String {
    let mut lines: Vec<String> = src.split_inclusive('\n').map(str::to_owned).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let n = lines.len();
    let chars = || src.chars().collect::<Vec<char>>();
    match e {
        Edit::DeleteLine(i) => {
            lines.remove(at(i, n, false));
        }
        Edit::DuplicateLine(i, after) => {
            let i = at(i, n, false);
            let copy = lines[i].clone();
            lines.insert(i + usize::from(*after), copy);
        }
        Edit::SwapLines(i, next, j) => {
            let i = at(i, n, false);
            let j = if *next {
                (i + 1).min(n - 1)
            } else {
                at(j, n, false)
            };
            lines.swap(i, j);
        }
        Edit::Indent(i, how, k) => {
            let line = &mut lines[at(i, n, false)];
            match how {
                0 | 1 => line.insert_str(0, &" ".repeat(*k)),
                2 => line.insert(0, '\t'),
                _ => {
                    let strip = (*k).min(line.len() - line.trim_start_matches(' ').len());
                    line.replace_range(..strip, "");
                }
            }
        }
        Edit::ReplaceToken(i, with) => {
            let toks = tokens(src);
            if toks.is_empty() {
                return src.to_string();
            }
            let (a, b) = toks[at(i, toks.len(), false)];
            let with = match with {
                With::Yaml(t) | With::Scenario(t) => t.to_string(),
                With::Token(j) => {
                    let (c, d) = toks[at(j, toks.len(), false)];
                    src[c..d].to_string()
                }
                With::Nothing => String::new(),
            };
            let mut out = src.to_string();
            out.replace_range(a..b, &with);
            return out;
        }
        Edit::DeleteChars(i, k) => {
            let mut text = chars();
            let start = at(i, text.len(), true);
            let stop = (start + k).min(text.len());
            text.drain(start..stop);
            return text.into_iter().collect();
        }
        Edit::InsertChars(i, cs) => {
            let mut text = chars();
            let p = at(i, text.len(), true);
            for c in cs {
                text.insert(p, *c);
            }
            return text.into_iter().collect();
        }
        Edit::Truncate(i) => {
            let text = chars();
            return text[..at(i, text.len(), true)].iter().collect();
        }
        Edit::SpliceLine(i, j) => {
            let theirs: Vec<&str> = other.split_inclusive('\n').collect();
            if !theirs.is_empty() {
                let line = theirs[at(j, theirs.len(), false)].to_string();
                lines.insert(at(i, n, false), line);
            }
        }
        Edit::DuplicateBlock(i, k, to) => {
            let i = at(i, n, false);
            let block: Vec<String> = lines[i..(i + k).min(n)].to_vec();
            let p = at(to, n, true);
            for (m, l) in block.into_iter().enumerate() {
                lines.insert(p + m, l);
            }
        }
    }
    lines.concat()
}

/// A corpus file (by index), another one to borrow lines from, and the edits.
type Mutant = (Index, Index, Vec<Edit>);

fn mutant() -> impl Strategy<Value = Mutant> {
    (
        any::<Index>(),
        any::<Index>(),
        prop::collection::vec(edit(), 1..=6),
    )
}

/// The text of a mutant, and the file it came from.
fn mutate<'a>(files: &'a [(PathBuf, String)], m: &Mutant) -> (&'a Path, String) {
    let (path, src) = &files[m.0.index(files.len())];
    let (_, other) = &files[m.1.index(files.len())];
    let text = m.2.iter().fold(src.clone(), |t, e| apply(e, &t, other));
    (path, text)
}

/// Random text: unicode noise, or a soup of YAML and scenario tokens with line breaks
/// and indentation.
fn arbitrary_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        1 => (0usize..4).prop_map(|n| format!("\n{}", "  ".repeat(n))),
        2 => select(YAML_TOKENS).prop_map(str::to_owned),
        2 => select(SCENARIO_TOKENS).prop_map(str::to_owned),
        1 => any_char().prop_map(String::from),
    ];
    prop_oneof![
        1 => prop::collection::vec(any_char(), 0..200).prop_map(|cs| cs.into_iter().collect()),
        2 => prop::collection::vec(piece, 0..60).prop_map(|ps| ps.concat()),
    ]
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// Valid inputs load: every corpus file as is, and after edits that keep it valid.
#[test]
fn corpus_files_load_and_keep_loading_after_neutral_edits() {
    let files = corpus();
    for (path, src) in &files {
        let variants = [
            ("no edit", src.clone()),
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
            let loaded = outcome(&real_loader(path), text).unwrap_or_else(|msg| {
                panic!("{} ({how}): load_str panicked: {msg}", path.display())
            });
            assert!(
                loaded,
                "{} ({how}) does not load: {}",
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
    let config = support::config(2000);
    let cases = config.cases;
    let loaded = Cell::new(0u32);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&mutant(), |m| {
        let (path, text) = mutate(&files, &m);
        if no_panic(&real_loader(path), &text)? {
            loaded.set(loaded.get() + 1);
        }
        Ok(())
    });
    report(result, |m| {
        let (path, text) = mutate(&files, m);
        format!("{} after {:?}:\n{text:?}", path.display(), m.2)
    });
    // Some mutants (comments, duplicated blank lines) stay valid; most must not.
    assert!(
        loaded.get() < cases,
        "every mutant loaded: the edits do nothing"
    );
}

/// Arbitrary strings never make the loader panic.
#[test]
fn arbitrary_strings_never_panic() {
    let mut runner = TestRunner::new(support::config(2000));
    let file = Path::new("arbitrary.yaml");
    let result = runner.run(&arbitrary_text(), |text| {
        no_panic(&real_loader(file), &text).map(|_| ())
    });
    report(result, |text| format!("{text:?}"));
}

/// The harness has teeth: a planted panic is found and shrunk to a small input.
#[test]
fn a_planted_panic_is_found_and_shrunk() {
    // In arbitrary text: a loader that panics on any text with both `[` and `]`.
    let planted = |s: &str| {
        assert!(!(s.contains('[') && s.contains(']')), "planted");
        true
    };
    let mut runner = TestRunner::new(support::config(2000));
    match runner.run(&arbitrary_text(), |text| {
        no_panic(&planted, &text).map(|_| ())
    }) {
        Err(TestError::Fail(why, text)) => {
            assert!(why.message().contains("planted"), "{why}");
            assert!(text.contains('[') && text.contains(']'));
            assert!(text.chars().count() <= 4, "not shrunk: {text:?}");
        }
        other => panic!("the planted panic was not found: {other:?}"),
    }
    // In mutated corpus files: a loader that panics when `hosts:` is gone.
    let files = corpus();
    let planted = |s: &str| {
        assert!(s.contains("\nhosts:"), "planted");
        true
    };
    let mut runner = TestRunner::new(support::config(2000));
    match runner.run(&mutant(), |m| {
        let (_, text) = mutate(&files, &m);
        no_panic(&planted, &text).map(|_| ())
    }) {
        Err(TestError::Fail(_, m)) => {
            let (_, text) = mutate(&files, &m);
            assert!(!text.contains("\nhosts:"));
            assert!(m.2.len() <= 2, "not shrunk: {:?}", m.2);
        }
        other => panic!("the planted panic was not found: {other:?}"),
    }
}

/// The helpers do what the tests above rely on: tokens split as intended and edits
/// change the text.
#[test]
fn tokens_and_edits_are_sane() {
    let src = "a: [b, c]\n  d: é\n";
    let toks: Vec<&str> = tokens(src).into_iter().map(|(a, b)| &src[a..b]).collect();
    assert_eq!(toks, ["a", ":", "[", "b", ",", "c", "]", "d", ":", "é"]);
    let mut runner = TestRunner::new(support::config(200));
    let changed = Cell::new(0);
    let total = Cell::new(0);
    runner
        .run(&edit(), |e| {
            total.set(total.get() + 1);
            if apply(&e, src, "x: y\n") != src {
                changed.set(changed.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    assert!(
        changed.get() * 4 > total.get() * 3,
        "edits change the text: {}/{}",
        changed.get(),
        total.get()
    );
    // Edits work on empty text too.
    use proptest::strategy::ValueTree;
    let i = any::<Index>().new_tree(&mut runner).unwrap().current();
    for e in [
        Edit::DeleteLine(i),
        Edit::Truncate(i),
        Edit::ReplaceToken(i, With::Nothing),
        Edit::DeleteChars(i, 3),
        Edit::SwapLines(i, false, i),
        Edit::DuplicateBlock(i, 4, i),
    ] {
        apply(&e, "", "");
    }
}
