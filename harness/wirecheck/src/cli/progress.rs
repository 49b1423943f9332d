//! Progress of long commands (`run` over many files or against targets, `zoo`, `fuzz`,
//! `sweep`)
//! on stderr: an indicatif bar when stderr is a terminal; otherwise plain lines, at most
//! one per tenth of the work and none for small runs, so CI logs stay readable and the
//! tests (which run without a terminal) see nothing new on small corpora.
//!
//! Results still go to stdout: [`Progress::println`] prints a line there without tearing
//! the bar, and log lines (`tracing`) are written through [`suspended`] for the same
//! reason.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Fewer items than this print no plain progress lines.
const PLAIN_MIN: u64 = 20;
/// An open-ended count prints a plain line every this many items.
const PLAIN_EVERY: u64 = 25;

/// Every bar of the process, so that log lines can be printed around them.
fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// Runs `f` (which writes to the terminal) with every progress bar cleared meanwhile.
pub(crate) fn suspended<R>(f: impl FnOnce() -> R) -> R {
    bars().suspend(f)
}

/// The progress of one command.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    /// What is counted, for plain lines: `zoo runs`, `scenarios`.
    what: String,
    /// 0 when the count is open-ended.
    total: u64,
    done: AtomicU64,
    started: Instant,
}

impl Progress {
    /// `total` items of `what` (a bar), or an open-ended count when `total` is 0.
    pub fn new(what: &str, total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let (bar, template) = if total == 0 {
                (
                    ProgressBar::new_spinner(),
                    "{spinner} {prefix} {pos} [{elapsed}] {wide_msg}",
                )
            } else {
                (
                    ProgressBar::new(total),
                    "{prefix} [{bar:30}] {pos}/{len} [{elapsed}, eta {eta}] {wide_msg}",
                )
            };
            let bar = bars().add(bar);
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(what.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            what: what.to_string(),
            total,
            done: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// One item done; `last` names it (the bar shows it; plain lines do not).
    pub fn inc(&self, last: &str) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(last.to_string());
            }
            None => {
                if let Some(line) = plain_line(&self.what, done, self.total, self.started) {
                    eprintln!("{line}");
                }
            }
        }
    }

    /// One item done, with a running `note` (e.g. failures so far): the bar's message,
    /// and the tail of each plain line.
    pub fn inc_noting(&self, note: &str) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(note.to_string());
            }
            None => {
                if let Some(line) = plain_line(&self.what, done, self.total, self.started) {
                    eprintln!("{line}: {note}");
                }
            }
        }
    }

    /// The bar's message (what is going on now); plain output ignores it.
    pub fn set_message(&self, msg: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
        }
    }

    /// A line on stdout, printed without tearing the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    /// A line on stderr, printed without tearing the bar.
    pub fn eprintln(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            bars().remove(&bar);
        }
    }
}

/// The plain line after `done` of `total` items, if one is due: when `done` enters a new
/// tenth of `total` (at least [`PLAIN_MIN`] items), or every [`PLAIN_EVERY`] items of an
/// open-ended count.
fn plain_line(what: &str, done: u64, total: u64, started: Instant) -> Option<String> {
    let secs = started.elapsed().as_secs_f64();
    if total == 0 {
        return done
            .is_multiple_of(PLAIN_EVERY)
            .then(|| format!("progress: {done} {what} ({secs:.0}s)"));
    }
    if total < PLAIN_MIN || done > total || done * 10 / total == (done - 1) * 10 / total {
        return None;
    }
    Some(format!(
        "progress: {done}/{total} {what} ({}%, {secs:.0}s)",
        done * 100 / total
    ))
}

#[cfg(test)]
mod tests {
    use super::plain_line;
    use std::time::Instant;

    fn lines(total: u64) -> Vec<u64> {
        let t = Instant::now();
        (1..=total)
            .filter(|d| plain_line("runs", *d, total, t).is_some())
            .collect()
    }

    #[test]
    fn plain_lines_come_once_per_tenth_and_not_for_small_runs() {
        assert_eq!(lines(100), [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        assert_eq!(lines(103).len(), 10);
        assert_eq!(lines(103).last(), Some(&103));
        assert!(lines(19).is_empty());
        let t = Instant::now();
        let line = plain_line("zoo runs", 260, 2600, t).unwrap();
        assert!(
            line.starts_with("progress: 260/2600 zoo runs (10%, "),
            "{line}"
        );
        assert_eq!(
            plain_line("cases", 50, 0, t).as_deref(),
            Some("progress: 50 cases (0s)")
        );
        assert!(plain_line("cases", 51, 0, t).is_none());
    }
}
