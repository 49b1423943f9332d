//! Load errors and how they are shown: location, one-line message, source snippet with a
//! caret, hint; plus the helpers messages are made with (`closest` for "did you mean",
//! serde-saphyr message hints).

use std::fmt;

use crate::model::Loc;

/// A scenario that could not be loaded: where, what, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// Position of the offending node; `None` when the file could not be read at all.
    pub loc: Option<Loc>,
    /// What is wrong (one line).
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The source line with a caret under the column (several lines, already formatted).
    pub snippet: Option<String>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.loc {
            Some(loc) if loc.line > 0 => write!(f, "{loc}: error: {}", self.message)?,
            Some(loc) => write!(f, "{}: error: {}", loc.file.display(), self.message)?,
            None => write!(f, "error: {}", self.message)?,
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{snippet}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Hint for serde-saphyr's messages.
pub(super) fn yaml_hint(message: &str) -> Option<String> {
    let quoted = |rest: &str| rest.split('`').next().unwrap_or("").to_string();
    if let Some(rest) = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))
    {
        let name = quoted(rest);
        let expected: Vec<&str> = match rest.split_once("expected one of ") {
            Some((_, list)) => list
                .split(", ")
                .map(|s| s.trim_matches('`'))
                .filter(|s| !s.is_empty())
                .collect(),
            None => match rest.split_once("expected `") {
                Some((_, one)) => vec![one.trim_end_matches('`')],
                None => Vec::new(),
            },
        };
        return Some(match closest(&name, expected.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None if expected.is_empty() => format!("remove `{name}`: nothing is allowed here"),
            None => format!("remove `{name}` or use one of: {}", expected.join(", ")),
        });
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        return Some(format!("add `{}:` to this map", quoted(rest)));
    }
    if message.starts_with("duplicate mapping key") {
        return Some("each key may appear only once in a map".to_string());
    }
    let hint = if message.starts_with("multiple YAML documents") {
        "a scenario file holds a single YAML document: remove the `---` separator"
    } else if message.strip_prefix("invalid ").is_some_and(|t| {
        [
            "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize",
        ]
        .contains(&t)
    }) {
        "write a whole number (no sign, no unit)"
    } else if message.starts_with("invalid floating point") {
        "write a number, e.g. 0.2"
    } else if message.starts_with("invalid bool") {
        "write true or false"
    } else if message.starts_with("expected sequence") {
        "write a list here, e.g. `[a, b]`"
    } else if message.starts_with("expected mapping") {
        "write a map here, e.g. `{ key: value }`"
    } else if message.starts_with("expected string") {
        "write a single value here, not a list or a map"
    } else if message.starts_with("invalid type") || message.starts_with("expected") {
        "check the value's shape against the scenario format"
    } else {
        "check the YAML syntax here (indentation, brackets, quotes, `key: value`)"
    };
    Some(hint.to_string())
}

/// Replaces control characters so that messages stay on one line, and keeps them short.
pub(super) fn clean(s: &str) -> String {
    const MAX_CHARS: usize = 1000;
    let mut out = String::with_capacity(s.len().min(MAX_CHARS + 4));
    for (i, c) in s.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Levenshtein distance (by characters); long inputs count as far apart.
pub(super) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len() > 64 || b.len() > 64 {
        return usize::MAX;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `name`, if within edit distance 2 (and not equal).
pub(super) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Number of line breaks (`\n`, `\r\n` or `\r`) in `s`.
pub(super) fn line_breaks(s: &str) -> u64 {
    let mut n = 0;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' || (c == '\r' && chars.peek() != Some(&'\n')) {
            n += 1;
        }
    }
    n
}

/// The text after the last line break of `s`.
pub(super) fn last_line(s: &str) -> &str {
    match s.rfind(['\n', '\r']) {
        Some(i) => &s[i + 1..],
        None => s,
    }
}

/// Line `line` (1-based) of `src`, YAML line breaks (`\n`, `\r\n`, `\r`).
fn nth_line(src: &str, line: u64) -> Option<&str> {
    let mut rest = src;
    let mut n = 1;
    loop {
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        if n == line {
            return Some(&rest[..end]);
        }
        if end == rest.len() {
            return None;
        }
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
        n += 1;
    }
}

/// The source line with a caret under the column, rustc style.
pub(super) fn snippet(src: &str, line: u64, column: u64) -> Option<String> {
    if line == 0 {
        return None;
    }
    let mut text = nth_line(src, line)?;
    if line == 1 {
        text = text.strip_prefix('\u{feff}').unwrap_or(text);
    }
    let chars: Vec<char> = text
        .chars()
        .map(|c| {
            if c != '\t' && c.is_control() {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    let col = usize::try_from(column.max(1) - 1)
        .unwrap_or(usize::MAX)
        .min(chars.len());
    const WIDTH: usize = 120;
    let start = if chars.len() > WIDTH {
        col.saturating_sub(WIDTH / 2)
    } else {
        0
    };
    let end = chars.len().min(start + WIDTH);
    let mut shown = String::new();
    let mut caret = String::new();
    if start > 0 {
        shown.push('…');
        caret.push(' ');
    }
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push('…');
    }
    for c in &chars[start..col.max(start)] {
        caret.push(if *c == '\t' { '\t' } else { ' ' });
    }
    caret.push('^');
    let gutter = line.to_string();
    let pad = " ".repeat(gutter.len());
    Some(format!(
        "{pad} |\n{gutter} | {}\n{pad} | {caret}",
        shown.trim_end()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("brokr", "broker"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(closest("brokr", ["app", "broker"]), Some("broker"));
        assert_eq!(closest("zzzzzz", ["app", "broker"]), None);
    }

    #[test]
    fn lines_and_snippets() {
        assert_eq!(nth_line("a\r\nb\rc\nd", 3), Some("c"));
        assert_eq!(nth_line("a\nb", 3), None);
        assert_eq!(line_breaks("a\r\nb\rc\n"), 3);
        let s = snippet("x: 1\n  yy: 2\n", 2, 3).unwrap();
        assert_eq!(s, "  |\n2 |   yy: 2\n  |   ^");
        assert!(snippet("x", 0, 0).is_none());
        assert!(snippet("x", 5, 1).is_none());
        let long = format!("{}X{}", "a".repeat(300), "b".repeat(300));
        let s = snippet(&long, 1, 301).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        let x = lines[1].chars().position(|c| c == 'X').unwrap();
        let caret = lines[2].chars().position(|c| c == '^').unwrap();
        assert_eq!(x, caret);
    }
}
