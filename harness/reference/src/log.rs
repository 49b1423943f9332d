//! A bounded log for the reference binaries on real TCP (broker and relay): one line per
//! received message as a summary (a token is never printed, a body only clipped) and one
//! per lifecycle event (the `Observer` default: as a note), at most a fixed number of
//! lines a second; what is held back is counted in the next line that gets through.

use crate::observe::Observer;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wirecheck_core::wire::{summary, Message};

/// Writes to stderr, at most `per_second` lines a second.
pub struct SummaryLog {
    per_second: u32,
    /// (start of the current second, lines printed in it, lines held back in it).
    window: Mutex<(Instant, u32, u64)>,
}

impl SummaryLog {
    pub fn new(per_second: u32) -> Self {
        SummaryLog {
            per_second,
            window: Mutex::new((Instant::now(), 0, 0)),
        }
    }

    /// Prints `text` unless this second's budget is spent.
    pub fn line(&self, text: &str) {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if w.0.elapsed() >= Duration::from_secs(1) {
            if w.2 > 0 {
                eprintln!("({} log lines held back in the last second)", w.2);
            }
            *w = (Instant::now(), 0, 0);
        }
        if w.1 < self.per_second {
            w.1 += 1;
            eprintln!("{text}");
        } else {
            w.2 += 1;
        }
    }
}

/// How a received text is logged: its summary, never its token or whole body.
pub fn describe(text: &str) -> String {
    match Message::decode(text) {
        Ok(m) => summary(&m),
        Err(_) => format!("undecodable message of {} bytes", text.len()),
    }
}

impl Observer for SummaryLog {
    fn received(&self, peer: &str, text: &str) {
        self.line(&format!("{peer} -> {}", describe(text)));
    }
    fn note(&self, what: &str) {
        self.line(what);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_never_described() {
        let text = r#"{"type":"hello","client":"app","token":"s3cret"}"#;
        let d = describe(text);
        assert!(!d.contains("s3cret"), "{d}");
        assert_eq!(d, "hello app +token");
        assert_eq!(describe("{not json"), "undecodable message of 9 bytes");
    }
}
