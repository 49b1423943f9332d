//! The narrow window through which a harness watches a reference host.

/// Receives what a host reads and what it decides, for tracing. Implementations must be
/// cheap and must not block: they run on the reader's path.
pub trait Observer: Send + Sync + 'static {
    /// A text message arrived from `peer` (an address label such as `10.0.0.2:49152` or
    /// `broker:7000`). Called before the message is acted on.
    fn received(&self, peer: &str, text: &str) {
        let _ = (peer, text);
    }

    /// A lifecycle event: connecting, registered, disconnected, backoff, dropped frame...
    fn note(&self, what: &str) {
        let _ = what;
    }
}

/// An observer that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}
