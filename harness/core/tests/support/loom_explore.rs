//! Shared by the loom tests (included with `#[path]`): the exploration harness.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Explores `f` with loom and prints `name`, thread count, bound, interleavings and time.
///
/// `bound` is the model's preemption bound (`None` = exhaustive); `LOOM_MAX_PREEMPTIONS`,
/// when set, overrides it. The line is printed even when the model fails (from a drop
/// guard), so a planted race reports after how many interleavings it was caught.
pub fn explore(
    name: &'static str,
    threads: usize,
    bound: Option<usize>,
    f: impl Fn() + Sync + Send + 'static,
) {
    struct Report {
        name: &'static str,
        threads: usize,
        bound: Option<usize>,
        iterations: std::sync::Arc<AtomicUsize>,
        start: Instant,
    }
    impl Drop for Report {
        fn drop(&mut self) {
            // A failure stops the exploration: for planted races that is the point.
            let outcome = if std::thread::panicking() {
                "failure found after"
            } else {
                "ok:"
            };
            println!(
                "loom model {}: threads={} preemption_bound={} {} {} interleavings in {:.2}s",
                self.name,
                self.threads,
                self.bound
                    .map_or("none (exhaustive)".to_owned(), |b| b.to_string()),
                outcome,
                self.iterations.load(Ordering::Relaxed),
                self.start.elapsed().as_secs_f64()
            );
        }
    }
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = bound;
    }
    let iterations = std::sync::Arc::new(AtomicUsize::new(0));
    let _report = Report {
        name,
        threads,
        bound: builder.preemption_bound,
        iterations: iterations.clone(),
        start: Instant::now(),
    };
    builder.check(move || {
        iterations.fetch_add(1, Ordering::Relaxed);
        f();
    });
}
