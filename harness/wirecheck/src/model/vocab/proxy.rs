//! The words of proxy rules: actions, corruptions, and which message kinds carry the
//! fields a rule can filter on.

/// A word of a proxy rule (`action: drop`, `corrupt: wrong_id`) with its doc line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Word {
    pub name: &'static str,
    /// How it is written in a rule's `action:`.
    pub yaml: &'static str,
    pub doc: &'static str,
}

const fn word(name: &'static str, yaml: &'static str, doc: &'static str) -> Word {
    Word { name, yaml, doc }
}

/// Proxy rule actions.
pub const PROXY_ACTIONS: &[Word] = &[
    word("drop", "drop", "the message is not forwarded"),
    word("duplicate", "duplicate", "forwarded twice"),
    word(
        "delay",
        "{ delay: 50ms } or { delay: { min: 10ms, max: 80ms } }",
        "forwarded after a delay drawn from the range; later messages are not held back (so delay can reorder)",
    ),
    word("hold", "hold", "kept until a `<proxy>.release` step, then forwarded in order"),
    word(
        "reorder",
        "{ reorder: 3 }",
        "collected until that many matched, then forwarded in reverse order (at least 2)",
    ),
    word(
        "corrupt",
        "{ corrupt: invalid_json | wrong_id | truncate }",
        "forwarded altered (corruptions below)",
    ),
    word(
        "close",
        "close",
        "both sides of the connection are closed instead of forwarding",
    ),
];

/// Corruptions of `{ corrupt: .. }`.
pub const CORRUPTIONS: &[Word] = &[
    word(
        "invalid_json",
        "invalid_json",
        "replaced by text that is not JSON",
    ),
    word(
        "wrong_id",
        "wrong_id",
        "`req` replaced by an id nobody uses (a message without `req` passes unchanged)",
    ),
    word("truncate", "truncate", "cut to half its length"),
];

/// Message kinds that carry a `req` (a proxy rule filtering on `req` needs one of them).
pub const KINDS_WITH_REQ: &[&str] = &["error", "start", "chunk", "end", "cancel"];
/// Message kinds that carry a `channel`.
pub const KINDS_WITH_CHANNEL: &[&str] = &["start", "receive"];

/// The names of `words`, in order.
pub fn word_names(words: &[Word]) -> Vec<&'static str> {
    words.iter().map(|w| w.name).collect()
}
