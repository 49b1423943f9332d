//! Synchronisation shim: loom's primitives under `--cfg loom`, std's otherwise.
//!
//! `Arc` is std's in both: loom models every reference-count change of its own `Arc` as
//! a scheduling point, and the exploration grew many times over on them (the broker's
//! `sender_unregister_with_competing_answers`: 116,319 interleavings with loom's `Arc`,
//! 7,847 with std's; docs/loom.md). Nothing here depends on which thread drops the last
//! reference: no value of this crate behind an `Arc` has a `Drop` with effects another
//! thread could see (the pending map's removal hook is the caller's; the models' hooks
//! hold nothing that does), and every shared value is behind a (modelled) `Mutex`.

#[cfg(loom)]
pub use loom::sync::{Condvar, Mutex, MutexGuard};
pub use std::sync::Arc;
#[cfg(not(loom))]
pub use std::sync::{Condvar, Mutex, MutexGuard};

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every critical
/// section in this crate leaves the data consistent before anything can panic.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
