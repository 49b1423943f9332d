//! Untrusted text (scenario files, message bodies, a target's output) made safe for HTML
//! and for SVG inside it.

use std::fmt;

/// `s` as HTML text or as a double- or single-quoted attribute value: `& < > " '` become
/// character references, and control characters other than tab and newline (which an
/// HTML document cannot carry as such: a NUL is replaced, a CR folded into a newline)
/// become visible `\u{..}` escapes, as the text diagram prints them.
pub struct Esc<'a>(&'a str);

pub fn esc(s: &str) -> Esc<'_> {
    Esc(s)
}

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(needs_escape) {
            f.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c => write!(f, "{}", c.escape_default())?,
            }
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

fn needs_escape(c: char) -> bool {
    matches!(c, '&' | '<' | '>' | '"' | '\'') || (c.is_control() && c != '\n' && c != '\t')
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn markup_quotes_and_controls_are_escaped() {
        let s = esc("<script>alert('x & \"y\"')</script>\u{0}\r\u{1b}[31m\tok\n").to_string();
        assert_eq!(
            s,
            "&lt;script&gt;alert(&#39;x &amp; &quot;y&quot;&#39;)&lt;/script&gt;\\u{0}\\r\\u{1b}[31m\tok\n"
        );
    }

    #[test]
    fn plain_and_non_ascii_text_is_unchanged() {
        assert_eq!(esc("ok │◀── ünïcode").to_string(), "ok │◀── ünïcode");
        assert_eq!(esc("").to_string(), "");
    }
}
